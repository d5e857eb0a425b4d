"""A folder of PDFs with cited answers: every quote an answer rests on is located in its
document, with the page.

Writes two small PDFs (fpdf2, a dev dependency) into a temporary folder, asks which
contract renews automatically, and prints the answer with its citations (file, page, line).
A citation the documents do not hold comes back with found=False, and the answer carries a
warning.

Usage: python examples/pdf_citations.py [--root SPEC]   (default: a scripted root)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _scripted import arguments, repl, root_spec
from fpdf import FPDF

from rlmx import RLM

CONTRACTS = {
    "acme.pdf": ["Services agreement between Acme Ltd and Brightside.",
                 "Term: twelve months. This agreement renews automatically for successive "
                 "one-year terms unless either party gives notice."],
    "zenith.pdf": ["Supply contract between Zenith and Brightside.",
                   "Term: twenty-four months. The contract ends at the close of its term."],
}  # fmt: skip
SCRIPT = [
    repl("for path, text in context.items():\n"
         "    if 'renews automatically' in text:\n"
         "        print(path, text[text.index('This agreement'):][:120])"),
    'FINAL("acme.pdf renews automatically.", cite=["This agreement renews automatically"])',
]  # fmt: skip


def write_pdfs(folder: Path) -> None:
    for name, pages in CONTRACTS.items():
        pdf = FPDF()
        for text in pages:
            pdf.add_page()
            pdf.set_font("Helvetica", size=12)
            pdf.multi_cell(0, 8, text)
        pdf.output(str(folder / name))


def main() -> None:
    args = arguments(__doc__)
    folder = Path(tempfile.mkdtemp(prefix="rlmx-pdfs-"))
    write_pdfs(folder)
    rlm = RLM(root_spec(args.root, SCRIPT), args.sub, max_iterations=6)
    result = rlm.completion(folder, "Which contract renews automatically? Cite it.")
    print(f"answer: {result.answer}")
    for c in result.citations:
        where = f"{c.source}, {c.page}, line {c.line}" if c.found else "NOT FOUND"
        print(f"  cites {c.quote!r}: {where}")


if __name__ == "__main__":
    main()
