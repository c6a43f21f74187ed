"""The library API: build, update and query an index. Owns the commit protocol.

An index is a folder holding `papers.sqlite3` (papers, their vectors, metadata: the source of truth) and one
FAISS file derived from it. An update embeds first, then in one SQLite transaction stores the papers, writes the
new FAISS file under a new name and points the metadata at it. A crash before that commit leaves the previous
database and FAISS file untouched; vectors embedded before the crash are kept aside so the rerun reuses them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from semsearch.search import fusion, lexical
from semsearch.ingest.digest import Digest, read_digests
from semsearch.model.embed import Embedder
from semsearch.errors import (
    IndexCorruptError,
    IndexMissingError,
    ModelMismatchError,
    PaperNotFoundError,
    SemsearchError,
)
from semsearch.search.explain import Why, nearest_sentences, sentences
from semsearch.search.filters import PaperFilter, allowed_ids, search_allowed
from semsearch.search.fusion import DEFAULT_MODE, MODES, RELATED_MODE, SCORE_KINDS
from semsearch.keys import normalize_arxiv_id, normalize_title, paper_key
from semsearch.storage.locking import write_lock
from semsearch.storage.store import DATABASE_NAME, FORMAT_VERSION, Store, StoredPaper, passage_bm25
from semsearch.storage.terms import TermCounter
from semsearch.storage.vectors import DEFAULT_NPROBE, FLAT_FACTORY, LayeredIndex, VectorIndex
from semsearch.storage.wordindex import Postings, WordIndex, encode_counts
from semsearch.search.wordvectors import bundled_word_vectors

log = logging.getLogger("semsearch")

DEFAULT_INDEX = Path("indexes") / "default"
VECTOR_FILE_PATTERN = re.compile(r"^vectors-(\d+)\.faiss(\.tmp)?$")
WORD_FILE_PATTERN = re.compile(r"^words-(\d+)\.bin(\.tmp)?$")
# Papers embedded between two checkpoints of an interrupted run; the rest is reused on the rerun.
EMBED_CHECKPOINT = 1024
# Papers added or changed since the FAISS file was written are searched from the database; past this many,
# an update writes a new file (a few thousand vectors read from SQLite cost a cold query a few milliseconds).
MERGE_THRESHOLD = 2048
# From this many papers on, the FAISS file is an approximate IVF index. Exact search costs ~0.06 us per paper on
# one core (4.65 ms p50 at 82,779 arXiv papers, scripts/bench.py --only switch), so up to here a dense question
# stays within 10 ms with its embedding; past it IVF answers in ~2 ms at recall@10 >= 0.95.
APPROXIMATE_FROM = 100_000
# An IVF index is extended in place until the collection is this many times the size it was trained on; then its
# lists hold ~4x the vectors they were sized for (each search ~4x slower) and the next merge trains it anew.
# A day's digest never triggers this on its own: merges happen every MERGE_THRESHOLD papers.
RETRAIN_GROWTH = 4.0

Progress = Callable[[int], None]


def document_text(title: str, abstract: str) -> str:
    """The text embedded for a paper: its title, then its abstract."""
    title = title.strip()
    separator = " " if title.endswith((".", "?", "!", ":")) else ". "
    return f"{title}{separator}{abstract.strip()}"


def content_hash(title: str, abstract: str) -> str:
    """Identifies a paper's embedded text, so unchanged papers are never embedded twice."""
    return hashlib.sha256(document_text(title, abstract).encode("utf-8")).hexdigest()


# -- results ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateReport:
    """What an update or rebuild did."""

    added: int
    updated: int
    already_present: int
    papers: int
    digests: int
    embedded: int
    path: str
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return {**asdict(self), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Hit:
    """One search result: a paper and its score, whose kind `score_kind` names (cosine, bm25 or fused)."""

    rank: int
    score: float
    paper: StoredPaper
    score_kind: str = "cosine"
    why: Why | None = None

    def to_dict(self, with_abstract: bool = True) -> dict:
        """The `--json` shape of a hit."""
        out = {
            "rank": self.rank,
            "score": round(self.score, 6),
            "score_kind": self.score_kind,
            "key": self.paper.key,
            "title": self.paper.title,
            "date": self.paper.date,
            "dates": list(self.paper.dates),
            "arxiv_id": self.paper.arxiv_id,
        }
        if with_abstract:
            out["abstract"] = self.paper.abstract
        if self.why is not None:
            out["why"] = self.why.to_dict()
        return out


@dataclass(frozen=True)
class IndexInfo:
    """A summary of an index on disk."""

    path: str
    model: str
    dim: int
    papers: int
    digests: int
    first_date: str | None
    last_date: str | None
    size_bytes: int
    format_version: int
    vector_file: str | None
    unindexed: int
    index_factory: str | None
    updated_at: str | None

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return asdict(self)


# -- planning an update -----------------------------------------------------------------------------------------


@dataclass
class _Incoming:
    """One paper of this command's digests, merged over every file that featured it."""

    title: str
    abstract: str
    arxiv_id: str | None
    title_norm: str
    appearances: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.abstract)


def _merge_digests(digests: Sequence[Digest]) -> list[_Incoming]:
    """One record per distinct paper; a later digest's text wins (it may carry a revised abstract)."""
    merged: list[_Incoming] = []
    by_arxiv: dict[str, _Incoming] = {}
    by_title: dict[str, _Incoming] = {}
    for digest in digests:
        source = str(Path(digest.source).resolve())
        for paper in digest.papers:
            title_norm = normalize_title(paper.title)
            record = by_arxiv.get(paper.arxiv_id) if paper.arxiv_id else None
            if record is None:
                candidate = by_title.get(title_norm)
                if candidate is not None and (
                    paper.arxiv_id is None or candidate.arxiv_id in (None, paper.arxiv_id)
                ):
                    record = candidate
            if record is None:
                record = _Incoming(paper.title, paper.abstract, paper.arxiv_id, title_norm)
                merged.append(record)
            else:
                record.title, record.abstract = paper.title, paper.abstract
                record.arxiv_id = record.arxiv_id or paper.arxiv_id
            if record.arxiv_id:
                by_arxiv[record.arxiv_id] = record
            by_title.setdefault(title_norm, record)
            record.appearances.append((source, paper.date))
    return merged


@dataclass
class _Plan:
    new: list[_Incoming] = field(default_factory=list)
    changed: list[tuple[int, _Incoming]] = field(default_factory=list)
    unchanged: list[tuple[int, _Incoming]] = field(default_factory=list)
    learned_arxiv_ids: list[tuple[int, str]] = field(default_factory=list)


def _plan(store: Store, incoming: Sequence[_Incoming]) -> _Plan:
    plan = _Plan()
    for record in incoming:
        match = store.find_match(record.arxiv_id, record.title_norm)
        if match is None:
            plan.new.append(record)
            continue
        paper_id, stored_hash, stored_arxiv = match
        if record.arxiv_id and not stored_arxiv:
            plan.learned_arxiv_ids.append((paper_id, record.arxiv_id))
        if stored_hash == record.content_hash:
            plan.unchanged.append((paper_id, record))
        else:
            plan.changed.append((paper_id, record))
    return plan


# -- the write path ---------------------------------------------------------------------------------------------


def update(
    folder: Path,
    inputs: Sequence[Path],
    embedder: Embedder,
    default_date: dt.date | None = None,
    progress: Callable[[int], Progress] | None = None,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    input_format: str | None = None,
) -> UpdateReport:
    """Add the papers of these digests to the index at `folder`, embedding only papers it does not hold yet.

    `progress(total)` is called once with the number of papers to embed and returns a per-step callback.
    """
    # Every input is parsed before anything is written.
    digests = read_digests(list(inputs), default_date=default_date, format=input_format)
    warnings = _log_warnings(digests)
    incoming = _merge_digests(digests)
    with write_lock(folder, wait=wait, on_wait=on_wait):
        store = Store.open(folder, create=True)
        try:
            _claim_model(store, embedder)
            plan = _plan(store, incoming)
            to_embed = {r.content_hash: r for r in plan.new} | {r.content_hash: r for _, r in plan.changed}
            vectors, embedded = _embed_with_checkpoints(
                store,
                embedder,
                {h: document_text(r.title, r.abstract) for h, r in to_embed.items()},
                progress,
            )
            with store.transaction():
                store.ensure_word_tables()
                _apply_plan(store, plan, vectors)
                if _needs_merge(store, folder):
                    _merge_vector_file(store, folder, embedder)
                store.set_meta("updated_at", _now())
                store.clear_pending_vectors()
            _tidy(store, folder)
            return UpdateReport(
                added=len(plan.new),
                updated=len(plan.changed),
                already_present=len(plan.unchanged),
                papers=store.paper_count(),
                digests=len(digests),
                embedded=embedded,
                path=str(folder),
                warnings=warnings,
            )
        finally:
            store.close()


def rebuild(
    folder: Path,
    inputs: Sequence[Path],
    embedder: Embedder,
    default_date: dt.date | None = None,
    progress: Callable[[int], Progress] | None = None,
    reuse_vectors: bool = False,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
    input_format: str | None = None,
) -> UpdateReport:
    """Re-embed every stored paper (and any papers of `inputs`) with `embedder`, and swap the new index in at once.

    With `reuse_vectors`, the stored vectors are kept and only the FAISS file is rebuilt from them (a repair).
    """
    digests = read_digests(list(inputs), default_date=default_date, format=input_format) if inputs else []
    warnings = _log_warnings(digests)
    incoming = _merge_digests(digests)
    with write_lock(folder, wait=wait, on_wait=on_wait):
        store = Store.open(folder, create=bool(inputs))
        try:
            recorded_model = store.get_meta("model")
            if reuse_vectors and recorded_model not in (None, embedder.model_id):
                raise ModelMismatchError(
                    f"the stored vectors come from {recorded_model}, not {embedder.model_id}; "
                    "run `semsearch rebuild` without --reuse-vectors to re-embed them"
                )
            plan = _plan(store, incoming)
            texts: dict[str, str] = {}
            if not reuse_vectors:
                for _, title, abstract in store.all_texts():
                    texts[content_hash(title, abstract)] = document_text(title, abstract)
            for record in [*plan.new, *(r for _, r in plan.changed)]:
                texts[record.content_hash] = document_text(record.title, record.abstract)
            vectors, embedded = _embed_with_checkpoints(store, embedder, texts, progress)
            with store.transaction():
                store.ensure_word_tables()
                _apply_plan(store, plan, vectors)
                if not reuse_vectors:
                    rows = store.all_texts()
                    store.set_vectors(
                        [paper_id for paper_id, _, _ in rows],
                        np.stack([vectors[content_hash(t, a)] for _, t, a in rows])
                        if rows
                        else np.empty((0, embedder.dim), np.float32),
                    )
                store.set_meta("model", embedder.model_id)
                store.set_meta("dim", str(embedder.dim))
                _merge_vector_file(store, folder, embedder, from_scratch=True)
                store.set_meta("updated_at", _now())
                store.clear_pending_vectors()
            _tidy(store, folder)
            return UpdateReport(
                added=len(plan.new),
                updated=len(plan.changed),
                already_present=len(plan.unchanged),
                papers=store.paper_count(),
                digests=len(digests),
                embedded=embedded,
                path=str(folder),
                warnings=warnings,
            )
        finally:
            store.close()


def _log_warnings(digests: Sequence[Digest]) -> tuple[str, ...]:
    """Pass the readers' warnings (skipped records or files) to the log, and return them for the report."""
    warnings = tuple(warning for digest in digests for warning in digest.warnings)
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def _claim_model(store: Store, embedder: Embedder) -> None:
    """Record the model of a new index, or refuse to mix vectors of two models in one index."""
    recorded = store.get_meta("model")
    if recorded is None:
        with store.transaction():
            store.set_meta("model", embedder.model_id)
            store.set_meta("dim", str(embedder.dim))
            store.set_meta("created_at", _now())
        return
    _check_model(store, embedder)


def _check_model(store: Store, embedder: Embedder) -> None:
    recorded = store.get_meta("model")
    recorded_dim = store.get_meta("dim")
    if recorded != embedder.model_id or recorded_dim != str(embedder.dim):
        raise ModelMismatchError(
            f"the index at {store.path.parent} was built with {recorded} ({recorded_dim}-d), but semsearch now "
            f"embeds with {embedder.model_id} ({embedder.dim}-d); run `semsearch rebuild` to re-embed it"
        )


def _embed_with_checkpoints(
    store: Store, embedder: Embedder, texts: dict[str, str], progress: Callable[[int], Progress] | None
) -> tuple[dict[str, np.ndarray], int]:
    """Vectors for every text and how many were embedded now; reuses those an interrupted run kept."""
    vectors = store.pending_vectors(texts.keys(), embedder.model_id, embedder.dim)
    missing = [h for h in texts if h not in vectors]
    step = progress(len(missing)) if (progress is not None and missing) else None
    for start in range(0, len(missing), EMBED_CHECKPOINT):
        chunk = missing[start : start + EMBED_CHECKPOINT]
        chunk_vectors = embedder.embed_documents([texts[h] for h in chunk], progress=step)
        if chunk_vectors.shape != (len(chunk), embedder.dim):
            raise SemsearchError(f"the embedding model returned vectors of shape {chunk_vectors.shape}")
        with store.transaction():
            store.save_pending_vectors(embedder.model_id, zip(chunk, chunk_vectors))
        vectors.update(zip(chunk, chunk_vectors))
    return vectors, len(missing)


def _apply_plan(store: Store, plan: _Plan, vectors: dict[str, np.ndarray]) -> None:
    """Write the plan's papers, vectors, words and appearances; new vectors wait in the `unindexed` list."""
    written: list[tuple[int, str, str]] = []
    for paper_id, arxiv_id in plan.learned_arxiv_ids:
        if store.id_by_arxiv_id(arxiv_id) is None:
            store.set_arxiv_id(paper_id, arxiv_id)
    for record in plan.new:
        key = paper_key(record.title, record.arxiv_id)
        suffix = 2
        while store.key_taken(key):
            key = f"{paper_key(record.title, record.arxiv_id)}-{suffix}"
            suffix += 1
        paper_id = store.insert_paper(
            key,
            record.title_norm,
            record.title,
            record.abstract,
            record.arxiv_id,
            record.content_hash,
            vectors[record.content_hash],
        )
        store.mark_unindexed(paper_id)
        written.append((paper_id, record.title, record.abstract))
        for source, date in record.appearances:
            store.add_appearance(paper_id, source, date)
    for paper_id, record in plan.changed:
        vector = vectors[record.content_hash]
        store.update_paper_content(paper_id, record.title, record.abstract, record.content_hash, vector)
        store.mark_unindexed(paper_id, superseded=True)
        written.append((paper_id, record.title, record.abstract))
    store.set_paper_terms(_word_counts(store, written))
    for paper_id, record in [*plan.changed, *plan.unchanged]:
        for source, date in record.appearances:
            store.add_appearance(paper_id, source, date)


def _needs_merge(store: Store, folder: Path) -> bool:
    """Whether to write new FAISS and word files now: the recent layer grew too big, or one file is missing."""
    if store.unindexed_count() >= MERGE_THRESHOLD:
        return True
    names = (store.get_meta("vector_file"), store.get_meta("word_file"))
    return any(name is None or not (folder / name).is_file() for name in names)


def _merge_vector_file(store: Store, folder: Path, embedder: Embedder, from_scratch: bool = False) -> None:
    """Write a FAISS file holding every current vector and point the metadata at it (in the caller's transaction).

    Exact indexes are rebuilt from the stored vectors; an approximate one is extended in place (no retraining),
    and one is trained when the collection first reaches APPROXIMATE_FROM papers, has grown RETRAIN_GROWTH times
    past the size it was trained on, or on a rebuild. The word index file of the same generation is written with it.
    """
    dim = embedder.dim
    paper_count = store.paper_count()
    base = None if from_scratch else _committed_base(store, folder, dim)
    trained_on = int(store.get_meta("ivf_trained_on") or 0)
    if base is not None and base.is_approximate and trained_on and paper_count >= RETRAIN_GROWTH * trained_on:
        base = None
    if base is not None and base.is_approximate:
        base.remove(np.fromiter(store.superseded_ids(), dtype=np.int64))
        base.add(*store.unindexed_vectors(dim))
        if base.size != paper_count:  # the file and the database disagree: start over rather than guess
            base = None
    if base is None or not base.is_approximate:
        ids, matrix = store.all_vectors(dim)
        if paper_count >= APPROXIMATE_FROM:
            base = VectorIndex.train_ivf(dim, ids, matrix)
            store.set_meta("ivf_trained_on", str(paper_count))
        else:
            base = VectorIndex.build(dim, ids, matrix)
    generation = int(store.get_meta("generation") or 0) + 1
    name = f"vectors-{generation:06d}.faiss"
    base.save(folder / name)
    _merge_word_file(store, folder, generation, from_scratch)
    store.clear_unindexed()
    store.set_meta("generation", str(generation))
    store.set_meta("vector_file", name)
    store.set_meta("vector_count", str(base.size))
    store.set_meta("index_factory", base.factory)
    store.set_meta("nprobe", str(base.nprobe))


def _merge_word_file(store: Store, folder: Path, generation: int, from_scratch: bool) -> None:
    """Write the word index file for every current paper and point the metadata at it (in the caller's transaction).

    The committed file is extended: its changed and removed papers dropped, the recent papers' stored counts
    added, without tokenizing anything again. Without a usable committed file every paper is counted anew.
    """
    store.ensure_word_tables()
    base = None if from_scratch else _committed_words(store, folder)
    postings = None
    if base is not None:
        postings = base.merged(store.superseded_ids() | store.unindexed_ids(), store.paper_terms())
    if postings is None or postings.size != store.paper_count():  # the file and the database disagree: start over
        stored = store.paper_terms()
        if len(stored) == store.unindexed_count():  # the recent papers' counts are all there: count only the rest
            postings = Postings.from_counts(stored + _word_counts(store, store.indexed_texts()))
        else:
            postings = Postings.from_counts(_word_counts(store, store.all_texts()))
    name = f"words-{generation:06d}.bin"
    postings.save(folder / name)
    store.set_meta("word_file", name)
    store.set_meta("word_count", str(postings.size))
    # The file now holds every paper's words; the database keeps only those of papers added after it.
    store.clear_paper_terms()


def _committed_words(store: Store, folder: Path) -> Postings | None:
    """The committed word index file, or None when there is none or it is unreadable or out of step."""
    name = store.get_meta("word_file")
    if name is None:
        return None
    try:
        postings = Postings.load(folder / name)
    except IndexCorruptError as exc:
        log.warning("%s; counting every paper's words again", exc)
        return None
    if str(postings.size) != store.get_meta("word_count"):
        log.warning("the word index file %s is out of step with the database; counting every paper's words again", name)
        return None
    return postings


def _word_counts(store: Store, papers: Sequence[tuple[int, str, str]]) -> list[tuple[int, bytes]]:
    """(id, stored word counts) of these (id, title, abstract) papers; new terms are numbered in the database."""
    found: list[tuple[int, bytes]] = []
    if not papers:
        return found
    with TermCounter() as counter:
        for start in range(0, len(papers), 4096):
            batch = papers[start : start + 4096]
            counts = counter.count([(title, abstract) for _, title, abstract in batch])
            ids = store.term_ids((term for pair in counts for side in pair for term in side), create=True)
            for (paper_id, _, _), (in_title, in_abstract) in zip(batch, counts):
                terms = list(in_title.keys() | in_abstract.keys())
                found.append(
                    (
                        paper_id,
                        encode_counts(
                            np.array([ids[term] for term in terms], dtype=np.int64),
                            np.array([in_title[term] for term in terms], dtype=np.int64),
                            np.array([in_abstract[term] for term in terms], dtype=np.int64),
                        ),
                    )
                )
    return found


def _committed_base(store: Store, folder: Path, dim: int) -> VectorIndex | None:
    """The committed FAISS file, or None when it is missing, unreadable or out of step with the metadata."""
    name = store.get_meta("vector_file")
    if name is None:
        return None
    try:
        base = VectorIndex.load(
            folder / name,
            dim,
            store.get_meta("index_factory") or FLAT_FACTORY,
            int(store.get_meta("nprobe") or DEFAULT_NPROBE),
        )
    except (IndexCorruptError, OSError) as exc:
        log.warning("%s; rebuilding it from the stored vectors", exc)
        return None
    if str(base.size) != store.get_meta("vector_count"):
        log.warning("the vector file %s is out of step with the database; rebuilding it", name)
        return None
    return base


def _tidy(store: Store, folder: Path) -> None:
    """After a commit: delete FAISS and word files no committed state points at; return freed pages to the disk."""
    current = {store.get_meta("vector_file"), store.get_meta("word_file")}
    for path in folder.iterdir():
        if (VECTOR_FILE_PATTERN.match(path.name) or WORD_FILE_PATTERN.match(path.name)) and path.name not in current:
            path.unlink(missing_ok=True)
    store.release_free_pages()


@dataclass(frozen=True)
class RemoveReport:
    """What `remove` did."""

    removed: list[str]
    papers: int
    path: str

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return asdict(self)


def remove(
    folder: Path, references: Sequence[str], wait: bool = True, on_wait: Callable[[], None] | None = None
) -> RemoveReport:
    """Forget papers named by key, arXiv id or title; all of them or, if one is unknown, none."""
    with write_lock(folder, wait=wait, on_wait=on_wait):
        store = Store.open(folder)
        try:
            ids = list(dict.fromkeys(resolve_paper_id(store, reference) for reference in references))
            keys = [paper.key for paper in store.papers(ids).values()]
            with store.transaction():
                store.delete_papers(ids)
                if store.get_meta("model") is not None and len(store.superseded_ids()) >= MERGE_THRESHOLD:
                    _merge_vector_file(store, folder, _RecordedModel(store))
                store.set_meta("updated_at", _now())
            _tidy(store, folder)
            return RemoveReport(removed=keys, papers=store.paper_count(), path=str(folder))
        finally:
            store.close()


class _RecordedModel:
    """The model identity an index records, for writes that embed nothing."""

    def __init__(self, store: Store) -> None:
        self.model_id = store.get_meta("model") or ""
        self.dim = int(store.get_meta("dim") or 0)


@dataclass(frozen=True)
class CheckReport:
    """What `check` found: problems (each with its repair) and notes that need no action."""

    path: str
    papers: int
    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        """Whether the index is sound."""
        return not self.problems

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return {**asdict(self), "ok": self.ok}


def check(folder: Path) -> CheckReport:
    """Inspect an index without changing it: database structure, vector file, stored vectors."""
    store = Store.open(folder)
    problems: list[str] = []
    notes: list[str] = []
    try:
        problems += [f"database: {line}; move the folder aside and rebuild from your digests" for line in store.quick_check()]
        model, dim = store.get_meta("model"), int(store.get_meta("dim") or 0)
        papers = store.paper_count()
        if model is None:
            notes.append("the index holds no papers yet")
            return CheckReport(str(folder), papers, problems, notes)
        try:
            ids, matrix = store.all_vectors(dim)
            norms = np.linalg.norm(matrix, axis=1) if len(ids) else np.ones(0)
            bad = int(np.count_nonzero(~np.isfinite(norms) | (np.abs(norms - 1.0) > 1e-3)))
            if bad:
                problems.append(f"{bad} stored vectors are not unit length; run `semsearch rebuild` to re-embed")
        except IndexCorruptError as exc:
            problems.append(f"{exc}")
        name = store.get_meta("vector_file")
        if name is None:
            problems.append("no vector file is recorded; run `semsearch rebuild --reuse-vectors`")
        else:
            try:
                if not (folder / name).is_file():
                    raise FileNotFoundError(name)
                base = VectorIndex.load(
                    folder / name,
                    dim,
                    store.get_meta("index_factory") or FLAT_FACTORY,
                    int(store.get_meta("nprobe") or DEFAULT_NPROBE),
                )
                missing, foreign = _coverage(store, base.ids())
                if str(base.size) != store.get_meta("vector_count") or missing or foreign:
                    problems.append(
                        f"the vector file {name} is out of step with the database ({len(missing)} papers missing, "
                        f"{len(foreign)} unknown ids); run `semsearch rebuild --reuse-vectors`"
                    )
            except FileNotFoundError:
                problems.append(f"the vector file {name} is missing; run `semsearch rebuild --reuse-vectors`")
            except IndexCorruptError as exc:
                problems.append(f"{exc}; run `semsearch rebuild --reuse-vectors`")
        problems += _check_word_file(store, folder)
        if store.unindexed_count():
            notes.append(f"{store.unindexed_count()} recent papers are searched beside the vector file")
        if store.pending_count():
            notes.append(f"{store.pending_count()} vectors from an interrupted update are kept for the next one")
        return CheckReport(str(folder), papers, problems, notes)
    finally:
        store.close()


def _coverage(store: Store, held_ids: np.ndarray) -> tuple[set[int], set[int]]:
    """For a file derived at the last merge: the papers it should hold but lacks, and the ids it should not hold.

    It should hold every paper but the recent ones, and may still hold papers superseded since it was written.
    """
    held = set(held_ids.tolist())
    paper_ids = store.paper_ids()
    return paper_ids - store.unindexed_ids() - held, held - paper_ids - store.superseded_ids()


def _check_word_file(store: Store, folder: Path) -> list[str]:
    """Problems of the word index file: unreadable, damaged (checksum) or out of step with the database."""
    name = store.get_meta("word_file")
    if name is None:
        return []  # an index made before word index files: FTS5 answers word searches until the next update
    repair = "run `semsearch rebuild --reuse-vectors`"
    try:
        postings = Postings.load(folder / name, verify=True)
    except IndexCorruptError as exc:
        return [f"{exc}; {repair}"]
    missing, foreign = _coverage(store, postings.paper_ids)
    stored = len(store.paper_terms()) if store.has_word_tables() else 0
    if str(postings.size) != store.get_meta("word_count") or missing or foreign or stored != store.unindexed_count():
        return [
            f"the word index file {name} is out of step with the database ({len(missing)} papers missing, "
            f"{len(foreign)} unknown ids, {store.unindexed_count() - stored} recent papers without word counts); "
            + repair
        ]
    return []


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


# -- the read path ----------------------------------------------------------------------------------------------


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise SemsearchError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")


class SearchIndex:
    """An open index for questions, related papers and lookups."""

    def __init__(self, folder: Path, embedder: Embedder | None = None) -> None:
        self.folder = folder
        self._embedder = embedder
        self._store = Store.open(folder)
        self.model = self._store.get_meta("model") or ""
        dim = self._store.get_meta("dim")
        if dim is None or not self.model:
            raise IndexMissingError(
                f"the index at {folder} holds no papers yet; add some with `semsearch update DIGEST_OR_FOLDER`"
            )
        self.dim = int(dim)
        self._vectors: LayeredIndex | None = None
        self._words: WordIndex | bool | None = None
        self._term_counter: TermCounter | None = None

    def close(self) -> None:
        """Release the database connection."""
        self._store.close()
        if self._term_counter is not None:
            self._term_counter.close()

    def __enter__(self) -> "SearchIndex":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- searching -----------------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        limit: int = 10,
        *,
        filters: PaperFilter | None = None,
        mode: str = DEFAULT_MODE,
        why: bool = False,
    ) -> list[Hit]:
        """The papers nearest to a natural-language question (among those `filters` allows), ranked by `mode`.

        With `why`, each hit carries its abstract sentence nearest to the question and the words it matched.
        """
        question = question.strip()
        if not question:
            raise SemsearchError('the question is empty; ask something, e.g. semsearch ask "parallel corpora"')
        _check_mode(mode)
        allowed = self._allowed(filters)
        vector = self._require_embedder().embed_query(question) if mode != "lexical" else None
        hits = self._hits_of(self._rank(mode, question, vector, limit, allowed=allowed), SCORE_KINDS[mode])
        return self._explain(question, hits) if why else hits

    def search(self, question: str, limit: int, mode: str = DEFAULT_MODE) -> list[tuple[int, float]]:
        """The ranking `ask` gives, as (paper id, score) pairs, without reading the papers (for evaluation)."""
        _check_mode(mode)
        question = question.strip()
        vector = self._require_embedder().embed_query(question) if mode != "lexical" else None
        return self._rank(mode, question, vector, limit)

    def related(
        self, reference: str, limit: int = 10, *, filters: PaperFilter | None = None, mode: str = RELATED_MODE
    ) -> tuple[StoredPaper, list[Hit]]:
        """The papers nearest to a stored paper (named by key, arXiv id or title), never the paper itself."""
        _check_mode(mode)
        paper = self.resolve(reference)
        vector = self._store.vector_of(paper.id, self.dim)
        ranking = self._rank(
            mode,
            document_text(paper.title, paper.abstract),
            vector,
            limit,
            exclude=frozenset({paper.id}),
            allowed=self._allowed(filters),
        )
        return paper, self._hits_of(ranking, SCORE_KINDS[mode])

    def related_to_text(
        self, text: str, limit: int = 10, *, filters: PaperFilter | None = None, mode: str = RELATED_MODE
    ) -> list[Hit]:
        """The papers nearest to a pasted abstract (a stored paper with exactly that abstract is left out)."""
        _check_mode(mode)
        text = " ".join(text.split())
        if not text:
            raise SemsearchError("no abstract given; pipe one in, e.g. `pbpaste | semsearch related -`")
        allowed = self._allowed(filters)
        vector = self._require_embedder().embed_documents([text])[0] if mode != "lexical" else None
        same = frozenset(self._store.ids_with_abstract(text))
        return self._hits_of(self._rank(mode, text, vector, limit, exclude=same, allowed=allowed), SCORE_KINDS[mode])

    def _allowed(self, filters: PaperFilter | None) -> frozenset[int] | None:
        """The ids a filter lets through, or None for no filter."""
        return None if filters is None else allowed_ids(self._store, filters)

    def _rank(
        self,
        mode: str,
        text: str,
        vector: np.ndarray | None,
        limit: int,
        exclude: frozenset[int] = frozenset(),
        allowed: frozenset[int] | None = None,
    ) -> list[tuple[int, float]]:
        """(paper id, score) pairs, best first: by `vector`, by the words of `text`, or both fused."""
        if limit <= 0:
            return []
        if mode == "dense":
            return self._dense(vector, limit, exclude, allowed)
        if mode == "lexical":
            return self._lexical(text, limit, exclude, allowed)
        # Fusion needs more than the top `limit` of each list: a paper 30th by cosine and 2nd by BM25 may win.
        depth = max(limit, fusion.HYBRID_DEPTH)
        fused = fusion.hybrid(
            self._dense(vector, depth, exclude, allowed), self._lexical(text, depth, exclude, allowed)
        )
        return fused[:limit]

    def _dense(
        self, vector: np.ndarray, limit: int, exclude: frozenset[int], allowed: frozenset[int] | None
    ) -> list[tuple[int, float]]:
        if allowed is None:
            return self._vector_index().search(vector, limit, exclude=exclude)
        return search_allowed(self._vector_index(), self._store, self.dim, vector, limit, allowed, exclude)

    def _lexical(
        self, text: str, limit: int, exclude: frozenset[int], allowed: frozenset[int] | None
    ) -> list[tuple[int, float]]:
        words = lexical.query_terms(text)
        if not words:  # only stopwords or punctuation: no word to look up
            return []
        word_index = self._word_index()
        if word_index is not None:
            try:
                return word_index.search(self._term_ids(words), limit, lexical.FIELD_WEIGHTS, exclude, allowed)
            except IndexError:  # a damaged file pointing past its own arrays
                log.warning(
                    "the word index file is damaged; searching words with SQLite instead "
                    "(repair: `semsearch rebuild --reuse-vectors`)"
                )
                self._words = False
        self._require_lexical_index()
        return self._store.lexical_search(lexical.fts_query(words), limit, lexical.FIELD_WEIGHTS, exclude, allowed)

    def _term_ids(self, words: Sequence[str]) -> list[int | None]:
        """The term id of each question word's stem (None when no paper holds it), one entry per word as FTS5 counts."""
        if self._term_counter is None:
            self._term_counter = TermCounter()
        # A word is one term; in the rare word that FTS5 splits further (a character unicode61 treats as a
        # separator), each part counts on its own instead of as a phrase.
        stems = [stem for terms in self._term_counter.terms_each(words) for stem in terms]
        ids = self._store.term_ids(stems)
        return [ids.get(stem) for stem in stems]

    def _word_index(self) -> WordIndex | None:
        """The word index file plus the recent papers, or None for an index without one (FTS5 answers instead)."""
        if self._words is None:
            self._words = self._load_words()
        return self._words or None

    def _load_words(self) -> WordIndex | bool:
        """The word index in one consistent snapshot; False when there is no usable file (said once, as a warning)."""
        for _ in range(3):  # a writer may delete the file this snapshot names right after committing a new one
            with self._store.snapshot():
                name = self._store.get_meta("word_file")
                if name is None or not self._store.has_word_tables():
                    return False  # an index made before word index files: FTS5 gives the same ranking, slower
                path = self.folder / name
                try:
                    base = Postings.load(path)
                except IndexCorruptError as exc:
                    if not path.exists():
                        continue
                    problem = str(exc)
                    break
                if str(base.size) != self._store.get_meta("word_count"):
                    recorded = self._store.get_meta("word_count")
                    problem = f"the word index file {name} holds {base.size} papers, not the {recorded} recorded"
                    break
                counts = self._store.paper_terms()
                if len(counts) != self._store.unindexed_count():
                    problem = f"{self._store.unindexed_count() - len(counts)} recent papers have no stored word counts"
                    break
                recent = Postings.from_counts(counts)
                return WordIndex(base, recent, self._store.superseded_ids())
        else:
            problem = "the word index file is missing"
        log.warning("%s; searching words with SQLite instead (repair: `semsearch rebuild --reuse-vectors`)", problem)
        return False

    def _require_lexical_index(self) -> None:
        if not self._store.has_lexical_index():
            raise IndexCorruptError(
                f"the index at {self.folder} predates lexical search; run `semsearch update` on any digest "
                "(even one already indexed) to add it, or pass --mode dense"
            )

    def _hits_of(self, ranking: Sequence[tuple[int, float]], score_kind: str) -> list[Hit]:
        papers = self._store.papers([paper_id for paper_id, _ in ranking])
        hits = []
        for paper_id, score in ranking:
            if paper_id in papers:
                hits.append(Hit(rank=len(hits) + 1, score=score, paper=papers[paper_id], score_kind=score_kind))
        return hits

    def _explain(self, question: str, hits: list[Hit]) -> list[Hit]:
        """The hits, each with its abstract sentence nearest to the question and the question words it holds."""
        groups = [sentences(hit.paper.abstract) for hit in hits]
        flat = [sentence for group in groups for sentence in group]
        terms = lexical.query_terms(question)
        # Running the model over the ~100 sentences of ten abstracts takes seconds on two cores; its word vectors
        # and BM25 take milliseconds and pick nearly as well (README, "Why it matched").
        word_vectors = bundled_word_vectors()
        similarities = word_vectors.embed(flat) @ word_vectors.embed([question])[0] if flat else np.empty(0)
        bm25 = np.asarray(passage_bm25(flat, lexical.fts_query(terms)), dtype=np.float32)
        nearest = nearest_sentences(groups, similarities, bm25)
        ids = [hit.paper.id for hit in hits]
        matched: dict[int, list[str]] = {paper_id: [] for paper_id in ids}
        if self._store.has_lexical_index():
            for term in terms:
                for paper_id in self._store.lexically_matching(ids, lexical.fts_query([term])):
                    matched[paper_id].append(term)
        return [
            replace(hit, why=Why(sentence, tuple(matched[hit.paper.id]))) for hit, sentence in zip(hits, nearest)
        ]

    def _require_embedder(self) -> Embedder:
        if self._embedder is None:
            raise SemsearchError("this operation needs an embedding model, but none was given")
        if self._embedder.model_id != self.model or self._embedder.dim != self.dim:
            raise ModelMismatchError(
                f"the index at {self.folder} was built with {self.model} ({self.dim}-d), but semsearch now "
                f"embeds with {self._embedder.model_id} ({self._embedder.dim}-d); "
                "run `semsearch rebuild` to re-embed it"
            )
        return self._embedder

    def _vector_index(self) -> LayeredIndex:
        if self._vectors is None:
            self._vectors = self._load_vectors()
        return self._vectors

    def _load_vectors(self) -> LayeredIndex:
        """The committed FAISS file plus the recent papers, read in one consistent snapshot."""
        # A writer deletes the previous FAISS file right after its commit; if that races with this read,
        # the fresh metadata names the new file, so look again.
        for _ in range(3):
            with self._store.snapshot():
                name = self._store.get_meta("vector_file")
                recent = VectorIndex.build(self.dim, *self._store.unindexed_vectors(self.dim))
                superseded = self._store.superseded_ids()
                if name is None:
                    return LayeredIndex(None, recent, superseded)
                path = self.folder / name
                try:
                    base = VectorIndex.load(
                        path,
                        self.dim,
                        self._store.get_meta("index_factory") or FLAT_FACTORY,
                        int(self._store.get_meta("nprobe") or DEFAULT_NPROBE),
                    )
                except IndexCorruptError as exc:
                    if not path.exists():
                        continue
                    problem = str(exc)
                    break
                if str(base.size) == self._store.get_meta("vector_count"):
                    return LayeredIndex(base, recent, superseded)
                problem = f"the vector file {name} holds {base.size} vectors, not the {self._store.get_meta('vector_count')} recorded"
                break
        else:
            problem = "the vector file is missing"
        log.warning("%s; searching the stored vectors instead (repair: `semsearch rebuild --reuse-vectors`)", problem)
        with self._store.snapshot():
            ids, matrix = self._store.all_vectors(self.dim)
        return LayeredIndex(None, VectorIndex.build(self.dim, ids, matrix), frozenset())

    # -- lookups -------------------------------------------------------------------------------------------

    def resolve(self, reference: str) -> StoredPaper:
        """The one paper a user means by a key, an arXiv id, an exact title or an unambiguous part of one."""
        paper_id = resolve_paper_id(self._store, reference)
        return self._store.papers([paper_id])[paper_id]

    def show(self, reference: str) -> StoredPaper:
        """The full record of one paper."""
        return self.resolve(reference)

    def info(self) -> IndexInfo:
        """Counts, model, dates and size of the index."""
        first, last = self._store.date_range()
        size = sum(path.stat().st_size for path in self.folder.iterdir() if path.is_file())
        return IndexInfo(
            path=str(self.folder),
            model=self.model,
            dim=self.dim,
            papers=self._store.paper_count(),
            digests=self._store.source_count(),
            first_date=first,
            last_date=last,
            size_bytes=size,
            format_version=FORMAT_VERSION,
            vector_file=self._store.get_meta("vector_file"),
            unindexed=self._store.unindexed_count(),
            index_factory=self._store.get_meta("index_factory"),
            updated_at=self._store.get_meta("updated_at"),
        )


def resolve_paper_id(store: Store, reference: str) -> int:
    """The id of the one paper meant by a key, an arXiv id, an exact title or an unambiguous part of a title."""
    reference = reference.strip()
    if not reference:
        raise PaperNotFoundError("no paper given; pass a key, an arXiv id or a title")
    paper_id = store.id_by_key(reference)
    if paper_id is None:
        arxiv_id = normalize_arxiv_id(reference)
        if arxiv_id is not None:
            paper_id = store.id_by_arxiv_id(arxiv_id)
    return paper_id if paper_id is not None else _resolve_title(store, reference)


def _resolve_title(store: Store, reference: str) -> int:
    wanted = normalize_title(reference)
    if not wanted:
        raise PaperNotFoundError(f'"{reference}" names no paper; pass a key, an arXiv id or a title')
    rows = store.title_rows()
    exact = [row for row in rows if row.title_norm == wanted]
    if len(exact) == 1:
        return exact[0].id
    partial = exact or [row for row in rows if wanted in row.title_norm]
    if len(partial) == 1:
        return partial[0].id
    if partial:
        partial.sort(key=lambda row: (len(row.title_norm), row.key))
        raise PaperNotFoundError(
            f'"{reference}" matches {len(partial)} papers; pass one of these keys instead',
            [(row.key, row.title) for row in partial[:8]],
        )
    raise PaperNotFoundError(
        f'no paper matches "{reference}"; the closest titles are below (pass a key)',
        [(row.key, row.title) for row in _closest_titles(wanted, rows)],
    )


def _closest_titles(wanted: str, rows: Sequence, limit: int = 5) -> list:
    """Titles sharing the most words with what the user typed (cheap enough for 100k titles)."""
    words = set(wanted.split())

    def overlap(row) -> float:
        theirs = set(row.title_norm.split())
        return len(words & theirs) / (len(words | theirs) or 1)

    scored = sorted(((overlap(row), row.key, row) for row in rows), key=lambda t: (-t[0], t[1]))
    return [row for score, _, row in scored[:limit] if score > 0]


def index_exists(folder: Path) -> bool:
    """Whether `folder` holds an index database."""
    return (folder / DATABASE_NAME).exists()


def embedder_for(folder: Path, precision: str | None = None) -> Embedder:
    """The embedder for the index at `folder`: the bundled model at `precision`, else at the variant the index
    records (the default for a new index); SEMSEARCH_EMBEDDER's embedder when that is set."""
    from semsearch.model.embed import embedder_from_spec, precision_of

    if precision is None:
        precision = precision_of(recorded_model(folder))
    return embedder_from_spec(precision=precision)


def recorded_model(folder: Path) -> str | None:
    """The model id the index at `folder` records, or None when there is no readable index there (yet)."""
    if not index_exists(folder):
        return None
    try:
        store = Store.open(folder)
    except (SemsearchError, sqlite3.Error):
        return None
    try:
        return store.get_meta("model")
    except (SemsearchError, sqlite3.Error):
        # A damaged index: the command that follows reports it in its own words.
        return None
    finally:
        store.close()
