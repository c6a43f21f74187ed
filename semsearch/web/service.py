"""The index served to many requests: worker threads, each with its own open `SearchIndex`, kept current.

Searches run on worker threads (a SQLite connection belongs to the thread that opened it). Before every call a
worker asks its index whether another process has committed since it was opened (`SearchIndex.is_stale`: SQLite's
`data_version`, no I/O); if so it reopens it, so papers added by `semsearch update` are served at once, without a
restart. The embedding model is one object shared by the workers: loaded once per process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from semsearch.model.embed import Embedder
from semsearch.search import SearchIndex, single_threaded_searches

T = TypeVar("T")


@dataclass(frozen=True)
class Overview:
    """What the page shows about the index: its summary and its digest days (with their paper counts)."""

    info: dict[str, Any]
    days: list[tuple[str, int]]


class Worker:
    """One worker thread's open index, reopened when another process has committed to it."""

    def __init__(self, folder: Path, embedder: Embedder | None) -> None:
        self._folder = folder
        self._embedder = embedder
        self._index: SearchIndex | None = None
        self._overview: Overview | None = None

    @property
    def index(self) -> SearchIndex:
        """The open index, current as of the last `refresh`."""
        if self._index is None:
            self._index = SearchIndex(self._folder, self._embedder)
        return self._index

    def refresh(self) -> None:
        """Drop the open index if another process committed a new index state since it was opened."""
        if self._index is not None and self._index.is_stale():
            self._index.close()
            self._index = None
            self._overview = None

    def overview(self) -> Overview:
        """The index summary and digest days, computed once per committed state."""
        if self._overview is None:
            index = self.index
            self._overview = Overview(index.info().to_dict(), index.digest_days())
        return self._overview

    def close(self) -> None:
        """Close the open index, if any."""
        if self._index is not None:
            self._index.close()
            self._index = None


class IndexService:
    """An index served to many requests: calls run on `threads` worker threads, each with its own connections."""

    def __init__(self, folder: Path, embedder: Embedder | None, threads: int = 1) -> None:
        self.folder = folder
        self.embedder = embedder
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="semsearch-search")
        self._local = threading.local()

    def _in_worker(self, fn: Callable[[Worker], T]) -> tuple[T, float]:
        worker = getattr(self._local, "worker", None)
        if worker is None:
            single_threaded_searches()
            worker = self._local.worker = Worker(self.folder, self.embedder)
        start = time.perf_counter()
        worker.refresh()
        result = fn(worker)
        return result, (time.perf_counter() - start) * 1000

    async def call(self, fn: Callable[[Worker], T]) -> tuple[T, float]:
        """Run `fn` on a worker without blocking the event loop; returns its result and milliseconds taken."""
        return await asyncio.wrap_future(self._executor.submit(self._in_worker, fn))

    def warm_up(self) -> None:
        """Open the index on every worker and load the model, so the first question is as fast as the next."""
        barrier = threading.Barrier(self.threads)

        def load(worker: Worker) -> None:
            worker.overview()
            if self.embedder is not None:
                worker.index.ask("warm up", 1)

        def prepare() -> None:
            try:
                self._in_worker(load)
            except BaseException:
                barrier.abort()  # the other workers stop waiting; this error is the one reported
                raise
            try:
                barrier.wait(timeout=600)  # holds this thread, so that the next task starts on another one
            except threading.BrokenBarrierError:
                pass

        futures = [self._executor.submit(prepare) for _ in range(self.threads)]
        for future in futures:
            future.result()

    def close(self) -> None:
        """Close every worker's index (each on its own thread) and stop the threads."""
        barrier = threading.Barrier(self.threads)

        def close_here() -> None:
            worker = getattr(self._local, "worker", None)
            if worker is not None:
                worker.close()
                self._local.worker = None
            try:
                barrier.wait(timeout=10)  # holds this thread, so that each close runs on another one
            except threading.BrokenBarrierError:
                pass

        for _ in range(self.threads):
            self._executor.submit(close_here)
        self._executor.shutdown(wait=True)
