"""A local stand-in for the Daily Papers JSON API: serves a folder of `daily-papers-YYYY-MM-DD.json` days on
127.0.0.1 with the API's paging (`limit`, `p`), its limit check (HTTP 400 above 100), `[]` for days without a
file, and injectable faults (429 with `RateLimit`, 500, a dropped connection, the server dying). Used by
tests/test_fetch.py and scripts/bench_fetch.py; nothing here reaches beyond the loopback interface.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

PATH = "/api/daily_papers"


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    user_agent: str


class DailyPapersServer:
    """`url` is the API's base URL; `requests` lists what arrived; `faults[day]` is a list consumed one request at
    a time ("429", "429-retry-after", "500", "drop", "die"); `days` may also be set in memory."""

    def __init__(self, folder: Path | None, days: dict[str, list] | None = None) -> None:
        self.folder = folder
        self.days = days or {}
        self.requests: list[Request] = []
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.lock = threading.Lock()
        self.dead = False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{PATH}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> DailyPapersServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if not self.dead:
            self.dead = True
            self.httpd.shutdown()
        self.httpd.server_close()

    def entries(self, day: str) -> list:
        if day in self.days:
            return self.days[day]
        if self.folder is not None:
            path = self.folder / f"daily-papers-{day}.json"
            if path.exists():
                return json.loads(path.read_text(encoding="utf-8"))
        return []

    def _die(self) -> None:
        # Refuse every later connection at once, as a server that went away does.
        self.dead = True
        self.httpd.socket.close()
        threading.Thread(target=self.httpd.shutdown, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one write (a flush per answer): two small writes would meet Nagle's
            # algorithm and the client's delayed ACK, 40 ms per request that the real API does not cost.
            wbufsize = 1 << 16

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                with server.lock:
                    server.requests.append(Request(url.path, query, self.headers.get("User-Agent", "")))
                    day = query.get("date", "")
                    fault = server.faults[day].pop(0) if server.faults.get(day) else None
                if fault == "die":
                    server._die()
                    self.close_connection = True
                    return
                if fault == "drop":
                    self.close_connection = True  # no answer at all: the client sees the connection dropped
                    return
                if fault == "429":
                    self._send(429, {"error": "rate limited"}, {"RateLimit": '"api";r=0;t=7'})
                    return
                if fault == "429-retry-after":
                    self._send(429, {"error": "rate limited"}, {"Retry-After": "3"})
                    return
                if fault == "500":
                    self._send(500, {"error": "internal error"})
                    return
                if url.path != PATH:
                    self._send(404, {"error": "not found"})
                    return
                try:
                    limit = int(query.get("limit", "50"))
                    page = int(query.get("p", "0"))
                except ValueError:
                    self._send(400, {"error": "bad parameters"})
                    return
                if limit > 100 or limit < 1:
                    self._send(400, {"error": '"limit" must be less than or equal to 100'})
                    return
                entries = server.entries(day)
                self._send(200, entries[page * limit : (page + 1) * limit])

        return Handler
