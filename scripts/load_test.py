"""Load test for `semsearch serve`: concurrent clients asking real questions on loopback, for a bounded time.

    .venv/bin/python scripts/load_test.py --index /tmp/load-index            # 50 clients, 30 s
    .venv/bin/python scripts/load_test.py --index /tmp/load-index --update ../shared/data/digests/seed/

It starts its own server (`python -m semsearch serve --port 0`, the real model unless SEMSEARCH_EMBEDDER says
otherwise) on 127.0.0.1, and builds the index from the hf_daily digests first when --index does not exist yet.
Every client loops over real questions until the time is up (or --max-requests were sent), then the server is
stopped. Nine requests in ten are `/api/ask` (one in four of them with a date filter), one in ten renders the
page. With --update, `semsearch update` adds those digests to the index five seconds in, while the load runs:
the server must keep answering, and must serve the new papers when the update is done.

Reports requests, errors, throughput, latency percentiles as the clients saw them, and the search time the
server measured (its Server-Timing header). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
HF_DAILY = REPO.parent / "shared" / "data" / "digests" / "hf_daily" / "digests"

# Questions a reader of the 2025 Daily Papers digests would ask, in their own words.
QUESTIONS = [
    "memory-efficient training of trillion-parameter models",
    "video generation with diffusion models",
    "reinforcement learning to improve reasoning in large language models",
    "how to evaluate hallucinations in vision-language models",
    "long context attention that scales linearly",
    "speculative decoding to speed up inference",
    "mixture of experts routing and load balancing",
    "benchmarks for software engineering agents",
    "text-to-speech with natural prosody",
    "3D scene reconstruction from a few images",
    "quantization of LLM weights to 4 bits",
    "retrieval-augmented generation for question answering",
    "robot manipulation policies learned from video",
    "GUI agents that operate a computer or phone",
    "reward models and preference optimization without RLHF",
    "multilingual machine translation for low-resource languages",
    "chain-of-thought reasoning that is shorter and cheaper",
    "image editing with text instructions",
    "autoregressive image generation with discrete tokens",
    "safety alignment and jailbreak attacks on chatbots",
    "test-time compute scaling for math problems",
    "medical imaging foundation models",
    "synthetic data generation for pretraining",
    "KV cache compression for long sequences",
    "world models for autonomous driving",
    "code generation benchmarks and evaluation",
    "tool use and function calling by language models",
    "diffusion language models as an alternative to autoregressive decoding",
    "unified models for multimodal understanding and generation",
    "efficient fine-tuning with low-rank adapters",
    "visual grounding and object detection with language",
    "speech recognition for many languages",
    "memory for long-running conversational agents",
    "data contamination in LLM benchmarks",
    "humanoid robot whole-body control",
    "scientific discovery with AI research agents",
    "sparse attention kernels on GPUs",
    "self-improving models that generate their own training data",
    "evaluating LLM judges and their biases",
    "embedding models for semantic search",
]


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def start_server(index: Path, threads: int, log_path: Path) -> tuple[subprocess.Popen, str]:
    """`semsearch serve` on 127.0.0.1 and a free port; returns the process and its URL once it listens."""
    log = open(log_path, "w")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "semsearch", "serve", "--index", str(index), "--host", "127.0.0.1", "--port", "0",
         "--threads", str(threads)],
        env=env, stdout=subprocess.PIPE, stderr=log, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}; see {log_path}") from None
            continue
        if line.startswith("Serving "):
            url = line.rsplit(" at ", 1)[1].strip()
            if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
                process.terminate()
                raise SystemExit(f"refusing to load anything but loopback: {url}")
            return process, url
    process.terminate()
    raise SystemExit("the server did not start within 300 s")


async def client(number: int, http: httpx.AsyncClient, stop_at: float, budget: list[int], results: Results) -> None:
    """One client: asks question after question until the time or the request budget is spent."""
    step = number
    while time.monotonic() < stop_at and budget[0] > 0:
        budget[0] -= 1
        question = QUESTIONS[step % len(QUESTIONS)]
        if step % 10 == 9:
            kind, path, params = "page", "/", {"q": question}
        elif step % 4 == 3:
            kind, path, params = "ask+since", "/api/ask", {"q": question, "since": "2025-06-01"}
        else:
            kind, path, params = "ask", "/api/ask", {"q": question}
        step += 7  # clients walk the questions at different strides, so they do not ask in lockstep
        start = time.perf_counter()
        try:
            response = await http.get(path, params=params)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                results.errors.append(f"{response.status_code} {path} {response.text[:200]}")
                continue
            if kind != "page" and len(response.json()) != 10:
                results.errors.append(f"{path} {params}: {len(response.json())} hits, not 10")
                continue
        except httpx.HTTPError as exc:
            results.errors.append(f"{path}: {exc.__class__.__name__}: {exc}")
            continue
        results.latencies_ms.append(elapsed)
        timing = response.headers.get("server-timing", "")
        if timing.startswith("search;dur="):
            results.server_ms.append(float(timing.split("=", 1)[1]))
        results.by_kind.setdefault(kind, []).append(elapsed)


async def run_load(url: str, clients: int, seconds: float, max_requests: int, update: list[str], index: Path) -> dict:
    results = Results()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    update_report: dict = {}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as http:
        papers_before = (await http.get("/api/info")).json()["papers"]
        started = time.monotonic()
        stop_at = started + seconds
        budget = [max_requests]
        tasks = [asyncio.create_task(client(i, http, stop_at, budget, results)) for i in range(clients)]
        if update:
            await asyncio.sleep(min(5.0, seconds / 4))
            writer = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "semsearch", "update", "--index", str(index), "--json", *update,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            out, err = await writer.communicate()
            update_report = {
                "returncode": writer.returncode,
                "finished_after_s": round(time.monotonic() - started, 1),
                "report": json.loads(out) if writer.returncode == 0 else err.decode()[-500:],
            }
        await asyncio.gather(*tasks)
        wall = time.monotonic() - started
        if update:
            info = (await http.get("/api/info")).json()
            update_report["papers_before"] = papers_before
            update_report["papers_served_after"] = info["papers"]
    latencies = results.latencies_ms
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "requests": len(latencies) + len(results.errors),
        "errors": len(results.errors),
        "error_samples": results.errors[:5],
        "by_kind": {
            kind: {"requests": len(values), "p50_ms": round(percentile(values, 0.5), 1),
                   "p95_ms": round(percentile(values, 0.95), 1)}
            for kind, values in sorted(results.by_kind.items())
        },
        "throughput_per_s": round(len(latencies) / wall, 1),
        "latency_ms": {
            "p50": round(percentile(latencies, 0.50), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
            "mean": round(statistics.fmean(latencies), 1),
        }
        if latencies
        else {},
        "server_search_ms": {
            "p50": round(percentile(results.server_ms, 0.50), 1),
            "p95": round(percentile(results.server_ms, 0.95), 1),
        }
        if results.server_ms
        else {},
        "update": update_report or None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True, help="Index folder (built from hf_daily if absent).")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--max-requests", type=int, default=200_000, help="Stop after this many requests.")
    parser.add_argument("--threads", type=int, default=2, help="The server's --threads.")
    parser.add_argument("--update", nargs="*", default=[], help="Digests to add with `semsearch update` mid-run.")
    args = parser.parse_args()
    if not 1 <= args.clients <= 500 or not 0 < args.seconds <= 600:
        raise SystemExit("keep it bounded: 1-500 clients, at most 600 seconds")
    if not args.index.exists():
        print(f"Building {args.index} from {HF_DAILY}...", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "semsearch", "update", "--index", str(args.index), str(HF_DAILY)],
            env={**os.environ, "PYTHONPATH": str(REPO)}, check=True,
        )
    log_path = args.index.parent / f"{args.index.name}-serve.log"
    process, url = start_server(args.index, args.threads, log_path)
    try:
        report = asyncio.run(run_load(url, args.clients, args.seconds, args.max_requests, args.update, args.index))
    finally:
        process.terminate()
        process.wait(timeout=30)
    log_text = log_path.read_text()
    report["server_tracebacks"] = log_text.count("Traceback")
    report["threads"] = args.threads
    print(json.dumps(report, indent=2))
    if report["errors"] or report["server_tracebacks"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
