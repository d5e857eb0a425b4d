"""Documents as contexts: PDF, DOCX, HTML, EPUB, PPTX and XLSX files become text whose
structure the root model can see, converted once on the host and cached by content hash.

- PDF: a marker line ``--- page N ---`` before each page's text. A page without a text
  layer (a scan) is read by the OCR of the video extra from the images on it, and its
  marker says so: ``--- page N (OCR) ---``.
- PPTX: ``--- slide N ---`` before each slide's text (title first).
- XLSX: ``--- sheet NAME ---`` before each sheet as CSV text.
- DOCX, HTML, EPUB: headings as markdown headings (``#``, ``##`` ...), list items as
  ``- ``, table rows as cells joined by `` | ``; EPUB chapters in reading order.
- Markdown and CSV are text already and are read as they are.

Converters: pypdf (BSD), python-docx and python-pptx (MIT), openpyxl (MIT), the standard
library for HTML and EPUB: licences the project can ship (``pip install 'rlmx[docs]'``).
A file that cannot be read (encrypted, truncated, not what its name says) raises
``ContextError`` naming it; in a folder it is skipped with that reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

from .errors import ContextError
from .lm.registry import cache_root

CONVERTER_VERSION = "1"  # part of the cache key: a new version converts again
# The line before each page, slide or sheet (citations read them back: ``citations.py``).
SECTION_MARKER = re.compile(r"^--- ((?:page|slide|sheet) .+?) ---$", re.M)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)


def section_marker(kind: str, label: object) -> str:
    """``--- page 3 ---``: the marker line of a page, slide or sheet."""
    return f"--- {kind} {label} ---"


def read_document(path: Path) -> str | None:
    """The text of a document file, or None for a file that is not one of the document
    formats (plain text is read by the caller)."""
    convert = CONVERTERS.get(path.suffix.lower())
    if convert is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ContextError(f"cannot read {path}: {exc.strerror}") from None
    key = hashlib.sha256(data + CONVERTER_VERSION.encode()).hexdigest()
    cached = cache_root() / "documents" / f"{key}.txt"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    try:
        text = convert(data)
    except ContextError as exc:
        raise ContextError(f"{path.name}: {exc}") from None
    except ImportError as exc:
        raise ContextError(
            f"{path.name}: reading {path.suffix} files needs the docs extra: "
            f"pip install 'rlmx[docs]' ({exc})"
        ) from None
    except Exception as exc:  # a converter's own error: a damaged or mislabelled file
        raise ContextError(
            f"cannot read {path.name} as {path.suffix[1:].upper()}: {type(exc).__name__}: {exc}"
        ) from None
    if not text.strip():
        raise ContextError(f"{path.name} holds no text")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(text, encoding="utf-8")
    return text


# -- PDF ------------------------------------------------------------------------------------
def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise ContextError("the PDF is encrypted (give a decrypted copy)")
    pages = []
    for number, page in enumerate(reader.pages, 1):
        text = (page.extract_text() or "").strip()
        marker = section_marker("page", number)
        if not text:
            text = _ocr_images(page)
            marker = section_marker("page", f"{number} (OCR)")
        pages.append(f"{marker}\n{text}")
    return "\n\n".join(pages) + "\n"


def _ocr_images(page: object) -> str:
    """The text of a scanned page: OCR of the images on it (the video extra's rapidocr)."""
    try:
        import numpy as np

        from .video.perception import ocr_engine
    except ImportError:
        return "[no text layer, and OCR needs the video extra: pip install 'rlmx[video]']"
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

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheets = []
    for sheet in workbook.worksheets:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in sheet.iter_rows(values_only=True):
            if any(cell is not None for cell in row):
                writer.writerow(["" if cell is None else cell for cell in row])
        sheets.append(f"{section_marker('sheet', sheet.title)}\n{out.getvalue()}")
    workbook.close()
    return "\n".join(sheets)


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
