"""One writer at a time per index: an advisory lock file beside the database."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from semsearch.errors import IndexBusyError

LOCK_NAME = "write.lock"


@contextmanager
def write_lock(folder: Path, wait: bool = True, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the index's write lock; wait for another writer, or fail at once when `wait` is false.

    flock is released by the kernel when the holder dies, so a killed update never leaves a stale lock.
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise IndexBusyError(
                    f"another semsearch update is writing to {folder}; try again when it finishes "
                    "(or leave out --no-wait to wait for it)"
                ) from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def is_locked(folder: Path) -> bool | None:
    """Whether a writer holds the index's lock now, found without taking it (taking even a shared lock for a moment
    could make a `--no-wait` writer fail): the kernel's table of locks, /proc/locks. None where that is unknown."""
    try:
        info = os.stat(folder / LOCK_NAME)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    # /proc/locks names a file as MAJOR:MINOR:INODE, the device numbers in hex; "->" marks a waiter, not a holder.
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            return True
    return False
