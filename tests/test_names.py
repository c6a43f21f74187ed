"""The known-item test of names and title fragments (`semsearch.evaluation.names`, `scripts/name_test.py`)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from semsearch.evaluation import names
from semsearch.evaluation.names import NAME, TITLE, KnownItem, PaperText
from semsearch.keys import paper_key

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "name_test.py"


def paper(key: str, title: str, abstract: str = "An abstract about nothing in particular.") -> PaperText:
    return PaperText(key, title, abstract)


def queries(items: list[KnownItem], kind: str = NAME) -> dict[str, str]:
    return {item.query: item.paper for item in items if item.kind == kind}


def all_names(papers: list[PaperText]) -> dict[str, str]:
    """Every rare name of the collection (not one per paper): the pool built with one paper per name."""
    found = {}
    for candidate in papers:
        for name in names.name_candidates(f"{candidate.title}\n{candidate.abstract}"):
            holders = [p.key for p in papers if name.casefold() in names.occurring(f"{p.title}\n{p.abstract}")]
            if holders == [candidate.key]:
                found[name] = candidate.key
    return found


# -- names on small synthetic collections -------------------------------------------------------------------------


def test_a_name_in_one_paper_is_an_item_and_a_name_in_two_is_not():
    papers = [
        paper("a", "Question answering on BioASQ", "We evaluate on BioASQ and SQuAD."),
        paper("b", "ThinkARM: reasoning arms", "ThinkARM beats SQuAD baselines."),
        paper("c", "Nothing special", "A plain abstract."),
    ]
    items = names.name_items(papers)
    assert queries(items) == {"BioASQ": "a", "ThinkARM": "b"}
    assert all(item.kind == NAME for item in items)


def test_occurrences_are_case_insensitive():
    papers = [
        paper("a", "BioASQ results", "We use BioASQ."),
        paper("b", "Another paper", "Unlike the bioasq challenge, ours is open."),
        paper("c", "DeepSeekMath", "We present DeepSeekMath."),
    ]
    assert queries(names.name_items(papers)) == {"DeepSeekMath": "c"}


def test_the_name_shape():
    for name in ("BioASQ", "ThinkARM", "GPT4o", "Llama3", "RoBERTa", "Qwen2.5-VL", "ZeRO-Infinity", "MMLU-Pro"):
        assert names.looks_like_name(name), name
    for word in ("BERT", "GPT4", "Transformer", "multi-agent", "Multi-Agent", "Vision-Language", "12345", "2.5.1",
                 "16kHz", "1024x1024", "100K-1M", "128K", "100ms", "x-y-z"):
        assert not names.looks_like_name(word), word


def test_tokens_keep_hyphen_and_digit_structure():
    assert names.tokens("We fine-tune Qwen2.5-VL-7B (and GPT-4.1), see Fig. 3.") == [
        "We", "fine-tune", "Qwen2.5-VL-7B", "and", "GPT-4.1", "see", "Fig", "3"
    ]
    assert names.token_spans("GPT-4o-mini") == ["GPT", "GPT-4o", "GPT-4o-mini", "4o", "4o-mini", "mini"]
    held = names.occurring("We fine-tune Qwen2.5-VL-7B.")
    assert {"qwen2.5-vl-7b", "qwen2.5-vl", "qwen2.5", "vl", "7b"} <= held
    assert "qwen2" not in held  # Qwen2 is another model than Qwen2.5


def test_hyphenated_tokens_give_the_name_without_plain_word_ends():
    assert names.name_candidates("a ThinkARM-based agent, a non-BioASQ set, GPT-4o-mini, Qwen2.5-VL-7B-Instruct") == [
        "ThinkARM", "BioASQ", "GPT-4o", "Qwen2.5-VL-7B-Instruct", "Qwen2.5"
    ]


def test_a_name_inside_a_longer_token_elsewhere_is_not_unique():
    papers = [
        paper("a", "Qwen2.5-VL for charts", "We tune Qwen2.5-VL."),
        paper("b", "Another", "Our baseline is Qwen2.5-VL-7B-Instruct."),
    ]
    assert "Qwen2.5-VL" not in queries(names.name_items(papers))


def test_links_arxiv_ids_numbers_and_latex_commands_are_not_names():
    text = (
        "Code at https://github.com/acme/HeurAgenix and www.SiteName.org; see arXiv:2405.12345v2 and 2401.00001v3. "
        "We use 1024x1024 images at 16kHz, 100K-1M tokens, \\mathbf{x} and \\SysName, year 20250101. "
        "Our \\textbf{C}ityGPT model \\unicode{x1F4A1}."
    )
    assert names.name_candidates(text) == ["CityGPT"]


def test_a_name_another_paper_mentions_only_in_a_link_is_not_unique():
    papers = [
        paper("a", "HeurAgenix: heuristics", "We present HeurAgenix."),
        paper("b", "Something else", "Compared with https://github.com/microsoft/HeurAgenix we do better."),
    ]
    assert names.name_items(papers) == []


def test_one_name_item_per_paper_and_the_limit():
    papers = [paper(f"p{i}", f"Paper {i}", f"We present ModelX{i}a and DataY{i}b.") for i in range(20)]
    items = names.name_items(papers, limit=7)
    assert len(items) == 7
    assert len({item.paper for item in items}) == 7
    assert all(item.query in (f"ModelX{item.paper[1:]}a", f"DataY{item.paper[1:]}b") for item in items)


def test_items_are_deterministic_and_independent_of_paper_order():
    papers = [paper(f"p{i:02d}", f"Title number {i} on CoolNet{i} things", f"We use CoolNet{i} and HotNet{i}.")
              for i in range(30)]
    first = names.known_items(papers, limit=10)
    assert first == names.known_items(list(reversed(papers)), limit=10)
    assert first != names.known_items(papers, limit=10, seed=1)


# -- title fragments ----------------------------------------------------------------------------------------------


def test_title_fragments_are_unique_phrases_of_one_title():
    papers = [
        paper("a", "Scaling Laws for Neural Language Models"),
        paper("b", "Scaling Laws for Neural Machine Translation"),
        paper("c", "Memory Optimizations Toward Training Trillion Parameter Models"),
    ]
    items = names.title_pool(papers)
    by_paper = {item.paper: item.query for item in items}
    # "Scaling Laws for Neural" is in two titles: any fragment of a or b must reach past it.
    assert by_paper["a"] in {"Neural Language Models", "Laws for Neural Language", "Laws for Neural Language Models",
                             "Scaling Laws for Neural Language"}
    for item in items:
        holders = [p.key for p in papers if names.phrase_in(item.query, p.title)]
        assert holders == [item.paper]


def test_fragment_candidates():
    title = "ZeRO: Memory Optimizations Toward Training of Trillion-Parameter Models"
    fragments = names.fragment_candidates(title)
    assert "Memory Optimizations Toward Training" in fragments
    assert "Training of Trillion-Parameter Models" in fragments
    assert "Trillion-Parameter Models" not in fragments  # two tokens, however many words
    assert not [f for f in fragments if f.startswith("ZeRO")]  # never across the colon
    assert not [f for f in fragments if f.endswith((" of", " Toward"))]  # nor ending in a stopword
    assert names.fragment_candidates("Three Word Title") == []  # the whole title is no fragment
    assert names.phrase_in("memory optimizations toward", title)
    assert names.phrase_in("Trillion Parameter Models", title)  # hyphens and case aside
    assert not names.phrase_in("Optimizations Memory", title)


def test_fragments_respect_the_limit_and_one_per_paper():
    papers = [paper(f"p{i:02d}", f"Unique Words Number{i} Here And There Everywhere{i} Else") for i in range(40)]
    items = names.title_items(papers, limit=15)
    assert len(items) == 15 and len({item.paper for item in items}) == 15
    assert all(item.kind == TITLE for item in items)


def test_the_scores():
    scores = names.score_ranks([1, 2, 3, None, 10, 11 if False else None])
    assert scores.items == 6
    assert scores.top1 == pytest.approx(1 / 6)
    assert scores.top3 == pytest.approx(3 / 6)
    assert scores.top10 == pytest.approx(4 / 6)
    assert scores.mrr10 == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 10) / 6)
    assert names.score_ranks([]).items == 0


def test_importing_the_module_loads_no_numpy():
    code = "import sys, semsearch.evaluation.names; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "{'numpy', 'faiss', 'torch', 'onnxruntime', 'sentence_transformers'}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert result.stdout.strip() == "[]"


# -- the real digests ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_papers(seed_digest: Path, hf_daily: Path) -> list[PaperText]:
    """The seed and hf_daily papers, one record per paper as the index keeps them (a later digest's text wins)."""
    from semsearch.ingest.digest import read_digests

    papers: dict[str, PaperText] = {}
    for digest in read_digests([seed_digest, hf_daily / "digests"]):
        for entry in digest.papers:
            key = paper_key(entry.title, entry.arxiv_id)
            papers[key] = PaperText(key, entry.title, entry.abstract)
    return list(papers.values())


def _holders_of_name(name: str, texts: dict[str, str]) -> list[str]:
    """The papers whose (case-folded) text holds a name as a whole token, by a regular expression rather than the
    module's token sets: no letter or digit on either side, no digit-dot-digit running on (Qwen2 is not in
    Qwen2.5)."""
    wanted = name.casefold()
    before = r"(?<![^\W_])" + (r"(?<!\d\.)" if name[0].isdigit() else "")
    after = r"(?![^\W_])" + (r"(?!\.\d)" if name[-1].isdigit() else "")
    pattern = re.compile(before + re.escape(wanted) + after)
    return [key for key, text in texts.items() if wanted in text and pattern.search(text)]


def _holders_of_phrase(fragment: str, titles: dict[str, str]) -> list[str]:
    """The papers whose (case-folded) title holds a fragment's words in a row, whatever the punctuation between."""
    words = re.findall(r"[^\W_]+", fragment.casefold())
    pattern = re.compile(r"(?<![^\W_])" + r"[\W_]+".join(map(re.escape, words)) + r"(?![^\W_])")
    return [key for key, title in titles.items() if words[0] in title and pattern.search(title)]


@pytest.fixture(scope="module")
def real_items(real_papers: list[PaperText]) -> list[KnownItem]:
    return names.known_items(real_papers)


def test_real_digests_give_over_50_items_of_each_kind(real_papers: list[PaperText], real_items: list[KnownItem]):
    assert len(real_papers) == 3569
    items = real_items
    counts = {kind: sum(1 for item in items if item.kind == kind) for kind in names.KINDS}
    assert counts[NAME] > 50 and counts[TITLE] > 50, counts
    assert counts[NAME] <= names.DEFAULT_LIMIT and counts[TITLE] <= names.DEFAULT_LIMIT


def test_every_real_item_occurs_in_its_paper_and_in_no_other(real_papers: list[PaperText], real_items):
    items = real_items
    texts = {p.key: f"{p.title}\n{p.abstract}".casefold() for p in real_papers}
    titles = {p.key: p.title.casefold().replace("$", "") for p in real_papers}
    wrong = []
    for item in items:
        if item.kind == NAME:
            holders = _holders_of_name(item.query, texts)
        else:
            holders = _holders_of_phrase(item.query, titles)
        if holders != [item.paper]:
            wrong.append((item, holders[:5]))
    assert wrong == []
    assert all(names.looks_like_name(item.query) for item in items if item.kind == NAME)


# -- the script ---------------------------------------------------------------------------------------------------


def _script_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "SEMSEARCH_EMBEDDER": "tests.fakes:HashingEmbedder"}


def test_the_script_scores_every_mode_on_an_index_of_the_seed(tmp_path: Path, seed_digest: Path):
    from semsearch import index
    from tests.fakes import HashingEmbedder

    folder = tmp_path / "index"
    index.update(folder, [seed_digest], HashingEmbedder())
    command = [sys.executable, str(SCRIPT), "--index", str(folder), "--digests", str(seed_digest)]
    result = subprocess.run([*command, "--json"], capture_output=True, text=True, env=_script_env(), check=True)
    out = json.loads(result.stdout)
    assert out["papers"] == out["index_papers"] == 63
    assert out["notes"] == []
    assert set(out["modes"]) == {"dense", "lexical", "hybrid"}
    assert out["items"]["name"] > 5 and out["items"]["title"] > 5
    lexical = out["modes"]["lexical"]["name"]
    assert lexical["items"] == out["items"]["name"]
    # BM25 finds a word only one paper holds; the fake embedder's vectors do not matter to it.
    assert lexical["top10"] == 1.0 and lexical["top1"] >= 0.9
    assert "cores available" in out["cpu"]

    table = subprocess.run(command, capture_output=True, text=True, env=_script_env(), check=True).stdout
    assert table.startswith("CPU: ")
    assert "| hybrid (default) | names |" in table


def test_the_script_names_papers_the_index_lacks(tmp_path: Path, seed_digest: Path, hf_daily: Path):
    from semsearch import index
    from tests.fakes import HashingEmbedder

    folder = tmp_path / "index"
    day = sorted((hf_daily / "digests").iterdir())[0]
    index.update(folder, [day], HashingEmbedder())
    command = [sys.executable, str(SCRIPT), "--index", str(folder), "--digests", str(seed_digest), str(day), "--json"]
    out = json.loads(subprocess.run(command, capture_output=True, text=True, env=_script_env(), check=True).stdout)
    assert out["notes"] == ["63 papers of the digests are not in the index"]


@pytest.mark.model
def test_the_real_model_on_the_seed_index(int8_seed_index: Path, int8_embedder, seed_digest: Path):
    from semsearch.search import SearchIndex

    spec = importlib.util.spec_from_file_location("name_test_script", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    from semsearch.ingest.digest import read_digests

    with SearchIndex(int8_seed_index, int8_embedder) as search:
        papers, missing = script.stored_papers(search, read_digests([seed_digest]))
        assert missing == 0 and len(papers) == 63
        items = names.known_items([PaperText(p.key, p.title, p.abstract) for p in papers])
        scores = names.run_known_items(search, items, {p.key: p.id for p in papers}, ["dense", "lexical", "hybrid"])
    assert set(scores) == {"dense", "lexical", "hybrid"}
    assert scores["lexical"][NAME].top10 == 1.0
    # On 63 papers every mode finds most of them; the figures that matter are the 3,569-paper ones (README).
    for mode in scores:
        assert scores[mode]["all"].items == len(items)
        assert scores[mode]["all"].top10 > 0.5, mode
