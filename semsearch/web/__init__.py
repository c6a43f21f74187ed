"""The local web page and JSON API over an index: `semsearch serve`.

  shapes.py   the JSON dictionaries the API shares with the CLI's --json (pure: the CLI imports it)
  problems.py a failure -> a status code and a one-line message naming the next step
  schema.py   the request parameters and the response models (the OpenAPI schema)
  service.py  the index served to many requests: worker threads, reopened after another process commits
  page.py     the search page and the "New for you" page: Jinja templates (autoescaped) and the stylesheet
  forms.py    the page's state-changing forms (watches, likes): read, and refused without the page's token
  app.py      the FastAPI app: routes and error handlers
  server.py   `serve`: warm up, bind, run uvicorn

`create_app` and `serve` are loaded on first use, so importing `semsearch.web.shapes` does not load FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from semsearch.web.app import create_app
    from semsearch.web.server import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from semsearch.web.app import create_app

        return create_app
    if name == "serve":
        from semsearch.web.server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
