"""What a one-question process costs: a cold `semsearch ask` against importing the modules it cannot do without.

    .venv/bin/python scripts/cold_start.py --index indexes/bench-hf-daily
    .venv/bin/python scripts/cold_start.py --index indexes/bench-hf-daily --profile     # and where the time goes
    .venv/bin/python scripts/cold_start.py --index indexes/bench-hf-daily --compiled    # as an installed package
    .venv/bin/python scripts/cold_start.py --index indexes/bench-hf-daily --before e2baaec   # and an older commit

In fresh processes, N rounds (default 9), each running in turn:
  (a)  `python -c "import numpy, onnxruntime, tokenizers, faiss"`: the baseline, the heavy modules alone;
  (a') the same in a process that starts and ends as the semsearch command's does (semsearch/cli.py, `main`):
       OPENBLAS_THREAD_TIMEOUT set, and gc.freeze() before exit; (b)/(a') compares like with like, the cost of
       everything `ask` does besides importing those modules;
  (b)  `semsearch ask QUESTION --index IDX`, one question per round, cycling through a few;
  (c)  `semsearch --help`;
  (d)  with --before REV, the same `ask` run by the semsearch of that commit (its package, from `git archive`).
Prints the CPU, the median wall time of each and the ratios (b)/(a) and (b)/(a'), and the same for CPU time
(user + system), which other processes on a shared machine disturb less. Runs alternate so that load from other
processes falls on all of them alike; one unmeasured run of each goes first (disk cache, the model's export).

--compiled runs semsearch from a byte-compiled copy of the checkout, as pip installs a package: where
PYTHONDONTWRITEBYTECODE is set (this project's machine), every run otherwise compiles semsearch's modules again.

With --profile it then says where a cold ask spends its time:
  - phases, timed inside fresh processes (median over the rounds): interpreter start-up, importing the CLI, importing
    the heavy modules, importing the rest of the ask path, then each step of the command (opening the index,
    loading the ONNX session, embedding, loading the FAISS and word index files, ranking, reading the papers,
    rendering), each step's own time without the steps inside it, and what the process spends outside the script
    (start-up and the interpreter's exit, which tears the heavy modules down);
  - the slowest imports of one cold ask, from `python -X importtime` (cumulative and own time).

The index is any semsearch index; the 274 digests make the one the README's figures come from:
    semsearch update ../shared/data/digests/hf_daily/digests --index indexes/bench-hf-daily
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]  # the package, and the scripts' shared helpers

from machine import cpu_model  # noqa: E402

from semsearch.cli import BLAS_SPIN_ENVVAR, BLAS_SPIN_LOG2_CYCLES  # noqa: E402 - cheap: no numpy

BASELINE_IMPORTS = "import numpy, onnxruntime, tokenizers, faiss"
LIKE_FOR_LIKE = f"{BASELINE_IMPORTS}; import gc; gc.freeze()"
QUESTIONS = (
    "reinforcement learning for reasoning in language models",
    "diffusion models for video generation",
    "efficient attention for long context",
)

# Runs inside a fresh process with --profile: the ask command, its steps wrapped in timers. The heavy modules and
# the rest of the ask path are imported first, each group timed, so the steps below measure work, not imports.
# The BLAS setting is made as the console script's `main` makes it, before numpy loads.
_PHASES = r"""
import sys, time, json, os
T0 = time.perf_counter()
import semsearch.cli as cli
os.environ.setdefault(cli.BLAS_SPIN_ENVVAR, cli.BLAS_SPIN_LOG2_CYCLES)
T1 = time.perf_counter()
import numpy, onnxruntime, tokenizers, faiss
T2 = time.perf_counter()
import semsearch.search.searcher as searcher, semsearch.model.embed as embed, semsearch.model.onnx as onnx
import semsearch.search.filters, semsearch.storage.terms, semsearch.index
T3 = time.perf_counter()
own, stack = {}, []

def timed(label, owner, name):
    inner = getattr(owner, name)
    def wrapper(*args, **kwargs):
        stack.append(0.0)
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            total = time.perf_counter() - start
            children = stack.pop()
            own[label] = own.get(label, 0.0) + total - children
            if stack:
                stack[-1] += total
    setattr(owner, name, wrapper)

timed("open the index (SearchIndex)", searcher.SearchIndex, "__init__")
timed("choose the embedder", cli, "_embedder")
timed("read the tokenizer, create the ONNX session", onnx.OnnxQueryEncoder, "__init__")
timed("find the model export (manifest)", embed.QuantizedEmbedder, "_load")
timed("embed the question", embed.QuantizedEmbedder, "embed_query")
timed("load FAISS file + recent vectors", searcher.SearchIndex, "_load_vectors")
timed("load word index file + recent words", searcher.SearchIndex, "_load_words")
timed("rank (search, fusion, term ids)", searcher.SearchIndex, "rank")
timed("read the papers", searcher.SearchIndex, "_hits_of")
timed("render", cli, "_render_hits")
timed("the rest of the command (click, filters, freeing)", cli.cli, "main")
sys.argv = ["semsearch", "ask", *sys.argv[1:]]
try:
    cli.cli.main(standalone_mode=False)
except SystemExit:
    pass
T4 = time.perf_counter()
print(json.dumps({"import semsearch.cli": T1 - T0, "import numpy, onnxruntime, tokenizers, faiss": T2 - T1,
                  "import the rest of the ask path": T3 - T2, **own, "whole command": T4 - T3,
                  "inside the script": T4 - T0}), file=sys.stderr)
"""


def semsearch_command() -> list[str]:
    """The console script beside this interpreter, as a user runs it; else `python -m semsearch`."""
    script = Path(sys.executable).parent / "semsearch"
    return [str(script)] if script.exists() else [sys.executable, "-m", "semsearch"]


def environment(code_root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with `code_root` first on the import path, so its semsearch is what runs."""
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{code_root}{os.pathsep}{path}" if path else str(code_root),
        **(extra or {}),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one fresh process, and its stderr; its failure stops the run."""
    cpu = _children_cpu()
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return elapsed, _children_cpu() - cpu, result.stderr


def measure(
    code_root: Path, index: Path, runs: int, questions: list[str], before: tuple[str, Path] | None = None
) -> None:
    plain, blas = environment(code_root), environment(code_root, {BLAS_SPIN_ENVVAR: BLAS_SPIN_LOG2_CYCLES})
    ask = [*semsearch_command(), "ask", "QUESTION", "--index", str(index)]
    commands = {
        "baseline": ([sys.executable, "-c", BASELINE_IMPORTS], plain),
        "baseline'": ([sys.executable, "-c", LIKE_FOR_LIKE], blas),
        "ask": (ask, plain),
        "help": ([*semsearch_command(), "--help"], plain),
    }
    if before is not None:
        commands["before"] = (ask, environment(before[1]))

    def command(name: str, round_: int) -> list[str]:
        args = commands[name][0]
        return [questions[round_ % len(questions)] if arg == "QUESTION" else arg for arg in args]

    for name in commands:
        timed_run(command(name, 0), commands[name][1])  # unmeasured: disk cache, the model's export if missing
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(runs):
        for name in commands:
            seconds, cpu_seconds, _ = timed_run(command(name, i), commands[name][1])
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} cores usable; Python {platform.python_version()}; "
          f"PYTHONDONTWRITEBYTECODE={'set' if os.environ.get('PYTHONDONTWRITEBYTECODE') else 'unset'}; "
          f"semsearch from {code_root}")
    print(f"index: {index}; {runs} alternating rounds; questions: {'; '.join(questions)}")
    labels = {
        "baseline": f"(a)  python -c \"{BASELINE_IMPORTS}\"",
        "baseline'": f"(a') {BLAS_SPIN_ENVVAR}={BLAS_SPIN_LOG2_CYCLES} python -c \"{LIKE_FOR_LIKE}\"",
        "ask": "(b)  semsearch ask QUESTION --index IDX",
        "help": "(c)  semsearch --help",
        "before": f"(d)  semsearch ask QUESTION --index IDX, the semsearch of {before[0] if before else ''}",
    }
    for name, label in labels.items():
        if name not in commands:
            continue
        print(f"{label}\n       wall median {medians[name]:.3f} s "
              f"(min {min(wall[name]):.3f}, max {max(wall[name]):.3f}); CPU median {cpu_medians[name]:.3f} s")
    for baseline in ("baseline", "baseline'"):
        mark = baseline[len("baseline"):]
        print(f"ratio (b)/(a{mark}): {medians['ask'] / medians[baseline]:.2f}x wall, "
              f"{cpu_medians['ask'] / cpu_medians[baseline]:.2f}x CPU time")
        if before is not None:
            print(f"ratio (d)/(a{mark}): {medians['before'] / medians[baseline]:.2f}x wall, "
                  f"{cpu_medians['before'] / cpu_medians[baseline]:.2f}x CPU time")


def profile_phases(code_root: Path, index: Path, runs: int, questions: list[str]) -> None:
    """Median of each phase over `runs` fresh processes, and the interpreter's own start-up beside them."""
    samples: dict[str, list[float]] = {}
    startup, outside = [], []
    for i in range(runs):
        startup.append(timed_run([sys.executable, "-c", "pass"], environment(code_root))[0])
        args = [sys.executable, "-c", _PHASES, questions[i % len(questions)], "--index", str(index)]
        seconds, _, stderr = timed_run(args, environment(code_root))
        phases = json.loads(stderr.strip().splitlines()[-1])
        outside.append(seconds - phases.pop("inside the script"))
        for name, value in phases.items():
            samples.setdefault(name, []).append(value)
    print(f"\nphases of a cold ask, median of {runs} fresh processes (ms; steps: own time, without inner steps):")
    print(f"  {'python start-up (python -c pass)':<52} {1000 * statistics.median(startup):7.1f}")
    for name, values in samples.items():
        print(f"  {name:<52} {1000 * statistics.median(values):7.1f}")
    print(f"  {'outside the script: start-up, and exit (teardown)':<52} {1000 * statistics.median(outside):7.1f}")


def profile_imports(code_root: Path, index: Path, question: str, top: int = 25) -> None:
    """The slowest imports of one cold ask by cumulative time, and the semsearch modules' own time in all."""
    code = "import sys; from semsearch.cli import main; sys.argv[0] = 'semsearch'; main()"
    args = [sys.executable, "-X", "importtime", "-c", code, "ask", question, "--index", str(index)]
    _, _, stderr = timed_run(args, environment(code_root))
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line[len("import time:"):].split("|")
        rows.append((int(own), int(cumulative), name.rstrip()))
    ours = [row for row in rows if row[2].strip().startswith("semsearch")]
    print(f"\nimports of one cold ask (python -X importtime; its own overhead inflates them): {len(rows)} modules, "
          f"{sum(row[0] for row in rows) / 1000:.1f} ms; semsearch's own {len(ours)} modules "
          f"{sum(row[0] for row in ours) / 1000:.1f} ms")
    print(f"  {'cumulative ms':>13} {'own ms':>7}  module (indented under its importer)")
    for own, cumulative, name in sorted(rows, key=lambda row: -row[1])[:top]:
        print(f"  {cumulative / 1000:13.1f} {own / 1000:7.1f}  {name}")


def package_copy(target: Path, revision: str | None, compiled: bool) -> Path:
    """A copy of the semsearch package under `target`: this checkout's, or that of `revision` (git archive);
    byte-compiled, as pip does when it installs one, when `compiled`."""
    target.mkdir()
    if revision is None:
        shutil.copytree(ROOT / "semsearch", target / "semsearch", ignore=shutil.ignore_patterns("__pycache__"))
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "semsearch"], capture_output=True,
                                 check=False)
        if archive.returncode != 0:
            raise SystemExit(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    if compiled and not compileall.compile_dir(target / "semsearch", quiet=1):
        raise SystemExit("byte-compiling the copy of semsearch failed")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=ROOT / "indexes" / "bench-hf-daily", help="the index to ask")
    parser.add_argument("--runs", type=int, default=9, help="alternating rounds (default 9)")
    parser.add_argument("--question", action="append", help="a question (repeatable); default: three built-in ones")
    parser.add_argument("--profile", action="store_true", help="also show where a cold ask spends its time")
    parser.add_argument("--compiled", action="store_true", help="run a byte-compiled copy of semsearch")
    parser.add_argument("--before", metavar="REV", help="also ask with the semsearch of this git revision")
    args = parser.parse_args()
    if not (args.index / "papers.sqlite3").exists():
        raise SystemExit(f"no index at {args.index}; build one with `semsearch update "
                         f"../shared/data/digests/hf_daily/digests --index {args.index}`")
    questions = args.question or list(QUESTIONS)
    with tempfile.TemporaryDirectory(prefix="semsearch-cold-") as scratch:
        code_root = package_copy(Path(scratch) / "now", None, compiled=True) if args.compiled else ROOT
        before = None
        if args.before:
            before = args.before, package_copy(Path(scratch) / "before", args.before, args.compiled)
        measure(code_root, args.index, args.runs, questions, before)
        if args.profile:
            profile_phases(code_root, args.index, args.runs, questions)
            profile_imports(code_root, args.index, questions[0])


if __name__ == "__main__":
    main()
