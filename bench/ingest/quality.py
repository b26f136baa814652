"""Extraction quality: PDFs from several producers, Chorus's words against
pdfminer.six's.

    quality.py make <dir>                 write the PDFs (skips producers not installed)
    quality.py compare <dir> <chorus-bin> one JSON line per PDF

Producers, all fed text no one here wrote (Debian's man pages):
- groff -> PostScript -> ghostscript (ps2pdf): the man pages themselves;
- fpdf2 with a TrueType font (DejaVu Sans, embedded subset), justified;
- reportlab (platypus, Times, justified, page numbers in the footer);
- cairo (pango-view, DejaVu Serif);
- LibreOffice headless (Writer, from HTML).

Words are compared as sets of distinct words: text NFKC-normalised (the
spacing tilde and circumflex as ASCII's),
split at whitespace, punctuation stripped from both ends of a word, and a
word hyphenated at a line's end joined (on both sides, as Chorus joins
them). recall = |chorus ∩ ref| / |ref|, precision = |chorus ∩ ref| / |chorus|.
"""

import gzip
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata

MAN = "/usr/share/man/man1"
GROFF_PAGES = ["ssh", "curl", "tar"]
PROSE_PAGES = ["grep", "rsync", "wget", "find", "sed", "gzip"]
DEJAVU = "/usr/share/fonts/truetype/dejavu"


def man_source(name):
    path = f"{MAN}/{name}.1.gz"
    return gzip.open(path).read() if os.path.exists(path) else None


def man_text(name):
    """A man page as plain paragraphs (groff's own text rendering, reflowed)."""
    src = man_source(name)
    if src is None:
        return None
    out = subprocess.run(
        ["groff", "-mandoc", "-Tutf8", "-P-cbou", "-rLL=200n"], input=src, capture_output=True, check=True
    ).stdout.decode()
    paras, cur = [], []
    for line in out.splitlines():
        if line.strip():
            cur.append(line.strip())
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    if cur:
        paras.append(" ".join(cur))
    # Drop groff's own header and footer lines (first and last).
    return paras[1:-1]


def prose():
    paras = []
    for name in PROSE_PAGES:
        paras += man_text(name) or []
    return paras[:400]


def make_groff(d):
    made = []
    if not (shutil.which("groff") and shutil.which("ps2pdf")):
        return made
    for name in GROFF_PAGES:
        src = man_source(name)
        if src is None:
            continue
        ps = subprocess.run(["groff", "-mandoc", "-Tps"], input=src, capture_output=True, check=True).stdout
        pdf = f"{d}/groff-{name}.pdf"
        subprocess.run(["ps2pdf", "-", pdf], input=ps, check=True)
        made.append(pdf)
    return made


def make_fpdf(d, paras):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=f"{DEJAVU}/DejaVuSans.ttf")
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    for p in paras:
        pdf.multi_cell(0, 5, p, align="J", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    out = f"{d}/fpdf2.pdf"
    pdf.output(out)
    return [out]


def make_reportlab(d, paras):
    from reportlab.lib.enums import TA_JUSTIFY
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    style = ParagraphStyle("body", fontName="Times-Roman", fontSize=10, leading=12.5, alignment=TA_JUSTIFY,
                           spaceAfter=6)

    def footer(canvas, doc):
        canvas.setFont("Times-Roman", 9)
        canvas.drawCentredString(A4[0] / 2, 30, f"Page {doc.page}")

    out = f"{d}/reportlab.pdf"
    doc = SimpleDocTemplate(out, pagesize=A4)
    doc.build([Paragraph(html.escape(p), style) for p in paras], onFirstPage=footer, onLaterPages=footer)
    return [out]


def make_cairo(d, paras):
    if not shutil.which("pango-view"):
        return []
    txt = f"{d}/cairo.txt"
    with open(txt, "w") as f:
        f.write("\n\n".join(paras[:60]))
    out = f"{d}/cairo.pdf"
    subprocess.run(["pango-view", "--no-display", "-q", f"--output={out}", "--font=DejaVu Serif 10",
                    "--width=500", "--wrap=word", "--justify", txt], check=True, capture_output=True)
    return [out]


def make_libreoffice(d, paras):
    soffice = shutil.which("soffice")
    if not soffice:
        return []
    src = f"{d}/libreoffice.html"
    with open(src, "w") as f:
        f.write("<html><body>" + "".join(f'<p style="text-align: justify">{html.escape(p)}</p>' for p in paras)
                + "</body></html>")
    profile = f"file://{os.path.abspath(d)}/lo-profile"
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to",
                    "pdf:writer_pdf_Export", "--outdir", d, src], check=True, capture_output=True, timeout=300)
    return [f"{d}/libreoffice.pdf"]


def make(d):
    os.makedirs(d, exist_ok=True)
    paras = prose()
    made = make_groff(d)
    for fn in (make_fpdf, make_reportlab, make_cairo, make_libreoffice):
        made += fn(d, paras)
    for m in made:
        print(m)


def words(text):
    # A font's spacing tilde and circumflex stand for ASCII's (`~/.ssh`):
    # NFKC alone would make them a space and a combining accent.
    text = text.replace("\u02dc", "~").replace("\u02c6", "^")
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    text = re.sub(r"(?<=[a-z])-[ \t]*\n\s*(?=[a-z])", "", text)
    out = set()
    for w in text.split():
        w = w.strip(".,;:!?()[]{}\"'`<>|*")
        if w:
            out.add(w)
    return out


def reference(pdf):
    from pdfminer.high_level import extract_text

    started = time.perf_counter()
    text = extract_text(pdf)
    return text, time.perf_counter() - started


def compare(d, chorus_bin):
    pdfs = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".pdf"))
    lines = subprocess.run([chorus_bin, "text", *pdfs], capture_output=True, check=True, text=True).stdout
    ours = {o["file"]: o for o in map(json.loads, lines.splitlines())}
    for pdf in pdfs:
        ref_text, ref_seconds = reference(pdf)
        ref, got = words(ref_text), words(ours[pdf]["text"])
        both = ref & got
        print(json.dumps({
            "producer": os.path.basename(pdf)[:-4],
            "ref_words": len(ref), "chorus_words": len(got),
            "recall": len(both) / max(len(ref), 1), "precision": len(both) / max(len(got), 1),
            "missing": sorted(ref - got)[:12], "extra": sorted(got - ref)[:12],
            "chorus_seconds": ours[pdf]["seconds"], "pdfminer_seconds": ref_seconds,
        }))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
