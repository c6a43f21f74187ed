"""The paper database: the only module with SQL. SQLite is the source of truth for papers and their vectors."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semsearch.errors import DiskFullError, IndexCorruptError, IndexMissingError, is_disk_full
from semsearch.storage.state import DerivedFiles, IndexState
from semsearch.storage.vectors import DEFAULT_NPROBE, FLAT_FACTORY

# 2: recent-papers layer (unindexed/superseded) and the BM25 table.
FORMAT_VERSION = 2
DATABASE_NAME = "papers.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS papers (
    id           INTEGER PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    title_norm   TEXT NOT NULL,
    title        TEXT NOT NULL,
    abstract     TEXT NOT NULL,
    arxiv_id     TEXT UNIQUE,
    content_hash TEXT NOT NULL,
    vector       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS papers_title_norm ON papers (title_norm);
-- One row per (paper, digest file, date): the same paper featured twice keeps both.
-- An unknown date is stored as '' so the primary key can hold it.
CREATE TABLE IF NOT EXISTS appearances (
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    source   TEXT NOT NULL,
    date     TEXT NOT NULL,
    PRIMARY KEY (paper_id, source, date)
);
-- Papers whose current vector is not in the FAISS file yet (added or changed since it was written).
CREATE TABLE IF NOT EXISTS unindexed (
    paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE
);
-- FAISS entries that must be ignored until the file is rewritten: their paper changed or was removed.
-- No foreign key: a removed paper's old vector is still in the file.
CREATE TABLE IF NOT EXISTS superseded (
    paper_id INTEGER PRIMARY KEY
);
-- Vectors embedded by an update that has not committed yet, so a rerun after a crash need not embed them again.
CREATE TABLE IF NOT EXISTS pending_vectors (
    content_hash TEXT NOT NULL,
    model        TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (content_hash, model)
);
"""

# The authors a digest named for a paper (a JSON list of names, in its order). A table of its own, created at the
# first write that has authors to store, so indexes made before it still open, read (no authors) and update.
_AUTHOR_TABLE = """
CREATE TABLE IF NOT EXISTS paper_authors (
    paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
    names    TEXT NOT NULL
);
"""

_WORD_TABLES = """
-- The words BM25 counts (the FTS5 tokenizer's stems), numbered once, and how often each occurs in the papers
-- added or changed since the word index file (semsearch/wordindex.py) was written: the next merge adds them to
-- the file without tokenizing them again, and clears them.
CREATE TABLE IF NOT EXISTS terms (
    id   INTEGER PRIMARY KEY,
    term TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS paper_terms (
    paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
    counts   BLOB NOT NULL
);
"""


# The BM25 index over title + abstract. External content: it stores only the inverted index and reads the text
# from `papers`. Triggers keep it in step inside whatever transaction changes `papers`, so no write path can
# forget it. (Statements, not a script: a trigger body holds semicolons.)
LEXICAL_TABLE = "papers_fts"
# Porter stems over unicode61 words (every script; accents folded), so "optimizing" finds "optimizations".
_TOKENIZER = "porter unicode61 remove_diacritics 2"
_LEXICAL_SCHEMA = (
    f"""CREATE VIRTUAL TABLE papers_fts USING fts5(
        title, abstract, content='papers', content_rowid='id', tokenize='{_TOKENIZER}'
    )""",
    """CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts (rowid, title, abstract) VALUES (new.id, new.title, new.abstract);
    END""",
    """CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts (papers_fts, rowid, title, abstract) VALUES ('delete', old.id, old.title, old.abstract);
    END""",
    """CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, abstract ON papers BEGIN
        INSERT INTO papers_fts (papers_fts, rowid, title, abstract) VALUES ('delete', old.id, old.title, old.abstract);
        INSERT INTO papers_fts (rowid, title, abstract) VALUES (new.id, new.title, new.abstract);
    END""",
)


# The reader's side of the index (semsearch/feed): saved questions, liked papers, the "last seen" mark of `news`,
# and the order papers entered the index in. They live beside the papers, so `rebuild` (which rewrites vectors and
# derived files in place) keeps them. An index made before them gets them at its next write (`ensure_feed_tables`).
# `arrivals` numbers each paper when it is first inserted (AUTOINCREMENT: a number is never reused, even after
# `remove`), so "new since the last look" means inserted since, whatever digest date the paper carries.
_FEED_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS arrivals (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        paper_id INTEGER NOT NULL UNIQUE REFERENCES papers (id) ON DELETE CASCADE,
        at       TEXT NOT NULL
    )""",
    """CREATE TRIGGER IF NOT EXISTS papers_arrival AFTER INSERT ON papers BEGIN
        INSERT INTO arrivals (paper_id, at) VALUES (new.id, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
    END""",
    """CREATE TABLE IF NOT EXISTS watches (
        name     TEXT PRIMARY KEY,
        question TEXT NOT NULL,
        added_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS likes (
        paper_id INTEGER PRIMARY KEY REFERENCES papers (id) ON DELETE CASCADE,
        liked_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS feed_marks (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
)
_NOW = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')"


@dataclass(frozen=True)
class StoredPaper:
    """A paper as the index knows it."""

    id: int
    key: str
    title: str
    abstract: str
    arxiv_id: str | None
    dates: tuple[str, ...] = field(default=())
    sources: tuple[str, ...] = field(default=())
    # As the digest named them, in its order; empty when it gave none.
    authors: tuple[str, ...] = field(default=())

    @property
    def date(self) -> str | None:
        """The first digest date the paper appeared on (dates with a known year sort first)."""
        return self.dates[0] if self.dates else None

    def to_dict(self) -> dict:
        """The shape of `semsearch show --json` and `GET /api/paper`."""
        return {
            "key": self.key,
            "title": self.title,
            "arxiv_id": self.arxiv_id,
            "authors": list(self.authors),
            "date": self.date,
            "dates": list(self.dates),
            "sources": list(self.sources),
            "abstract": self.abstract,
        }


@dataclass(frozen=True)
class TitleRow:
    """Just enough of a paper to resolve what a user typed."""

    id: int
    key: str
    title: str
    title_norm: str


def vector_to_blob(vector: np.ndarray) -> bytes:
    """Serialize a vector as little-endian float32."""
    return np.asarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes, dim: int) -> np.ndarray:
    """Deserialize a vector written by `vector_to_blob`."""
    vector = np.frombuffer(blob, dtype="<f4")
    if vector.shape != (dim,):
        raise IndexCorruptError(f"a stored vector has {vector.size} values instead of {dim}")
    return vector.astype(np.float32)


def _ids_and_matrix(rows: list[tuple[int, bytes]], dim: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(id, blob) rows as an int64 id array and an (n, dim) float32 matrix."""
    if any(len(blob) != 4 * dim for _, blob in rows):
        raise IndexCorruptError(f"some stored vectors in {path} are not {dim}-d; run `semsearch rebuild`")
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype="<f4").astype(np.float32).reshape(len(rows), dim)
    return ids, matrix


def _date_sort_key(date: str) -> tuple[int, str]:
    # Full dates first in calendar order, then month-day dates whose year is unknown.
    return (1, date) if date.startswith("--") else (0, date)


class Store:
    """An open paper database."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._has_authors: bool | None = None

    @classmethod
    def open(cls, folder: Path, create: bool = False) -> Store:
        """Open the database in `folder`, creating it (and the folder) when `create` is true."""
        path = folder / DATABASE_NAME
        if not path.exists():
            if not create:
                raise IndexMissingError(
                    f"no index at {folder}; build one with `semsearch update DIGEST_OR_FOLDER`, "
                    "or point at another with `--index PATH` or SEMSEARCH_INDEX"
                )
            folder.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: every write goes through `transaction()`, which says BEGIN IMMEDIATE itself.
            connection = sqlite3.connect(path, isolation_level=None, timeout=60.0)
            # Lets `release_free_pages` hand the space of cleared pending vectors back to the file system
            # (takes effect only on a new database, before its first table).
            if create:
                connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA foreign_keys=ON")
            store = cls(connection, path)
            if create:
                with store.transaction():
                    for statement in (_SCHEMA + _WORD_TABLES + _AUTHOR_TABLE).split(";"):
                        if statement.strip():
                            connection.execute(statement)
                    connection.execute(
                        "INSERT OR IGNORE INTO meta (name, value) VALUES ('format_version', ?)", (str(FORMAT_VERSION),)
                    )
                    store.ensure_lexical_index()
                    store.ensure_feed_tables()
            store._check_format()
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"the disk holding {folder} is full (writing {DATABASE_NAME}); free space and run the same "
                    "command again"
                ) from exc
            raise IndexCorruptError(
                f"the database {path} is damaged ({exc}); move the index folder aside and rebuild it "
                "with `semsearch update DIGEST_OR_FOLDER`"
            ) from exc
        return store

    def _check_format(self) -> None:
        has_meta = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        version = self._get_meta("format_version") if has_meta else None
        if version is None:
            raise IndexCorruptError(f"{self.path} is not a semsearch index (no format version)")
        if version != str(FORMAT_VERSION):
            raise IndexCorruptError(
                f"the index at {self.path.parent} has format version {version}, but this semsearch reads "
                f"version {FORMAT_VERSION}; upgrade semsearch or rebuild the index in a new folder"
            )

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write: everything inside commits together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled the transaction back itself (SQLITE_FULL, a failed COMMIT): then an
            # explicit ROLLBACK would fail with "no transaction is active" and hide the error that matters.
            if self._db.in_transaction:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the original error is the one to report; SQLite rolls back when the connection closes
            raise

    def give_back_space(self) -> None:
        """After a failed write: fold the write-ahead log into the database and truncate it to nothing, so a write
        that failed (a full disk) does not keep holding the space it took. Best effort: never raises."""
        if self._db.in_transaction:
            return
        # Never wait for a reader to finish (a TRUNCATE checkpoint would, for the connection's 60 s busy timeout):
        # with one reading, the log is folded in as far as it can be and stays for the next write to reuse.
        try:
            timeout = self._db.execute("PRAGMA busy_timeout").fetchone()[0]
            self._db.execute("PRAGMA busy_timeout = 0")
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {int(timeout)}")
        except sqlite3.Error:
            pass

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A consistent read across several queries, even while a writer commits."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    # -- the committed state ----------------------------------------------------------------------------------

    def _get_meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def state(self) -> IndexState:
        """The model, times and derived files the database records, read in one query."""
        meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())

        def number(name: str, default: int = 0) -> int:
            return int(meta[name]) if meta.get(name) else default

        files = DerivedFiles(
            generation=number("generation"),
            vector_file=meta.get("vector_file"),
            vector_count=number("vector_count"),
            factory=meta.get("index_factory") or FLAT_FACTORY,
            nprobe=number("nprobe", DEFAULT_NPROBE),
            ivf_trained_on=number("ivf_trained_on"),
            word_file=meta.get("word_file"),
            word_count=number("word_count"),
        )
        return IndexState(
            model=meta.get("model"),
            dim=number("dim"),
            created_at=meta.get("created_at"),
            updated_at=meta.get("updated_at"),
            files=files,
        )

    def save_state(self, state: IndexState) -> None:
        """Record the state (inside the caller's transaction, so derived files and papers commit together)."""
        files = state.files
        values = {
            "model": state.model,
            "dim": str(state.dim) if state.model is not None else None,
            "created_at": state.created_at,
            "updated_at": state.updated_at,
            "generation": str(files.generation) if files.generation else None,
            "vector_file": files.vector_file,
            "vector_count": str(files.vector_count) if files.vector_file else None,
            "index_factory": files.factory if files.vector_file else None,
            "nprobe": str(files.nprobe) if files.vector_file else None,
            "ivf_trained_on": str(files.ivf_trained_on) if files.ivf_trained_on else None,
            "word_file": files.word_file,
            "word_count": str(files.word_count) if files.word_file else None,
        }
        self._db.executemany(
            "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [(name, value) for name, value in values.items() if value is not None],
        )
        self._db.executemany(
            "DELETE FROM meta WHERE name = ?", [(name,) for name, value in values.items() if value is None]
        )

    # -- writing papers ---------------------------------------------------------------------------------------

    def find_match(
        self, arxiv_id: str | None, title_norm: str, key: str | None = None
    ) -> tuple[int, str, str | None] | None:
        """The stored paper that is the same as an incoming one: (id, content_hash, arxiv_id), or None.

        A key decides when the incoming record names one; else an arXiv id when both sides have one; otherwise the
        normalized title does.
        """
        if key is not None:
            row = self._db.execute("SELECT id, content_hash, arxiv_id FROM papers WHERE key = ?", (key,)).fetchone()
            return (row[0], row[1], row[2]) if row else None
        if arxiv_id is not None:
            row = self._db.execute(
                "SELECT id, content_hash, arxiv_id FROM papers WHERE arxiv_id = ?", (arxiv_id,)
            ).fetchone()
            if row:
                return row[0], row[1], row[2]
        for row in self._db.execute(
            "SELECT id, content_hash, arxiv_id FROM papers WHERE title_norm = ? ORDER BY id", (title_norm,)
        ):
            if arxiv_id is None or row[2] is None:
                return row[0], row[1], row[2]
        return None

    def key_taken(self, key: str) -> bool:
        """Whether a paper already has this key."""
        return self._db.execute("SELECT 1 FROM papers WHERE key = ?", (key,)).fetchone() is not None

    def insert_paper(
        self,
        key: str,
        title_norm: str,
        title: str,
        abstract: str,
        arxiv_id: str | None,
        content_hash: str,
        vector: np.ndarray,
    ) -> int:
        """Store a new paper; returns its integer id (also its FAISS id)."""
        cursor = self._db.execute(
            "INSERT INTO papers (key, title_norm, title, abstract, arxiv_id, content_hash, vector) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, title_norm, title, abstract, arxiv_id, content_hash, vector_to_blob(vector)),
        )
        return int(cursor.lastrowid)

    def update_paper_content(
        self, paper_id: int, title: str, abstract: str, content_hash: str, vector: np.ndarray
    ) -> None:
        """Replace a paper's text and vector (a revised abstract)."""
        self._db.execute(
            "UPDATE papers SET title = ?, abstract = ?, content_hash = ?, vector = ? WHERE id = ?",
            (title, abstract, content_hash, vector_to_blob(vector), paper_id),
        )

    def set_arxiv_id(self, paper_id: int, arxiv_id: str) -> None:
        """Record an arXiv id learned later for a paper first seen without one."""
        self._db.execute("UPDATE papers SET arxiv_id = ? WHERE id = ?", (arxiv_id, paper_id))

    def set_authors(self, paper_id: int, authors: Sequence[str]) -> None:
        """Record the authors a digest named for a paper (replacing those an earlier one named)."""
        self._db.execute(_AUTHOR_TABLE)  # an index made before authors were kept gets the table here
        self._db.execute(
            "INSERT OR REPLACE INTO paper_authors (paper_id, names) VALUES (?, ?)",
            (paper_id, json.dumps(list(authors), ensure_ascii=False)),
        )

    def has_author_table(self) -> bool:
        """Whether the database stores authors (indexes made before it lack the table until a write brings some)."""
        if not self._has_authors:  # once there, the table stays; until then, a writer may add it any time
            row = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'paper_authors'"
            ).fetchone()
            self._has_authors = row is not None
        return self._has_authors

    def add_appearance(self, paper_id: int, source: str, date: str | None) -> bool:
        """Remember that a digest featured a paper; False when that was already known."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO appearances (paper_id, source, date) VALUES (?, ?, ?)",
            (paper_id, source, date or ""),
        )
        return cursor.rowcount > 0

    def set_vectors(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Replace the vectors of many papers (a rebuild)."""
        self._db.executemany(
            "UPDATE papers SET vector = ? WHERE id = ?",
            ((vector_to_blob(vector), int(paper_id)) for paper_id, vector in zip(ids, vectors)),
        )

    # -- papers not yet in the FAISS file -----------------------------------------------------------------------

    def mark_unindexed(self, paper_id: int, superseded: bool = False) -> None:
        """Record that a paper's vector is not in the FAISS file; `superseded` when the file holds an older one."""
        self._db.execute("INSERT OR IGNORE INTO unindexed (paper_id) VALUES (?)", (paper_id,))
        if superseded:
            self._db.execute("INSERT OR IGNORE INTO superseded (paper_id) VALUES (?)", (paper_id,))

    def unindexed_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of the papers the FAISS file does not hold yet."""
        # Ordered by the unindexed table's key, so SQLite walks the few unindexed rows and looks each paper up.
        # Ordered by p.id it walked every paper in id order, reading every stored vector, to find them: 15 to 24 ms
        # on 3,506 papers at each cold question with none waiting, and growing with the index.
        rows = self._db.execute(
            "SELECT p.id, p.vector FROM unindexed u JOIN papers p ON p.id = u.paper_id ORDER BY u.paper_id"
        ).fetchall()
        return _ids_and_matrix(rows, dim, self.path)

    def unindexed_count(self) -> int:
        """How many papers wait to be merged into the FAISS file."""
        return int(self._db.execute("SELECT count(*) FROM unindexed").fetchone()[0])

    def unindexed_ids(self) -> frozenset[int]:
        """Papers whose current vector is not in the FAISS file."""
        return frozenset(row[0] for row in self._db.execute("SELECT paper_id FROM unindexed"))

    def indexed_texts(self) -> list[tuple[int, str, str]]:
        """(id, title, abstract) of every paper not waiting in the recent layer, in id order."""
        rows = self._db.execute(
            "SELECT id, title, abstract FROM papers WHERE id NOT IN (SELECT paper_id FROM unindexed) ORDER BY id"
        )
        return [tuple(row) for row in rows]

    def paper_ids(self) -> frozenset[int]:
        """Every paper id."""
        return frozenset(row[0] for row in self._db.execute("SELECT id FROM papers"))

    def delete_papers(self, ids: Iterable[int]) -> None:
        """Forget papers (their appearances go with them); their FAISS entries become superseded."""
        for paper_id in ids:
            self._db.execute("DELETE FROM papers WHERE id = ?", (paper_id,))
            self._db.execute("INSERT OR IGNORE INTO superseded (paper_id) VALUES (?)", (paper_id,))

    def quick_check(self) -> list[str]:
        """SQLite's own structural check: an empty list when the file is sound."""
        rows = [row[0] for row in self._db.execute("PRAGMA quick_check")]
        return [] if rows == ["ok"] else rows

    def pending_count(self) -> int:
        """Vectors an interrupted update left for the next run."""
        return int(self._db.execute("SELECT count(*) FROM pending_vectors").fetchone()[0])

    def superseded_ids(self) -> frozenset[int]:
        """FAISS entries to ignore: papers changed or removed since the file was written."""
        return frozenset(row[0] for row in self._db.execute("SELECT paper_id FROM superseded"))

    def clear_unindexed(self) -> None:
        """Forget both lists once a new FAISS file holds every current vector."""
        self._db.execute("DELETE FROM unindexed")
        self._db.execute("DELETE FROM superseded")

    # -- vectors embedded ahead of a commit -------------------------------------------------------------------

    def pending_vectors(self, content_hashes: Iterable[str], model: str, dim: int) -> dict[str, np.ndarray]:
        """Vectors a crashed or interrupted run already embedded for these texts."""
        found: dict[str, np.ndarray] = {}
        hashes = list(content_hashes)
        for start in range(0, len(hashes), 500):
            chunk = hashes[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT content_hash, vector FROM pending_vectors WHERE model = ? AND content_hash IN ({marks})",
                (model, *chunk),
            )
            for content_hash, blob in rows:
                found[content_hash] = blob_to_vector(blob, dim)
        return found

    def save_pending_vectors(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Keep freshly embedded vectors so that an interrupted run does not lose the work."""
        self._db.executemany(
            "INSERT OR REPLACE INTO pending_vectors (content_hash, model, vector) VALUES (?, ?, ?)",
            ((content_hash, model, vector_to_blob(vector)) for content_hash, vector in items),
        )

    def release_free_pages(self) -> None:
        """Shrink the file by the pages that deleted rows left free (outside any transaction)."""
        # executescript steps the pragma to the end; a plain execute() frees only the first page.
        self._db.executescript("PRAGMA incremental_vacuum;")

    def clear_pending_vectors(self) -> None:
        """Forget vectors kept for an interrupted run (after a commit used them)."""
        self._db.execute("DELETE FROM pending_vectors")

    # -- the reader's feed: watches, likes, arrivals and the last-seen mark (semsearch/feed) ---------------------

    def has_feed_tables(self) -> bool:
        """Whether the database has the feed's tables (an index made before them gets them at its next write)."""
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'arrivals'").fetchone()
        return row is not None

    def ensure_feed_tables(self) -> None:
        """Create the feed's tables when missing (in the caller's transaction). The papers already stored arrive in
        id order (the order they were inserted in), dated by the index's last update."""
        if self.has_feed_tables():
            return
        for statement in _FEED_SCHEMA:
            self._db.execute(statement)
        self._db.execute(
            f"INSERT INTO arrivals (paper_id, at) SELECT id, coalesce((SELECT value FROM meta WHERE name = "
            f"'updated_at'), {_NOW}) FROM papers ORDER BY id"
        )

    def watches(self) -> list[tuple[str, str, str]]:
        """Every saved question as (name, question, added at), oldest first."""
        if not self.has_feed_tables():
            return []
        return [tuple(row) for row in self._db.execute("SELECT name, question, added_at FROM watches ORDER BY rowid")]

    def add_watch(self, name: str, question: str) -> bool:
        """Save a question under a name (in the caller's transaction); False when the name is taken."""
        cursor = self._db.execute(
            f"INSERT OR IGNORE INTO watches (name, question, added_at) VALUES (?, ?, {_NOW})", (name, question)
        )
        return cursor.rowcount > 0

    def remove_watch(self, name: str) -> bool:
        """Forget a saved question (in the caller's transaction); False when no watch has that name."""
        return self._db.execute("DELETE FROM watches WHERE name = ?", (name,)).rowcount > 0

    def liked(self) -> list[tuple[int, str]]:
        """Every liked paper as (paper id, liked at), oldest like first."""
        if not self.has_feed_tables():
            return []
        return [tuple(row) for row in self._db.execute("SELECT paper_id, liked_at FROM likes ORDER BY liked_at, rowid")]

    def set_liked(self, paper_id: int, liked: bool) -> bool:
        """Like or unlike a paper (in the caller's transaction); False when it already was so."""
        if liked:
            sql = f"INSERT OR IGNORE INTO likes (paper_id, liked_at) VALUES (?, {_NOW})"
        else:
            sql = "DELETE FROM likes WHERE paper_id = ?"
        return self._db.execute(sql, (paper_id,)).rowcount > 0

    def feed_mark(self, name: str) -> int | None:
        """A mark the feed keeps (the arrival number `news` last showed up to), or None when never set."""
        if not self.has_feed_tables():
            return None
        row = self._db.execute("SELECT value FROM feed_marks WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else None

    def set_feed_mark(self, name: str, value: int) -> None:
        """Move a feed mark (in the caller's transaction)."""
        self._db.execute(
            "INSERT INTO feed_marks (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, int(value)),
        )

    def arrivals_after(self, seq: int) -> list[tuple[int, int]]:
        """(arrival number, paper id) of the papers that entered the index after arrival `seq`, in arrival order.
        An index without the feed's tables numbers its papers by id."""
        if not self.has_feed_tables():
            rows = self._db.execute("SELECT id, id FROM papers WHERE id > ? ORDER BY id", (seq,))
            return [(int(number), int(paper_id)) for number, paper_id in rows]
        rows = self._db.execute("SELECT seq, paper_id FROM arrivals WHERE seq > ? ORDER BY seq", (seq,))
        return [(int(number), int(paper_id)) for number, paper_id in rows]

    def last_arrival(self) -> int:
        """The arrival number of the latest paper to enter the index (0 when none has)."""
        if not self.has_feed_tables():
            return int(self._db.execute("SELECT coalesce(max(id), 0) FROM papers").fetchone()[0])
        return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM arrivals").fetchone()[0])

    # -- the lexical (BM25) index ----------------------------------------------------------------------------

    def has_lexical_index(self) -> bool:
        """Whether the database has its BM25 table (an index created before it had none until its next write)."""
        row = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (LEXICAL_TABLE,)
        ).fetchone()
        return row is not None

    def ensure_lexical_index(self) -> None:
        """Create the BM25 table and its triggers when missing, filled from the stored papers (in a transaction)."""
        if self.has_lexical_index():
            return
        for statement in _LEXICAL_SCHEMA:
            self._db.execute(statement)
        self._db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('rebuild')")

    def lexical_search(
        self,
        match: str,
        limit: int,
        weights: tuple[float, float] = (1.0, 1.0),
        exclude: frozenset[int] = frozenset(),
        allowed: frozenset[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Papers matching an FTS5 expression as (id, BM25 score), best first; `weights` scale title and abstract."""
        if limit <= 0:
            return []
        # FTS5 scores every match before it sorts, so reading on past LIMIT to apply a filter costs little more.
        cap = -1 if allowed is not None else limit + len(exclude)
        rows = self._db.execute(
            "SELECT rowid, bm25(papers_fts, ?, ?) AS score FROM papers_fts WHERE papers_fts MATCH ? "
            "ORDER BY score, rowid LIMIT ?",
            (float(weights[0]), float(weights[1]), match, cap),
        )
        found: list[tuple[int, float]] = []
        for paper_id, score in rows:
            if paper_id in exclude or (allowed is not None and paper_id not in allowed):
                continue
            # FTS5's bm25() is negative, lower is better; semsearch reports the usual positive BM25 score.
            found.append((int(paper_id), -float(score)))
            if len(found) == limit:
                break
        return found

    def lexically_matching(self, ids: Sequence[int], match: str) -> set[int]:
        """Which of these papers match an FTS5 expression."""
        ids = [int(i) for i in ids]
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            f"SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? AND rowid IN ({marks})", (match, *ids)
        )
        return {int(row[0]) for row in rows}

    # -- the words of each paper (semsearch/wordindex.py) ------------------------------------------------------

    def has_word_tables(self) -> bool:
        """Whether the database stores each paper's words (indexes created before that lack them until a write)."""
        row = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'paper_terms'").fetchone()
        return row is not None

    def ensure_word_tables(self) -> None:
        """Create the word tables when missing (in the caller's transaction)."""
        for statement in _WORD_TABLES.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def term_ids(self, terms: Iterable[str], create: bool = False) -> dict[str, int]:
        """The ids of these terms (numbering new ones when `create`); a term never stored is left out."""
        terms = list(dict.fromkeys(terms))
        if create:
            self._db.executemany("INSERT OR IGNORE INTO terms (term) VALUES (?)", ((term,) for term in terms))
        found: dict[str, int] = {}
        for start in range(0, len(terms), 500):
            chunk = terms[start : start + 500]
            rows = self._db.execute(
                f"SELECT term, id FROM terms WHERE term IN ({','.join('?' * len(chunk))})", chunk
            )
            found.update((term, int(term_id)) for term, term_id in rows)
        return found

    def set_paper_terms(self, rows: Iterable[tuple[int, bytes]]) -> None:
        """Store papers' word counts, given as (paper id, blob), replacing what was there."""
        self._db.executemany(
            "INSERT INTO paper_terms (paper_id, counts) VALUES (?, ?) "
            "ON CONFLICT (paper_id) DO UPDATE SET counts = excluded.counts",
            rows,
        )

    def paper_terms(self) -> list[tuple[int, bytes]]:
        """(paper id, word counts blob) of the papers not in the word index file yet, in id order."""
        rows = self._db.execute(
            "SELECT t.paper_id, t.counts FROM unindexed u JOIN paper_terms t ON t.paper_id = u.paper_id ORDER BY 1"
        )
        return [(int(paper_id), counts) for paper_id, counts in rows]

    def clear_paper_terms(self) -> None:
        """Forget the stored word counts once a new word index file holds them."""
        self._db.execute("DELETE FROM paper_terms")

    # -- reading ----------------------------------------------------------------------------------------------

    def paper_count(self) -> int:
        """How many papers the index holds."""
        return int(self._db.execute("SELECT count(*) FROM papers").fetchone()[0])

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Every paper's id and vector, as an int64 array and an (n, dim) float32 matrix."""
        return _ids_and_matrix(self._db.execute("SELECT id, vector FROM papers ORDER BY id").fetchall(), dim, self.path)

    def all_texts(self) -> list[tuple[int, str, str]]:
        """Every paper's (id, title, abstract), in id order."""
        return [tuple(row) for row in self._db.execute("SELECT id, title, abstract FROM papers ORDER BY id")]

    def vector_of(self, paper_id: int, dim: int) -> np.ndarray:
        """One paper's stored vector."""
        row = self._db.execute("SELECT vector FROM papers WHERE id = ?", (paper_id,)).fetchone()
        if row is None:
            raise IndexCorruptError(f"paper id {paper_id} has no stored vector")
        return blob_to_vector(row[0], dim)

    def papers(self, ids: Sequence[int]) -> dict[int, StoredPaper]:
        """Full records for the given ids (missing ids are left out)."""
        result: dict[int, StoredPaper] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT id, key, title, abstract, arxiv_id FROM papers WHERE id IN ({marks})", chunk
            ).fetchall()
            seen: dict[int, tuple[list[str], list[str]]] = {row[0]: ([], []) for row in rows}
            authors: dict[int, tuple[str, ...]] = {}
            if self.has_author_table():
                for paper_id, names in self._db.execute(
                    f"SELECT paper_id, names FROM paper_authors WHERE paper_id IN ({marks})", chunk
                ):
                    authors[paper_id] = tuple(json.loads(names))
            for paper_id, source, date in self._db.execute(
                f"SELECT paper_id, source, date FROM appearances WHERE paper_id IN ({marks})", chunk
            ):
                dates, sources = seen[paper_id]
                if date and date not in dates:
                    dates.append(date)
                if source not in sources:
                    sources.append(source)
            for paper_id, key, title, abstract, arxiv_id in rows:
                dates, sources = seen[paper_id]
                result[paper_id] = StoredPaper(
                    id=paper_id,
                    key=key,
                    title=title,
                    abstract=abstract,
                    arxiv_id=arxiv_id,
                    dates=tuple(sorted(dates, key=_date_sort_key)),
                    sources=tuple(sorted(sources)),
                    authors=authors.get(paper_id, ()),
                )
        return result

    def id_by_key(self, key: str) -> int | None:
        """The id of the paper with this key (case-insensitive), or None."""
        row = self._db.execute("SELECT id FROM papers WHERE key = ? COLLATE NOCASE", (key,)).fetchone()
        return row[0] if row else None

    def id_by_arxiv_id(self, arxiv_id: str) -> int | None:
        """The id of the paper with this arXiv id, or None."""
        row = self._db.execute("SELECT id FROM papers WHERE arxiv_id = ?", (arxiv_id,)).fetchone()
        return row[0] if row else None

    def has_arxiv_ids(self) -> bool:
        """Whether any paper has an arXiv id (its digest gave one); cheap, through the column's unique index."""
        return bool(self._db.execute("SELECT EXISTS (SELECT 1 FROM papers WHERE arxiv_id IS NOT NULL)").fetchone()[0])

    def ids_with_title_norm(self, title_norms: Sequence[str]) -> list[tuple[int, str]]:
        """(id, normalized title) of the papers whose normalized title is one of `title_norms` (indexed)."""
        found: list[tuple[int, str]] = []
        norms = list(dict.fromkeys(title_norms))
        for start in range(0, len(norms), 500):
            chunk = norms[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found += self._db.execute(f"SELECT id, title_norm FROM papers WHERE title_norm IN ({marks})", chunk)
        return found

    def id_by_content_hash(self, content_hash: str) -> int | None:
        """The id of a paper whose embedded text hashes to this value, or None."""
        row = self._db.execute("SELECT id FROM papers WHERE content_hash = ?", (content_hash,)).fetchone()
        return row[0] if row else None

    def ids_with_abstract(self, abstract: str) -> list[int]:
        """Ids of papers whose stored abstract is exactly this text."""
        return [row[0] for row in self._db.execute("SELECT id FROM papers WHERE abstract = ?", (abstract,))]

    def title_rows(self) -> list[TitleRow]:
        """Every paper's id, key, title and normalized title (for resolving what a user typed)."""
        return [TitleRow(*row) for row in self._db.execute("SELECT id, key, title, title_norm FROM papers")]

    def source_count(self) -> int:
        """How many distinct digest files fed the index."""
        return int(self._db.execute("SELECT count(DISTINCT source) FROM appearances").fetchone()[0])

    def date_range(self) -> tuple[str | None, str | None]:
        """The first and last digest dates: full dates when any are known, else month-day dates ("--MM-DD")."""
        row = self._db.execute(
            "SELECT min(date), max(date) FROM appearances WHERE date != '' AND date NOT LIKE '--%'"
        ).fetchone()
        if row[0] is None:
            row = self._db.execute("SELECT min(date), max(date) FROM appearances WHERE date LIKE '--%'").fetchone()
        return row[0], row[1]

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the database (cheap: no I/O)."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def committed_state(self) -> tuple:
        """What every write of papers changes (the update time, the vector file, counts, the last appearance), so a
        reader can tell a new index state from a commit that changed nothing it shows (opening a connection
        counts as a commit for `data_version`)."""
        return tuple(
            self._db.execute(
                "SELECT (SELECT group_concat(name || '=' || value, ';') FROM (SELECT name, value FROM meta "
                "        WHERE name IN ('updated_at', 'vector_file', 'vector_count', 'model', 'dim') ORDER BY name)), "
                "(SELECT count(*) FROM papers), (SELECT max(rowid) FROM appearances), "
                "(SELECT count(*) FROM unindexed), (SELECT count(*) FROM superseded)"
            ).fetchone()
        )

    # -- filtering by digest date and file ----------------------------------------------------------------------

    def sources(self) -> list[str]:
        """Every digest file that fed the index, in name order."""
        return [row[0] for row in self._db.execute("SELECT DISTINCT source FROM appearances ORDER BY source")]

    def digest_days(self) -> list[tuple[str, int]]:
        """Each known digest date with its number of papers: full dates in order, then month-day dates."""
        rows = self._db.execute(
            "SELECT date, count(DISTINCT paper_id) FROM appearances WHERE date != '' GROUP BY date"
        ).fetchall()
        return sorted(((date, int(count)) for date, count in rows), key=lambda row: _date_sort_key(row[0]))

    def ids_appearing(
        self,
        since: str | None = None,
        until: str | None = None,
        day: str | None = None,
        month_day: str | None = None,
        sources: Sequence[str] | None = None,
    ) -> frozenset[int]:
        """Papers with one appearance meeting every condition given.

        `since`/`until` bound full dates (YYYY-MM-DD, inclusive), `day` is one full date, `month_day` ("--MM-DD")
        a day of any year or of none, `sources` the digest files.
        """
        conditions: list[str] = []
        values: list[str] = []
        if since is not None or until is not None:
            # Only a full date lies in a range; a month-day date of unknown year never does.
            conditions.append("date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'")
        if since is not None:
            conditions.append("date >= ?")
            values.append(since)
        if until is not None:
            conditions.append("date <= ?")
            values.append(until)
        if day is not None:
            conditions.append("date = ?")
            values.append(day)
        if month_day is not None:
            conditions.append("date != '' AND substr(date, -5) = ?")
            values.append(month_day[-5:])
        if sources is not None:
            if not sources:
                return frozenset()
            conditions.append(f"source IN ({','.join('?' * len(sources))})")
            values.extend(sources)
        where = " AND ".join(conditions) or "1"
        rows = self._db.execute(f"SELECT DISTINCT paper_id FROM appearances WHERE {where}", values)
        return frozenset(row[0] for row in rows)

    def vectors_of(self, ids: Sequence[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The stored vectors of these papers, in id order (missing ids are left out)."""
        ids = sorted(int(i) for i in ids)
        rows: list[tuple[int, bytes]] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows += self._db.execute(
                f"SELECT id, vector FROM papers WHERE id IN ({','.join('?' * len(chunk))}) ORDER BY id", chunk
            ).fetchall()
        return _ids_and_matrix(rows, dim, self.path)


def index_exists(folder: Path) -> bool:
    """Whether `folder` holds an index database."""
    return (folder / DATABASE_NAME).exists()


def recorded_model(folder: Path) -> str | None:
    """The model id the index at `folder` records, or None when there is no readable index there (yet)."""
    if not index_exists(folder):
        return None
    try:
        store = Store.open(folder)
    except (IndexCorruptError, sqlite3.Error):
        return None
    try:
        return store.state().model
    except sqlite3.Error:
        # A damaged index: the command that follows reports it in its own words.
        return None
    finally:
        store.close()


def passage_bm25(passages: Sequence[str], match: str | None) -> list[float]:
    """BM25 of each passage for an FTS5 expression, scored among these passages alone (0 where none matches)."""
    scores = [0.0] * len(passages)
    if match is None or not passages:
        return scores
    # A private in-memory table with the index's tokenizer: the same stems, nothing written anywhere.
    connection = sqlite3.connect(":memory:")
    try:
        connection.execute(f"CREATE VIRTUAL TABLE passages USING fts5(text, tokenize='{_TOKENIZER}')")
        connection.executemany("INSERT INTO passages (rowid, text) VALUES (?, ?)", enumerate(passages))
        rows = connection.execute("SELECT rowid, bm25(passages) FROM passages WHERE passages MATCH ?", (match,))
        for row, score in rows:
            scores[row] = -float(score)
    finally:
        connection.close()
    return scores


class FtsTokenizer:
    """The index's FTS5 tokenizer on its own: texts in, the terms FTS5 would index out (in memory, nothing written)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", isolation_level=None)
        self._db.execute(f"CREATE VIRTUAL TABLE texts USING fts5(text, tokenize='{_TOKENIZER}')")
        self._db.execute("CREATE VIRTUAL TABLE text_terms USING fts5vocab(texts, instance)")

    def terms(self, texts: Sequence[str]) -> list[list[str]]:
        """Each text's terms (stems), as many times as they occur; order within a text is not kept."""
        found: list[list[str]] = [[] for _ in texts]
        if not texts:
            return found
        self._db.execute("BEGIN")
        try:
            self._db.executemany("INSERT INTO texts (rowid, text) VALUES (?, ?)", enumerate(texts))
            for term, row in self._db.execute("SELECT term, doc FROM text_terms"):
                found[row].append(term)
        finally:
            self._db.execute("ROLLBACK")
        return found

    def close(self) -> None:
        """Release the in-memory database."""
        self._db.close()
