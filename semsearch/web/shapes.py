"""The API's error shape, as a plain dictionary (no web framework, so it is cheap to import and test).

The shapes the API shares with the CLI's `--json` are the library's own (`Hit.to_dict`, `IndexInfo.to_dict`,
`StoredPaper.to_dict`), so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def error_dict(message: str, candidates: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """An API error: what is wrong and what to do; for an unknown paper, the (key, title) pairs it may mean."""
    body: dict[str, Any] = {"error": message}
    if candidates:
        body["candidates"] = [{"key": key, "title": title} for key, title in candidates]
    return body
