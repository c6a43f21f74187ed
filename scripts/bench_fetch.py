"""Benchmark of `semsearch fetch`: 30 days from a local stand-in of the Daily Papers API, fetched and indexed.

    .venv/bin/python scripts/bench_fetch.py            # the real default model (int8)
    .venv/bin/python scripts/bench_fetch.py --fake     # the hashing embedder of the tests: fetch and index work only

The server (tests/apiserver.py) serves ../shared/data/hf_api/days on 127.0.0.1 with the API's paging; nothing
reaches the internet. Two measurements, each in a fresh folder:
  fetch only   the library's fetch of the 30 days (requests, saving): days/s and requests
  fetch+index  the whole `semsearch fetch --since ... --until ...` command into a new index: days/s, papers/s
  baseline     `semsearch update` of the same saved files into another new index (the indexing alone)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]  # the package, and the scripts' shared helpers

from click.testing import CliRunner  # noqa: E402
from machine import cpu_model  # noqa: E402

from semsearch.cli import cli  # noqa: E402
from semsearch.ingest import dailypapers  # noqa: E402
from tests.apiserver import DailyPapersServer  # noqa: E402

DAYS = REPO.parent / "shared" / "data" / "hf_api" / "days"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fake", action="store_true", help="embed with the tests' hashing embedder, not the model")
    parser.add_argument("--since", default="2025-06-01", help="first day (default 2025-06-01)")
    parser.add_argument("--days", type=int, default=30, help="how many days (default 30)")
    parser.add_argument("--page-size", type=int, default=dailypapers.MAX_LIMIT, help="entries per request")
    args = parser.parse_args()
    since = dt.date.fromisoformat(args.since)
    until = since + dt.timedelta(days=args.days - 1)
    days = list(dailypapers.iter_dates(since, until))

    with DailyPapersServer(DAYS) as server, tempfile.TemporaryDirectory(prefix="bench-fetch-") as scratch:
        start = time.perf_counter()
        with dailypapers.DailyPapersClient(server.url, page_size=args.page_size) as client:
            result = dailypapers.fetch_days(client, Path(scratch) / "only", days)
        fetch_s = time.perf_counter() - start
        entries = sum(day.entries for day in result.days)
        print(
            f"fetch only:  {len(days)} days, {result.requests} requests, {entries} entries in {fetch_s:.2f} s: "
            f"{len(days) / fetch_s:.1f} days/s, {result.requests / fetch_s:.1f} requests/s"
        )

        obj = {}
        if args.fake:
            from tests.fakes import HashingEmbedder

            obj["embedder"] = HashingEmbedder()
        server.requests.clear()
        index = Path(scratch) / "index"
        command = ["fetch", "--since", str(since), "--until", str(until), "--index", str(index), "--json"]
        start = time.perf_counter()
        outcome = CliRunner().invoke(cli, command, obj=obj, env={dailypapers.URL_ENVVAR: server.url})
        total_s = time.perf_counter() - start
        if outcome.exit_code != 0:
            sys.exit(f"semsearch fetch failed ({outcome.exit_code}): {outcome.output}")
        report = json.loads(outcome.stdout)
        print(
            f"fetch+index: {report['days']} days ({report['empty_days']} empty), {len(server.requests)} requests, "
            f"{report['added']} papers added in {total_s:.2f} s: {report['days'] / total_s:.2f} days/s, "
            f"{report['added'] / total_s:.1f} papers/s ({'fake embedder' if args.fake else 'default model, int8'})"
        )
        # Baseline, same conditions: `semsearch update` of the same 30 saved files into another new index.
        update = ["update", *(str(day.path) for day in result.listed), "--index", str(Path(scratch) / "base")]
        start = time.perf_counter()
        outcome = CliRunner().invoke(cli, [*update, "--json"], obj=obj)
        update_s = time.perf_counter() - start
        if outcome.exit_code != 0:
            sys.exit(f"semsearch update failed ({outcome.exit_code}): {outcome.output}")
        added = json.loads(outcome.stdout)["added"]
        print(f"baseline:    `semsearch update` of the saved files: {added} papers in {update_s:.2f} s: "
              f"{added / update_s:.1f} papers/s")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, load {load}")


if __name__ == "__main__":
    main()
