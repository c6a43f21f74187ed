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
