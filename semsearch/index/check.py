"""`check`: inspect an index without changing it, naming each problem with its repair."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from semsearch.errors import REPAIR_DERIVED, IndexCorruptError
from semsearch.storage.state import DerivedFiles, load_vector_file, load_word_file
from semsearch.storage.status import index_status
from semsearch.storage.store import Store


@dataclass(frozen=True)
class CheckReport:
    """What `check` found: problems (each with its repair) and notes that need no action."""

    path: str
    papers: int
    problems: list[str]
    notes: list[str]
    # new, updating, interrupted or ready (semsearch/storage/status.py); the note says what finishes it.
    state: str = "ready"

    @property
    def ok(self) -> bool:
        """Whether the index is sound."""
        return not self.problems

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return {**asdict(self), "ok": self.ok}


def check(folder: Path) -> CheckReport:
    """Inspect an index without changing it: database structure, vector file, word file, stored vectors."""
    store = Store.open(folder)
    problems: list[str] = []
    notes: list[str] = []
    try:
        problems += [
            f"database: {line}; move the folder aside and rebuild from your digests" for line in store.quick_check()
        ]
        with store.snapshot():  # one committed state, even while an update commits
            return _check_state(store, folder, problems, notes)
    finally:
        store.close()


def _check_state(store: Store, folder: Path, problems: list[str], notes: list[str]) -> CheckReport:
    state = store.state()
    papers = store.paper_count()
    status = index_status(store, folder)
    if status.message:
        notes.append(status.message)
    if status.is_new:  # nothing committed to check, and nothing wrong: the message says what finishes it
        return CheckReport(str(folder), papers, problems, notes, status.state)
    try:
        ids, matrix = store.all_vectors(state.dim)
        norms = np.linalg.norm(matrix, axis=1) if len(ids) else np.ones(0)
        bad = int(np.count_nonzero(~np.isfinite(norms) | (np.abs(norms - 1.0) > 1e-3)))
        if bad:
            problems.append(f"{bad} stored vectors are not unit length; run `semsearch rebuild` to re-embed")
    except IndexCorruptError as exc:
        problems.append(f"{exc}")
    problems += _check_vector_file(store, folder, state.files, state.dim)
    problems += _check_word_file(store, folder, state.files)
    if store.unindexed_count():
        notes.append(
            f"{store.unindexed_count()} recent papers are searched from the database beside the vector file "
            "until the next merge (normal)"
        )
    return CheckReport(str(folder), papers, problems, notes, status.state)


def _check_vector_file(store: Store, folder: Path, files: DerivedFiles, dim: int) -> list[str]:
    """Problems of the FAISS file: none recorded, missing, unreadable, or out of step with the database."""
    try:
        vectors = load_vector_file(folder, files, dim)
    except IndexCorruptError as exc:
        return [f"{exc}; {REPAIR_DERIVED}"]
    missing, foreign = _coverage(store, vectors.ids())
    if missing or foreign:
        return [
            f"the vector file {files.vector_file} is out of step with the database ({len(missing)} papers missing, "
            f"{len(foreign)} unknown ids); {REPAIR_DERIVED}"
        ]
    return []


def _check_word_file(store: Store, folder: Path, files: DerivedFiles) -> list[str]:
    """Problems of the word index file: unreadable, damaged (checksum) or out of step with the database."""
    if files.word_file is None:
        return []  # an index made before word index files: FTS5 answers word searches until the next update
    try:
        postings = load_word_file(folder, files, verify=True)
    except IndexCorruptError as exc:
        return [f"{exc}; {REPAIR_DERIVED}"]
    missing, foreign = _coverage(store, postings.paper_ids)
    stored = len(store.paper_terms()) if store.has_word_tables() else 0
    if missing or foreign or stored != store.unindexed_count():
        return [
            f"the word index file {files.word_file} is out of step with the database ({len(missing)} papers missing, "
            f"{len(foreign)} unknown ids, {store.unindexed_count() - stored} recent papers without word counts); "
            + REPAIR_DERIVED
        ]
    return []


def _coverage(store: Store, held_ids: np.ndarray) -> tuple[set[int], set[int]]:
    """For a file derived at the last merge: the papers it should hold but lacks, and the ids it should not hold.

    It should hold every paper but the recent ones, and may still hold papers superseded since it was written.
    """
    held = set(held_ids.tolist())
    paper_ids = store.paper_ids()
    return paper_ids - store.unindexed_ids() - held, held - paper_ids - store.superseded_ids()
