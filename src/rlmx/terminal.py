"""Text made safe to print on a terminal.

Answers, cell output and quotes come from model code and documents, so they may hold
escape sequences: OSC 52 writes the user's clipboard, OSC 0 sets the window title, and
``ESC[2K`` with a carriage return forges a line rlmx never printed. On a terminal every C0
and C1 control character but tab and newline is shown as its escape (``\\x1b``); written
to a pipe or a file, and in ``--json``, the text stays exact.
"""

from __future__ import annotations

import re
from typing import TextIO

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with its control characters (tab and newline kept) written as escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def for_stream(text: str, stream: TextIO) -> str:
    """``visible(text)`` when ``stream`` is a terminal, else ``text`` as it is."""
    isatty = getattr(stream, "isatty", None)
    return visible(text) if isatty is not None and isatty() else text
