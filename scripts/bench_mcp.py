"""What `semsearch mcp` costs an assistant: start-up to the tool list, the first search (it loads the model) and the
searches after it, against the same searches as one-shot `semsearch ask --json` processes.

    .venv/bin/python scripts/bench_mcp.py --index indexes/default
    .venv/bin/python scripts/bench_mcp.py --index indexes/default --rounds 9

Starts `semsearch mcp` as a subprocess over stdio with the SDK's client, as Claude Desktop does: times
initialize + tools/list, the first search_papers (which creates the embedder and loads the model: the server loads
it lazily, at the first call that needs it), and the median of the next searches; then the median wall time of a
cold `semsearch ask --json` process for the same questions (the baseline: what each search would cost without a
server). Prints the CPU and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402

QUESTIONS = [
    "memory-efficient training of trillion-parameter models",
    "parallel corpora for Indic languages",
    "video generation with diffusion models",
    "retrieval augmented generation",
    "speculative decoding",
]


REPO = Path(__file__).resolve().parents[1]
# This checkout's semsearch, whatever the environment has installed.
COMMAND = [sys.executable, "-m", "semsearch"]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


async def serve_and_ask(index: str, rounds: int) -> tuple[float, float, list[float]]:
    params = StdioServerParameters(command=COMMAND[0], args=[*COMMAND[1:], "mcp", "--index", index], env=ENV)
    start = time.perf_counter()
    async with Client(params) as client:
        await client.list_tools()
        listed = time.perf_counter() - start
        times = []
        for n in range(rounds + 1):
            began = time.perf_counter()
            result = await client.call_tool("search_papers", {"query": QUESTIONS[n % len(QUESTIONS)]})
            assert not result.is_error, result.content
            times.append(time.perf_counter() - began)
    return listed, times[0], times[1:]


def cold_ask(index: str, rounds: int) -> list[float]:
    times = []
    for n in range(rounds):
        began = time.perf_counter()
        subprocess.run([*COMMAND, "ask", QUESTIONS[n % len(QUESTIONS)], "--index", index, "--json"],
                       check=True, capture_output=True, env=ENV)
        times.append(time.perf_counter() - began)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    listed, first, after = anyio.run(serve_and_ask, args.index, args.rounds)
    cold = cold_ask(args.index, args.rounds)
    print(machine_line())
    print(f"mcp: start-up to the tool list {listed * 1000:.0f} ms; first search_papers {first * 1000:.0f} ms "
          f"(loads the model); next {args.rounds}: median {statistics.median(after) * 1000:.1f} ms")
    print(f"baseline: cold `semsearch ask --json` process, median of {args.rounds}: "
          f"{statistics.median(cold) * 1000:.0f} ms; a search through the server is "
          f"{statistics.median(cold) / statistics.median(after):.1f}x faster")


if __name__ == "__main__":
    main()
