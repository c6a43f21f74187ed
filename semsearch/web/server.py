"""Serving the app: open the index and load the model, bind the address, then run uvicorn until interrupted."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.model.embed import Embedder
from semsearch.web.app import create_app


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free port the system picks)."""
    family, _type, _proto, _name, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return socket.create_server(address[:2], family=family, backlog=512)


def serve(
    index_path: Path,
    embedder: Embedder | None,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 1,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Open the index, load the model, then answer requests on host:port until interrupted; `on_ready` gets the
    URL once it listens."""
    import uvicorn

    # One search runs on one core: the worker threads are the parallelism. Left to its default, the model's own
    # thread pool fights them for the cores (on 2 busy cores, a question took 182 ms to embed instead of 33 ms).
    # Read once, when the model's libraries load (during warm-up, below), so set it before.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    app = create_app(index_path, embedder, threads=threads)
    app.state.service.warm_up()  # a missing index or another model fails here, before anything listens
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise SemsearchError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port, or --port 0 for a free one"
        ) from exc
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    if on_ready is not None:
        on_ready(f"http://{shown_host}:{bound_port}/")
    uvicorn.Server(config).run(sockets=[sock])
