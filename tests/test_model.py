"""The real bundled model end to end on the seed digest (loaded once per session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semsearch.ingest.digest import parse_digest_file
from semsearch.model.bundled import BUNDLED_WEIGHTS_SHA256, bundled_model_dir, file_sha256
from semsearch.search import SearchIndex

pytestmark = pytest.mark.model


def test_bundled_weights_are_the_pinned_all_minilm_l6_v2():
    assert file_sha256(bundled_model_dir() / "model.safetensors") == BUNDLED_WEIGHTS_SHA256


def test_vectors_are_unit_length_and_384_d(seed_pair):
    embedder = seed_pair[1]
    documents = embedder.embed_documents(["A short abstract.", "Another, longer abstract " * 20])
    query = embedder.embed_query("a question")
    assert documents.shape == (2, 384) and query.shape == (384,)
    assert np.allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


@pytest.mark.parametrize(
    ("question", "expected_titles"),
    [
        ("memory-efficient training of trillion-parameter models", ["ZeRO: Memory", "ZeRO-Infinity"]),
        ("parallel corpora for Indian languages", ["Samanantar", "IndicTrans2"]),
        ("how to choose training data for instruction tuning", ["Large-Scale Data Selection for Instruction Tuning"]),
        ("speech recognition without autoregressive decoding", ["Paraformer"]),
        ("word embeddings for Sinhala and English", ["Sinhala-English Word Embedding Alignment"]),
        (
            "pipeline parallelism and the vocabulary layer",
            ["Balancing Pipeline Parallelism with Vocabulary Parallelism"],
        ),
    ],
)
def test_reader_questions_find_their_papers(seed_pair, question, expected_titles):
    with SearchIndex(*seed_pair) as search_index:
        top = [hit.paper.title for hit in search_index.ask(question, 5)]
    for expected in expected_titles:
        assert any(title.startswith(expected) for title in top), (question, top)


def test_each_seed_title_finds_its_own_paper(seed_pair, seed_digest):
    papers = parse_digest_file(seed_digest).papers
    found = 0
    with SearchIndex(*seed_pair) as search_index:
        for paper in papers:
            if paper.title in [hit.paper.title for hit in search_index.ask(paper.title, 5)]:
                found += 1
    assert found / len(papers) >= 0.95, f"{found}/{len(papers)}"


def test_related_papers_of_zero_are_about_distributed_training(seed_pair):
    with SearchIndex(seed_pair[0]) as search_index:
        source, hits = search_index.related("ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", 5)
    titles = [hit.paper.title for hit in hits]
    assert source.title not in titles
    assert any(title.startswith("ZeRO-Infinity") for title in titles), titles


def test_cli_in_a_real_process_uses_the_bundled_model(seed_index):
    """The console script, as a user runs it: no injected embedder, no network."""
    env = {**os.environ, "SEMSEARCH_INDEX": str(seed_index), "HF_HUB_OFFLINE": "1"}
    executable = Path(sys.executable).with_name("semsearch")
    result = subprocess.run(
        [str(executable), "ask", "memory-efficient training of trillion-parameter models", "--json", "-n", "3"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert hits[0]["title"].startswith("ZeRO")


def test_fast_query_path_gives_the_torch_ranking(seed_index, real_embedder, monkeypatch):
    """Questions through the ONNX export rank exactly as through torch, with the same scores."""
    from semsearch.model.embed import SentenceTransformerEmbedder

    real_embedder.prepare_fast_queries()
    fast = SentenceTransformerEmbedder()
    monkeypatch.setenv("SEMSEARCH_QUERY_BACKEND", "torch")
    slow = SentenceTransformerEmbedder()
    monkeypatch.delenv("SEMSEARCH_QUERY_BACKEND")
    for question in ["memory-efficient training of trillion-parameter models", "parallel corpora for Indian languages",
                     "speech recognition without autoregressive decoding"]:
        with SearchIndex(seed_index, fast) as a, SearchIndex(seed_index, slow) as b:
            fast_hits, slow_hits = a.ask(question, 10, mode="dense"), b.ask(question, 10, mode="dense")
        assert [h.paper.key for h in fast_hits] == [h.paper.key for h in slow_hits]
        assert np.allclose([h.score for h in fast_hits], [h.score for h in slow_hits], atol=1e-4)
    assert fast._fast is not None and slow._fast is None and fast._model is None  # torch never loaded for `fast`
