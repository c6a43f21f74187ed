"""The nearest-neighbour index: the only module that imports faiss.

Vectors are unit length, so inner product is cosine similarity. FAISS ids are the database's paper ids.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from semsearch.errors import IndexCorruptError

# Recorded with the index so a later version can tell which structure a file holds.
FLAT_FACTORY = "IDMap2,Flat"


def _faiss():
    # faiss pulls in its SWIG bindings; keep it off the `--help` path.
    import faiss

    return faiss


class VectorIndex:
    """An exact inner-product index over (id, unit vector) pairs."""

    def __init__(self, dim: int, native=None) -> None:
        faiss = _faiss()
        self.dim = dim
        if native is None:
            native = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._index = native

    @property
    def size(self) -> int:
        """How many vectors the index holds."""
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids."""
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        """Drop the vectors stored under these ids (unknown ids are ignored)."""
        if len(ids) == 0:
            return
        self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, limit: int, exclude: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        """The `limit` nearest ids with their cosine scores, best first, skipping excluded ids."""
        if limit <= 0 or self.size == 0:
            return []
        k = min(self.size, limit + len(exclude))
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        scores, ids = self._index.search(query, k)
        hits = []
        for paper_id, score in zip(ids[0].tolist(), scores[0].tolist()):
            # FAISS pads with -1 when it has fewer than k results.
            if paper_id == -1 or paper_id in exclude:
                continue
            hits.append((paper_id, float(score)))
        return hits[:limit]

    def save(self, path: Path) -> None:
        """Write the index to `path` atomically: a temporary file, fsync, then rename."""
        faiss = _faiss()
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    @classmethod
    def load(cls, path: Path, dim: int) -> "VectorIndex":
        """Read an index file, checking that it is one of ours with the expected dimension."""
        faiss = _faiss()
        try:
            native = faiss.read_index(str(path))
        except RuntimeError as exc:
            # FAISS reports a bad file as C++ text; the caller turns this into a next step.
            raise IndexCorruptError(f"the vector file {path} cannot be read") from exc
        if native.d != dim or not isinstance(native, faiss.IndexIDMap2):
            raise IndexCorruptError(f"the vector file {path} does not hold {dim}-d vectors of a semsearch index")
        return cls(dim, native)

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray) -> "VectorIndex":
        """A new index holding the given vectors."""
        index = cls(dim)
        index.add(ids, vectors)
        return index


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
