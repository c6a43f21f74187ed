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
