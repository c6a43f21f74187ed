"""A small deterministic embedder for storage and CLI tests: hashed bag of words, unit length."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence

import numpy as np

# Common words would otherwise dominate every vector and drown the words that tell papers apart.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or our that the this to we which with".split()
)


class HashingEmbedder:
    """Texts sharing words get similar vectors; no model, no randomness, microseconds per text."""

    def __init__(self, dim: int = 256, model_id: str = "test/hashing-bag-of-words") -> None:
        self.model_id = model_id
        self.dim = dim
        self.documents_embedded = 0
        self.fail_after: int | None = None  # raise after embedding this many documents (crash injection)

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.lower()):
            if word in _STOPWORDS:
                continue
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            slot = int.from_bytes(digest[:4], "little") % self.dim
            sign = 1.0 if digest[4] & 1 else -1.0
            vector[slot] += sign
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed documents, optionally failing part-way like a killed process would."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            if self.fail_after is not None and self.documents_embedded >= self.fail_after:
                raise KeyboardInterrupt("injected interruption while embedding")
            out[i] = self._vector(text)
            self.documents_embedded += 1
        if progress is not None:
            progress(len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed a question the same way as a document."""
        return self._vector(text)


class SlowHashingEmbedder(HashingEmbedder):
    """The hashing embedder at a model-like pace, so a test can kill a process in the middle of an update."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds_per_document = float(os.environ.get("FAKE_EMBED_SECONDS", "0.0005"))

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed after a pause proportional to the batch."""
        time.sleep(self.seconds_per_document * len(texts))
        return super().embed_documents(texts, progress)
