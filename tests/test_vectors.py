"""Reading vectors back from the FAISS layers by id, as hybrid search does for papers only BM25 found."""

from __future__ import annotations

import numpy as np

from semsearch.storage.vectors import LayeredIndex, VectorIndex


def unit_vectors(count: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_each_paper_is_read_from_the_layer_that_holds_its_current_vector():
    old = unit_vectors(5)
    base = VectorIndex.build(16, np.arange(1, 6), old)
    revised = unit_vectors(2, seed=1)  # paper 3 changed, paper 6 is new: both live in the recent layer
    recent = VectorIndex.build(16, np.array([3, 6]), revised)
    layers = LayeredIndex(base, recent, superseded=frozenset({3}))
    held = layers.stored([6, 3, 1, 5])
    expected = np.stack([revised[1], revised[0], old[0], old[4]]).astype(np.float16)  # the exact index keeps float16
    np.testing.assert_allclose(held, expected.astype(np.float32), atol=1e-6)
    # The scores equal what the index's own search gives for the same papers.
    query = unit_vectors(1, seed=2)[0]
    searched = dict(layers.search(query, 6))
    np.testing.assert_allclose(held @ query, [searched[6], searched[3], searched[1], searched[5]], atol=1e-5)


def test_an_unknown_id_or_an_approximate_file_sends_the_caller_to_the_database():
    base = VectorIndex.build(16, np.arange(1, 6), unit_vectors(5))
    empty = VectorIndex.build(16, np.empty(0, np.int64), np.empty((0, 16), np.float32))
    layers = LayeredIndex(base, empty, frozenset())
    assert layers.stored([1, 99]) is None
    approximate = VectorIndex.train_ivf(16, np.arange(1, 1001), unit_vectors(1000))
    assert approximate.is_approximate
    assert LayeredIndex(approximate, layers.recent, frozenset()).stored([1, 2]) is None


def clustered_vectors(count: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around 40 topics, as embeddings of abstracts are: neighbours are close, the rest far."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((40, dim)).astype(np.float32)
    vectors = topics[rng.integers(0, 40, count)] + 0.6 * rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_compressed_scan_finds_the_exact_top_ten_and_scores_them_as_the_exact_index_does():
    vectors = clustered_vectors(6000)
    ids = np.arange(10, 6010)
    compressed = VectorIndex.build_compressed(64, ids, vectors)
    exact = VectorIndex.build(64, ids, vectors)
    assert compressed.is_compressed and not compressed.is_approximate
    assert compressed.factory == "IDMap2,PQ32x4fs,Refine(SQfp16)"
    queries = clustered_vectors(50, seed=1)
    overlap = []
    for query in queries:
        found, truth = compressed.search(query, 10), exact.search(query, 10)
        overlap.append(len({i for i, _ in found} & {i for i, _ in truth}) / 10)
        # Re-ranked by the float16 vectors: a paper found by both has the exact index's score.
        truth_scores = dict(truth)
        for paper_id, score in found:
            if paper_id in truth_scores:
                assert abs(score - truth_scores[paper_id]) < 1e-5
        # `exact` scans the float16 vectors themselves: the exact index's answer, exclusions honoured.
        assert compressed.search(query, 10, exact=True) == truth
        assert compressed.search(query, 5, exclude=frozenset({truth[0][0]}), exact=True) == truth[1:6]
    assert np.mean(overlap) >= 0.98
    # It reads far fewer bytes than the float16 scan (codes of 32 bytes, not 128), and keeps vectors by id.
    assert compressed.bytes_per_question() < exact.bytes_per_question() / 3
    np.testing.assert_allclose(compressed.stored(np.array([10, 11])), exact.stored(np.array([10, 11])), atol=1e-6)


def test_a_compressed_file_loads_as_the_same_index(tmp_path):
    vectors = clustered_vectors(3000, seed=3)
    compressed = VectorIndex.build_compressed(64, np.arange(3000), vectors)
    compressed.save(tmp_path / "v.faiss")
    loaded = VectorIndex.load(tmp_path / "v.faiss", 64, compressed.factory)
    query = clustered_vectors(1, seed=4)[0]
    assert loaded.is_compressed and loaded.search(query, 10) == compressed.search(query, 10)
