"""What the examples share: a ``--root`` option, and a scripted root model (``replay:``)
when none is given, so each example finishes in seconds without a key or a download.

A scripted root replays the replies written in the example: it shows the API and what
rlmx does with a model's code, not a model's skill. Pass ``--root SPEC`` (for example
``local:qwen2.5-coder-1.5b`` or ``openai:gpt-5-mini``) to let a real model write them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any


def arguments(doc: str, default_root: str | None = "scripted") -> argparse.Namespace:
    """``--root SPEC`` (default: the example's script, or the embedded model when
    ``default_root`` is None) and ``--sub SPEC``."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--root", default=default_root, help="root model spec")
    parser.add_argument("--sub", default=None, help="sub-model spec (default: the root)")
    return parser.parse_args()


def root_spec(root: str | None, script: list[str] | dict[str, Any]) -> str | None:
    """The model spec to run with: ``root`` as given, or a replay of ``script``."""
    if root != "scripted":
        return root
    path = Path(tempfile.mkdtemp(prefix="rlmx-example-")) / "script.json"
    path.write_text(json.dumps(script), encoding="utf-8")
    return f"replay:{path}"


def repl(code: str) -> str:
    """A reply holding one code cell, as a model writes it."""
    return f"```repl\n{code}\n```"
