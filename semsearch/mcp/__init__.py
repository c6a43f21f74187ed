"""`semsearch mcp`: the index as tools of an AI assistant, over the Model Context Protocol (stdio).

Imports the MCP SDK (package `mcp`) by absolute name: this package is `semsearch.mcp`, never plain `mcp`.
"""

from __future__ import annotations

from semsearch.mcp.server import TOOL_NAMES, PaperTools, create_server, run_stdio

__all__ = ["TOOL_NAMES", "PaperTools", "create_server", "run_stdio"]
