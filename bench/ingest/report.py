"""Writes bench/results/ingest.md from the JSON lines of one run."""
import json
import os
import platform
import sys

runs = {(r["system"], r["stage"]): r for r in (json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{"))}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
ce, pe = runs[("chorus", "extract")], runs[("pypdf", "extract")]
cp, pp = runs[("chorus", "pipeline")], runs[("python", "pipeline")]
cm, om = runs[("chorus", "embed")], runs[("onnxruntime", "embed")]
lines = [
    "# Ingest benchmark",
    "",
    f"Machine: {os.cpu_count()} cores ({cpu}), shared and noisy; measured in the same run,",
    "same files on both sides. ONNX Runtime 1.24.4 with its default threads on both sides.",
    "",
    "## Full pipeline: parse, chunk, embed, index",
    "",
    f"Corpus: {cp['documents']} generated PDFs, {cp['pages']} pages (about 300 words a page), {cp['chunks']} chunks.",
    "Chorus: lopdf + the ingest chunker (256/32 tokens) + fastembed (all-MiniLM-L6-v2 int8, batches of 32,",
    "256 tokens) + upserts into the embedded engine (qdrant-edge), document by document, as the jobs do it.",
    "Python: pypdf + the same chunking rule + onnxruntime (same model files, batch, truncation, mean pooling)",
    "+ qdrant-client local mode, document by document.",
    "",
    "| system | pages/s | chunks/s | seconds |",
    "|---|---|---|---|",
    f"| chorus | {cp['pages_per_s']:.1f} | {cp['chunks_per_s']:.1f} | {cp['seconds']:.1f} |",
    f"| python | {pp['pages_per_s']:.1f} | {pp['chunks_per_s']:.1f} | {pp['seconds']:.1f} |",
    "",
    f"Ratio (Chorus ÷ Python, pages/s): ×{cp['pages_per_s'] / pp['pages_per_s']:.2f}",
    "",
    "## Embedding alone",
    "",
    f"The pipeline's {cm['passages']} chunk texts, embedded in batches of 32.",
    "",
    "| system | passages/s | seconds |",
    "|---|---|---|",
    f"| chorus (fastembed), batches by length | {cm['passages_per_s']:.1f} | {cm['seconds']:.1f} |",
    f"| chorus (fastembed), batches in arrival order | {cm['arrival_order_passages_per_s']:.1f} | |",
    f"| bare onnxruntime (Python) | {om['passages_per_s']:.1f} | {om['seconds']:.1f} |",
    "",
    f"Chorus reaches {100 * cm['passages_per_s'] / om['passages_per_s']:.0f}% of bare ONNX Runtime's passages/s;",
    f"batching by length gives ×{cm['passages_per_s'] / cm['arrival_order_passages_per_s']:.2f} of arrival order.",
    "",
    "## Extraction and chunking alone",
    "",
    f"Corpus: {ce['documents']} generated PDFs, {ce['pages']} pages. Both sides single-threaded; "
    f"the fastest of {ce.get('passes', 1)} passes on each side.",
    "",
    "| system | pages/s | chunks | seconds |",
    "|---|---|---|---|",
    f"| chorus | {ce['pages_per_s']:.0f} | {ce['chunks']} | {ce['seconds']:.2f} |",
    f"| pypdf | {pe['pages_per_s']:.0f} | {pe['chunks']} | {pe['seconds']:.2f} |",
    "",
    f"Ratio (Chorus ÷ pypdf, pages/s): ×{ce['pages_per_s'] / pe['pages_per_s']:.2f}",
]
quality = [json.loads(l) for l in open(sys.argv[3]) if l.strip().startswith("{")]
lines += [
    "",
    "## Extraction quality against pdfminer.six",
    "",
    "PDFs of Debian's man pages (no one here wrote them) from five producers: groff + ghostscript (the man",
    "pages ssh, curl, tar), fpdf2 with DejaVu Sans embedded, reportlab (Times, justified, page numbers),",
    "cairo through pango-view, LibreOffice from HTML (the prose of grep, wget, find, sed, gzip). Distinct words",
    "of Chorus's text against pdfminer.six's (both NFKC, hyphenation at line ends joined on both sides;",
    "`bench/ingest/quality.py`). Recall: share of pdfminer's words Chorus has; precision: share of Chorus's",
    "words pdfminer has (glued or split words lower both).",
    "",
    "| producer | words (pdfminer) | recall | precision | chorus s | pdfminer s |",
    "|---|---|---|---|---|---|",
]
for q in quality:
    lines.append(f"| {q['producer']} | {q['ref_words']} | {q['recall']:.4f} | {q['precision']:.4f} | "
                 f"{q['chorus_seconds']:.3f} | {q['pdfminer_seconds']:.3f} |")
lines += ["", "Words in only one side (first few), where any:", ""]
for q in quality:
    if q["missing"] or q["extra"]:
        lines.append(f"- {q['producer']}: only pdfminer {q['missing'][:6]}; only Chorus {q['extra'][:6]}")
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
