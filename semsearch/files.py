"""Writing a file so that a crash leaves the old one or the new one, never half of either."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(target: Path, unique: bool = False) -> Iterator[Path]:
    """A temporary path beside `target` to write; on success it is fsynced and renamed over `target` (and the
    folder fsynced), on failure removed, since a half-written file would only hold space.

    The temporary is `TARGET.tmp`, a name the index's tidying recognizes, unless `unique` asks for one no other
    process can be writing at the same time (shared caches, folders without a writer's lock).
    """
    if unique:
        import tempfile  # only here: a cold question imports this module and never writes a unique temporary

        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(descriptor)
        tmp = Path(name)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the file is shared like any other the index writes
    else:
        tmp = target.with_name(target.name + ".tmp")
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)
