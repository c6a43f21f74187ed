"""The BM25 word index: postings in a file written at each merge, the recent papers beside it, scored with numpy.

SQLite FTS5's bm25() scores every paper that holds any word of the question, about 0.6 us each: 20 to 55 ms per
question at 83k papers. Here each question word costs a few vector operations over its postings, and the scores
are FTS5's own (same tokenizer, same formula and constants, same collection statistics), so rankings do not
change; tests/test_wordindex.py compares the two on real digests.

Layers mirror the vector index (semsearch/vectors.py): the file holds every paper current at the last merge;
papers added or changed since are read from the database (their counts are stored per paper), and the file's
entries of changed or removed papers are ignored until the next merge rewrites it.
"""

from __future__ import annotations

import json
import mmap
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semsearch.errors import REPAIR_DERIVED, IndexCorruptError
from semsearch.files import atomic_path

# FTS5's bm25() constants (ext/fts5/fts5_aux.c); its IDF is floored at this when a word is in most papers.
K1 = 1.2
B = 0.75
_IDF_FLOOR = 1e-6

_MAGIC = b"semsearch-words\n"
_VERSION = 1
_ALIGN = 16
# Counts past this (a word 65,535 times in one field) are clipped; BM25 saturates long before.
_MAX_COUNT = np.iinfo(np.uint16).max


def encode_counts(term_ids: np.ndarray, title_counts: np.ndarray, abstract_counts: np.ndarray) -> bytes:
    """One paper's words as stored in the database: term ids (uint32), then title and abstract counts (uint16)."""
    return (
        np.asarray(term_ids, dtype="<u4").tobytes()
        + np.minimum(title_counts, _MAX_COUNT).astype("<u2").tobytes()
        + np.minimum(abstract_counts, _MAX_COUNT).astype("<u2").tobytes()
    )


def decode_counts(blob: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (term ids, title counts, abstract counts) that `encode_counts` wrote."""
    if len(blob) % 8:
        raise IndexCorruptError(f"a paper's stored word counts are damaged; {REPAIR_DERIVED}")
    size = len(blob) // 8
    return (
        np.frombuffer(blob, dtype="<u4", count=size),
        np.frombuffer(blob, dtype="<u2", count=size, offset=4 * size),
        np.frombuffer(blob, dtype="<u2", count=size, offset=6 * size),
    )


@dataclass(frozen=True)
class Postings:
    """An inverted index over some papers: for each term id, the papers holding it and how often, per field.

    The postings of term t are rows[offsets[t]:offsets[t + 1]] (rows into `paper_ids` and `lengths`), with
    their title and abstract counts at the same positions.
    """

    offsets: np.ndarray
    rows: np.ndarray
    title: np.ndarray
    abstract: np.ndarray
    paper_ids: np.ndarray
    lengths: np.ndarray

    @property
    def size(self) -> int:
        """How many papers the postings cover."""
        return len(self.paper_ids)

    @classmethod
    def from_counts(cls, papers: Sequence[tuple[int, bytes]]) -> Postings:
        """Postings of papers given as (paper id, `encode_counts` blob)."""
        decoded = [decode_counts(blob) for _, blob in papers]
        paper_ids = np.fromiter((paper_id for paper_id, _ in papers), dtype=np.int64, count=len(papers))
        sizes = np.fromiter((len(terms) for terms, _, _ in decoded), dtype=np.int64, count=len(decoded))
        tokens = (int(title.sum()) + int(abstract.sum()) for _, title, abstract in decoded)
        lengths = np.fromiter(tokens, dtype=np.int64, count=len(decoded))
        if not sizes.sum():
            none = np.empty(0, dtype=np.uint16)
            return _grouped(np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.int32), none, none, paper_ids, lengths)
        terms = np.concatenate([part[0] for part in decoded])
        title = np.concatenate([part[1] for part in decoded])
        abstract = np.concatenate([part[2] for part in decoded])
        del decoded
        rows = np.repeat(np.arange(len(papers), dtype=np.int32), sizes)
        return _grouped(terms, rows, title, abstract, paper_ids, lengths)

    def merged(self, dropped: frozenset[int], papers: Sequence[tuple[int, bytes]]) -> Postings:
        """These postings without the `dropped` paper ids, plus `papers` (id, blob): the next merge's file."""
        kept = self._without(dropped)
        extra = Postings.from_counts(papers)
        terms = max(len(kept.offsets), len(extra.offsets)) - 1
        first, second = _padded(kept.offsets, terms), _padded(extra.offsets, terms)
        first_counts, second_counts = np.diff(first), np.diff(second)
        offsets = np.zeros(terms + 1, dtype=np.int64)
        np.cumsum(first_counts + second_counts, out=offsets[1:])
        # Both inputs are grouped by term, so each posting's place in the merged arrays is known without sorting:
        # a term's kept postings first, then the new ones.
        to_first = np.arange(len(kept.rows)) - np.repeat(first[:-1] - offsets[:-1], first_counts)
        to_second = np.arange(len(extra.rows)) - np.repeat(second[:-1] - offsets[:-1] - first_counts, second_counts)
        total = len(kept.rows) + len(extra.rows)

        def place(a: np.ndarray, b: np.ndarray, dtype) -> np.ndarray:
            out = np.empty(total, dtype=dtype)
            out[to_first] = a
            out[to_second] = b
            return out

        return Postings(
            offsets,
            place(kept.rows, extra.rows + kept.size, np.int32),
            place(kept.title, extra.title, np.uint16),
            place(kept.abstract, extra.abstract, np.uint16),
            np.concatenate([kept.paper_ids, extra.paper_ids]),
            np.concatenate([kept.lengths, extra.lengths]),
        )

    def _without(self, dropped: frozenset[int]) -> Postings:
        keep_paper = ~np.isin(self.paper_ids, np.fromiter(dropped, dtype=np.int64, count=len(dropped)))
        if keep_paper.all():
            return self
        new_row = (np.cumsum(keep_paper) - 1).astype(np.int32)
        keep = keep_paper[self.rows]
        kept_before = np.zeros(len(keep) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        return Postings(
            kept_before[self.offsets],
            new_row[self.rows[keep]],
            self.title[keep],
            self.abstract[keep],
            self.paper_ids[keep_paper],
            self.lengths[keep_paper],
        )

    def postings_of(self, term_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, title counts, abstract counts) of one term; empty for a term these papers never hold."""
        if term_id < 0 or term_id + 1 >= len(self.offsets):
            return self.rows[:0], self.title[:0], self.abstract[:0]
        start, end = int(self.offsets[term_id]), int(self.offsets[term_id + 1])
        return self.rows[start:end], self.title[start:end], self.abstract[start:end]

    # -- the file -------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the postings to `path` atomically: a temporary file, fsync, then rename."""
        arrays = {
            "offsets": self.offsets.astype("<i8"),
            "rows": self.rows.astype("<i4"),
            "title": self.title.astype("<u2"),
            "abstract": self.abstract.astype("<u2"),
            "paper_ids": self.paper_ids.astype("<i8"),
            "lengths": self.lengths.astype("<i8"),
        }
        layout, position, checksum = [], 0, 0
        for name, array in arrays.items():
            layout.append([name, array.dtype.str, len(array), position])
            checksum = zlib.crc32(array.tobytes(), checksum)
            position += _aligned(array.nbytes)
        header = json.dumps({"version": _VERSION, "arrays": layout, "crc32": checksum}).encode()
        start = _aligned(len(_MAGIC) + 8 + len(header))
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            handle.write(_MAGIC + len(header).to_bytes(8, "little") + header)
            handle.write(b"\0" * (start - handle.tell()))
            for array in arrays.values():
                handle.write(array.tobytes())
                handle.write(b"\0" * (_aligned(array.nbytes) - array.nbytes))

    @classmethod
    def load(cls, path: Path, verify: bool = False) -> Postings:
        """Map a file `save` wrote (pages are read as questions touch them); `verify` also checks its checksum."""
        try:
            with open(path, "rb") as handle:
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
            raise IndexCorruptError(f"the word index file {path} cannot be read") from exc
        try:
            if data[: len(_MAGIC)] != _MAGIC:
                raise ValueError("not a word index file")
            size = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "little")
            header = json.loads(bytes(data[len(_MAGIC) + 8 : len(_MAGIC) + 8 + size]))
            if header.get("version") != _VERSION:
                raise ValueError(f"version {header.get('version')}")
            start = _aligned(len(_MAGIC) + 8 + size)
            arrays, checksum = {}, 0
            for name, dtype, length, position in header["arrays"]:
                array = np.frombuffer(data, dtype=np.dtype(dtype), count=length, offset=start + position)
                if verify:
                    checksum = zlib.crc32(array.tobytes(), checksum)
                arrays[name] = array
            postings = cls(**arrays)
            postings._check_shape()
            if verify and checksum != header["crc32"]:
                raise ValueError("checksum mismatch")
            return postings
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(f"the word index file {path} is damaged ({exc})") from exc

    def _check_shape(self) -> None:
        if not (len(self.rows) == len(self.title) == len(self.abstract)) or len(self.paper_ids) != len(self.lengths):
            raise ValueError("array lengths disagree")
        if len(self.offsets) == 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.rows):
            raise ValueError("postings offsets do not cover the postings")


def _aligned(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN


def _padded(offsets: np.ndarray, terms: int) -> np.ndarray:
    """Offsets over `terms` term ids: terms past the end have no postings."""
    if len(offsets) - 1 >= terms:
        return offsets
    return np.concatenate([offsets, np.full(terms + 1 - len(offsets), offsets[-1], dtype=offsets.dtype)])


def _grouped(
    terms: np.ndarray,
    rows: np.ndarray,
    title: np.ndarray,
    abstract: np.ndarray,
    paper_ids: np.ndarray,
    lengths: np.ndarray,
) -> Postings:
    """Postings from one entry per (term, paper), grouped by term; within a term, papers keep their order."""
    order = np.argsort(terms, kind="stable")
    sorted_terms = terms[order]
    last = int(sorted_terms[-1]) if len(terms) else 0
    offsets = np.searchsorted(sorted_terms, np.arange(last + 2), side="left").astype(np.int64)
    return Postings(offsets, rows[order].astype(np.int32), title[order], abstract[order], paper_ids, lengths)


class WordIndex:
    """The word index file plus the papers added or changed since it was written, scored as one collection."""

    def __init__(self, base: Postings | None, recent: Postings, superseded: frozenset[int]) -> None:
        self._layers: list[tuple[Postings, np.ndarray | None]] = [(recent, None)]
        if base is not None:
            ignored = np.fromiter(superseded, dtype=np.int64, count=len(superseded))
            dead = np.isin(base.paper_ids, ignored) if len(ignored) else None
            self._layers.append((base, dead))
        self.size = 0
        tokens = 0
        for postings, dead in self._layers:
            alive = postings.lengths if dead is None else postings.lengths[~dead]
            self.size += len(alive)
            tokens += int(alive.sum())
        average = tokens / self.size if self.size else 1.0
        # The length part of BM25's denominator, per paper; it depends only on the collection.
        self._norms = [K1 * (1 - B + B * postings.lengths / average) for postings, _ in self._layers]

    def search(
        self,
        term_ids: Sequence[int | None],
        limit: int,
        weights: tuple[float, float] = (1.0, 1.0),
        exclude: frozenset[int] = frozenset(),
        allowed: frozenset[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Papers holding any of the terms as (paper id, BM25), best first, ties by id: FTS5's ranking and scores.

        `term_ids` holds one entry per question word (a word repeated counts twice, as in FTS5); None for a
        word no paper holds.
        """
        if limit <= 0:
            return []
        scored = self.scores(term_ids, weights)
        return best(scored.ids, scored.scores, limit, exclude, allowed)

    def scores(self, term_ids: Sequence[int | None], weights: tuple[float, float] = (1.0, 1.0)) -> WordScores:
        """Every paper holding any of the terms with its BM25 (unordered), and the BM25 no paper can reach for them:
        each term some paper holds at its IDF times (K1 + 1), the limit of its saturating term-frequency part."""
        if not self.size:
            return WordScores(np.empty(0, np.int64), np.empty(0, np.float64), 0.0)
        title_weight, abstract_weight = weights
        # One pass for each term's postings and document frequency, a second for the scores: IDF needs the count
        # over every layer first.
        found: list[list[tuple[np.ndarray, np.ndarray]]] = []
        frequencies: list[int] = []
        for term_id in term_ids:
            per_layer, hits = [], 0
            for postings, dead in self._layers:
                rows, title, abstract = postings.postings_of(-1 if term_id is None else term_id)
                if dead is not None and len(rows):
                    alive = ~dead[rows]
                    rows, title, abstract = rows[alive], title[alive], abstract[alive]
                hits += len(rows)
                per_layer.append((rows, title_weight * title.astype(np.float64) + abstract_weight * abstract))
            found.append(per_layer)
            frequencies.append(hits)
        idfs = [_idf(self.size, hits) for hits in frequencies]
        ids, scores = [], []
        for layer, (postings, _dead) in enumerate(self._layers):
            score = np.zeros(postings.size, dtype=np.float64)
            matched = np.zeros(postings.size, dtype=bool)
            norm = self._norms[layer]
            for per_layer, idf in zip(found, idfs):
                rows, frequency = per_layer[layer]
                if not len(rows):
                    continue
                score[rows] += idf * ((frequency * (K1 + 1.0)) / (frequency + norm[rows]))
                matched[rows] = True
            where = np.flatnonzero(matched)
            ids.append(postings.paper_ids[where])
            scores.append(score[where])
        bound = sum(idf * (K1 + 1.0) for idf, hits in zip(idfs, frequencies) if hits)
        return WordScores(np.concatenate(ids), np.concatenate(scores), float(bound))


def _idf(size: int, hits: int) -> float:
    """FTS5's IDF of a term `hits` of `size` papers hold, floored when most papers hold it."""
    idf = float(np.log((size - hits + 0.5) / (hits + 0.5)))
    return idf if idf > 0 else _IDF_FLOOR


@dataclass(frozen=True)
class WordScores:
    """The BM25 of every paper holding any of a question's words, and the score no paper can reach for them."""

    ids: np.ndarray
    scores: np.ndarray
    bound: float

    def of(self, paper_ids: Sequence[int]) -> list[float]:
        """The BM25 of each of these papers (0 for a paper holding none of the words)."""
        wanted = np.fromiter(paper_ids, dtype=np.int64, count=len(paper_ids))
        hit = np.isin(self.ids, wanted)
        found = dict(zip(self.ids[hit].tolist(), self.scores[hit].tolist()))
        return [found.get(int(paper_id), 0.0) for paper_id in paper_ids]


def best(
    ids: np.ndarray, scores: np.ndarray, limit: int, exclude: frozenset[int], allowed: frozenset[int] | None
) -> list[tuple[int, float]]:
    """The `limit` best (id, score) pairs, highest score first and ties by id, among the ids the filters let in."""
    keep = np.ones(len(ids), dtype=bool)
    if exclude:
        keep &= ~np.isin(ids, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
    if allowed is not None:
        keep &= np.isin(ids, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))
    ids, scores = ids[keep], scores[keep]
    if len(ids) > limit:
        # Everything tied with the limit-th score stays a candidate, so ties break by id as in FTS5.
        threshold = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        candidates = scores >= threshold
        ids, scores = ids[candidates], scores[candidates]
    order = np.lexsort((ids, -scores))[:limit]
    return [(int(ids[i]), float(scores[i])) for i in order]
