"""`just bench search`, the Python peer: the same hybrid search over the
same 100k chunks (the Postgres rows and the vectors that bench_search
wrote): the query embedded with onnxruntime (same model files), vector
search in qdrant-client's local mode filtered by tenant, the same Postgres
full-text query, Reciprocal Rank Fusion (k = 60), and the hits read back
from Postgres. Prints one JSON line.

Usage: python_search.py <out-dir> <models-dir> <database-url> <queries>
"""
import json
import struct
import sys
import tempfile
import time

sys.path.insert(0, "bench/ingest")
from python_bench import Embedder  # noqa: E402

import psycopg  # noqa: E402
from qdrant_client import QdrantClient  # noqa: E402
from qdrant_client.models import (Distance, FieldCondition, Filter, MatchValue, PayloadSchemaType,  # noqa: E402
                                  PointStruct, VectorParams)

KEYWORD = """SELECT c.id FROM chunks c, websearch_to_tsquery('english', %s) q
             WHERE c.tenant_id = %s AND c.tsv @@ q ORDER BY ts_rank(c.tsv, q) DESC, c.id LIMIT %s"""
HYDRATE = """SELECT c.id, c.document_id, d.title, c.page_no, c.heading_path, c.text
             FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.tenant_id = %s AND c.id = ANY(%s)"""


def main():
    out, models, url, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    meta = json.load(open(f"{out}/queries.json"))
    points = [json.loads(line) for line in open(f"{out}/points.jsonl")]
    raw = open(f"{out}/vectors.f32", "rb").read()
    dim = len(raw) // 4 // len(points)
    e = Embedder(models)
    db = psycopg.connect(url, autocommit=True)
    with tempfile.TemporaryDirectory() as data:
        client = QdrantClient(path=data)
        client.create_collection("bench", vectors_config=VectorParams(size=dim, distance=Distance.COSINE))
        client.create_payload_index("bench", "tenant_id", PayloadSchemaType.KEYWORD)
        start = time.perf_counter()
        for i in range(0, len(points), 1000):
            batch = []
            for j, p in enumerate(points[i:i + 1000], start=i):
                v = list(struct.unpack_from(f"<{dim}f", raw, j * dim * 4))
                batch.append(PointStruct(id=p["id"], vector=v, payload={"tenant_id": p["tenant_id"],
                                                                         "document_id": p["document_id"]}))
            client.upsert("bench", points=batch)
        load_s = time.perf_counter() - start
        times = []
        for i, q in enumerate(meta["queries"][:n + 20]):
            tenant = meta["tenants"][i % len(meta["tenants"])]
            t0 = time.perf_counter()
            qv = e.embed([q])[0].tolist()
            flt = Filter(must=[FieldCondition(key="tenant_id", match=MatchValue(value=tenant))])
            vec = [str(h.id) for h in client.query_points("bench", query=qv, query_filter=flt, limit=40).points]
            kw = [str(r[0]) for r in db.execute(KEYWORD, (q, tenant, 40)).fetchall()]
            fused = {}
            for ranks in (vec, kw):
                for r, cid in enumerate(ranks, start=1):
                    fused[cid] = fused.get(cid, 0.0) + 1.0 / (60 + r)
            top = sorted(fused, key=lambda c: -fused[c])[:40]
            rows = {str(r[0]): r for r in db.execute(HYDRATE, (tenant, top)).fetchall()}
            hits = [rows[c] for c in top if c in rows][:10]
            ms = (time.perf_counter() - t0) * 1000
            assert all(h[2].startswith("document") for h in hits)
            if i >= 20:
                times.append(ms)
        client.close()
    times.sort()
    pick = lambda p: times[round((len(times) - 1) * p)]  # noqa: E731
    print(json.dumps({"system": "python", "load_s": load_s,
                      "hybrid": {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "n": len(times)}}))


main()
