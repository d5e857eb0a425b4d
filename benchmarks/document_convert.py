"""What confining the document converter costs: ordinary documents read in the host's own
process (the converter called directly, as before issue 27) and in the confined child
(``confined.py``: bwrap where it works, a cgroup and uid where the host can, rlimits),
median of REPEATS runs each, the document cache out of the way.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from fpdf import FPDF

from rlmx.confined import parse_confined
from rlmx.document_formats import CONVERTERS
from rlmx.repl.isolation import bwrap_works

from common import write_section

REPEATS = 5


def make_pdf(path: Path, pages: int) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for page in range(pages):
        pdf.add_page()
        for line in range(40):
            pdf.cell(0, 6, f"Page {page + 1}, line {line + 1}: the quarterly figures rose.", ln=1)
    pdf.output(str(path))


def make_html(path: Path, paragraphs: int) -> None:
    body = "".join(
        f"<h2>Part {i}</h2><p>{'Some ordinary text. ' * 40}</p>" for i in range(paragraphs)
    )
    path.write_text(f"<html><body>{body}</body></html>")


def median_seconds(work) -> float:
    samples = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        documents = [("100-page PDF", Path(folder) / "a.pdf", make_pdf, 100),
                     ("10-page PDF", Path(folder) / "b.pdf", make_pdf, 10),
                     ("2 MB HTML", Path(folder) / "c.html", make_html, 2500)]  # fmt: skip
        for label, path, make, size in documents:
            make(path, size)
            kind = path.suffix
            direct = median_seconds(lambda p=path, k=kind: CONVERTERS[k](p.read_bytes()))
            confined = median_seconds(lambda p=path, k=kind: parse_confined(k, p))
            rows.append(f"| {label} | {direct:.2f} | {confined:.2f} | {confined - direct:+.2f} |")
    mode = "bwrap" if bwrap_works() else "process"
    body = (
        f"Median of {REPEATS} runs, seconds; the confined child ran under `{mode}`.\n\n"
        "| document | in the host's process | confined child | added |\n| --- | --- | --- | --- |\n"
        + "\n".join(rows)
    )
    write_section("Document converter confinement", body)


if __name__ == "__main__":
    main()
