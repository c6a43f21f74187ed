"""How long work reports its progress: the library calls these; the CLI draws them (a bar on a terminal)."""

from __future__ import annotations

from collections.abc import Callable

# Called with the number of items just finished.
Progress = Callable[[int], None]
# Called once with the number of items to do; returns the per-step callback (see `Progress`).
ProgressFactory = Callable[[int], Progress]
