"""Document formats to text: the converters, which run only in a confined child process
(``confined.py``, ``documents.py``) because their input is untrusted bytes.

- PDF: a marker line ``--- page N ---`` before each page's text. A page that holds a table
  keeps its layout (columns set apart by runs of spaces, which ``parse_records`` reads);
  plain extraction joins cells with one space, so a header ``Weight kg`` could not be
  told from two columns. A page without a text layer (a scan) is read by the OCR of the
  video extra from the images on it, and its marker says so: ``--- page N (OCR) ---``.
- PPTX: ``--- slide N ---`` before each slide's text (title first).
- XLSX: ``--- sheet NAME ---`` before each sheet as CSV text.
- DOCX, HTML, EPUB: headings as markdown headings (``#``, ``##`` ...), list items as
  ``- ``, table rows as cells joined by `` | ``; EPUB chapters in reading order.

Converters: pypdf (BSD), python-docx and python-pptx (MIT), openpyxl (MIT), the standard
library for HTML and EPUB: licences the project can ship (``pip install 'rlmx[docs]'``).
Besides the child's memory, CPU and output limits, each format has caps of its own that
a small hostile file cannot talk its way past: zip members (DOCX, XLSX, PPTX, EPUB) are
checked for their unpacked size and compression ratio before anything is unpacked, PDFs
for their page count, spreadsheets for their cells (counted as read: a sheet's declared
``<dimension>`` is ignored). A file that cannot be read raises ``ContextError``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from xml.etree import ElementTree

from .errors import ContextError

# The line before each page, slide or sheet (citations read them back: ``citations.py``).
SECTION_MARKER = re.compile(r"^--- ((?:page|slide|sheet) .+?) ---$", re.M)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
MAX_PAGES = 5_000  # of a PDF
COLUMN_GAP = re.compile(r"\S {3,}\S")  # between two columns of a page's layout text
TABLE_SHARE = 0.5  # of a page's lines with three columns or more: the page holds a table
MAX_CELLS = 5_000_000  # of all the sheets of a spreadsheet
MAX_UNZIPPED_BYTES = 1 << 30  # all members of a zip-based document, unpacked
MAX_RATIO = 200  # unpacked / packed size of one member (over 1 MiB unpacked)


def section_marker(kind: str, label: object) -> str:
    """``--- page 3 ---``: the marker line of a page, slide or sheet."""
    return f"--- {kind} {label} ---"


def check_zip(data: bytes) -> None:
    """Refuse a zip whose members would unpack past the caps (a zip bomb), from its
    directory alone; a member that lies about its size fails when read (zipfile checks)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        total = 0
        for member in archive.infolist():
            total += member.file_size
            packed = max(member.compress_size, 1)
            if member.file_size > 1 << 20 and member.file_size / packed > MAX_RATIO:
                raise ContextError(
                    f"member {member.filename[:80]!r} unpacks {member.file_size / packed:.0f} "
                    f"times its size (at most {MAX_RATIO}): refused as a zip bomb"
                )
        if total > MAX_UNZIPPED_BYTES:
            raise ContextError(
                f"its members unpack to {total / 2**20:.0f} MiB "
                f"(at most {MAX_UNZIPPED_BYTES / 2**20:.0f})"
            )


# -- PDF ------------------------------------------------------------------------------------
def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ContextError("the PDF is encrypted (give a decrypted copy)")
    if len(reader.pages) > MAX_PAGES:
        raise ContextError(f"the PDF has {len(reader.pages):,} pages (at most {MAX_PAGES:,})")
    pages = []
    for number, page in enumerate(reader.pages, 1):
        text = _page_text(page).strip()
        marker = section_marker("page", number)
        if not text:
            text = _ocr_images(page)
            marker = section_marker("page", f"{number} (OCR)")
        pages.append(f"{marker}\n{text}")
    return "\n\n".join(pages) + "\n"


def _page_text(page: Any) -> str:
    """A page's text: its layout (columns kept apart, the common indent removed) when
    most of its lines hold three columns or more, else the plain extraction (layout
    text pads prose with spaces)."""
    plain = page.extract_text() or ""
    try:
        layout = page.extract_text(extraction_mode="layout") or ""
    except Exception:  # pypdf's newer code path: a page it cannot lay out keeps its text
        return plain
    lines = [line.rstrip() for line in layout.splitlines() if line.strip()]
    tabled = sum(len(COLUMN_GAP.findall(line)) >= 2 for line in lines)
    if not lines or tabled < TABLE_SHARE * len(lines):
        return plain
    indent = min(len(line) - len(line.lstrip()) for line in lines)
    return "\n".join(line[indent:] for line in lines)


MAX_RENDER_SIDE = 2000  # pixels of a rendered page's longer side


def render_pdf_page(data: bytes, page: int) -> bytes:
    """Page ``page`` (1-based) of a PDF as a PNG, its longer side at most MAX_RENDER_SIDE
    pixels (pypdfium2, then Pillow)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        if not 1 <= page <= len(document):
            raise ContextError(f"the PDF has {len(document)} pages; there is no page {page}")
        width, height = document[page - 1].get_size()  # points: 1/72 inch
        scale = min(2.0, MAX_RENDER_SIDE / max(width, height, 1))
        image = document[page - 1].render(scale=scale).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    finally:
        document.close()


def _ocr_images(page: object) -> str:
    """The text of a scanned page: OCR of the images on it (the video extra's rapidocr)."""
    try:
        import numpy as np

        from .video.perception import ocr_engine
    except ImportError as exc:
        return f"[no text layer, and OCR needs the video extra: pip install 'rlmx[video]' ({exc})]"
    engine = ocr_engine()
    lines = []
    for image in page.images:  # type: ignore[attr-defined]
        pixels = np.asarray(image.image.convert("RGB"))
        lines += [line["text"] for line in engine.read(pixels)]
    return "\n".join(lines)


# -- DOCX -----------------------------------------------------------------------------------
def _docx(data: bytes) -> str:
    from docx import Document
    from docx.table import Table

    check_zip(data)
    document = Document(io.BytesIO(data))
    lines = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            lines += [" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows]
            lines.append("")
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "").lower()
        level = re.match(r"heading (\d)", style)
        if style == "title":
            lines.append(f"# {text}")
        elif level:
            lines.append(f"{'#' * int(level.group(1))} {text}")
        elif "list" in style:
            lines.append(f"- {text}")
        else:
            lines.append(text)
    return "\n".join(lines) + "\n"


# -- HTML and EPUB --------------------------------------------------------------------------
class _HTMLText(HTMLParser):
    """HTML as text: headings as markdown, list items as ``- ``, table cells as `` | ``."""

    BLOCKS = frozenset({"p", "div", "br", "section", "article", "header", "footer", "ul",
                        "ol", "table", "blockquote", "pre", "hr"})  # fmt: skip
    SKIP = frozenset({"script", "style", "head", "title", "noscript", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.cells = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append(f"\n\n{'#' * int(tag[1])} ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" | " if self.cells else "\n")
            self.cells += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "tr":
            self.cells = 0
        elif re.fullmatch(r"h[1-6]", tag) or tag in ("p", "div", "table"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        lines = (line.strip() for line in "".join(self.parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _html_text(markup: str) -> str:
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    return parser.text()


def _html(data: bytes) -> str:
    return _html_text(data.decode("utf-8", errors="replace"))


def _epub(data: bytes) -> str:
    """The chapters of an EPUB in reading order (its OPF spine)."""
    check_zip(data)
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        if "META-INF/encryption.xml" in book.namelist():
            raise ContextError("the EPUB is encrypted (DRM)")
        container = ElementTree.fromstring(book.read("META-INF/container.xml"))
        rootfile = next(e for e in container.iter() if e.tag.endswith("rootfile"))
        opf_path = rootfile.attrib["full-path"]
        opf = ElementTree.fromstring(book.read(opf_path))
        base = opf_path.rsplit("/", 1)[0] + "/" if "/" in opf_path else ""
        items = {e.attrib["id"]: e.attrib["href"] for e in opf.iter() if e.tag.endswith("item")}
        order = [e.attrib["idref"] for e in opf.iter() if e.tag.endswith("itemref")]
        chapters = [_html(book.read(base + items[idref])) for idref in order if idref in items]
    return "\n".join(chapters)


# -- PPTX and XLSX --------------------------------------------------------------------------
def _pptx(data: bytes) -> str:
    from pptx import Presentation

    check_zip(data)
    slides = []
    for number, slide in enumerate(Presentation(io.BytesIO(data)).slides, 1):
        title = slide.shapes.title
        texts = [title.text_frame.text] if title is not None and title.has_text_frame else []
        title_id = title.shape_id if title is not None else None
        for shape in slide.shapes:  # (proxies: compare ids, not objects)
            if (
                shape.shape_id != title_id
                and shape.has_text_frame
                and shape.text_frame.text.strip()
            ):
                texts.append(shape.text_frame.text)
        slides.append(section_marker("slide", number) + "\n" + "\n".join(t.strip() for t in texts))
    return "\n\n".join(slides) + "\n"


def _xlsx(data: bytes) -> str:
    from openpyxl import load_workbook

    check_zip(data)
    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheets, cells = [], 0
    for sheet in workbook.worksheets:
        sheet.reset_dimensions()  # the declared <dimension> would make rows of empty cells
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in sheet.iter_rows(values_only=True):
            cells += max(len(row), 1)  # an empty row counts too
            if cells > MAX_CELLS:
                raise ContextError(f"the workbook has over {MAX_CELLS:,} cells")
            if any(cell is not None for cell in row):
                writer.writerow(["" if cell is None else cell for cell in row])
        sheets.append(f"{section_marker('sheet', sheet.title)}\n{out.getvalue()}")
    workbook.close()
    return "\n".join(sheets)


# What each converter imports, loaded before the child drops to its own uid (which may
# not be able to read the interpreter's files where the host is root).
LIBRARIES: dict[str, tuple[str, ...]] = {
    ".pdf": (
        "pypdf",
        "pypdf.filters",
        "pypdf._text_extraction",
        "zlib",
        "numpy",
        "rlmx.video.perception",
    ),
    ".docx": ("docx", "docx.table", "zlib"),
    ".pptx": ("pptx", "zlib"),
    ".xlsx": ("openpyxl", "openpyxl.reader.excel", "zlib"),
    ".epub": ("zlib",),
}
RENDER_LIBRARIES = ("pypdfium2", "PIL.Image", "PIL.PngImagePlugin", "zlib")
CONVERTERS: dict[str, Callable[[bytes], str]] = {
    ".pdf": _pdf,
    ".docx": _docx,
    ".html": _html,
    ".htm": _html,
    ".xhtml": _html,
    ".epub": _epub,
    ".pptx": _pptx,
    ".xlsx": _xlsx,
}
