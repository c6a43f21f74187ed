"""The page's state-changing forms (watches, likes, the last-seen mark): reading a POSTed form, and refusing one that
another web site made the reader's browser send.

The server is local and has no login, so any page open in the same browser could POST to it. Every form therefore
carries a token that only this server's own pages hold (an HMAC of a secret drawn at start-up; another site cannot
read it, the same-origin policy forbids), and a request whose Origin or Sec-Fetch-Site says it came from elsewhere
is refused even with one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import urllib.parse
from collections.abc import Mapping

from fastapi import Request

from semsearch.web.problems import RequestProblem

TOKEN_FIELD = "csrf"
# A form of this page is a few short fields; anything longer is not one of them.
MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 20
FORM_TYPE = "application/x-www-form-urlencoded"
# Where to go back to after a form, when the form names no page (or names one that is not on this server).
DEFAULT_NEXT = "/news"


class FormGuard:
    """Issues the token forms carry, and checks every state-changing request."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._token = hmac.new(secret or os.urandom(32), b"semsearch form", hashlib.sha256).hexdigest()

    @property
    def token(self) -> str:
        """The token this server's forms carry in their hidden TOKEN_FIELD."""
        return self._token

    async def read(self, request: Request) -> dict[str, str]:
        """The fields of a POSTed form, once its origin and token are checked: a 403 when they fail (a body that is
        not a form has no token), a 400 when the form is too long or unreadable."""
        self._check_origin(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
            raise RequestProblem(403, f"not a form ({FORM_TYPE}) with this page's token; submit it from the page")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            raise RequestProblem(400, f"the form is over {MAX_FORM_BYTES} bytes; submit it from the page")
        try:
            pairs = urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise RequestProblem(400, "the form could not be read; submit it from the page") from exc
        fields = dict(pairs)
        if not hmac.compare_digest(fields.get(TOKEN_FIELD, ""), self._token):
            raise RequestProblem(403, "the form's token is missing or wrong; reload the page and submit it again")
        return fields

    @staticmethod
    def _check_origin(request: Request) -> None:
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise RequestProblem(403, f"a request from another site ({site}) cannot change this index")
        # The page's Referrer-Policy (no-referrer) makes a browser send "Origin: null" with its own forms, so "null"
        # tells nothing; the token and Sec-Fetch-Site still decide.
        origin = request.headers.get("origin")
        if origin not in (None, "null") and urllib.parse.urlsplit(origin).netloc != request.headers.get("host", ""):
            raise RequestProblem(403, "a request from another site cannot change this index")


def next_page(fields: Mapping[str, str]) -> str:
    """The local page a form returns to: its `next` field when that is a path on this server, else DEFAULT_NEXT."""
    target = fields.get("next", "")
    parts = urllib.parse.urlsplit(target)
    if not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return target
