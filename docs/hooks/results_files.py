"""MkDocs hook: the images ``benchmarks/RESULTS.md`` links to become site files, so the
results page (which includes that file) shows them and strict link checks pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def on_files(files: Files, config: Any) -> Files:
    for image in sorted((BENCHMARKS / "results").rglob("*.png")):
        path = image.relative_to(BENCHMARKS).as_posix()
        files.append(File(path, str(BENCHMARKS), config["site_dir"], config["use_directory_urls"]))
    return files
