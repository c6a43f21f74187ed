"""`ask --why`: sentences, the sentence picked for a question, the words matched, and what it costs."""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import pytest

from semsearch import index
from semsearch.cli import cli
from semsearch.search import SearchIndex
from semsearch.search.explain import Why, nearest_sentences, sentences
from semsearch.search.wordvectors import bundled_word_vectors
from semsearch.storage.store import passage_bm25
from tests.fakes import HashingEmbedder


def test_sentences_split_at_ends_but_not_at_abbreviations():
    text = (
        "Large models (e.g. GPT-3) are costly. We follow Smith et al. (2020) and cut memory by 4.5x! "
        "Does it scale? Yes: see Fig. 2 and the results vs. baselines.  [Code] is public."
    )
    assert sentences(text) == [
        "Large models (e.g. GPT-3) are costly.",
        "We follow Smith et al. (2020) and cut memory by 4.5x!",
        "Does it scale?",
        "Yes: see Fig. 2 and the results vs. baselines.",
        "[Code] is public.",
    ]
    assert sentences("no final stop") == ["no final stop"] and sentences("  ") == []


def test_nearest_sentences_weighs_similarity_and_bm25_per_abstract():
    groups = [["a", "b", "c"], [], ["d", "e", "f"]]
    similarities = np.array([0.1, 0.9, 0.2, 0.50, 0.49, 0.10])
    no_words = np.zeros(6)
    assert nearest_sentences(groups, similarities, no_words) == ["b", "", "d"]
    # BM25 alone (share 1) picks by words; a small share only settles near-ties of similarity (d and e).
    words = np.array([5.0, 0.0, 0.0, 0.0, 3.0, 0.0])
    assert nearest_sentences(groups, similarities, words, bm25_share=1.0) == ["a", "", "e"]
    assert nearest_sentences(groups, similarities, words, bm25_share=0.3) == ["b", "", "e"]


def test_passage_bm25_stems_and_never_raises():
    scores = passage_bm25(["Optimizing memory use.", "Traffic forecasting.", "memory memory"], '"optimizations"')
    assert scores[0] > 0 and scores[1] == scores[2] == 0
    assert passage_bm25(["anything"], None) == [0.0] and passage_bm25([], '"x"') == []


def test_word_vectors_of_the_bundled_model_rank_related_sentences_first():
    vectors = bundled_word_vectors()
    question, near, far = vectors.embed(
        ["reducing GPU memory when training huge neural networks", "We shard optimizer states to save accelerator "
         "memory during training.", "The recipe calls for two cups of flour and an egg."]
    )
    assert float(near @ question) > float(far @ question) + 0.1
    assert np.allclose(np.linalg.norm(vectors.embed(["memory", "training"]), axis=1), 1.0, atol=1e-5)
    assert not vectors.embed(["the of and"]).any()  # no content word: a zero vector, not NaN


@pytest.fixture
def seeded(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    return folder


def test_ask_why_gives_a_sentence_of_each_abstract_and_the_matched_words(seeded, fake_embedder):
    with SearchIndex(seeded, fake_embedder) as search_index:
        hits = search_index.ask("memory optimizations for training trillion parameter models", 10, why=True)
        assert len(hits) == 10
        for hit in hits:
            assert isinstance(hit.why, Why) and hit.why.sentence in sentences(hit.paper.abstract)
            text = (hit.paper.title + " " + hit.paper.abstract).lower()
            assert all(term in text or term[:5] in text for term in hit.why.matched_terms)
        zero = next(hit for hit in hits if hit.paper.title.startswith("ZeRO:"))
        assert {"memory", "optimizations", "training", "trillion", "parameter"} <= set(zero.why.matched_terms)
        assert all(hit.why is None for hit in search_index.ask("memory", 3))


def test_cli_why_text_and_json(runner, seeded):
    args = ["ask", "memory optimizations for training trillion parameter models", "--index", str(seeded), "-n", "3"]
    text = runner.invoke(cli, [*args, "--why"], obj={"embedder": HashingEmbedder()})
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split()[:2] == ["1", "fused"]
    assert lines[1].startswith("       why: ") and any(line.startswith("       matched words: ") for line in lines)
    data = json.loads(runner.invoke(cli, [*args, "--why", "--json"], obj={"embedder": HashingEmbedder()}).stdout)
    assert set(data[0]["why"]) == {"sentence", "matched_terms"} and data[0]["score_kind"] == "fused"
    lexical = runner.invoke(cli, [*args, "--json", "--mode", "lexical"], obj={"embedder": HashingEmbedder()})
    plain = json.loads(lexical.stdout)
    assert "why" not in plain[0] and plain[0]["score_kind"] == "bm25"


def test_why_adds_little_to_a_ten_hit_answer(seeded, fake_embedder):
    """The budget is 150 ms on two cores; this guards the order of magnitude (a model pass would be ~1 s)."""
    with SearchIndex(seeded, fake_embedder) as search_index:
        search_index.ask("warm up the word vectors", 10, why=True)
        added = []
        for question in ["parallel corpora for Indian languages", "speech recognition", "instruction tuning data"]:
            start = time.perf_counter()
            search_index.ask(question, 10)
            plain = time.perf_counter() - start
            start = time.perf_counter()
            search_index.ask(question, 10, why=True)
            added.append(time.perf_counter() - start - plain)
    assert statistics.median(added) < 0.15
