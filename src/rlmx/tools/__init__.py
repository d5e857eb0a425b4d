"""The operator's tools in the REPL: Python functions (``functions.py``), MCP servers'
tools (``mcp_tools.py``) and the toolbox of a run tree that offers both (``toolbox.py``)."""

from .functions import Tool
from .toolbox import Toolbox

__all__ = ["Tool", "Toolbox"]
