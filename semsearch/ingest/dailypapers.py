"""Digests that arrive by themselves: days fetched from Hugging Face's Daily Papers JSON API and saved as files.

Three parts, all below the index (the CLI's `fetch` composes them with `semsearch.index.update`):

- `DailyPapersClient`: one request at a time, a User-Agent naming semsearch, timeouts, paging (`limit`, `p`),
  HTTP 429 honoured (`RateLimit: "api";r=0;t=S`, `Retry-After`), bounded retries with backoff on 5xx and dropped
  connections; an unreachable network (connection refused, DNS failure) fails at once.
- `plan_days`: which days to fetch: the days in range that are not saved yet, or were saved before they ended (a
  day's list grows while the day lasts); without a start, from the last day saved (a new folder: the last 7 days).
- `fetch_days` / `save_day` / `load_day`: each day's entries (all pages merged into one JSON array, every field
  kept) written atomically to `daily-papers-YYYY-MM-DD.json`; read back as a `Digest` whose papers are dated by the
  day they were listed.

A failure raises `FetchError`, which carries the days saved before it, so nothing fetched is lost.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semsearch import __version__
from semsearch.errors import SemsearchError
from semsearch.files import atomic_path
from semsearch.ingest.readers.jsonrecords import read_json_file
from semsearch.ingest.readers.records import Digest, NotADigestError

URL_ENVVAR = "SEMSEARCH_DAILY_PAPERS_URL"
DEFAULT_URL = "https://huggingface.co/api/daily_papers"
USER_AGENT = f"semsearch/{__version__} (+https://pypi.org/project/semsearch/; daily digests for local search)"
MAX_LIMIT = 100  # the API answers HTTP 400 above it
FILE_PREFIX = "daily-papers-"
NEW_FOLDER_DAYS = 7  # a folder with no saved day starts this many days back (today included)
_FILE_RE = re.compile(r"^daily-papers-(\d{4}-\d{2}-\d{2})\.json$")
_RATELIMIT_RE = re.compile(r"(?:^|;)\s*t=(\d+)")
# A rate-limit wait longer than this is not waited for: the command stops and says when to come back.
MAX_RATE_LIMIT_WAIT = 600.0
_MAX_PAGES = 1000  # a server that never sends a short page must not keep us forever


class FetchError(SemsearchError):
    """A fetch that could not go on; `result` holds the days saved before it (they stay, and should be indexed)."""

    def __init__(self, message: str, result: FetchResult | None = None) -> None:
        super().__init__(message)
        self.result = result


class NetworkUnreachableError(FetchError):
    """No connection could be made at all (connection refused, DNS failure): retrying would not help."""


@dataclass(frozen=True)
class SavedDay:
    """One day fetched: its file, how many entries the API listed, and whether the file changed on disk."""

    day: dt.date
    path: Path
    entries: int
    written: bool  # False: the file already held exactly this answer


@dataclass
class FetchResult:
    """The days one run fetched, in order."""

    days: list[SavedDay] = field(default_factory=list)
    requests: int = 0

    @property
    def empty_days(self) -> int:
        return sum(1 for day in self.days if day.entries == 0)

    @property
    def written(self) -> list[Path]:
        """The files this run created or changed."""
        return [day.path for day in self.days if day.written]

    @property
    def listed(self) -> list[SavedDay]:
        """The days with at least one entry (the ones to index)."""
        return [day for day in self.days if day.entries > 0]


# -- the client -------------------------------------------------------------------------------------------------


class DailyPapersClient:
    """A polite client of the Daily Papers API: `entries(day)` is the day's whole list, every page of it.

    `sleep` is injectable so tests never wait; `on_wait(seconds, why)` hears about every pause.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        page_size: int = MAX_LIMIT,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 1.0,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, str], None] | None = None,
        transport: Any = None,
    ) -> None:
        if not 1 <= page_size <= MAX_LIMIT:
            raise ValueError(f"page_size must be 1 to {MAX_LIMIT}, the API's limit")
        self.base_url = (base_url or os.environ.get(URL_ENVVAR) or DEFAULT_URL).rstrip("/")
        self.page_size = page_size
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_rate_limit_wait = max_rate_limit_wait
        self.sleep = sleep
        self.on_wait = on_wait
        self.requests = 0
        self._transport = transport
        self._client: Any = None

    def __enter__(self) -> DailyPapersClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> Any:
        if self._client is None:
            import httpx  # lazily: `semsearch --help` stays instant

            self._client = httpx.Client(
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
                follow_redirects=True,
                transport=self._transport,
            )
        return self._client

    def entries(self, day: dt.date) -> list[Any]:
        """Every entry the API lists for `day`, in its order: pages of `page_size` until a short page."""
        found: list[Any] = []
        for page in range(_MAX_PAGES):
            batch = self._page(day, page)
            found.extend(batch)
            if len(batch) < self.page_size:
                return found
        raise FetchError(f"{self.base_url} gave more than {_MAX_PAGES} full pages for {day}; is it the right URL?")

    def _page(self, day: dt.date, page: int) -> list[Any]:
        import httpx

        params = {"date": day.isoformat(), "limit": str(self.page_size), "p": str(page)}
        failures = 0
        while True:
            self.requests += 1
            try:
                response = self._http().get(self.base_url, params=params)
            except httpx.ConnectError as exc:
                if _is_tls_failure(exc):
                    raise FetchError(
                        f"the secure connection to {self.base_url} failed ({_reason(exc)}); check the system's "
                        "certificates (or a proxy that intercepts TLS), then run `semsearch fetch` again"
                    ) from exc
                raise NetworkUnreachableError(
                    f"the network is unreachable: cannot connect to {self.base_url} ({_reason(exc)}); "
                    "check the connection (or SEMSEARCH_DAILY_PAPERS_URL) and run `semsearch fetch` again"
                ) from exc
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                failures += 1
                if failures > self.retries:
                    raise FetchError(
                        f"{self.base_url} failed {failures} times for {day} ({_reason(exc)}); "
                        "run `semsearch fetch` again later"
                    ) from exc
                self._pause(self.backoff * 2 ** (failures - 1), f"{_reason(exc)}; retrying")
                continue
            status = response.status_code
            if status == 429:
                wait = _rate_limit_wait(response.headers)
                if wait > self.max_rate_limit_wait:
                    raise FetchError(
                        f"{self.base_url} rate-limits this address for {wait:.0f} s more; "
                        "run `semsearch fetch` again after that"
                    )
                self._pause(wait, "rate limited by the API")
                continue
            if status >= 500:
                failures += 1
                if failures > self.retries:
                    raise FetchError(
                        f"{self.base_url} answered HTTP {status} {failures} times for {day}; "
                        "run `semsearch fetch` again later"
                    )
                self._pause(self.backoff * 2 ** (failures - 1), f"HTTP {status}; retrying")
                continue
            if status != 200:
                raise FetchError(
                    f"{self.base_url} answered HTTP {status} for {day}{_server_says(response)}; "
                    "check SEMSEARCH_DAILY_PAPERS_URL"
                )
            try:
                body = response.json()
            except ValueError as exc:
                raise FetchError(f"{self.base_url} answered {day} with something that is not JSON") from exc
            if not isinstance(body, list):
                raise FetchError(
                    f"{self.base_url} answered {day} with a JSON {type(body).__name__}, not a list of papers"
                    f"{_server_says(response)}"
                )
            return body

    def _pause(self, seconds: float, why: str) -> None:
        if self.on_wait is not None:
            self.on_wait(seconds, why)
        self.sleep(seconds)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


def _is_tls_failure(exc: BaseException) -> bool:
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc)


def _server_says(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f": {body['error'][:200]}"
    return ""


def _rate_limit_wait(headers: Any) -> float:
    """Seconds to wait after a 429: `RateLimit: "api";r=0;t=S`, else `Retry-After: S`, else a minute."""
    found: list[float] = []
    match = _RATELIMIT_RE.search(headers.get("RateLimit", "") or "")
    if match:
        found.append(float(match.group(1)))
    retry_after = (headers.get("Retry-After") or "").strip()
    if retry_after.isdigit():
        found.append(float(retry_after))
    return max(found) if found else 60.0


# -- which days -------------------------------------------------------------------------------------------------


def day_file(folder: Path, day: dt.date) -> Path:
    return folder / f"{FILE_PREFIX}{day.isoformat()}.json"


def saved_days(folder: Path) -> dict[dt.date, Path]:
    """The days saved in `folder`, by their file names."""
    found: dict[dt.date, Path] = {}
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        match = _FILE_RE.match(path.name)
        if match:
            try:
                found[dt.date.fromisoformat(match.group(1))] = path
            except ValueError:
                continue
    return found


def is_final(path: Path, day: dt.date) -> bool:
    """Whether the saved file was written after its day ended (UTC): the list cannot grow any more."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    try:
        return path.stat().st_mtime >= end.timestamp()
    except OSError:
        return False


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def plan_days(
    folder: Path, since: dt.date | None = None, until: dt.date | None = None, today: dt.date | None = None
) -> list[dt.date]:
    """The days to fetch, oldest first: those in [since, until] not saved yet or saved before they ended.

    Without `since`: from the last day saved (re-fetched only if it was saved before it ended), or, when nothing is
    saved, the last 7 days. Without `until`, or past it: today (UTC).
    """
    today = today or today_utc()
    until = min(until or today, today)  # no day after today has a list yet
    saved = saved_days(folder)
    if since is None:
        since = max(saved) if saved else today - dt.timedelta(days=NEW_FOLDER_DAYS - 1)
    return [day for day in iter_dates(since, until) if day not in saved or not is_final(saved[day], day)]


# -- saving and reading ---------------------------------------------------------------------------------------------


def encode(entries: Sequence[Any]) -> bytes:
    """A day's entries as the file holds them: one JSON array, every field as it came."""
    return (json.dumps(list(entries), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def save_day(folder: Path, day: dt.date, entries: Sequence[Any]) -> SavedDay:
    """Write the day's file atomically (temp file, fsync, rename); an identical file is left untouched."""
    path = day_file(folder, day)
    data = encode(entries)
    try:
        if path.read_bytes() == data:
            return SavedDay(day, path, len(entries), written=False)
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    # A unique temporary: fetch writes this folder without the index's lock.
    with atomic_path(path, unique=True) as tmp:
        tmp.write_bytes(data)
    return SavedDay(day, path, len(entries), written=True)




def load_day(path: Path, day: dt.date) -> Digest:
    """A saved day as a digest: every paper dated by the day it was listed; entries without a title or an abstract
    are warnings. A day with no usable entry is a digest without papers (and one warning)."""
    source = str(path.resolve())
    try:
        digest = read_json_file(path, source, default_date=day)
    except NotADigestError as exc:
        return Digest(source, (), (), (f"{exc}; skipped",))
    listed = day.isoformat()
    papers = tuple(dataclasses.replace(paper, date=listed) for paper in digest.papers)
    return dataclasses.replace(digest, dates=(listed,), papers=papers)


def fetch_days(
    client: DailyPapersClient,
    folder: Path,
    days: Sequence[dt.date],
    on_day: Callable[[SavedDay], None] | None = None,
) -> FetchResult:
    """Fetch and save each day in turn. On a failure, raises `FetchError` whose `result` holds the days saved."""
    result = FetchResult()
    start = client.requests
    try:
        for day in days:
            saved = save_day(folder, day, client.entries(day))
            result.days.append(saved)
            result.requests = client.requests - start
            if on_day is not None:
                on_day(saved)
    except FetchError as exc:
        result.requests = client.requests - start
        exc.result = result
        raise
    result.requests = client.requests - start
    return result


def iter_dates(since: dt.date, until: dt.date) -> Iterator[dt.date]:
    day = since
    while day <= until:
        yield day
        day += dt.timedelta(days=1)
