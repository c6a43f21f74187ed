"""`semsearch fetch`: days from the Daily Papers JSON API, saved as files and indexed, against a local server.

Every test that opens a socket is marked `allow_hosts(["127.0.0.1"])`: it may reach the loopback interface and
nothing else; all other tests stay fully offline.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from semsearch import __version__
from semsearch.cli import cli
from semsearch.ingest import dailypapers
from semsearch.ingest.dailypapers import (
    DailyPapersClient,
    FetchError,
    NetworkUnreachableError,
    fetch_days,
    load_day,
    plan_days,
    save_day,
)
from tests.apiserver import PATH, DailyPapersServer
from tests.fakes import HashingEmbedder

DAYS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hf_api" / "days"
loopback = pytest.mark.allow_hosts(["127.0.0.1"])

# 2025-06-09 (Mon) to 2025-06-15 (Sun): check which of these have files, for the counts below.
WEEK = [dt.date(2025, 6, 9) + dt.timedelta(days=n) for n in range(7)]


def _entries(day: dt.date) -> list:
    path = DAYS_DIR / f"daily-papers-{day.isoformat()}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


@pytest.fixture(scope="module")
def days_dir() -> Path:
    if not DAYS_DIR.is_dir():
        pytest.skip(f"{DAYS_DIR} is absent (it is present for developers and CI)")
    return DAYS_DIR


@pytest.fixture
def server(days_dir: Path):
    with DailyPapersServer(days_dir) as running:
        yield running


@pytest.fixture
def no_sleep() -> list[float]:
    return []


def _client(server: DailyPapersServer, waits: list[float], **options) -> DailyPapersClient:
    return DailyPapersClient(server.url, sleep=waits.append, **options)


def _fetch(args: list[str], url: str, embedder: HashingEmbedder | None = None, waits: list[float] | None = None):
    env = {dailypapers.URL_ENVVAR: url}
    obj = {"embedder": embedder or HashingEmbedder(), "sleep": (waits if waits is not None else []).append}
    return CliRunner().invoke(cli, ["fetch", *args], obj=obj, env=env)


# -- the client -------------------------------------------------------------------------------------------------


@loopback
def test_requests_carry_the_day_the_limit_the_page_and_a_user_agent(server, no_sleep):
    day = dt.date(2025, 6, 10)
    with _client(server, no_sleep) as client:
        entries = client.entries(day)
    assert entries == _entries(day) and entries
    assert [(r.path, r.query) for r in server.requests] == [(PATH, {"date": "2025-06-10", "limit": "100", "p": "0"})]
    assert server.requests[0].user_agent.startswith(f"semsearch/{__version__} ")
    assert no_sleep == []


@loopback
def test_a_day_longer_than_a_page_is_fetched_page_by_page(server, no_sleep):
    day = dt.date(2025, 6, 10)
    expected = _entries(day)
    assert len(expected) > 10
    with _client(server, no_sleep, page_size=10) as client:
        assert client.entries(day) == expected
    pages = [r.query["p"] for r in server.requests]
    # Pages until one comes back short (a day of exactly 10n entries costs one empty page more).
    assert pages == [str(n) for n in range(len(expected) // 10 + 1)]
    assert {r.query["limit"] for r in server.requests} == {"10"}


@loopback
def test_a_day_without_a_list_is_an_empty_list(server, no_sleep):
    with _client(server, no_sleep) as client:
        assert client.entries(dt.date(2031, 1, 1)) == []
    assert len(server.requests) == 1


def test_the_client_never_asks_for_more_than_the_api_allows():
    with pytest.raises(ValueError):
        DailyPapersClient("http://127.0.0.1:9/x", page_size=101)


@loopback
def test_the_api_refuses_limits_above_100(server):
    # The stand-in server behaves as the API does, so the client's cap is what keeps requests valid.
    answer = httpx.get(server.url, params={"date": "2025-06-10", "limit": "101"})
    assert answer.status_code == 400 and "limit" in answer.json()["error"]


@loopback
def test_429_waits_as_long_as_the_ratelimit_header_says_then_retries(server, no_sleep):
    day = dt.date(2025, 6, 10)
    server.faults[day.isoformat()] = ["429", "429-retry-after"]
    heard: list[tuple[float, str]] = []
    with _client(server, no_sleep, on_wait=lambda s, why: heard.append((s, why))) as client:
        assert client.entries(day) == _entries(day)
    assert no_sleep == [7.0, 3.0]
    assert all("rate limited" in why for _, why in heard)
    assert len(server.requests) == 3


@loopback
def test_a_rate_limit_longer_than_the_command_waits_stops_with_an_error(server, no_sleep):
    server.faults["2025-06-10"] = ["429"]
    with _client(server, no_sleep, max_rate_limit_wait=5) as client, pytest.raises(FetchError, match="rate-limits"):
        client.entries(dt.date(2025, 6, 10))
    assert no_sleep == []


@loopback
def test_5xx_and_dropped_connections_are_retried_with_backoff(server, no_sleep):
    day = dt.date(2025, 6, 10)
    server.faults[day.isoformat()] = ["500", "drop", "500"]
    with _client(server, no_sleep, backoff=0.5) as client:
        assert client.entries(day) == _entries(day)
    assert no_sleep == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4


@loopback
def test_retries_are_bounded(server, no_sleep):
    server.faults["2025-06-10"] = ["500"] * 10
    with _client(server, no_sleep, retries=2) as client, pytest.raises(FetchError, match="HTTP 500 3 times"):
        client.entries(dt.date(2025, 6, 10))
    assert len(server.requests) == 3 and len(no_sleep) == 2


@loopback
def test_a_refused_connection_fails_at_once_as_unreachable(no_sleep):
    with DailyPapersServer(None) as gone:
        url = gone.url
    with DailyPapersClient(url, sleep=no_sleep.append) as client, pytest.raises(NetworkUnreachableError) as caught:
        client.entries(dt.date(2025, 6, 10))
    assert str(caught.value).startswith("the network is unreachable")
    assert no_sleep == []


def test_a_dns_failure_fails_at_once_as_unreachable(no_sleep):
    calls = []

    def fail(request):
        calls.append(request)
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    client = DailyPapersClient(
        "https://huggingface.co/api/daily_papers", sleep=no_sleep.append, transport=httpx.MockTransport(fail)
    )
    with client, pytest.raises(NetworkUnreachableError, match="name resolution"):
        client.entries(dt.date(2025, 6, 10))
    assert len(calls) == 1 and no_sleep == []


def test_a_certificate_failure_is_not_called_unreachable(no_sleep):
    def fail(request):
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=request)

    client = DailyPapersClient("https://x/api", sleep=no_sleep.append, transport=httpx.MockTransport(fail))
    with client, pytest.raises(FetchError, match="secure connection") as caught:
        client.entries(dt.date(2025, 6, 10))
    assert not isinstance(caught.value, NetworkUnreachableError)


def test_the_base_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(dailypapers.URL_ENVVAR, "http://mirror.example/api/daily_papers/")
    assert DailyPapersClient().base_url == "http://mirror.example/api/daily_papers"
    monkeypatch.delenv(dailypapers.URL_ENVVAR)
    assert DailyPapersClient().base_url == "https://huggingface.co/api/daily_papers"


def test_a_server_answering_something_else_than_a_list_is_an_error(no_sleep):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"error": "maintenance"}))
    with DailyPapersClient("http://x/api", sleep=no_sleep.append, transport=transport) as client:
        with pytest.raises(FetchError, match="not a list of papers: maintenance"):
            client.entries(dt.date(2025, 6, 10))


# -- planning, saving, reading ------------------------------------------------------------------------------------


def _age(path: Path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_a_new_folder_plans_the_last_seven_days(tmp_path):
    today = dt.date(2025, 6, 15)
    assert plan_days(tmp_path / "none", today=today) == WEEK


def test_planning_resumes_after_the_last_day_saved(tmp_path):
    save_day(tmp_path, dt.date(2025, 6, 9), [])
    save_day(tmp_path, dt.date(2025, 6, 11), [])
    # Both were saved long after they ended: final. Resume from the last one, which is not fetched again.
    assert plan_days(tmp_path, today=dt.date(2025, 6, 14)) == [dt.date(2025, 6, 12 + n) for n in range(3)]
    # An explicit range fetches only what is missing in it.
    assert plan_days(tmp_path, dt.date(2025, 6, 8), dt.date(2025, 6, 11)) == [dt.date(2025, 6, 8), dt.date(2025, 6, 10)]


def test_a_day_saved_before_it_ended_is_fetched_again(tmp_path):
    day = dt.date(2025, 6, 11)
    saved = save_day(tmp_path, day, [])
    _age(saved.path, dt.datetime(2025, 6, 11, 18, 0, tzinfo=dt.UTC))  # its list could still grow
    assert plan_days(tmp_path, today=dt.date(2025, 6, 12)) == [day, dt.date(2025, 6, 12)]


def test_saving_is_atomic_and_the_same_answer_is_not_rewritten(tmp_path):
    day = dt.date(2025, 6, 10)
    entries = _entries(day)
    first = save_day(tmp_path, day, entries)
    assert first.written and first.path.name == "daily-papers-2025-06-10.json"
    assert json.loads(first.path.read_text(encoding="utf-8")) == entries  # every field as it came
    mtime = first.path.stat().st_mtime_ns
    time.sleep(0.01)
    again = save_day(tmp_path, day, entries)
    assert not again.written and first.path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daily-papers-2025-06-10.json"]  # no temp file left


def test_a_saved_day_reads_as_a_digest_dated_by_its_listing_day(tmp_path):
    day = dt.date(2025, 6, 10)
    entries = _entries(day)
    # An entry without the Daily Papers day gets the day it was listed, not its arXiv day; one without an
    # abstract is a warning; fields semsearch does not know are ignored.
    del entries[0]["paper"]["submittedOnDailyAt"]
    entries[1]["paper"]["summary"] = entries[1]["summary"] = ""
    entries[2]["paper"]["ai_keywords"] = ["new", "fields"]
    entries[2]["numComments"] = 6
    digest = load_day(save_day(tmp_path, day, entries).path, day)
    assert len(digest.papers) == len(entries) - 1
    assert {paper.date for paper in digest.papers} == {"2025-06-10"} and digest.dates == ("2025-06-10",)
    assert len(digest.warnings) == 1 and "no abstract" in digest.warnings[0]
    assert digest.papers[0].arxiv_id == entries[0]["paper"]["id"]


def test_a_day_with_no_usable_entry_is_a_warning(tmp_path):
    day = dt.date(2025, 6, 10)
    entries = [{"paper": {"id": "2506.00001", "title": "A title"}, "title": "A title"}]
    digest = load_day(save_day(tmp_path, day, entries).path, day)
    assert digest.papers == () and len(digest.warnings) == 1


@loopback
def test_fetch_days_keeps_the_days_saved_before_a_failure(server, tmp_path, no_sleep):
    server.faults["2025-06-12"] = ["die"]
    with _client(server, no_sleep) as client, pytest.raises(NetworkUnreachableError) as caught:
        fetch_days(client, tmp_path, WEEK)
    result = caught.value.result
    assert [d.day for d in result.days] == WEEK[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"daily-papers-2025-06-{n:02d}.json" for n in (9, 10, 11)]


# -- the command --------------------------------------------------------------------------------------------------


def _week_args(tmp_path: Path, *more: str) -> list[str]:
    return ["--since", "2025-06-09", "--until", "2025-06-15", "--index", str(tmp_path / "idx"), "--json", *more]


@loopback
def test_fetch_saves_each_day_and_indexes_it(server, tmp_path):
    result = _fetch(_week_args(tmp_path), server.url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    listed = [day for day in WEEK if _entries(day)]
    papers = len({e["paper"]["id"] for day in WEEK for e in _entries(day)})
    assert report["days"] == 7 and report["empty_days"] == 7 - len(listed)
    folder = tmp_path / "idx" / "digests"
    assert report["saved"] == [str(folder / f"daily-papers-{day}.json") for day in WEEK]
    assert report["added"] == papers and report["papers"] == papers and report["warnings"] == []
    assert [r.query["date"] for r in server.requests] == [day.isoformat() for day in WEEK]
    # Each day's file holds the answer as it came.
    for day in WEEK:
        assert json.loads((folder / f"daily-papers-{day}.json").read_text(encoding="utf-8")) == _entries(day)


@loopback
def test_the_same_days_fetched_twice_change_nothing(server, tmp_path):
    assert _fetch(_week_args(tmp_path), server.url).exit_code == 0
    server.requests.clear()
    # Asked for again explicitly, with the days already saved: nothing is missing, nothing is requested.
    again = json.loads(_fetch(_week_args(tmp_path), server.url).stdout)
    assert again["days"] == 0 and again["added"] == 0 and again["saved"] == [] and server.requests == []
    # Fetched again for real (a saved day made to look fetched before it ended): same answer, nothing added.
    _age(tmp_path / "idx" / "digests" / "daily-papers-2025-06-10.json", dt.datetime(2025, 6, 10, 9, tzinfo=dt.UTC))
    refetched = json.loads(_fetch(_week_args(tmp_path), server.url).stdout)
    assert refetched["days"] == 1 and refetched["added"] == 0 and refetched["saved"] == []
    assert refetched["already_present"] == len(_entries(dt.date(2025, 6, 10)))


@loopback
def test_fetch_resumes_after_the_last_day_fetched(server, tmp_path):
    index = str(tmp_path / "idx")
    first = _fetch(["--since", "2025-06-09", "--until", "2025-06-11", "--index", index, "--json"], server.url)
    assert first.exit_code == 0, first.output
    server.requests.clear()
    second = _fetch(["--until", "2025-06-15", "--index", index, "--json"], server.url)
    assert second.exit_code == 0, second.output
    assert [r.query["date"] for r in server.requests] == [f"2025-06-{n}" for n in range(12, 16)]
    report = json.loads(second.stdout)
    assert report["days"] == 4 and report["added"] > 0


@loopback
def test_a_server_dying_midway_keeps_and_indexes_the_days_saved_and_a_rerun_completes(server, tmp_path, days_dir):
    server.faults["2025-06-12"] = ["die"]
    waits: list[float] = []
    result = _fetch(_week_args(tmp_path), server.url, waits=waits)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: the network is unreachable")
    # The dropped request was retried with backoff (once or twice, as the closing socket races the retry), then
    # the refused connection stopped it at once.
    assert waits in ([1.0], [1.0, 2.0])
    partial = json.loads(result.stdout)
    assert partial["days"] == 3 and partial["added"] == len({e["paper"]["id"] for d in WEEK[:3] for e in _entries(d)})
    with DailyPapersServer(days_dir) as revived:
        rerun = _fetch(["--until", "2025-06-15", "--index", str(tmp_path / "idx"), "--json"], revived.url)
        assert rerun.exit_code == 0, rerun.output
        assert [r.query["date"] for r in revived.requests] == [f"2025-06-{n}" for n in range(12, 16)]
    complete = json.loads(rerun.stdout)
    assert complete["papers"] == len({e["paper"]["id"] for d in WEEK for e in _entries(d)})


@loopback
def test_offline_fails_at_once_with_one_line(tmp_path):
    with DailyPapersServer(None) as gone:
        url = gone.url
    result = _fetch(_week_args(tmp_path), url)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the network is unreachable: cannot connect to")
    assert result.stdout == ""


@loopback
def test_a_terminal_sees_progress_per_day_and_a_summary(server, tmp_path):
    args = ["--since", "2025-06-14", "--until", "2025-06-15", "--index", str(tmp_path / "idx")]
    result = _fetch(args, server.url)
    assert result.exit_code == 0, result.output
    assert "2025-06-14" in result.stderr and "2025-06-15" in result.stderr
    assert result.stdout.startswith("Fetched 2 days")


def test_a_reversed_range_is_a_usage_error(tmp_path):
    result = _fetch(["--since", "2025-06-15", "--until", "2025-06-09", "--index", str(tmp_path)], "http://x")
    assert result.exit_code == 2


def test_nothing_new_exits_0_without_a_request(tmp_path):
    for day in WEEK:
        save_day(tmp_path / "idx" / "digests", day, [])
    # Every day asked for is saved (after it ended): no request is made (this URL would be refused anyway).
    result = _fetch(_week_args(tmp_path), "http://127.0.0.1:9/api/daily_papers")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["days"], report["added"], report["saved"]) == (0, 0, [])


@loopback
def test_fetch_then_ask_end_to_end(server, tmp_path):
    index = str(tmp_path / "idx")
    embedder = HashingEmbedder()
    fetched = _fetch(["--since", "2025-06-09", "--until", "2025-06-11", "--index", index], server.url, embedder)
    assert fetched.exit_code == 0, fetched.output
    wanted = _entries(dt.date(2025, 6, 10))[0]
    title = " ".join(wanted["paper"]["title"].split())
    answer = CliRunner().invoke(cli, ["ask", title, "--index", index, "--json", "-n", "3"], obj={"embedder": embedder})
    assert answer.exit_code == 0, answer.output
    hits = json.loads(answer.stdout)
    assert hits[0]["title"] == title and hits[0]["date"] == "2025-06-10"
    assert hits[0]["arxiv_id"] == wanted["paper"]["id"]


def test_days_saved_but_never_indexed_are_indexed_by_the_next_run(tmp_path):
    # A run killed between saving and indexing: its days are saved (after they ended, so not fetched again).
    folder = tmp_path / "idx" / "digests"
    for day in WEEK:
        save_day(folder, day, _entries(day))
    result = _fetch(_week_args(tmp_path), "http://127.0.0.1:9/api/daily_papers")  # no request is made
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["days"] == 0 and report["added"] == len({e["paper"]["id"] for d in WEEK for e in _entries(d)})
    assert "Indexing 7 saved days the index does not hold yet" in result.stderr
    again = json.loads(_fetch(_week_args(tmp_path), "http://127.0.0.1:9/api/daily_papers").stdout)
    assert again["added"] == again["already_present"] == 0


def test_no_day_after_today_is_fetched(tmp_path):
    today = dt.date(2025, 6, 10)
    assert plan_days(tmp_path, dt.date(2025, 6, 9), dt.date(2025, 6, 20), today=today) == WEEK[:2]


@loopback
def test_digests_can_live_elsewhere(server, tmp_path):
    folder = tmp_path / "mine"
    result = _fetch([*_week_args(tmp_path), "--digests", str(folder)], server.url)
    assert result.exit_code == 0, result.output
    assert len(list(folder.glob("daily-papers-*.json"))) == 7
    assert not (tmp_path / "idx" / "digests").exists()


@loopback
def test_days_without_a_list_are_saved_empty_counted_and_not_fetched_again(server, tmp_path):
    args = ["--since", "2025-11-14", "--until", "2025-11-17", "--index", str(tmp_path / "idx"), "--json"]
    result = _fetch(args, server.url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["days"] == 4 and report["empty_days"] == 2 and len(report["saved"]) == 4
    folder = tmp_path / "idx" / "digests"
    assert json.loads((folder / "daily-papers-2025-11-15.json").read_text(encoding="utf-8")) == []
    listed = [dt.date(2025, 11, 14), dt.date(2025, 11, 17)]
    assert report["added"] == len({e["paper"]["id"] for d in listed for e in _entries(d)})
    server.requests.clear()
    again = json.loads(_fetch(args, server.url).stdout)
    assert again["days"] == 0 and again["added"] == 0 and server.requests == []
