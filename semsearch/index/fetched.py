"""Fetch the Daily Papers lists of new days and index them: what `semsearch fetch` and the MCP server's
`fetch_daily_papers` run.

What was saved is indexed even when the fetch stops early (nothing fetched is lost), and so are days saved earlier
that the index does not hold (a run killed before it indexed them, a new index over an old folder).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semsearch.errors import IndexMissingError
from semsearch.ingest import dailypapers
from semsearch.model.embed import Embedder
from semsearch.progress import ProgressFactory
from semsearch.storage.store import index_exists


@dataclass(frozen=True)
class FetchReport:
    """One fetch: the days fetched, the update that indexed them, the folder, and the failure that stopped it."""

    result: dailypapers.FetchResult
    update: Any  # UpdateReport
    folder: Path
    behind: int  # days saved earlier that this run indexed
    failure: dailypapers.FetchError | None = None

    def to_dict(self) -> dict:
        """The `--json` shape of `semsearch fetch`."""
        return {
            "days": len(self.result.days),
            "empty_days": self.result.empty_days,
            "saved": [str(path) for path in self.result.written],
            "added": self.update.added,
            "updated": self.update.updated,
            "already_present": self.update.already_present,
            "papers": self.update.papers,
            "warnings": list(self.update.warnings),
        }


def _indexed_days(index_path: Path) -> set[str]:
    """The digest days the index holds papers of (none for a new or empty index)."""
    from semsearch.search import SearchIndex

    if not index_exists(index_path):
        return set()
    try:
        with SearchIndex(index_path) as search_index:
            return {day for day, _ in search_index.digest_days()}
    except IndexMissingError:
        return set()


def fetch_and_index(
    index_path: Path,
    embedder: Embedder,
    since: dt.date | None = None,
    until: dt.date | None = None,
    digests_dir: Path | None = None,
    *,
    wait: bool = True,
    on_day: Callable[[dailypapers.SavedDay], None] | None = None,
    on_pause: Callable[[float, str], None] | None = None,
    on_behind: Callable[[int], None] | None = None,
    on_lock_wait: Callable[[], None] | None = None,
    progress: ProgressFactory | None = None,
    sleep: Callable[[float], None] | None = None,
) -> FetchReport:
    """Fetch the days from `since` to `until` (defaults: after the last day saved; today, UTC) into `digests_dir`
    (default INDEX/digests) and index their papers; a fetch that stops early is in the report's `failure`."""
    from semsearch.index.write import update

    folder = digests_dir or index_path / "digests"
    days = dailypapers.plan_days(folder, since, until)
    failure: dailypapers.FetchError | None = None
    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    with dailypapers.DailyPapersClient(on_wait=on_pause, **options) as client:
        try:
            result = dailypapers.fetch_days(client, folder, days, on_day=on_day)
        except dailypapers.FetchError as exc:
            if exc.result is None or not exc.result.days:
                raise
            failure, result = exc, exc.result
    fetched = {saved.day: saved.path for saved in result.days if saved.entries}
    known = _indexed_days(index_path)
    empty = len(dailypapers.encode([]))
    behind = [
        dailypapers.load_day(path, day)
        for day, path in sorted(dailypapers.saved_days(folder).items())
        if day not in fetched and day.isoformat() not in known and path.stat().st_size > empty
    ]
    behind = [digest for digest in behind if digest.papers]
    if behind and on_behind is not None:
        on_behind(len(behind))
    digests = behind + [dailypapers.load_day(path, day) for day, path in fetched.items()]
    report = update(index_path, digests, embedder, progress=progress, wait=wait, on_wait=on_lock_wait)
    return FetchReport(result, report, folder, len(behind), failure)
