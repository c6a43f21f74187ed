"""Fault drill: kill -9 `update` and `rebuild` at random moments, run writers concurrently, and count losses.

    .venv/bin/python scripts/fault_drill.py [--kills 30] [--seed 1]

Uses real processes (`python -m semsearch`) on the 274 real digests with the deterministic hashing embedder
slowed to a model-like pace (tests/fakes.py), so a kill lands while embedding, committing or merging. After
every kill it checks the index (`semsearch check`), asks a question, and compares the paper count with the
last committed one. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIGESTS = ROOT.parent / "shared" / "data" / "digests" / "hf_daily" / "digests"


def start(args: list[str], folder: Path, pace: float) -> subprocess.Popen:
    """One semsearch process on `folder` with the slowed fake embedder."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SEMSEARCH_INDEX": str(folder),
        "SEMSEARCH_EMBEDDER": "tests.fakes:SlowHashingEmbedder",
        "FAKE_EMBED_SECONDS": str(pace),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "semsearch", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(args: list[str], folder: Path) -> tuple[int, str, str]:
    """Run to completion; (exit code, stdout, stderr)."""
    process = start(args, folder, 0.0)
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def papers(folder: Path) -> int:
    """The committed paper count."""
    code, out, err = run(["info", "--json"], folder)
    if code != 0:
        raise SystemExit(f"info failed after a kill: {err}")
    return json.loads(out)["papers"]


def main() -> None:
    """Run the drill and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=30, help="kill attempts per command")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    files = sorted(DIGESTS.glob("*.txt"))
    table = []
    with tempfile.TemporaryDirectory() as scratch:
        for command in ("update", "rebuild"):
            folder = Path(scratch) / command
            run(["update", *map(str, files[:10])], folder)
            committed, kills, broken, lost, failed_answers = papers(folder), 0, 0, 0, 0
            for attempt in range(args.kills):
                batch = files[: 10 + (attempt + 1) * len(files) // args.kills]
                process = start([command, *map(str, batch)], folder, 0.001)
                time.sleep(rng.uniform(0.2, 3.0))
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills += 1
                process.wait()
                code, out, _ = run(["check", "--json"], folder)
                broken += code != 0
                now = papers(folder)
                lost += max(committed - now, 0)
                committed = max(committed, now)
                code, out, _ = run(["ask", "diffusion models for video generation", "--json"], folder)
                failed_answers += code != 0 or not json.loads(out)
            code, _, _ = run(["update", str(DIGESTS)], folder)
            final = papers(folder)
            table.append((command, args.kills, kills, broken, lost, failed_answers, final))

        folder = Path(scratch) / "concurrent"
        writers = [start(["update", *map(str, files[i::4])], folder, 0.0005) for i in range(4)]
        codes = [writer.wait() for writer in writers]
        concurrent = (len(writers), sum(code == 0 for code in codes), papers(folder))

    print(
        "| command | attempts | killed mid-run | `check` failures | committed papers lost | failed questions "
        "| papers after finishing |"
    )
    print("|---|---|---|---|---|---|---|")
    for command, attempts, kills, broken, lost, failed, final in table:
        print(f"| {command} | {attempts} | {kills} | {broken} | {lost} | {failed} | {final} of 3506 |")
    started, succeeded, indexed = concurrent
    print(f"\nconcurrent writers: {started} started at once, {succeeded} succeeded, {indexed} of 3506 papers indexed")


if __name__ == "__main__":
    main()
