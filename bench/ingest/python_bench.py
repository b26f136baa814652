"""`just bench ingest`, the Python side. Prints one JSON line per run.

- `extract`: pypdf `extract_text()` + the same chunking rule as Chorus; the
  fastest of three passes.
- `pipeline`: pypdf + chunking, then ONNX Runtime (same model files, same
  batch size and truncation, mean pooling) and qdrant-client's local mode,
  document by document, as the Chorus pipeline does.
- `embed`: bare ONNX Runtime over the Chorus pipeline's chunk texts: the
  limit any wrapper of the same runtime can reach.

Usage: python_bench.py <mode> <corpus-dir> <documents> <models-dir> <texts.json>
"""
import io
import json
import sys
import tempfile
import time
import uuid

BATCH = 32
MAX_LENGTH = 256
PASSES = 3


def chunk(words, size=256, overlap=32):
    """Packs words into windows of `size` tokens carrying `overlap` tokens
    forward, counting incrementally (as Chorus's chunker does)."""
    out, cur, chars = [], [], 0

    def est(n, c):
        return max(n, (c + 3) // 4)

    for w in words:
        chars += len(w) + (1 if cur else 0)
        cur.append(w)
        if est(len(cur), chars) > size and len(cur) > 1:
            last = cur.pop()
            chars -= len(last) + 1
            out.append(" ".join(cur))
            keep, kc = [], 0
            while len(keep) < len(cur):
                wl = len(cur[-len(keep) - 1])
                more = kc + wl + (1 if keep else 0)
                if est(len(keep) + 1, more) > overlap:
                    break
                keep.insert(0, cur[-len(keep) - 1])
                kc = more
            cur, chars = keep + [last], kc + len(last) + (1 if keep else 0)
    if cur:
        out.append(" ".join(cur))
    return out


def pages_of(data):
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]


class Embedder:
    """all-MiniLM-L6-v2 on ONNX Runtime: tokenizer.json, batches of 32,
    truncation at 256 tokens, padding to the longest, mean pooling."""

    def __init__(self, models):
        import numpy as np
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.np = np
        d = f"{models}/all-MiniLM-L6-v2"
        self.session = ort.InferenceSession(f"{d}/model.onnx", providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tok = Tokenizer.from_file(f"{d}/tokenizer.json")
        self.tok.enable_truncation(MAX_LENGTH)
        self.tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def embed(self, texts):
        np = self.np
        out = []
        for i in range(0, len(texts), BATCH):
            enc = self.tok.encode_batch(texts[i:i + BATCH])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
            out.extend(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return out


def main():
    mode, directory, docs, models, texts_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    if mode == "embed":
        texts = json.load(open(texts_path))
        e = Embedder(models)
        start = time.perf_counter()
        vectors = e.embed(texts)
        seconds = time.perf_counter() - start
        print(json.dumps({"system": "onnxruntime", "stage": "embed", "passages": len(vectors), "seconds": seconds,
                          "passages_per_s": len(vectors) / seconds}))
        return
    files = [open(f"{directory}/doc{i:04}.pdf", "rb").read() for i in range(docs)]
    if mode == "extract":
        # The fastest of three passes, as on the Chorus side.
        seconds = float("inf")
        for _ in range(PASSES):
            start = time.perf_counter()
            pages = chunks = 0
            for data in files:
                for text in pages_of(data):
                    pages += 1
                    chunks += len(chunk(text.split()))
            seconds = min(seconds, time.perf_counter() - start)
        print(json.dumps({"system": "pypdf", "stage": "extract", "documents": docs, "pages": pages,
                          "chunks": chunks, "seconds": seconds, "pages_per_s": pages / seconds, "passes": PASSES}))
        return
    from qdrant_client import QdrantClient
    from qdrant_client.models import Distance, PointStruct, VectorParams

    e = Embedder(models)
    with tempfile.TemporaryDirectory() as data_dir:
        client = QdrantClient(path=data_dir)
        client.create_collection("bench", vectors_config=VectorParams(size=384, distance=Distance.COSINE))
        tenant = str(uuid.uuid4())
        start = time.perf_counter()
        pages = chunks = 0
        for data in files:
            texts = []
            for text in pages_of(data):
                pages += 1
                texts.extend(chunk(text.split()))
            vectors = e.embed(texts)
            doc = str(uuid.uuid4())
            client.upsert("bench", points=[
                PointStruct(id=str(uuid.uuid4()), vector=v.tolist(),
                            payload={"tenant_id": tenant, "document_id": doc, "ordinal": i})
                for i, v in enumerate(vectors)])
            chunks += len(texts)
        seconds = time.perf_counter() - start
        client.close()
    print(json.dumps({"system": "python", "stage": "pipeline", "documents": docs, "pages": pages, "chunks": chunks,
                      "seconds": seconds, "pages_per_s": pages / seconds, "chunks_per_s": chunks / seconds}))


if __name__ == "__main__":
    main()
