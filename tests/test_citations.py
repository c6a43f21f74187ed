"""BibTeX out: entries parsed back with a real BibTeX parser (bibtexparser, LaTeX decoded by pylatexenc), fields
round-tripping, hostile titles included."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import bibtexparser
import pytest
from bibtexparser.middlewares import LatexDecodingMiddleware
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from semsearch.citations import bibtex_entries, bibtex_entry, citation_key, tex_escape, year_of
from semsearch.cli import cli
from semsearch.ingest.digest import parse_digest_file
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, write_digest


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    arxiv_id: str | None = None
    dates: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()


def _decoder() -> LatexNodes2Text:
    # pylatexenc's defaults lack three LaTeX2e text commands (its \textasciicircum gives U+02C6); give them the
    # meaning LaTeX gives them.
    context = get_default_latex_context_db().filter_context()
    context.add_context_category(
        "latex2e-text-symbols",
        prepend=True,
        macros=[
            MacroTextSpec("textbraceleft", "{"),
            MacroTextSpec("textbraceright", "}"),
            MacroTextSpec("textasciicircum", "^"),
        ],
    )
    return LatexNodes2Text(latex_context=context)


def parse(text: str) -> list[dict[str, str]]:
    """The entries of a BibTeX text as {field: decoded value}, with "ID" and "ENTRYTYPE"; fails on any bad block."""
    library = bibtexparser.parse_string(text, append_middleware=[LatexDecodingMiddleware(decoder=_decoder())])
    assert not library.failed_blocks, [block.error for block in library.failed_blocks]
    return [
        {"ID": entry.key, "ENTRYTYPE": entry.entry_type, **{field.key: field.value for field in entry.fields}}
        for entry in library.entries
    ]


def brace_depths(text: str) -> list[int]:
    """The brace depth after each character, counted as BibTeX counts it: every brace, backslash or not."""
    depth, depths = 0, []
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        depths.append(depth)
    return depths


HOSTILE_TITLES = [
    "GPT-4o {is} Better: A Study",
    "An unbalanced { brace in a title",
    "Closing } first, then { opening",
    "100% Accuracy & $O(n \\log n)$ Time with C# and snake_case ~ approx ^ power",
    "Back\\slash at the end \\",
    "Ünïcödé: 中文 标题, emoji 🚀 and Ωmega",
    "@misc{injected, title = {x}}",
    "Tabs\tand\nnewlines",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_a_hostile_title_round_trips_through_a_bibtex_parser(title):
    text = bibtex_entry("some-paper-1a2b", title, "2506.08477", ("2025-06-10",), ("Ada Lovelace",))
    depths = brace_depths(text)
    assert min(depths) >= 0 and depths[-1] == 0, text
    # The entry's own braces close only at its end: a title cannot end it early.
    assert 0 not in depths[text.index("{") : len(text.rstrip()) - 1], text
    (entry,) = parse(text)
    assert entry["ID"] == "arxiv:2506.08477"
    assert entry["ENTRYTYPE"] == "misc"
    # The value is decoded; the outer braces that keep the capitals decode to nothing.
    assert entry["title"] == " ".join(title.split())
    assert entry["author"] == "Ada Lovelace"
    assert entry["year"] == "2025"


def test_capitals_are_protected_by_an_inner_pair_of_braces():
    text = bibtex_entry("bert-x", "BERT Meets GPT")
    assert "title = {{BERT Meets GPT}}" in text


def test_an_arxiv_paper_gets_eprint_prefix_and_url():
    (entry,) = parse(bibtex_entry("2506.08477", "Title", "2506.08477", ("2025-06-10", "2025-06-11")))
    assert entry["eprint"] == "2506.08477"
    assert entry["archivePrefix"] == "arXiv"
    assert entry["url"] == "https://arxiv.org/abs/2506.08477"
    assert entry["year"] == "2025"


def test_a_paper_without_arxiv_id_is_keyed_by_its_key_and_has_no_eprint():
    (entry,) = parse(bibtex_entry("sparse-attention-long-9f3c", "Sparse Attention"))
    assert entry["ID"] == "sparse-attention-long-9f3c"
    assert not {"eprint", "archivePrefix", "url", "year", "author"} & entry.keys()


def test_a_month_day_date_gives_no_year_and_none_is_invented():
    (entry,) = parse(bibtex_entry("k", "T", None, ("--05-06",)))
    assert "year" not in entry
    assert year_of(["--05-06", "2024-12-31", "2025-01-02"]) == "2024"
    assert year_of([]) is None


def test_authors_are_joined_with_and_and_a_name_holding_and_stays_one_name():
    text = bibtex_entry("k", "T", authors=("Marie Curie", "Pierre & Paul", "Research and Development Team", ""))
    (entry,) = parse(text)
    assert entry["author"] == "Marie Curie and Pierre & Paul and Research and Development Team"
    library = bibtexparser.parse_string(text, append_middleware=[bibtexparser.middlewares.SeparateCoAuthors()])
    assert library.entries[0]["author"] == ["Marie Curie", "Pierre \\& Paul", "{Research and Development Team}"]


def test_several_papers_one_entry_per_key_in_order():
    papers = [
        Paper("2501.00001", "First", "2501.00001", ("2025-01-02",)),
        Paper("second-paper-abcd", "Second {tricky", None, ("--05-06",)),
        Paper("2501.00001", "First again", "2501.00001"),
    ]
    entries = parse(bibtex_entries(papers))
    assert [entry["ID"] for entry in entries] == ["arxiv:2501.00001", "second-paper-abcd"]
    assert entries[1]["title"] == "Second {tricky"
    assert bibtex_entries([]) == ""


def test_keys_and_escapes():
    assert citation_key("a key, with {junk}", None) == "a-key-with-junk"
    assert citation_key("whatever", "hep-th/9901001") == "arxiv:hep-th/9901001"
    assert tex_escape("50% & $5 #1 a_b ~ ^ \\ {}") == (
        "50\\% \\& \\$5 \\#1 a\\_b \\textasciitilde{} \\textasciicircum{} \\textbackslash{} "
        "\\textbraceleft{}\\textbraceright{}"
    )


# -- the commands: `--format bibtex` on ask, related and show; authors kept by the index ------------------------------

DAY_FILE = "daily-papers-2025-06-26.json"


def run(runner, args):
    return runner.invoke(cli, args, obj={"embedder": HashingEmbedder()})


@pytest.fixture
def day_index(tmp_path, runner, data_dir) -> Path:
    folder = tmp_path / "idx"
    result = run(runner, ["update", str(data_dir / "hf_api" / "days" / DAY_FILE), "--index", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_ask_and_related_print_the_hits_as_bibtex_in_rank_order(runner, day_index, data_dir):
    day = json.loads((data_dir / "hf_api" / "days" / DAY_FILE).read_text())
    records = {entry["paper"]["id"]: entry["paper"] for entry in day}
    hits = json.loads(run(runner, ["ask", "video generation", "--index", str(day_index), "-n", "5", "--json"]).stdout)
    result = run(runner, ["ask", "video generation", "--index", str(day_index), "-n", "5", "--format", "bibtex"])
    assert result.exit_code == 0, result.output
    entries = parse(result.stdout)
    assert [entry["ID"] for entry in entries] == [f"arxiv:{hit['arxiv_id']}" for hit in hits]
    for entry, hit in zip(entries, hits):
        assert entry["title"] == hit["title"]
        assert entry["eprint"] == hit["arxiv_id"] and entry["year"] == "2025"
        # The names the API listed, in its order.
        assert entry["author"] == " and ".join(author["name"] for author in records[hit["arxiv_id"]]["authors"])
    related = run(runner, ["related", hits[0]["key"], "--index", str(day_index), "-n", "3", "--format", "bibtex"])
    assert related.exit_code == 0 and related.stderr.startswith("Related to ")
    related_json = json.loads(run(runner, ["related", hits[0]["key"], "--index", str(day_index), "-n", "3",
                                           "--format", "json"]).stdout)
    assert [entry["ID"] for entry in parse(related.stdout)] == [f"arxiv:{hit['arxiv_id']}" for hit in related_json]


def test_show_prints_one_entry_and_its_authors(runner, day_index):
    shown = json.loads(run(runner, ["show", "2506.21547", "--index", str(day_index), "--json"]).stdout)
    assert shown["authors"][:2] == ["Jianyun Xu", "Song Wang"]
    (entry,) = parse(run(runner, ["show", "2506.21547", "--index", str(day_index), "--format", "bibtex"]).stdout)
    assert entry["ID"] == "arxiv:2506.21547"
    assert entry["author"].split(" and ") == shown["authors"]
    text = run(runner, ["show", "2506.21547", "--index", str(day_index)]).stdout
    assert "authors   Jianyun Xu, Song Wang," in text


def test_a_digest_without_authors_or_years_gives_neither(runner, tmp_path):
    digest = write_digest(tmp_path / "d.txt", "May 6", [("An {Odd} Title & 100% Cost", ABSTRACT_A)])
    folder = tmp_path / "idx"
    assert run(runner, ["update", str(digest), "--index", str(folder)]).exit_code == 0
    result = run(runner, ["ask", "odd title", "--index", str(folder), "--format", "bibtex"])
    (entry,) = parse(result.stdout)
    assert entry["title"] == "An {Odd} Title & 100% Cost"
    assert not {"author", "year", "eprint"} & entry.keys()


def test_json_and_another_format_is_a_usage_error(runner, day_index):
    result = run(runner, ["show", "2506.21547", "--index", str(day_index), "--json", "--format", "bibtex"])
    assert result.exit_code == 2 and "--json is short for --format json" in result.stderr
    assert run(runner, ["show", "2506.21547", "--index", str(day_index), "--json", "--format", "json"]).exit_code == 0


def test_an_index_made_before_authors_were_kept_opens_and_learns_them_from_the_next_update(
    runner, day_index, data_dir
):
    # An index of the previous layout: the same, less the authors table.
    with sqlite3.connect(day_index / "papers.sqlite3") as connection:
        connection.execute("DROP TABLE paper_authors")
    shown = json.loads(run(runner, ["show", "2506.21547", "--index", str(day_index), "--json"]).stdout)
    assert shown["authors"] == []
    (entry,) = parse(run(runner, ["show", "2506.21547", "--index", str(day_index), "--format", "bibtex"]).stdout)
    assert "author" not in entry
    again = run(runner, ["update", str(data_dir / "hf_api" / "days" / DAY_FILE), "--index", str(day_index), "--json"])
    assert json.loads(again.stdout)["already_present"] == 21
    shown = json.loads(run(runner, ["show", "2506.21547", "--index", str(day_index), "--json"]).stdout)
    assert shown["authors"][:2] == ["Jianyun Xu", "Song Wang"]
    assert run(runner, ["check", "--index", str(day_index)]).exit_code == 0


def test_json_records_give_authors_as_names_or_name_objects_and_a_single_string_is_not_split(tmp_path):
    records = [
        {"title": "One", "abstract": "A.", "authors": ["Ada Lovelace", " Alan  Turing "]},
        {"title": "Two", "abstract": "B.", "authors": [{"name": "Grace Hopper", "hidden": False}, {"user": 1}]},
        {"title": "Three", "abstract": "C.", "authors": "Lovelace, Ada and Turing, Alan"},
    ]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    papers = parse_digest_file(path).papers
    assert [paper.authors for paper in papers] == [("Ada Lovelace", "Alan Turing"), ("Grace Hopper",), ()]


def test_the_search_page_links_bibtex_for_each_result_and_the_whole_list(day_index, runner):
    from fastapi.testclient import TestClient

    from semsearch.web.app import create_app

    hits = json.loads(run(runner, ["ask", "video generation", "--index", str(day_index), "-n", "4", "--json"]).stdout)
    with TestClient(create_app(day_index, HashingEmbedder())) as client:
        page = client.get("/", params={"q": "video generation", "n": 4})
        assert "<script" not in page.text and "default-src 'none'" in page.headers["content-security-policy"]
        links = [html.unescape(href) for href in re.findall(r'<a class="bibtex" href="([^"]+)"', page.text)]
        assert len(links) == 1 + 4  # the list's, then one per result
        whole = client.get(links[0])
        assert whole.status_code == 200 and whole.headers["content-type"] == "text/x-bibtex; charset=utf-8"
        assert [entry["ID"] for entry in parse(whole.text)] == [f"arxiv:{hit['arxiv_id']}" for hit in hits]
        for link, hit in zip(links[1:], hits):
            (entry,) = parse(client.get(link).text)
            assert entry["ID"] == f"arxiv:{hit['arxiv_id']}" and entry["title"] == hit["title"]
        related = client.get("/related", params={"paper": hits[0]["key"], "n": 3})
        (related_list, *_) = [html.unescape(href) for href in re.findall(r'<a class="bibtex" href="([^"]+)"',
                                                                          related.text)]
        related_json = client.get("/api/related", params={"paper": hits[0]["key"], "n": 3}).json()
        assert [entry["ID"] for entry in parse(client.get(related_list).text)] == [
            f"arxiv:{hit['arxiv_id']}" for hit in related_json
        ]
        assert client.get("/api/paper", params={"paper": hits[0]["key"], "format": "yaml"}).status_code == 400


def test_news_prints_its_picks_as_bibtex_in_rank_order(runner, day_index):
    assert run(runner, ["watch", "add", "video generation", "--index", str(day_index)]).exit_code == 0
    picks = json.loads(run(runner, ["news", "--peek", "--index", str(day_index), "--json"]).stdout)
    assert picks
    result = run(runner, ["news", "--peek", "--index", str(day_index), "--format", "bibtex"])
    assert result.exit_code == 0, result.output
    assert [entry["ID"] for entry in parse(result.stdout)] == [f"arxiv:{pick['arxiv_id']}" for pick in picks]
