"""Every example in examples/ runs as a user would run it, and its output is checked:
the embedded model for the needle, a scripted root elsewhere (the examples say so)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CHECKS = {  # example -> what its output must say
    "needle_1m.py": r"planted: 7341592 \(found\)",
    "pdf_citations.py": r"cites 'This agreement renews automatically': acme\.pdf, page 2",
    "code_question.py": r"answer: .*gbnf\.py",
    "log_analytics.py": r"answer: (\d+) requests failed with 5xx; most often (\S+)\ntruth: \1 "
    r"requests failed with 5xx; most often \2",
    "typed_extraction.py": r"Ada Lovelace: chair\nGrace Hopper: treasurer\nAlan Turing: secretary",
    "session.py": r"orders: 4\nann's total: 165",
    "video_qa.py": r"starts at about (6|7|8|9|10|11) s",
    "server_openai.py": r"answer: passed 7 to 2\nrun: http://127\.0\.0\.1:\d+/#/run/\w+",
    "eval_on_ray.py": r"mean score 1\.00",
}


def test_every_example_is_checked_and_says_what_it_shows() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    helpers = {"make_haystack.py", "inventory_mcp.py", "tools_and_mcp.py"}  # tested elsewhere
    assert scripts - helpers == set(CHECKS)
    for name in scripts:
        doc = ast.get_docstring(ast.parse((EXAMPLES / name).read_text())) or ""
        assert doc.strip() and "Usage:" in doc, name  # a header: what it shows, how to run it


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs_and_prints_what_it_should(name: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(CHECKS[name], done.stdout), done.stdout[-2000:]
