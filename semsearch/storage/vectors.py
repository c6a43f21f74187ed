"""The nearest-neighbour index: the only module that imports faiss.

Vectors are unit length, so inner product is cosine similarity. FAISS ids are the database's paper ids.
Small collections use an exact scan of float16 vectors. A scan's cost is the bytes it reads (a question at 83k
papers reads 64 MB of float16, 3x slower where memory is 3x slower), so from `MergePolicy.compressed_from` papers
on the scan reads 4-bit product-quantization codes (96 bytes a paper at 384-d, FAISS's SIMD "fast scan") and
re-ranks its best few hundred by their float16 vectors, kept in the same file: recall@10 0.994-1.000 against an
exact scan at 1M papers, with an eighth of the bytes (scripts/bench.py --only switch, --only ann).
Past a few million papers an inverted-file (IVF) index answers instead, trained once and extended in place.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import numpy as np

from semsearch.errors import IndexCorruptError
from semsearch.files import atomic_path

# Recorded with the index so a later version can tell which structure a file holds.
# Exact search reads every stored vector for each question, so its cost is memory traffic: vectors stored as
# 16-bit floats halve it. On the 82,779 arXiv vectors a question took 2.5 ms against 5.0 ms in float32 with the
# same top 10 (scripts/bench.py --only switch); cosines move by about 1e-4.
EXACT_FACTORY = "IDMap2,SQfp16"
# Float32 exact search: files written before EXACT_FACTORY (still read), and the ground truth of benchmarks.
FLAT_FACTORY = "IDMap2,Flat"
EXACT_FACTORIES = (EXACT_FACTORY, FLAT_FACTORY)
_IVF_FACTORY = re.compile(r"^IVF(\d+),Flat$")
_COMPRESSED_FACTORY = re.compile(r"^IDMap2,PQ(\d+)x4fs,Refine\(SQfp16\)$")
# Candidates the compressed scan hands to the float16 re-ranking (at least twice the results asked for). Recall@10
# against exact float32 at 1M papers (scripts/sweep_scan.py): 0.998 (off-field questions) with 200, 0.980 with 100;
# the re-ranking reads 200 x 768 bytes, nothing next to the scan.
RERANK_DEPTH = 200
# Vectors the product quantizer is trained on: 16 centroids for each pair of dimensions need few points, and the
# sample keeps training at a few seconds whatever the collection's size.
_COMPRESSED_TRAINING_SAMPLE = 32_768


def is_ivf_factory(factory: str) -> bool:
    """Whether a recorded factory names an inverted-file index (the only kind a merge extends in place)."""
    return bool(_IVF_FACTORY.match(factory))


def compressed_factory(dim: int) -> str:
    """The FAISS factory of the compressed scan for `dim`-d vectors: one 4-bit code per pair of dimensions, with
    float16 vectors to re-rank by."""
    return f"IDMap2,PQ{dim // 2}x4fs,Refine(SQfp16)"
# Lists probed per query. At 1M vectors (the 82,779 arXiv vectors replicated 12 times, IVF4096) recall@10 against
# exact search is 0.958 for off-field questions (SciFact claims) and 0.990 for in-field ones (digest titles) at
# p50 5.0 ms; 48 lists gave 0.837 / 0.960 (scripts/bench.py --only ann). Off-field questions set the bar.
DEFAULT_NPROBE = 256


def _faiss():
    # faiss pulls in its SWIG bindings; keep it off the `--help` path.
    import faiss

    return faiss


def ivf_list_count(size: int) -> int:
    """Inverted lists for a collection: about 4 * sqrt(n), a power of two, within [256, 65536]."""
    target = 4.0 * np.sqrt(max(size, 1))
    return int(min(65536, max(256, 2 ** round(np.log2(target)))))


class VectorIndex:
    """An inner-product index over (id, unit vector) pairs: exact, or approximate (IVF) for large collections."""

    def __init__(self, dim: int, native=None, factory: str = EXACT_FACTORY, nprobe: int = DEFAULT_NPROBE) -> None:
        faiss = _faiss()
        self.dim = dim
        self.factory = factory
        if native is None:
            if factory == EXACT_FACTORY:
                storage = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
            elif factory == FLAT_FACTORY:
                storage = faiss.IndexFlatIP(dim)
            else:
                raise ValueError(f"no empty index for factory {factory!r}")
            native = faiss.IndexIDMap2(storage)
        self._index = native
        self.nprobe = nprobe
        if self.is_approximate:
            faiss.extract_index_ivf(native).nprobe = nprobe

    @property
    def is_approximate(self) -> bool:
        """Whether this is an inverted-file index: extended in place, and keeping no vector by id."""
        return self.factory not in EXACT_FACTORIES and not self.is_compressed

    @property
    def is_compressed(self) -> bool:
        """Whether searches scan compressed codes and re-rank the best by float16 vectors."""
        return bool(_COMPRESSED_FACTORY.match(self.factory))

    def bytes_per_question(self) -> int:
        """The bytes of vector data one search reads (the cost that slower memory multiplies), for benchmarks."""
        if self.factory == FLAT_FACTORY:
            return self.size * self.dim * 4
        if self.factory == EXACT_FACTORY:
            return self.size * self.dim * 2
        faiss = _faiss()
        if self.is_compressed:
            codes = faiss.downcast_index(faiss.downcast_index(self._index.index).base_index).code_size
            return self.size * codes + RERANK_DEPTH * self.dim * 2
        ivf = faiss.extract_index_ivf(self._index)
        probed = sum(ivf.invlists.list_size(i) for i in range(ivf.nlist)) * min(ivf.nprobe, ivf.nlist) / ivf.nlist
        return int(probed * ivf.code_size + ivf.nlist * self.dim * 4)

    @property
    def size(self) -> int:
        """How many vectors the index holds."""
        return int(self._index.ntotal)

    def ids(self) -> np.ndarray:
        """Every id the index holds (for consistency checks)."""
        faiss = _faiss()
        if not self.is_approximate:
            return faiss.vector_to_array(self._index.id_map).copy()
        invlists = faiss.extract_index_ivf(self._index).invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(invlists.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def stored(self, ids: np.ndarray) -> np.ndarray | None:
        """The vectors of these ids as the index holds them (rows in order); None for an approximate index, which
        keeps no map from id to vector, or when an id is not here."""
        if self.is_approximate:
            return None
        try:
            # The compressed index reconstructs from its float16 vectors, as the exact one does.
            return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))
        except RuntimeError:  # FAISS's C++ "key not found"
            return None

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

    def search(
        self, query: np.ndarray, limit: int, exclude: frozenset[int] = frozenset(), exact: bool = False
    ) -> list[tuple[int, float]]:
        """The `limit` nearest ids with their cosine scores, best first, skipping excluded ids. `exact` scans every
        float16 vector even in a compressed index (for a stored paper's neighbours, which embed no question)."""
        if limit <= 0 or self.size == 0:
            return []
        k = min(self.size, limit + len(exclude))
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        if self.is_compressed:
            faiss = _faiss()
            refine = faiss.downcast_index(self._index.index)
            if exact:
                scores, rows = faiss.downcast_index(refine.refine_index).search(query, k)
                id_map = faiss.rev_swig_ptr(self._index.id_map.data(), self._index.id_map.size())
                ids = np.where(rows >= 0, id_map[np.maximum(rows, 0)], -1)
                return self._hits(scores, ids, limit, exclude)
            # Each search sets it: a server thread holds its own copy of the index, so nothing else reads it.
            refine.k_factor = float(max(2, -(-RERANK_DEPTH // k)))
        scores, ids = self._index.search(query, k)
        return self._hits(scores, ids, limit, exclude)

    @staticmethod
    def _hits(scores: np.ndarray, ids: np.ndarray, limit: int, exclude: frozenset[int]) -> list[tuple[int, float]]:
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
        with atomic_path(path) as tmp:
            try:
                faiss.write_index(self._index, str(tmp))
            except RuntimeError as exc:
                # FAISS reports a failed write as C++ text; a full disk becomes the OSError it is underneath.
                if "No space left" in str(exc) or "Disk quota" in str(exc):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp)) from exc
                raise

    @classmethod
    def load(cls, path: Path, dim: int, factory: str = FLAT_FACTORY, nprobe: int = DEFAULT_NPROBE) -> VectorIndex:
        """Read an index file, checking that it holds the structure and dimension the metadata records."""
        faiss = _faiss()
        try:
            native = faiss.read_index(str(path))
        except RuntimeError as exc:
            # FAISS reports a bad file as C++ text; the caller turns this into a next step.
            raise IndexCorruptError(f"the vector file {path} cannot be read") from exc
        is_id_map = factory in EXACT_FACTORIES or bool(_COMPRESSED_FACTORY.match(factory))
        expected = faiss.IndexIDMap2 if is_id_map else faiss.IndexIVF
        if native.d != dim or not isinstance(native, expected):
            raise IndexCorruptError(f"the vector file {path} does not hold the {dim}-d {factory} index it should")
        return cls(dim, native, factory, nprobe)

    @classmethod
    def build(cls, dim: int, ids: np.ndarray, vectors: np.ndarray, factory: str = EXACT_FACTORY) -> VectorIndex:
        """A new exact index holding the given vectors (float16 unless `factory` says float32)."""
        index = cls(dim, factory=factory)
        index.add(ids, vectors)
        return index

    @classmethod
    def build_compressed(cls, dim: int, ids: np.ndarray, vectors: np.ndarray, seed: int = 1234) -> VectorIndex:
        """A new compressed index: a product quantizer trained on a sample of the vectors, then every vector added
        as a 4-bit code and as float16."""
        faiss = _faiss()
        factory = compressed_factory(dim)
        native = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample_size = min(len(ids), _COMPRESSED_TRAINING_SAMPLE)
        sample = vectors[np.sort(rng.choice(len(ids), size=sample_size, replace=False))]
        native.train(np.ascontiguousarray(sample, dtype=np.float32))
        index = cls(dim, native, factory)
        index.add(ids, vectors)
        return index

    @classmethod
    def train_ivf(
        cls, dim: int, ids: np.ndarray, vectors: np.ndarray, nprobe: int = DEFAULT_NPROBE, seed: int = 1234
    ) -> VectorIndex:
        """A new approximate index: k-means on a sample of the vectors, then every vector added."""
        faiss = _faiss()
        lists = ivf_list_count(len(ids))
        factory = f"IVF{lists},Flat"
        native = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        # 64 points per centroid trains k-means well; more only costs time. A fixed seed keeps builds reproducible.
        sample_size = min(len(ids), 64 * lists)
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(len(ids), size=sample_size, replace=False))]
        native.cp.seed = seed
        native.train(np.ascontiguousarray(sample, dtype=np.float32))
        index = cls(dim, native, factory, nprobe)
        index.add(ids, vectors)
        return index


def single_threaded_searches() -> None:
    """Make FAISS search with one OpenMP thread on the calling thread (OpenMP settings are per thread).

    For one query at a time this is faster, not slower: on 2 cores, a flat search of 82k vectors took 10 ms on
    one thread against 50-65 ms with FAISS's default team, and 0.07 ms against 10 ms for 3.5k vectors searched
    from a worker thread (the web server's case).
    """
    _faiss().omp_set_num_threads(1)


class LayeredIndex:
    """The committed FAISS file plus papers added or changed since it was written, searched as one.

    Updates then cost time in proportion to the new papers, not to the index; the layers are merged into a new
    file once the recent layer grows past a threshold.
    """

    def __init__(self, base: VectorIndex | None, recent: VectorIndex, superseded: frozenset[int]) -> None:
        self.base = base
        self.recent = recent
        self.superseded = superseded
        self._recent_ids: frozenset[int] | None = None

    @property
    def size(self) -> int:
        """How many papers the layers answer for."""
        base = self.base.size - len(self.superseded) if self.base is not None else 0
        return base + self.recent.size

    def stored(self, ids: list[int]) -> np.ndarray | None:
        """The vectors of these papers as the layers hold them (rows in order), read from memory; None when a layer
        cannot give them (an approximate base file), so the caller reads the database instead."""
        if self._recent_ids is None:
            self._recent_ids = frozenset(self.recent.ids().tolist())
        in_recent = [paper_id in self._recent_ids for paper_id in ids]
        matrix = np.empty((len(ids), self.recent.dim), dtype=np.float32)
        for layer, chosen in ((self.recent, True), (self.base, False)):
            rows = [row for row, recent in enumerate(in_recent) if recent == chosen]
            if not rows:
                continue
            found = layer.stored(np.array([ids[row] for row in rows], dtype=np.int64)) if layer is not None else None
            if found is None:
                return None
            matrix[rows] = found
        return matrix

    def as_stored(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors rounded as this index stores them, so scores computed outside FAISS equal the index's own."""
        if self.base is None or self.base.factory == EXACT_FACTORY or self.base.is_compressed:
            return vectors.astype(np.float16).astype(np.float32)
        return vectors

    def search(
        self, query: np.ndarray, limit: int, exclude: frozenset[int] = frozenset(), exact: bool = False
    ) -> list[tuple[int, float]]:
        """The `limit` nearest ids over both layers, best first; superseded base entries never appear. `exact`: as
        `VectorIndex.search`."""
        hits = self.recent.search(query, limit, exclude)
        if self.base is not None:
            hits += self.base.search(query, limit, exclude | self.superseded, exact=exact)
        hits.sort(key=lambda hit: -hit[1])
        return hits[:limit]
