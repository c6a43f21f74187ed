"""The local web page and JSON API over an index: `semsearch serve`."""

from semsearch.web.app import create_app, serve

__all__ = ["create_app", "serve"]
