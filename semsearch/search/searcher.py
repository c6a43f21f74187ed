"""The read side of an index: questions, related papers, lookups and the index's state, over one committed state.

`SearchIndex` is the one front door for reading: the CLI, the web layer, evaluation and the scripts search through
it and never open the database themselves. It loads the committed FAISS and word index files lazily, with the
papers added since the last merge searched beside them, and falls back to the stored vectors or SQLite's FTS5
(with one warning) when a file is missing or damaged, so a damaged derived file never stops a search.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semsearch.errors import REPAIR_DERIVED, IndexCorruptError, IndexMissingError, ModelMismatchError, SemsearchError
from semsearch.keys import document_text, normalize_title
from semsearch.model.embed import Embedder
from semsearch.search import fusion, lexical
from semsearch.search.filters import PaperFilter, allowed_ids, search_allowed
from semsearch.search.fusion import DEFAULT_MODE, MODES, RELATED_MODE, SCORE_KINDS
from semsearch.storage.state import load_vector_file, load_word_file
from semsearch.storage.status import index_status
from semsearch.storage.store import FORMAT_VERSION, Store, StoredPaper, passage_bm25
from semsearch.storage.terms import TermCounter
from semsearch.storage.vectors import LayeredIndex, VectorIndex
from semsearch.storage.wordindex import Postings, WordIndex, WordScores, best

if TYPE_CHECKING:
    from semsearch.search.explain import Why

# `--why` (explain, wordvectors) and paper lookups (resolve) import their modules where they are used: a plain
# question needs neither, and each module costs a cold one its import.

log = logging.getLogger("semsearch")


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
class Notice:
    """What a search says beside its hits: why it found none, or which paper it left out. `kind` is stable (one of
    the NOTICE_* names below, for programs); `message` is one line for a person."""

    kind: str
    message: str


# The question holds no word to look up: only stopwords, punctuation or symbols (emoji, say).
NOTICE_NO_WORD = "no_searchable_word"
# A pasted text is a stored paper's abstract (or its title and abstract): that paper is left out of its neighbours.
NOTICE_PASTED_PAPER = "pasted_paper_left_out"
NO_WORD_MESSAGE = (
    "the question has no word to search for (only stopwords, punctuation or symbols); ask with content words, "
    'e.g. "parallel corpora for Indic languages"'
)
PASTED_NO_WORD_MESSAGE = (
    "the pasted text has no word to search for (only stopwords, punctuation or symbols); paste an abstract"
)
# A pasted title longer than this many words is not looked for (titles are shorter; it bounds the lookups).
MAX_TITLE_WORDS = 64


class Hits(list[Hit]):
    """The hits of one search, best first (a plain list of `Hit`), and the `notices` that go with them."""

    def __init__(self, hits: Iterable[Hit] = (), notices: Iterable[Notice] = ()) -> None:
        super().__init__(hits)
        self.notices: tuple[Notice, ...] = tuple(notices)


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
    # new, updating, interrupted or ready (semsearch/storage/status.py), and one line on what it means (or None).
    state: str = "ready"
    state_message: str | None = None
    # Why no vector file is recorded, when none is.
    no_vector_file_because: str | None = None

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return asdict(self)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise SemsearchError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")


class SearchIndex:
    """An open index for questions, related papers and lookups."""

    def __init__(self, folder: Path, embedder: Embedder | None = None) -> None:
        self.folder = folder
        self._embedder = embedder
        self._store = Store.open(folder)
        # Read before anything else: a commit racing with the open is then seen by `is_stale` (vectors and words
        # are loaded lazily, at the first search, so they are never older than this).
        self._opened_at = (self._store.data_version(), self._store.committed_state())
        state = self._store.state()
        if state.model is None or not state.dim:
            self._store.close()
            raise IndexMissingError(
                f"the index at {folder} holds no papers yet; add some with `semsearch update DIGEST_OR_FOLDER`"
            )
        self.model: str = state.model
        self.dim: int = state.dim
        self._vectors: LayeredIndex | None = None
        self._words: WordIndex | bool | None = None
        self._term_counter: TermCounter | None = None

    def close(self) -> None:
        """Release the database connection."""
        self._store.close()
        if self._term_counter is not None:
            self._term_counter.close()

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def is_stale(self) -> bool:
        """Whether another process has committed a new index state since this one was opened (cheap: no I/O
        unless the database changed)."""
        version, state = self._opened_at
        if self._store.data_version() == version:
            return False
        # data_version also moves when another connection merely opens the database, so look at what changed.
        current = self._store.committed_state()
        self._opened_at = (self._store.data_version(), state)
        return current != state

    def digest_days(self) -> list[tuple[str, int]]:
        """Each digest date the index knows, with its number of papers: full dates in order, then month-days."""
        return self._store.digest_days()

    # -- searching -----------------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        limit: int = 10,
        *,
        filters: PaperFilter | None = None,
        mode: str = DEFAULT_MODE,
        why: bool = False,
    ) -> Hits:
        """The papers nearest to a natural-language question (among those `filters` allows), ranked by `mode`.

        With `why`, each hit carries its abstract sentence nearest to the question and the words it matched. A
        question with no word to look up (only stopwords, punctuation or symbols) finds nothing in any mode, with
        a NOTICE_NO_WORD notice: the nearest vectors to a meaningless embedding are not answers.
        """
        question = question.strip()
        if not question:
            raise SemsearchError('the question is empty; ask something, e.g. semsearch ask "parallel corpora"')
        _check_mode(mode)
        # Errors first (a filter naming an unknown digest, an index of another model), whatever was asked.
        allowed = self._allowed(filters)
        embedder = self._require_embedder() if mode != "lexical" else None
        if not lexical.query_terms(question):
            return Hits(notices=[Notice(NOTICE_NO_WORD, NO_WORD_MESSAGE)])
        vector = embedder.embed_query(question) if embedder is not None else None
        hits = self._hits_of(self.rank(mode, question, vector, limit, allowed=allowed), SCORE_KINDS[mode])
        return Hits(self._explain(question, hits) if why else hits)

    def search(self, question: str, limit: int, mode: str = DEFAULT_MODE) -> list[tuple[int, float]]:
        """The ranking `ask` gives, as (paper id, score) pairs, without reading the papers (for evaluation)."""
        _check_mode(mode)
        question = question.strip()
        vector = self._require_embedder().embed_query(question) if mode != "lexical" else None
        return self.rank(mode, question, vector, limit)

    def related(
        self, reference: str, limit: int = 10, *, filters: PaperFilter | None = None, mode: str = RELATED_MODE
    ) -> tuple[StoredPaper, Hits]:
        """The papers nearest to a stored paper (named by key, arXiv id or title), never the paper itself."""
        _check_mode(mode)
        paper = self.resolve(reference)
        vector = self.stored_vector(paper.id)
        ranking = self.rank(
            mode,
            document_text(paper.title, paper.abstract),
            vector,
            limit,
            exclude=frozenset({paper.id}),
            allowed=self._allowed(filters),
            # No question to embed leaves time for the exact scan, so a paper's neighbours are exactly its nearest.
            exact=True,
        )
        return paper, Hits(self._hits_of(ranking, SCORE_KINDS[mode]))

    def related_to_text(
        self, text: str, limit: int = 10, *, filters: PaperFilter | None = None, mode: str = RELATED_MODE
    ) -> Hits:
        """The papers nearest to a pasted abstract. A stored paper whose abstract (or title and abstract) the text
        is, whitespace aside, is left out, with a NOTICE_PASTED_PAPER notice naming it; a text with no word to look
        up finds nothing, with a NOTICE_NO_WORD notice, as `ask` does."""
        _check_mode(mode)
        text = " ".join(text.split())
        if not text:
            raise SemsearchError("no abstract given; pipe one in, e.g. `pbpaste | semsearch related -`")
        allowed = self._allowed(filters)
        embedder = self._require_embedder() if mode != "lexical" else None
        if not lexical.query_terms(text):
            return Hits(notices=[Notice(NOTICE_NO_WORD, PASTED_NO_WORD_MESSAGE)])
        vector = embedder.embed_documents([text])[0] if embedder is not None else None
        same = self._papers_pasted_as(text)
        exclude = frozenset(paper.id for paper, _ in same)
        ranking = self.rank(mode, text, vector, limit, exclude=exclude, allowed=allowed)
        notices = [
            Notice(
                NOTICE_PASTED_PAPER,
                f"the pasted text is the {what} of {paper.key} ({paper.title}); that paper is left out of the results",
            )
            for paper, what in same
        ]
        return Hits(self._hits_of(ranking, SCORE_KINDS[mode]), notices)

    def _papers_pasted_as(self, text: str) -> list[tuple[StoredPaper, str]]:
        """The stored papers that a whitespace-normalized pasted `text` is, each with what of it the text is:
        "abstract" (the stored abstract exactly) or "title and abstract" (a title, as `resolve` compares titles,
        then the abstract), in id order."""
        found = {paper_id: "abstract" for paper_id in self._store.ids_with_abstract(text)}
        # A title and abstract pasted together: some first words of the text are a stored title and the rest is
        # that paper's abstract. Every candidate split is looked up at once, through the index of normalized titles.
        words = text.split(" ")
        splits: dict[str, list[int]] = {}
        for count in range(1, min(len(words), MAX_TITLE_WORDS + 1)):
            title = normalize_title(" ".join(words[:count]))
            if title:
                splits.setdefault(title, []).append(count)
        titled = {
            paper_id: splits[title_norm]
            for paper_id, title_norm in self._store.ids_with_title_norm(list(splits))
            if paper_id not in found
        }
        papers = self._store.papers([*found, *titled])
        for paper_id, counts in titled.items():
            abstract = " ".join(papers[paper_id].abstract.split())
            if any(" ".join(words[count:]) == abstract for count in counts):
                found[paper_id] = "title and abstract"
        return [(papers[paper_id], found[paper_id]) for paper_id in sorted(found) if paper_id in papers]

    def query_vector(self, question: str) -> np.ndarray:
        """The model's vector for a question, as `ask` embeds it (for callers that rank with `rank`)."""
        return self._require_embedder().embed_query(question.strip())

    def explain(self, question: str, hits: Sequence[Hit]) -> list[Hit]:
        """The hits, each with its abstract sentence nearest to `question` and the words it matched (`ask --why`)."""
        return self._explain(question, list(hits))

    def _allowed(self, filters: PaperFilter | None) -> frozenset[int] | None:
        """The ids a filter lets through, or None for no filter."""
        return None if filters is None else allowed_ids(self._store, filters)

    def rank(
        self,
        mode: str,
        text: str,
        vector: np.ndarray | None,
        limit: int,
        exclude: frozenset[int] = frozenset(),
        allowed: frozenset[int] | None = None,
        field_weights: tuple[float, float] = lexical.FIELD_WEIGHTS,
        exact: bool = False,
    ) -> list[tuple[int, float]]:
        """(paper id, score) pairs, best first: by `vector` (dense), by the words of `text` (lexical, BM25 with these
        title and abstract weights), or both fused (hybrid); `exclude` and `allowed` (None: every paper) limit the
        papers ranked; `exact` scans every float16 vector even where the index scans compressed codes."""
        _check_mode(mode)
        if limit <= 0:
            return []
        if mode == "dense":
            return self._dense(vector, limit, exclude, allowed, exact)
        if mode == "lexical":
            return self._lexical(text, limit, exclude, allowed, field_weights)
        # Fusion needs more than the top `limit` of each list: a paper 30th by cosine and 2nd by BM25 may win.
        depth = max(limit, fusion.HYBRID_DEPTH)
        return fusion.hybrid(self.candidates(text, vector, depth, exclude, allowed, field_weights, exact))[:limit]

    def candidates(
        self,
        text: str,
        vector: np.ndarray,
        depth: int,
        exclude: frozenset[int] = frozenset(),
        allowed: frozenset[int] | None = None,
        field_weights: tuple[float, float] = lexical.FIELD_WEIGHTS,
        exact: bool = False,
    ) -> fusion.Candidates:
        """The papers among the top `depth` by cosine or by BM25, each with both of its real scores (a paper that
        one list did not reach is scored, not guessed), for hybrid fusion."""
        dense = self._dense(vector, depth, exclude, allowed, exact)
        words = self._word_scores(text, field_weights)
        if words is not None:
            by_words = best(words.ids, words.scores, depth, exclude, allowed)
        else:
            by_words = self._lexical(text, depth, exclude, allowed, field_weights)
        ids = list(dict.fromkeys([paper_id for paper_id, _ in dense] + [paper_id for paper_id, _ in by_words]))
        cosine = dict(dense)
        unscored = [paper_id for paper_id in ids if paper_id not in cosine]
        if unscored:
            layers = self._vector_index()
            held = layers.stored(unscored)
            if held is not None:
                cosine.update(zip(unscored, (held @ vector).tolist()))
            else:  # an approximate file keeps no vectors by id: the database has them
                found, matrix = self._store.vectors_of(unscored, self.dim)
                cosine.update(zip(found.tolist(), (layers.as_stored(matrix) @ vector).tolist()))
        if words is not None:
            bm25 = dict(zip(ids, words.of(ids)))
        else:  # SQLite's FTS5 answers (no usable word index file): score the papers its top list did not reach
            bm25 = dict(by_words)
            unscored = [paper_id for paper_id in ids if paper_id not in bm25]
            # A list shorter than `depth` holds every paper with any of the words: the others score 0.
            if unscored and len(by_words) >= depth:
                bm25.update(self._lexical(text, len(unscored), exclude, frozenset(unscored), field_weights))
        return fusion.Candidates(
            ids=ids,
            cosine=[cosine.get(paper_id, 0.0) for paper_id in ids],
            bm25=[bm25.get(paper_id, 0.0) for paper_id in ids],
            bm25_bound=words.bound if words is not None else None,
        )

    def _word_scores(self, text: str, field_weights: tuple[float, float]) -> WordScores | None:
        """Every paper's BM25 for the words of `text` from the word index, or None when SQLite's FTS5 must answer."""
        words = lexical.query_terms(text)
        word_index = self._word_index()
        if word_index is None:
            return None
        if not words:
            return WordScores(np.empty(0, np.int64), np.empty(0, np.float64), 0.0)
        try:
            return word_index.scores(self._term_ids(words), field_weights)
        except IndexError:  # a damaged file pointing past its own arrays
            log.warning(
                "the word index file is damaged; searching words with SQLite instead (repair: %s)", REPAIR_DERIVED
            )
            self._words = False
            return None

    def _dense(
        self,
        vector: np.ndarray,
        limit: int,
        exclude: frozenset[int],
        allowed: frozenset[int] | None,
        exact: bool = False,
    ) -> list[tuple[int, float]]:
        if allowed is None:
            return self._vector_index().search(vector, limit, exclude=exclude, exact=exact)
        return search_allowed(self._vector_index(), self._store, self.dim, vector, limit, allowed, exclude, exact)

    def _lexical(
        self,
        text: str,
        limit: int,
        exclude: frozenset[int],
        allowed: frozenset[int] | None,
        field_weights: tuple[float, float],
    ) -> list[tuple[int, float]]:
        words = lexical.query_terms(text)
        if not words:  # only stopwords or punctuation: no word to look up
            return []
        word_index = self._word_index()
        if word_index is not None:
            try:
                return word_index.search(self._term_ids(words), limit, field_weights, exclude, allowed)
            except IndexError:  # a damaged file pointing past its own arrays
                log.warning(
                    "the word index file is damaged; searching words with SQLite instead (repair: %s)", REPAIR_DERIVED
                )
                self._words = False
        self._require_lexical_index()
        return self._store.lexical_search(lexical.fts_query(words), limit, field_weights, exclude, allowed)

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
                files = self._store.state().files
                if files.word_file is None or not self._store.has_word_tables():
                    return False  # an index made before word index files: FTS5 gives the same ranking, slower
                try:
                    base = load_word_file(self.folder, files)
                except IndexCorruptError as exc:
                    if not (self.folder / files.word_file).exists():
                        continue
                    problem = str(exc)
                    break
                counts = self._store.paper_terms()
                if len(counts) != self._store.unindexed_count():
                    problem = f"{self._store.unindexed_count() - len(counts)} recent papers have no stored word counts"
                    break
                return WordIndex(base, Postings.from_counts(counts), self._store.superseded_ids())
        else:
            problem = "the word index file is missing"
        log.warning("%s; searching words with SQLite instead (repair: %s)", problem, REPAIR_DERIVED)
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
        from semsearch.search.explain import Why, nearest_sentences, sentences
        from semsearch.search.wordvectors import bundled_word_vectors

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
        # the fresh state names the new file, so look again.
        for _ in range(3):
            with self._store.snapshot():
                files = self._store.state().files
                recent = VectorIndex.build(self.dim, *self._store.unindexed_vectors(self.dim))
                superseded = self._store.superseded_ids()
                if files.vector_file is None:
                    return LayeredIndex(None, recent, superseded)
                try:
                    return LayeredIndex(load_vector_file(self.folder, files, self.dim), recent, superseded)
                except IndexCorruptError as exc:
                    if not (self.folder / files.vector_file).exists():
                        continue
                    problem = str(exc)
                    break
        else:
            problem = "the vector file is missing"
        log.warning("%s; searching the stored vectors instead (repair: %s)", problem, REPAIR_DERIVED)
        with self._store.snapshot():
            ids, matrix = self._store.all_vectors(self.dim)
        return LayeredIndex(None, VectorIndex.build(self.dim, ids, matrix), frozenset())

    # -- lookups -------------------------------------------------------------------------------------------

    def resolve(self, reference: str) -> StoredPaper:
        """The one paper a user means by a key, an arXiv id, an exact title or an unambiguous part of one."""
        from semsearch.search.resolve import resolve_paper_id

        paper_id = resolve_paper_id(self._store, reference)
        return self._store.papers([paper_id])[paper_id]

    def stored_vector(self, paper_id: int) -> np.ndarray:
        """The stored (unit-length) vector of one paper."""
        return self._store.vector_of(paper_id, self.dim)

    def stored_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every paper's id and stored vector (for benchmarks and experiments over the raw vectors)."""
        with self._store.snapshot():
            return self._store.all_vectors(self.dim)

    def show(self, reference: str) -> StoredPaper:
        """The full record of one paper."""
        return self.resolve(reference)

    def info(self) -> IndexInfo:
        """Counts, model, dates and size of the index, all of one committed state."""
        with self._store.snapshot():
            state = self._store.state()
            first, last = self._store.date_range()
            papers, digests = self._store.paper_count(), self._store.source_count()
            unindexed = self._store.unindexed_count()
            status = index_status(self._store, self.folder)
        return IndexInfo(
            path=str(self.folder),
            model=self.model,
            dim=self.dim,
            papers=papers,
            digests=digests,
            first_date=first,
            last_date=last,
            size_bytes=_folder_size(self.folder),
            format_version=FORMAT_VERSION,
            vector_file=state.files.vector_file,
            unindexed=unindexed,
            index_factory=state.files.factory if state.files.vector_file else None,
            updated_at=state.updated_at,
            state=status.state,
            state_message=status.message,
            no_vector_file_because=status.no_vector_file_because,
        )


def _folder_size(folder: Path) -> int:
    """Bytes of the files in an index folder; a file a writer removes or renames meanwhile is skipped."""
    size = 0
    for path in folder.iterdir():
        try:
            if path.is_file():
                size += path.stat().st_size
        except FileNotFoundError:
            continue
    return size
