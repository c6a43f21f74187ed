"""Retrieval quality on judged queries: read a BEIR folder, index its corpus in a throwaway index, score each mode.

A BEIR folder holds `corpus.jsonl` ({"_id", "title", "text"} per line), `queries.jsonl` ({"_id", "text"}) and
`qrels/SPLIT.tsv` (query-id, corpus-id, score; a header line is allowed). Corpus embeddings are cached by model
and text (see `EmbeddingCache`), so only the first run over a corpus pays for embedding it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from semsearch import index
from semsearch.errors import SemsearchError
from semsearch.evaluation.metrics import MEASURES, Run, evaluate_run
from semsearch.ingest.digest import Digest, DigestPaper
from semsearch.model.embed import Embedder
from semsearch.progress import Progress, ProgressFactory
from semsearch.search import SearchIndex
from semsearch.search.fusion import DEFAULT_MODE, MODES

# Papers asked for per query: Recall@100 needs the first 100.
EVAL_DEPTH = 100
# Texts embedded between two writes to the cache.
CACHE_CHUNK = 1024
# Cache files of one model past which they are merged into one.
COMPACT_AFTER = 16


class DatasetError(SemsearchError):
    """A BEIR folder is missing a file or holds a line semsearch cannot read."""


@dataclass(frozen=True)
class BeirDataset:
    """A corpus with the judged queries of one split."""

    name: str
    split: str
    corpus: list[tuple[str, str, str]]  # (document id, title, text), in file order
    queries: dict[str, str]  # query id -> text, only queries judged in this split
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)


def _jsonl(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing; point `semsearch eval` at a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"
        )
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not a JSON object ({exc.msg}); fix or remove that line") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise DatasetError(f'{path}:{number}: no "_id" field; each line needs {{"_id": ..., ...}}')
            rows.append((number, row))
    return rows


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Judgments from a BEIR qrels file: query id -> {document id: relevance}."""
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.tsv")) if path.parent.is_dir() else []
        hint = f" (this folder has: {', '.join(available)})" if available else ""
        raise DatasetError(f"{path} is missing{hint}; pick another split with --split")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.rstrip("\r\n").split("\t")
            if not line.strip() or (number == 1 and len(fields) == 3 and not fields[2].lstrip("-").isdigit()):
                continue  # blank, or the "query-id corpus-id score" header
            if len(fields) != 3 or not fields[2].lstrip("-").isdigit():
                raise DatasetError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score; fix that line")
            qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    return qrels


def load_beir(folder: Path, split: str = "test") -> BeirDataset:
    """Read a BEIR folder: the whole corpus, and the queries that `qrels/{split}.tsv` judges."""
    if not folder.is_dir():
        raise DatasetError(f"no folder {folder}; pass a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    corpus = []
    seen: set[str] = set()
    for number, row in _jsonl(folder / "corpus.jsonl"):
        doc_id = str(row["_id"])
        if doc_id in seen:
            raise DatasetError(
                f"{folder / 'corpus.jsonl'}:{number}: the id {doc_id!r} is used twice; ids must be unique"
            )
        seen.add(doc_id)
        corpus.append((doc_id, str(row.get("title") or ""), str(row.get("text") or "")))
    all_queries = {str(row["_id"]): str(row.get("text") or "") for _, row in _jsonl(folder / "queries.jsonl")}
    missing = [query for query in qrels if query not in all_queries]
    if missing:
        raise DatasetError(
            f"{len(missing)} judged queries (e.g. {missing[0]!r}) are not in {folder / 'queries.jsonl'}; "
            "check that the qrels belong to this corpus"
        )
    queries = {query: all_queries[query] for query in qrels if any(rel > 0 for rel in qrels[query].values())}
    return BeirDataset(name=folder.resolve().name, split=split, corpus=corpus, queries=queries, qrels=qrels)


# -- the embedding cache ----------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$SEMSEARCH_CACHE_DIR, else $XDG_CACHE_HOME/semsearch, else ~/.cache/semsearch (shared with the fast path)."""
    from semsearch.model.bundled import cache_dir

    return cache_dir()


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """An embedder that remembers document vectors on disk by model and text, and query vectors in memory.

    Vectors live in `folder/embeddings/<model>-<dim>d/*.npz`, one file per batch embedded (merged into one when
    they pile up), each holding the sha256 of every text and its vector. Files are written whole and renamed
    into place, so a killed run leaves no half file; deleting the folder only costs a re-embedding.
    """

    def __init__(self, embedder: Embedder, folder: Path) -> None:
        self.model_id = embedder.model_id
        self.dim = embedder.dim
        self._embedder = embedder
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder.model_id).strip("_")
        self.folder = folder / "embeddings" / f"{slug}-{embedder.dim}d"
        self._vectors: dict[bytes, np.ndarray] | None = None
        self._queries: dict[str, np.ndarray] = {}
        self.embedded = 0  # documents embedded by this object (the rest came from the cache)

    def _known(self) -> dict[bytes, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            paths = sorted(self.folder.glob("*.npz"))
            for path in paths:
                try:
                    with np.load(path) as data:
                        keys, vectors = data["keys"], data["vectors"]
                except (OSError, ValueError, KeyError):
                    continue  # a damaged file is only lost work: those texts get embedded again
                if keys.dtype == np.uint8 and keys.shape == (len(vectors), 32) and vectors.shape[1:] == (self.dim,):
                    self._vectors.update(zip((row.tobytes() for row in keys), vectors.astype(np.float32)))
            if len(paths) > COMPACT_AFTER and self._vectors:
                # Many small batches make many files, each opened on every run: merge them into one.
                merged = self._save(list(self._vectors), np.stack(list(self._vectors.values())))
                for path in paths:
                    if path != merged:
                        path.unlink(missing_ok=True)
        return self._vectors

    def missing(self, texts: Sequence[str]) -> int:
        """How many distinct texts of `texts` the cache does not hold yet."""
        known = self._known()
        return len({key for key in map(_text_key, texts) if key not in known})

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Vectors for `texts`: cached ones read back, the others embedded and added to the cache."""
        known = self._known()
        keys = [_text_key(text) for text in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts):
            if key not in known:
                missing.setdefault(key, text)
        todo = list(missing.items())
        # Saved chunk by chunk, so an interrupted first run keeps most of its work.
        for start in range(0, len(todo), CACHE_CHUNK):
            chunk = todo[start : start + CACHE_CHUNK]
            fresh = self._embedder.embed_documents([text for _, text in chunk], progress=progress)
            self.embedded += len(chunk)
            known.update(zip((key for key, _ in chunk), fresh))
            self._save([key for key, _ in chunk], fresh)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = known[key]
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """The model's query vector, computed once per text for the life of this object."""
        if text not in self._queries:
            self._queries[text] = self._embedder.embed_query(text)
        return self._queries[text]

    def _save(self, keys: list[bytes], vectors: np.ndarray) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(b"".join(keys)).hexdigest()[:16]
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                # Raw digest bytes as a uint8 matrix: numpy's bytes dtype would drop a digest's trailing zero bytes.
                keys_matrix = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), 32)
                np.savez(handle, keys=keys_matrix, vectors=np.asarray(vectors, np.float32))
            os.replace(tmp, self.folder / f"{name}.npz")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return self.folder / f"{name}.npz"


# -- running an evaluation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalReport:
    """Each mode's measures over one split's judged queries."""

    dataset: str
    split: str
    default: str
    documents: int
    queries: int
    embedded: int
    modes: dict[str, dict[str, float]]

    def to_dict(self) -> dict:
        """The `--json` shape."""
        return {
            "dataset": self.dataset,
            "split": self.split,
            "default": self.default,
            "documents": self.documents,
            "queries": self.queries,
            "embedded": self.embedded,
            "modes": {mode: {name: round(value, 6) for name, value in m.items()} for mode, m in self.modes.items()},
        }


def build_index(
    folder: Path,
    dataset: BeirDataset,
    embedder: Embedder,
    progress: ProgressFactory | None = None,
    policy: index.MergePolicy = index.DEFAULT_POLICY,
) -> dict[int, str]:
    """Index the corpus in a new folder, each document a paper keyed by its BEIR id; returns paper id -> BEIR id.
    `policy` chooses the kind of FAISS file (benchmarks compare them on judged queries)."""
    source = f"beir:{dataset.name}"
    papers = tuple(
        DigestPaper(title=title, abstract=text, date=None, source=source, line=number, key=doc_id)
        for number, (doc_id, title, text) in enumerate(dataset.corpus, start=1)
    )
    index.update(folder, [Digest(source=source, dates=(), papers=papers)], embedder, progress=progress, policy=policy)
    with SearchIndex(folder) as search_index:
        return {search_index.resolve(doc_id).id: doc_id for doc_id, _, _ in dataset.corpus}


def run_queries(
    search_index: SearchIndex, dataset: BeirDataset, doc_ids: dict[int, str], mode: str, depth: int = EVAL_DEPTH
) -> Run:
    """Each judged query's ranked BEIR document ids in one mode."""
    return {
        query_id: [doc_ids[paper_id] for paper_id, _ in search_index.search(text, depth, mode=mode)]
        for query_id, text in dataset.queries.items()
    }


def evaluate(
    folder: Path,
    embedder: Embedder,
    split: str = "test",
    cache_dir: Path | None = None,
    modes: Sequence[str] | None = None,
    progress: ProgressFactory | None = None,
) -> EvalReport:
    """Index a BEIR folder's corpus in a throwaway index and score each mode; `cache_dir` None caches nothing."""
    dataset = load_beir(folder, split)
    if not dataset.corpus:
        raise DatasetError(f"{folder / 'corpus.jsonl'} holds no documents; nothing to evaluate")
    modes = list(modes or MODES)
    cached = EmbeddingCache(embedder, cache_dir) if cache_dir is not None else None
    used: Embedder = cached if cached is not None else embedder
    with tempfile.TemporaryDirectory(prefix="semsearch-eval-") as tmp:
        index_folder = Path(tmp) / "index"
        doc_ids = build_index(index_folder, dataset, used, progress)
        results: dict[str, dict[str, float]] = {}
        with SearchIndex(index_folder, used) as search_index:
            for mode in modes:
                run = run_queries(search_index, dataset, doc_ids, mode)
                results[mode] = evaluate_run(run, dataset.qrels, MEASURES)
    return EvalReport(
        dataset=dataset.name,
        split=split,
        default=DEFAULT_MODE,
        documents=len(dataset.corpus),
        queries=len(dataset.queries),
        embedded=cached.embedded if cached is not None else len(dataset.corpus),
        modes=results,
    )
