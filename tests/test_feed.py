"""The reader's feed: watches, likes, `news` and its last-seen mark, in the library and the CLI (fake embedder), and
end to end on real daily digests with the real model."""

from __future__ import annotations

import importlib
import json
import sqlite3
from pathlib import Path

import pytest

from semsearch import feed, index
from semsearch.cli import cli
from semsearch.errors import IndexMissingError, PaperNotFoundError
from semsearch.feed import FeedError
from semsearch.storage.store import DATABASE_NAME
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, write_digest, write_hostile_digest

TRAFFIC_QUESTION = "traffic forecasting with a graph neural network over road sensors"
ZERO_TITLE = "Partitioned Optimizer States for Trillion Parameter Training"
NEW_PAPERS = [
    ("Graph Networks for Road Traffic Forecasting", ABSTRACT_C),
    (
        "Sharded Optimizer Memory for Data-Parallel Training",
        "We shard optimizer states and gradients across data-parallel workers so that each holds a slice. "
        "Memory per worker falls with the number of workers, and trillion parameter models train on clusters.",
    ),
    ("Parallel Corpora for Indic Translation", ABSTRACT_A),
]


def run(runner, args, embedder=None):
    """Invoke the CLI with the fake embedder injected."""
    return runner.invoke(cli, args, obj={"embedder": embedder or HashingEmbedder()})


@pytest.fixture
def seeded(tmp_path, seed_digest, fake_embedder) -> Path:
    """An index of the seed digest (63 papers) plus one older paper to like, nothing seen yet."""
    folder = tmp_path / "idx"
    older = write_digest(tmp_path / "older_2025-05-01.txt", "May 1, 2025", [(ZERO_TITLE, ABSTRACT_B)])
    index.update(folder, [seed_digest, older], fake_embedder)
    return folder


def add_new_day(tmp_path: Path, folder: Path, embedder, papers=NEW_PAPERS) -> None:
    digest = write_digest(tmp_path / "new_2025-06-10.txt", "Jun 10, 2025", papers)
    index.update(folder, [digest], embedder)


def keys_of(picks) -> list[str]:
    return [pick.paper.title for pick in picks]


# -- watches and likes -----------------------------------------------------------------------------------------------


def test_watches_are_added_listed_and_removed_by_name(seeded):
    first = feed.add_watch(seeded, "  parallel   corpora for Indic languages ")
    assert (first.name, first.question) == ("parallel-corpora-for-indic", "parallel corpora for Indic languages")
    feed.add_watch(seeded, TRAFFIC_QUESTION, name="traffic")
    assert [w.name for w in feed.watches(seeded)] == ["parallel-corpora-for-indic", "traffic"]
    with pytest.raises(FeedError, match='a watch named "traffic" exists already'):
        feed.add_watch(seeded, "anything else", name="traffic")
    with pytest.raises(FeedError, match="the question is empty"):
        feed.add_watch(seeded, "   ")
    assert feed.remove_watch(seeded, "traffic").question == TRAFFIC_QUESTION
    with pytest.raises(FeedError, match='no watch is named "traffic"; the watches are: parallel-corpora-for-indic'):
        feed.remove_watch(seeded, "traffic")
    assert [w.name for w in feed.watches(seeded)] == ["parallel-corpora-for-indic"]


def test_likes_resolve_papers_as_related_does_all_or_none(tmp_path, seeded, fake_embedder):
    assert feed.likes(seeded) == []
    # The hostile digest gives the older paper an arXiv id (same title and abstract: the same paper).
    index.update(seeded, [write_hostile_digest(tmp_path)], fake_embedder)
    key = [paper for paper, _ in feed.set_liked(seeded, ["arXiv:2507.01234"])][0].key
    assert feed.likes(seeded)[0].paper.title == ZERO_TITLE
    # By key and by title again (no change), and by a unique part of a seed title.
    changed = feed.set_liked(seeded, [key, ZERO_TITLE, "IndicTrans2"])
    assert [did for _, did in changed] == [False, True]
    assert len(feed.likes(seeded)) == 2
    # One unknown paper: nothing is unliked.
    with pytest.raises(PaperNotFoundError):
        feed.set_liked(seeded, [key, "no such paper title whatsoever"], liked=False)
    assert len(feed.likes(seeded)) == 2
    assert [did for _, did in feed.set_liked(seeded, [key], liked=False)] == [True]
    assert [like.paper.key for like in feed.likes(seeded)] != [key]


# -- news ----------------------------------------------------------------------------------------------------------


def test_news_ranks_new_papers_by_watch_and_like_and_moves_the_mark(tmp_path, seeded, fake_embedder):
    feed.add_watch(seeded, TRAFFIC_QUESTION, name="traffic")
    feed.set_liked(seeded, [ZERO_TITLE])
    # The first look sees every paper (all entered since no look) but the liked one, then the mark moves past them.
    first = feed.news(seeded, embedder=fake_embedder, limit=100, include_all=True)
    assert first.new_papers == 63 and ZERO_TITLE not in keys_of(first)
    assert feed.news(seeded, embedder=fake_embedder).new_papers == 0

    add_new_day(tmp_path, seeded, fake_embedder)
    picks = feed.news(seeded, embedder=fake_embedder, peek=True)
    assert picks.new_papers == 3
    by_title = {pick.paper.title: pick for pick in picks}
    traffic = by_title["Graph Networks for Road Traffic Forecasting"]
    assert traffic.matched[0].kind == "watch" and traffic.matched[0].name == "traffic"
    assert traffic.why is not None and "traffic forecasting" in traffic.why.sentence
    assert {"traffic", "forecasting", "graph"} <= set(traffic.why.matched_terms)
    sharded = by_title["Sharded Optimizer Memory for Data-Parallel Training"]
    assert sharded.matched[0].kind == "like"
    assert sharded.matched[0].name == feed.likes(seeded)[0].paper.key
    # The Indic paper matches neither, so it is not a pick; the picks are ranked best first.
    assert "Parallel Corpora for Indic Translation" not in by_title
    assert [pick.rank for pick in picks] == list(range(1, len(picks) + 1))
    assert [pick.score for pick in picks] == sorted((pick.score for pick in picks), reverse=True)
    # --peek left the mark: the same papers are new again, then gone once seen.
    assert feed.news(seeded, embedder=fake_embedder).new_papers == 3
    assert feed.news(seeded, embedder=fake_embedder).new_papers == 0


def test_all_lists_the_unmatched_below_the_picks_and_since_looks_by_digest_date(tmp_path, seeded, fake_embedder):
    feed.add_watch(seeded, TRAFFIC_QUESTION, name="traffic")
    feed.news(seeded, embedder=fake_embedder)
    add_new_day(tmp_path, seeded, fake_embedder)
    everything = feed.news(seeded, embedder=fake_embedder, peek=True, include_all=True)
    assert len(everything) == 3
    matched = [bool(pick.matched) for pick in everything]
    assert matched == sorted(matched, reverse=True) and matched[0] and not matched[-1]
    assert all(pick.why is None and pick.score == 0.0 for pick in everything if not pick.matched)
    # --since: the papers of digests of that day or later, by digest date, whatever the mark says.
    since = feed.news(seeded, embedder=fake_embedder, since="2025-06-10", include_all=True)
    assert sorted(keys_of(since)) == sorted(title for title, _ in NEW_PAPERS)
    assert feed.news(seeded, embedder=fake_embedder, since="2025-06-11").new_papers == 0
    # Neither --peek nor --since moved the mark.
    assert feed.news(seeded, embedder=fake_embedder).new_papers == 3


def test_without_watches_or_likes_the_new_papers_come_by_date(tmp_path, seeded, fake_embedder):
    picks = feed.news(seeded, embedder=fake_embedder, limit=5)
    assert (picks.watches, picks.likes, picks.new_papers) == (0, 0, 64)
    assert len(picks) == 5 and not any(pick.matched for pick in picks)
    dates = [pick.paper.date for pick in picks]
    assert dates == sorted(dates, reverse=True)


def test_watches_likes_and_the_mark_survive_rebuild(tmp_path, seeded, fake_embedder):
    feed.add_watch(seeded, TRAFFIC_QUESTION, name="traffic")
    feed.set_liked(seeded, [ZERO_TITLE])
    feed.news(seeded, embedder=fake_embedder)
    index.rebuild(seeded, [], HashingEmbedder(dim=128, model_id="test/other-model"))
    assert [w.name for w in feed.watches(seeded)] == ["traffic"]
    assert [like.paper.title for like in feed.likes(seeded)] == [ZERO_TITLE]
    other = HashingEmbedder(dim=128, model_id="test/other-model")
    assert feed.news(seeded, embedder=other).new_papers == 0
    add_new_day(tmp_path, seeded, other)
    picks = feed.news(seeded, embedder=other)
    assert picks.new_papers == 3
    assert picks[0].paper.title == "Graph Networks for Road Traffic Forecasting"


def test_a_removed_paper_loses_its_like_and_counts_as_new_when_it_returns(tmp_path, seeded, fake_embedder):
    feed.set_liked(seeded, [ZERO_TITLE])
    feed.news(seeded, embedder=fake_embedder)
    index.remove(seeded, [ZERO_TITLE])
    assert feed.likes(seeded) == []
    older = write_digest(tmp_path / "again_2025-05-01.txt", "May 1, 2025", [(ZERO_TITLE, ABSTRACT_B)])
    index.update(seeded, [older], fake_embedder)
    picks = feed.news(seeded, embedder=fake_embedder)
    assert picks.new_papers == 1 and picks[0].paper.title == ZERO_TITLE


def test_an_index_made_before_the_feed_opens_and_gets_its_tables_at_the_first_write(tmp_path, seeded, fake_embedder):
    connection = sqlite3.connect(seeded / DATABASE_NAME)
    with connection:
        connection.execute("DROP TRIGGER papers_arrival")
        for table in ("arrivals", "watches", "likes", "feed_marks"):
            connection.execute(f"DROP TABLE {table}")
    connection.close()
    # Reading changes nothing and needs no table: every paper is new, there are no watches.
    assert feed.watches(seeded) == [] and feed.likes(seeded) == []
    assert feed.news(seeded, embedder=fake_embedder, peek=True).new_papers == 64
    # The first `news` numbers the old papers, and only papers added after it are new next time.
    assert feed.news(seeded, embedder=fake_embedder).new_papers == 64
    add_new_day(tmp_path, seeded, fake_embedder)
    assert feed.news(seeded, embedder=fake_embedder).new_papers == 3


def test_feed_state_needs_an_existing_index(tmp_path):
    with pytest.raises(IndexMissingError, match="no index at"):
        feed.add_watch(tmp_path / "nothing", "a question")
    assert not (tmp_path / "nothing").exists()


# -- the CLI -------------------------------------------------------------------------------------------------------


def test_cli_watch_like_and_news(tmp_path, runner, seeded):
    index_args = ["--index", str(seeded)]
    result = run(runner, ["watch", "add", TRAFFIC_QUESTION, "--name", "traffic", *index_args])
    assert result.exit_code == 0 and result.stdout == f"Watching traffic: {TRAFFIC_QUESTION}\n"
    listed = run(runner, ["watch", "list", "--json", *index_args])
    assert [w["name"] for w in json.loads(listed.stdout)] == ["traffic"]
    liked = run(runner, ["like", ZERO_TITLE, *index_args])
    assert liked.exit_code == 0 and liked.stdout.startswith("Liked partitioned-optimizer-states")
    assert ZERO_TITLE in run(runner, ["likes", *index_args]).stdout
    assert run(runner, ["news", *index_args]).exit_code == 0
    add_new_day(tmp_path, seeded, HashingEmbedder())

    text = run(runner, ["news", "--peek", *index_args])
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert "Graph Networks for Road Traffic Forecasting" in lines[0]
    assert lines[1].strip().startswith("matched: watch traffic (")
    assert lines[2].strip().startswith("why: ")
    assert text.stderr.strip().endswith("among 3 new papers")

    shown = json.loads(run(runner, ["news", "--json", "--all", *index_args]).stdout)
    assert len(shown) == 3
    assert set(shown[0]) == {"rank", "score", "key", "title", "date", "arxiv_id", "matched", "why"}
    assert shown[0]["matched"][0] == {"kind": "watch", "name": "traffic", "score": shown[0]["score"]}
    assert set(shown[0]["why"]) == {"sentence", "matched_terms"}
    assert shown[-1]["matched"] == [] and shown[-1]["why"] is None
    assert json.loads(run(runner, ["news", "--json", *index_args]).stdout) == []

    unliked = run(runner, ["unlike", ZERO_TITLE, "--json", *index_args])
    assert json.loads(unliked.stdout)[0]["changed"] is True
    assert run(runner, ["watch", "remove", "traffic", *index_args]).exit_code == 0


def test_cli_news_without_watches_says_how_to_add_them(runner, seeded):
    result = run(runner, ["news", "-n", "3", "--index", str(seeded)])
    assert result.exit_code == 0
    assert "semsearch watch add" in result.stderr and "semsearch like PAPER" in result.stderr
    assert len(result.stdout.splitlines()) == 3


def test_cli_feed_errors_are_one_line(runner, seeded):
    index_args = ["--index", str(seeded)]
    for args, fragment in [
        (["watch", "remove", "nope"], 'no watch is named "nope"'),
        (["like", "no such paper title whatsoever"], "no paper matches"),
        (["watch", "add", " "], "the question is empty"),
    ]:
        result = run(runner, [*args, *index_args])
        assert result.exit_code == 1 and result.stdout == "" and "Traceback" not in result.stderr
        assert result.stderr.startswith("Error: ") and fragment in result.stderr.splitlines()[0]
    bad_date = run(runner, ["news", "--since", "yesterday", *index_args])
    assert bad_date.exit_code == 2 and "is not a date" in bad_date.stderr


# -- end to end on real digests ------------------------------------------------------------------------------------

# Questions written for three papers of the last two days (Dec 30 and 31, 2025), in words other than their titles.
REAL_WATCHES = {
    "physics-video": ("making generated videos obey the laws of physics", "PhyGDPO"),
    "few-views-3d": ("rebuilding a 3D scene from only a handful of photos", "GaMO"),
    "dialogue-beliefs": ("negotiation and persuasion agents that track what the other side believes", "BEDA"),
}


@pytest.mark.model
@pytest.mark.slow
def test_news_on_real_daily_digests(tmp_path, hf_daily, int8_embedder):
    days = hf_daily / "digests"
    folder = tmp_path / "idx"
    older = sorted(days.glob("hf_daily_2025-12-1*.txt")) + sorted(days.glob("hf_daily_2025-12-2*.txt"))
    index.update(folder, older, int8_embedder)
    for name, (question, _title) in REAL_WATCHES.items():
        feed.add_watch(folder, question, name=name)
    first = feed.news(folder, embedder=int8_embedder)
    assert first.new_papers > 100
    report = index.update(folder, [days / "hf_daily_2025-12-30.txt", days / "hf_daily_2025-12-31.txt"], int8_embedder)
    picks = feed.news(folder, embedder=int8_embedder, limit=50)
    # New means entered the index: the papers of those days featured earlier are not new again.
    assert picks.new_papers == report.added > 0
    for name, (_question, title) in REAL_WATCHES.items():
        for_watch = [pick for pick in picks if any(match.name == name for match in pick.matched)]
        assert any(pick.paper.title.startswith(title) for pick in for_watch[:3]), (name, keys_of(for_watch))
        found = next(pick for pick in for_watch if pick.paper.title.startswith(title))
        assert found.why is not None and found.why.sentence in " ".join(found.paper.abstract.split())
    assert feed.news(folder, embedder=int8_embedder).new_papers == 0


def test_news_from_a_folder_loads_the_model_only_for_watches(tmp_path, seeded, monkeypatch):
    """A library caller (an MCP tool, say) passes a folder, no model: likes need none, watches get the index's own."""
    news_module = importlib.import_module("semsearch.feed.news")  # the package's `news` is the function
    loaded = []
    monkeypatch.setattr(news_module, "embedder_for", lambda folder: loaded.append(folder) or HashingEmbedder())
    feed.set_liked(seeded, [ZERO_TITLE])
    assert feed.news(seeded, peek=True).new_papers == 63 and loaded == []
    feed.add_watch(seeded, TRAFFIC_QUESTION, name="traffic")
    assert feed.news(seeded, peek=True).watches == 1 and loaded == [seeded]
