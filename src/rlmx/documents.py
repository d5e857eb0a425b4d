"""Documents as contexts: PDF, DOCX, HTML, EPUB, PPTX and XLSX files become text whose
structure the root model can see (``document_formats.py`` says how each looks), converted
once in a confined child process (``confined.py``) and cached by content hash.

The cache (``<cache>/documents``) is bounded: entries unused for ``CACHE_MAX_DAYS`` are
removed, and the oldest go first once it holds more than ``CACHE_MAX_BYTES``.
Markdown and CSV are text already and are read by the caller as they are. A file that
cannot be read (encrypted, truncated, not what its name says, past a limit) raises
``ContextError`` naming it; in a folder it is skipped with that reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from .confined import DEFAULT_LIMITS, ParseFailed, ParseLimits, parse_confined
from .document_formats import CONVERTERS
from .errors import ContextError
from .lm.registry import cache_root, prune_cache

# part of the cache key: a new version converts again (3: a PDF page's table keeps its layout)
CONVERTER_VERSION = "3"
MAX_DOCUMENT_BYTES = 512 * 2**20  # a larger document file is refused unread
CACHE_MAX_BYTES = 2 * 2**30
CACHE_MAX_DAYS = 30


def read_document(path: Path, limits: ParseLimits = DEFAULT_LIMITS) -> str | None:
    """The text of a document file, or None for a file that is not one of the document
    formats (plain text is read by the caller)."""
    kind = path.suffix.lower()
    if kind not in CONVERTERS:
        return None
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ContextError(f"{path.name} is {size / 2**20:.0f} MiB (at most "
                               f"{MAX_DOCUMENT_BYTES / 2**20:.0f} MiB for a document)")  # fmt: skip
        cached = _entry(path)
    except OSError as exc:
        raise ContextError(f"cannot read {path.name}: {exc.strerror}") from None
    if cached.exists():
        with contextlib.suppress(OSError):
            os.utime(cached)  # used now: the last to be pruned
        return cached.read_text(encoding="utf-8")
    try:
        text = parse_confined(kind, path, limits)
    except ParseFailed as exc:
        told = f"{path.name}: " if exc.said else f"cannot read {path.name} as {kind[1:].upper()}: "
        raise ContextError(f"{told}{exc}") from None
    if not text.strip():
        raise ContextError(f"{path.name} holds no text")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(text, encoding="utf-8")
    prune_cache(cached.parent, "*.txt", CACHE_MAX_BYTES, CACHE_MAX_DAYS)
    return text


def forget_documents(folder: Path) -> int:
    """Remove the cache entries of the document files under ``folder`` (a deleted run's
    uploads); how many there were."""
    removed = 0
    for path in folder.rglob("*"):
        if path.suffix.lower() in CONVERTERS and path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                _entry(path).unlink()
                removed += 1
    return removed


def _entry(path: Path) -> Path:
    """Where the text of ``path`` is cached: its content hash with the converter version."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    digest.update(CONVERTER_VERSION.encode())
    return cache_root() / "documents" / f"{digest.hexdigest()}.txt"
