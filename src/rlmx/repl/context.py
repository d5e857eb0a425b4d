"""Materialise a user's context once, as a file the sandbox worker maps or reads.

Supported contexts: ``str``, ``bytes`` (UTF-8, invalid bytes replaced), ``list[str]``,
chat messages (a list of ``{"role", "content"}`` dicts), ``dict``, a ``pathlib.Path`` to a
file (used in place, never copied) and a directory (a dict of relative path -> text; binary
files are skipped and listed). The metadata is what the root model is told about it.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ContextError

CHUNK = 1 << 24
MAX_LISTED_LENGTHS = 100
VCS_DIRS = {".git", ".hg", ".svn"}


@dataclass
class ContextMeta:
    """What the root model (and the trajectory) learns about the context, never its text."""

    type_name: str
    total_chars: int
    sha256: str
    item_count: int | None = None
    item_lengths: list[int] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)
    source: str | None = None
    layout: str | None = None  # "records" when a text's start is one record a line or block

    def describe(self, name: str = "Your context") -> str:
        """The paper-style one-paragraph description shown to the root model."""
        text = f"{name} is a {self.type_name} with {self.total_chars:,} total characters"
        if self.item_count is not None:
            shown = ", ".join(str(n) for n in self.item_lengths)
            more = " ..." if self.item_count > len(self.item_lengths) else ""
            text += f", made of {self.item_count} items with lengths [{shown}{more}]"
        text += "."
        if self.skipped_files:
            listed = ", ".join(self.skipped_files[:20])
            extra = (
                f" and {len(self.skipped_files) - 20} more" if len(self.skipped_files) > 20 else ""
            )
            text += f" Files not included (binary, or links out of the folder): {listed}{extra}."
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type_name,
            "total_chars": self.total_chars,
            "sha256": self.sha256,
            "item_count": self.item_count,
            "item_lengths": self.item_lengths,
            "skipped_files": self.skipped_files,
            "source": self.source,
            "layout": self.layout,
        }


@dataclass
class PreparedContext:
    """A context ready for the worker: a file path, how to load it, and its metadata.

    Files written here live in the caller's workdir, which the caller removes; a user's
    own file (a Path context) is used in place and never touched.
    """

    path: Path | None
    kind: str  # "text" | "json" | "none" | "video" (JSON metadata the worker wraps)
    meta: ContextMeta


Reader = Callable[[Path], str | None]  # a document file's text, or None if not a document


def prepare_context(context: Any, workdir: Path, reader: Reader | None = None) -> PreparedContext:
    """Write (or locate) the context once and describe it. ``reader`` converts document
    files (PDF, DOCX ...; ``rlmx.documents.read_document``), alone or in a folder."""
    if context is None:
        return PreparedContext(
            None, "none", ContextMeta("NoneType", 0, hashlib.sha256().hexdigest())
        )
    if isinstance(context, Path):
        return _with_layout(_prepare_path(context, workdir, reader))
    if isinstance(context, str | bytes | bytearray | memoryview) and not holds_text(context):
        raise ContextError(
            "the context is empty: there is nothing to ask about (pass None to ask without one)"
        )
    if isinstance(context, str):
        return _with_layout(_write_text(context, workdir))
    if isinstance(context, bytes | bytearray | memoryview):
        return _with_layout(_write_bytes(bytes(context), workdir))
    if isinstance(context, list | tuple | dict):
        return _write_json(context, workdir, source=None)
    raise ContextError(
        f"unsupported context type {type(context).__name__}: use str, bytes, list, dict, "
        "chat messages or a pathlib.Path"
    )


def holds_text(context: str | bytes | bytearray | memoryview) -> bool:
    """Anything but whitespace (checked by chunks: a long context is not copied)."""
    for start in range(0, len(context), CHUNK):
        piece = context[start : start + CHUNK]
        if piece.strip() if isinstance(piece, str) else bytes(piece).strip():
            return True
    return False


LAYOUT_SAMPLE_BYTES = 4096
RECORD_FIELD = re.compile(r"(?:\w[\w ]*(?::|=)\s*\S)|(?:\S\s*[|,;\t]\s*\S)")


def text_layout(sample: str) -> str | None:
    """``"records"`` when the sample's lines (or blank-line blocks) look like one record each:
    at least 5, most with two or more ``key: value`` / ``key=value`` fields or delimiters,
    and of similar length; else None (prose, code, anything else)."""
    blocks = [block for block in sample.split("\n\n")[:-1] if block.strip()]  # last may be cut
    if len(blocks) >= 5 and all("\n" in block.strip() for block in blocks):
        lines = [" | ".join(block.splitlines()) for block in blocks]  # a block a record
    else:
        lines = [line for line in sample.splitlines()[:-1] if line.strip()]
    if len(lines) < 5:
        return None
    fielded = sum(len(RECORD_FIELD.findall(line)) >= 2 for line in lines)
    prose = sum(line.rstrip().endswith((".", "?", "!")) for line in lines)
    return "records" if fielded >= 0.8 * len(lines) and prose <= 0.2 * len(lines) else None


def _with_layout(prepared: PreparedContext) -> PreparedContext:
    if prepared.kind == "text" and prepared.path is not None:
        with open(prepared.path, "rb") as f:
            sample = f.read(LAYOUT_SAMPLE_BYTES).decode("utf-8", errors="ignore")
        prepared.meta.layout = text_layout(sample)
    return prepared


def _new_file(workdir: Path, suffix: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(workdir / f"context{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.close(fd)
    return workdir / f"context{suffix}"


def _write_text(text: str, workdir: Path) -> PreparedContext:
    path = _new_file(workdir, ".txt")
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for start in range(0, len(text), CHUNK):
            data = text[start : start + CHUNK].encode("utf-8", errors="surrogatepass")
            digest.update(data)
            f.write(data)
    meta = ContextMeta("str", len(text), digest.hexdigest())
    return PreparedContext(path, "text", meta)


def _write_bytes(data: bytes, workdir: Path) -> PreparedContext:
    path = _new_file(workdir, ".txt")
    path.write_bytes(data)
    chars, digest = _scan_utf8_chunks([data])
    return PreparedContext(path, "text", ContextMeta("str", chars, digest))


def _scan_utf8_chunks(chunks: Any) -> tuple[int, str]:
    """Count decoded characters (invalid bytes replaced) and hash, one chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    digest = hashlib.sha256()
    chars = 0
    for chunk in chunks:
        digest.update(chunk)
        chars += len(decoder.decode(chunk))
    chars += len(decoder.decode(b"", final=True))
    return chars, digest.hexdigest()


def _read_chunks(path: Path) -> Any:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _prepare_path(path: Path, workdir: Path, reader: Reader | None) -> PreparedContext:
    path = path.expanduser()
    if not path.exists():
        raise ContextError(f"context path does not exist: {path}")
    if path.is_dir():
        return _prepare_directory(path, workdir, reader)
    text = reader(path) if reader is not None else None
    if text is not None:  # a document, converted
        prepared = _write_text(text, workdir)
        prepared.meta.source = str(path)
        return prepared
    try:
        _check_text_file(path)
        chars, digest = _scan_utf8_chunks(_read_chunks(path))
    except OSError as exc:
        raise ContextError(f"cannot read context file {path}: {exc.strerror}") from exc
    meta = ContextMeta("str", chars, digest, source=str(path))
    return PreparedContext(path.resolve(), "text", meta)


def _check_text_file(path: Path) -> None:
    """A context file must hold text: an empty or binary one is refused, not read as noise."""
    with open(path, "rb") as f:
        head = f.read(8192)
    if not head:
        raise ContextError(f"context file {path} is empty: there is nothing to ask about")
    if b"\x00" in head:
        raise ContextError(
            f"context file {path} looks binary (it holds NUL bytes); give a text file"
        )


def _prepare_directory(root: Path, workdir: Path, reader: Reader | None) -> PreparedContext:
    files, skipped = collect_files([root], relative_to=root, reader=reader)
    if not files:
        why = f" ({len(skipped)} skipped: binary or links out of it)" if skipped else ""
        raise ContextError(f"context folder {root} has no text files{why}")
    prepared = _write_json(files, workdir, source=str(root))
    prepared.meta.skipped_files = skipped
    return prepared


def collect_files(
    paths: list[Path], relative_to: Path | None = None, reader: Reader | None = None
) -> tuple[dict[str, str], list[str]]:
    """Text of every file under ``paths`` keyed by path, and the files skipped (binary,
    or a document ``reader`` could not convert, with the reason).

    Keys are relative to ``relative_to`` when given, else the paths as passed.
    """
    files: dict[str, str] = {}
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise ContextError(f"context path does not exist: {path}")
        for full in _walk(path):
            key = full.relative_to(relative_to).as_posix() if relative_to else full.as_posix()
            if not _inside(full, path):
                skipped.append(f"{key} (a link out of {path.name or path})")
                continue
            try:
                text = reader(full) if reader is not None else None
            except ContextError as exc:  # a damaged or encrypted document: the rest goes on
                skipped.append(f"{key} ({exc})")
                continue
            text = text if text is not None else _read_text_file(full)
            if text is None:
                skipped.append(key)
            else:
                files[key] = text
    return files, skipped


def _walk(path: Path) -> list[Path]:
    """Files under a folder (links to folders are not entered: no loops, no escapes)."""
    if not path.is_dir():
        return [path]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in VCS_DIRS)
        found.extend(Path(dirpath) / name for name in sorted(filenames))
    return found


def _inside(file: Path, root: Path) -> bool:
    """Whether a file found under ``root`` resolves inside it (a symlink may point out)."""
    if not root.is_dir():
        return True
    return file.resolve().is_relative_to(root.resolve())


def _read_text_file(path: Path) -> str | None:
    """Text of a file, or None for binary or unreadable files."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _write_json(value: Any, workdir: Path, source: str | None) -> PreparedContext:
    try:
        data = json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ContextError(f"context must be JSON-serialisable: {exc}") from exc
    path = _new_file(workdir, ".json")
    path.write_bytes(data)
    items = list(value.values()) if isinstance(value, dict) else list(value)
    lengths = [_item_length(item) for item in items]
    meta = ContextMeta(
        type_name=_type_name(value),
        total_chars=sum(lengths),
        sha256=hashlib.sha256(data).hexdigest(),
        item_count=len(items),
        item_lengths=lengths[:MAX_LISTED_LENGTHS],
        source=source,
    )
    return PreparedContext(path, "json", meta)


def _item_length(item: Any) -> int:
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict) and isinstance(item.get("content"), str):
        return len(item["content"])
    return len(json.dumps(item, ensure_ascii=False))


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "dict"
    is_chat = bool(value) and all(isinstance(m, dict) and "content" in m for m in value)
    return "list of chat messages" if is_chat else "list"
