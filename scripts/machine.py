"""What machine a benchmark ran on: every script prints it beside its figures, since this project's machines differ."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo names it, and "with AVX-512 VNNI" when it has them (int8 inference uses them)."""
    model, flags = platform.processor() or platform.machine() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return model + (" with AVX-512 VNNI" if "avx512_vnni" in flags else "")


def machine_line() -> str:
    """The CPU model, the cores this process may use and the Python version, in one line."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu_model()}, {cores} cores available, Python {platform.python_version()}"


def memory_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """GB/s of one core copying a large array (best of a few): what a scan of stored vectors is bound by."""
    import time

    import numpy as np

    source = np.ones(megabytes * 2**20 // 8, dtype=np.float64)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    # A copy reads each byte once and writes it once.
    return 2 * source.nbytes / best / 1e9
