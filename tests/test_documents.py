"""Documents as contexts: real PDF, DOCX, HTML, EPUB, PPTX and XLSX files written here
offline, converted with their structure kept; damaged ones refused or skipped by name."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from rlmx import RLM
from rlmx.documents import read_document
from rlmx.errors import ContextError
from rlmx.repl.context import collect_files, prepare_context

from conftest import repl


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLMX_CACHE_DIR", str(tmp_path / "cache"))


def make_pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def test_pdf_pages_get_markers_and_bad_pdfs_a_clear_error(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "report.pdf", ["Revenue grew 12 percent.", "Costs fell."])
    text = read_document(pdf)
    assert text.startswith("--- page 1 ---\nRevenue grew 12 percent.")
    assert "--- page 2 ---\nCosts fell." in text
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(pdf.read_bytes()[:200])
    with pytest.raises(ContextError, match=r"broken\.pdf"):
        read_document(broken)
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(pdf))
    writer.encrypt("secret")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as f:
        writer.write(f)
    with pytest.raises(ContextError, match=r"locked\.pdf: the PDF is encrypted"):
        read_document(locked)


def test_a_pdf_table_keeps_its_columns_and_prose_its_plain_text(tmp_path: Path) -> None:
    """Plain extraction joins a table's cells with one space: the header 'Unit price' could
    not be told from two columns. A page holding a table keeps its layout instead."""
    from fpdf import FPDF

    from rlmx.repl.records import parse_records

    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    pdf.add_page()
    rows = [
        ("Item", "Unit price", "Qty"),
        ("Tea", "3.50", "12"),
        ("Rice", "1,204.00", "3"),
        ("Salt", "0.80", "40"),
        ("Item", "Unit price", "Qty"),
        ("Oil", "7.25", "5"),
    ]
    for row in rows:  # the header printed twice, as over two pages
        for cell in row:
            pdf.cell(50, 8, cell, border=1)
        pdf.ln()
    pdf.add_page()
    pdf.multi_cell(0, 8, "Prices rose in spring.    Stocks were counted twice a month.")
    pdf.output(str(tmp_path / "prices.pdf"))
    text = read_document(tmp_path / "prices.pdf")
    table, prose = text.split("--- page 2 ---")
    assert re.search(r"^Item {3,}Unit price {3,}Qty$", table, re.MULTILINE)
    assert prose.strip().startswith("Prices rose in spring.")  # prose is not laid out
    records = parse_records(table.removeprefix("--- page 1 ---"))
    assert [r["Unit price"] for r in records] == [3.5, 1204.0, 0.8, 7.25]  # no header row


def test_a_page_pypdf_cannot_lay_out_keeps_its_plain_text() -> None:
    from rlmx.document_formats import _page_text

    class Page:  # pypdf's layout mode raised on a page it could extract plainly
        def extract_text(self, extraction_mode: str = "plain") -> str:
            if extraction_mode == "layout":
                raise ValueError("layout failed")
            return "Item   Price   Qty"

    assert _page_text(Page()) == "Item   Price   Qty"


def test_a_scanned_pdf_is_read_by_ocr(tmp_path: Path) -> None:
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (900, 200), "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 64)
    ImageDraw.Draw(image).text((30, 50), "INVOICE 4417", fill="black", font=font)
    image.save(tmp_path / "scan.png")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(tmp_path / "scan.png"), x=10, y=10, w=180)
    pdf.output(str(tmp_path / "scan.pdf"))
    text = read_document(tmp_path / "scan.pdf")
    assert text.startswith("--- page 1 (OCR) ---\n") and "INVOICE" in text and "4417" in text


def test_office_files_keep_their_structure(tmp_path: Path) -> None:
    from docx import Document
    from openpyxl import Workbook
    from pptx import Presentation

    doc = Document()
    doc.add_heading("Merger Agreement", level=1)
    doc.add_heading("Parties", level=2)
    doc.add_paragraph("Acme Corp and Beta LLC.")
    doc.add_paragraph("Closing by June 1.", style="List Bullet")
    table = doc.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Price", "$12M"
    doc.save(tmp_path / "deal.docx")
    assert read_document(tmp_path / "deal.docx") == (
        "# Merger Agreement\n## Parties\nAcme Corp and Beta LLC.\n- Closing by June 1.\n"
        "Price | $12M\n\n"
    )
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Q3 results"
    slide.placeholders[1].text = "Revenue up"
    deck.save(tmp_path / "deck.pptx")
    assert read_document(tmp_path / "deck.pptx") == "--- slide 1 ---\nQ3 results\nRevenue up\n"
    book = Workbook()
    book.active.title = "Sales"
    book.active.append(["region", "total"])
    book.active.append(["north", 41])
    book.save(tmp_path / "sales.xlsx")
    assert read_document(tmp_path / "sales.xlsx") == "--- sheet Sales ---\nregion,total\nnorth,41\n"


def test_html_and_epub_headings_become_markdown(tmp_path: Path) -> None:
    html = ("<html><head><title>x</title><style>p{}</style></head><body><h1>Filing</h1>"
            "<p>Net income was <b>$3M</b>.</p><h2>Risks</h2><ul><li>Rates</li><li>FX</li></ul>"
            "<table><tr><th>Year</th><th>Cash</th></tr><tr><td>2024</td><td>9</td></tr></table>"
            "<script>alert(1)</script></body></html>")  # fmt: skip
    (tmp_path / "filing.html").write_text(html)
    assert read_document(tmp_path / "filing.html") == (
        "# Filing\n\nNet income was $3M.\n\n## Risks\n\n- Rates\n- FX\n\nYear | Cash\n2024 | 9\n"
    )
    book = tmp_path / "book.epub"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path='
                   '"OEBPS/content.opf"/></rootfiles></container>')  # fmt: skip
        z.writestr("OEBPS/content.opf", '<package><manifest><item id="b" href="two.xhtml"/>'
                   '<item id="a" href="one.xhtml"/></manifest><spine><itemref idref="a"/>'
                   '<itemref idref="b"/></spine></package>')  # fmt: skip
        z.writestr("OEBPS/one.xhtml", "<html><body><h1>Chapter 1</h1><p>Call me.</p></body></html>")
        z.writestr("OEBPS/two.xhtml", "<html><body><h1>Chapter 2</h1><p>The end.</p></body></html>")
    assert read_document(book) == "# Chapter 1\n\nCall me.\n\n# Chapter 2\n\nThe end.\n"


def test_a_folder_of_mixed_documents_and_a_damaged_one(tmp_path: Path) -> None:
    folder = tmp_path / "dataroom"
    folder.mkdir()
    make_pdf(folder / "a.pdf", ["The fee is 3 percent."])
    (folder / "b.html").write_text("<h1>Terms</h1><p>Net 30.</p>")
    (folder / "c.md").write_text("# Notes\nkeep")
    (folder / "d.pdf").write_bytes(b"%PDF-1.4 truncated")
    files, skipped = collect_files([folder], relative_to=folder, reader=read_document)
    assert sorted(files) == ["a.pdf", "b.html", "c.md"]
    assert files["a.pdf"].startswith("--- page 1 ---") and files["c.md"] == "# Notes\nkeep"
    assert len(skipped) == 1 and skipped[0].startswith("d.pdf (cannot read d.pdf as PDF")
    prepared = prepare_context(folder, tmp_path / "work", read_document)
    assert prepared.meta.item_count == 3 and prepared.meta.skipped_files == skipped
    with pytest.raises(ContextError, match=r"d\.pdf"):
        prepare_context(folder / "d.pdf", tmp_path / "work2", read_document)


def test_a_pdf_context_in_a_real_run(tmp_path: Path, replay) -> None:
    pdf = make_pdf(tmp_path / "report.pdf", ["Intro.", "The answer is 42."])
    spec = replay([repl("import re\nFINAL(re.search(r'page (\\d) ---\\nThe answer', context)[1])")])
    result = RLM(spec, sandbox="process").completion(pdf, "Which page has the answer?")
    assert result.answer == "2", result
    second = read_document(pdf)  # the cache answers the second time
    assert second == read_document(pdf) and list((tmp_path / "cache" / "documents").iterdir())
