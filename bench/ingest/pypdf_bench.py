"""`just bench ingest`, the Python side: the same corpus through pypdf's
text extraction and a simple chunker (256-token windows, 32 overlap, tokens
estimated like Chorus does), single-threaded. Prints one JSON line.

Usage: pypdf_bench.py <corpus-dir> <documents>
"""
import io
import json
import sys
import time

from pypdf import PdfReader


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


def main():
    directory, docs = sys.argv[1], int(sys.argv[2])
    files = [open(f"{directory}/doc{i:04}.pdf", "rb").read() for i in range(docs)]
    start = time.perf_counter()
    pages = chunks = 0
    for data in files:
        reader = PdfReader(io.BytesIO(data))
        for page in reader.pages:
            pages += 1
            chunks += len(chunk(page.extract_text().split()))
    seconds = time.perf_counter() - start
    print(json.dumps({"system": "pypdf", "documents": docs, "pages": pages, "chunks": chunks,
                      "seconds": seconds, "pages_per_s": pages / seconds}))


main()
