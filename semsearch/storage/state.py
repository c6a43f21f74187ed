"""The committed state of an index as one typed record, and one loader for each file derived from the database.

The database is the truth; the FAISS file and the word index file are derived from it at each merge and named by
the state the same transaction commits. Every reader of those files (the writer extending them, `check`, the
search side) goes through `load_vector_file` and `load_word_file`, so "is this file the one the state names, and
does it hold what the state says" is decided in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from semsearch.errors import IndexCorruptError
from semsearch.storage.vectors import DEFAULT_NPROBE, FLAT_FACTORY, VectorIndex
from semsearch.storage.wordindex import Postings

VECTOR_FILE_PATTERN = re.compile(r"^vectors-(\d+)\.faiss(\.tmp)?$")
WORD_FILE_PATTERN = re.compile(r"^words-(\d+)\.bin(\.tmp)?$")


@dataclass(frozen=True)
class DerivedFiles:
    """The FAISS and word index files of the last merge, and what they hold."""

    generation: int = 0
    vector_file: str | None = None
    vector_count: int = 0
    # Files written before the factory was recorded are float32 exact indexes.
    factory: str = FLAT_FACTORY
    nprobe: int = DEFAULT_NPROBE
    # The collection size an IVF index was trained at (0: not approximate), to know when to train it anew.
    ivf_trained_on: int = 0
    word_file: str | None = None
    word_count: int = 0

    def next_names(self) -> tuple[int, str, str]:
        """The generation, vector file name and word file name the next merge writes."""
        generation = self.generation + 1
        return generation, f"vectors-{generation:06d}.faiss", f"words-{generation:06d}.bin"


@dataclass(frozen=True)
class IndexState:
    """What the database records about an index besides its papers: the model, the times, the derived files."""

    model: str | None = None
    dim: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    files: DerivedFiles = field(default_factory=DerivedFiles)


def load_vector_file(folder: Path, files: DerivedFiles, dim: int) -> VectorIndex:
    """The committed FAISS file; IndexCorruptError when none is recorded, or it is missing, unreadable or out of
    step with the database."""
    if files.vector_file is None:
        raise IndexCorruptError("no vector file is recorded")
    path = folder / files.vector_file
    if not path.is_file():
        raise IndexCorruptError(f"the vector file {files.vector_file} is missing")
    vectors = VectorIndex.load(path, dim, files.factory, files.nprobe)
    if vectors.size != files.vector_count:
        raise IndexCorruptError(
            f"the vector file {files.vector_file} holds {vectors.size} vectors, not the {files.vector_count} recorded"
        )
    return vectors


def load_word_file(folder: Path, files: DerivedFiles, verify: bool = False) -> Postings:
    """The committed word index file (`verify`: its checksum too); IndexCorruptError when none is recorded, or it
    is missing, unreadable, damaged or out of step with the database."""
    if files.word_file is None:
        raise IndexCorruptError("no word index file is recorded")
    path = folder / files.word_file
    if not path.is_file():
        raise IndexCorruptError(f"the word index file {files.word_file} is missing")
    postings = Postings.load(path, verify=verify)
    if postings.size != files.word_count:
        raise IndexCorruptError(
            f"the word index file {files.word_file} holds {postings.size} papers, not the {files.word_count} recorded"
        )
    return postings


def is_derived_file(name: str) -> bool:
    """Whether a file name is one a merge writes (a FAISS or word index file, or its temporary)."""
    return bool(VECTOR_FILE_PATTERN.match(name) or WORD_FILE_PATTERN.match(name))
