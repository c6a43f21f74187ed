"""The bundled model's input word-piece vectors, read from its weights file without torch: cheap sentence vectors.

Running the model over the ~100 sentences of ten abstracts takes seconds on two cores; averaging the
word-piece vectors of the model's first layer takes milliseconds, and on SciFact's evidence sentences
picks the sentence an annotator marked nearly as often (README, "Why it matched").
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from semsearch.errors import ModelUnavailableError
from semsearch.model.bundled import bundled_model_dir
from semsearch.search.lexical import STOPWORDS

_TABLE = "embeddings.word_embeddings.weight"


class WordVectors:
    """Sentence vectors as the mean of the model's input vectors of their word pieces (stopwords left out)."""

    def __init__(self, model_dir: Path) -> None:
        from tokenizers import Tokenizer  # installed with sentence-transformers; imported only when asked

        weights = model_dir / "model.safetensors"
        try:
            with open(weights, "rb") as handle:
                header_size = struct.unpack("<Q", handle.read(8))[0]
                header = json.loads(handle.read(header_size))
            entry = header[_TABLE]
            if entry["dtype"] != "F32" or len(entry["shape"]) != 2:
                raise ValueError(f"{_TABLE} is {entry['dtype']} {entry['shape']}")
            start, _end = entry["data_offsets"]
            # Mapped, not read: only the rows of the word pieces in use are ever loaded.
            self._table = np.memmap(
                weights, dtype="<f4", mode="r", offset=8 + header_size + start, shape=tuple(entry["shape"])
            )
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, KeyError, ValueError, struct.error) as exc:
            raise ModelUnavailableError(
                f"cannot read the word vectors of {model_dir} ({exc}); reinstall the model with `bash scripts/setup`"
            ) from exc
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        special = {self._tokenizer.token_to_id(token) for token in ("[CLS]", "[SEP]", "[PAD]", "[UNK]")}
        # Stopwords say nothing about a sentence's topic; neither do [CLS] and [SEP].
        self._skipped = {self._tokenizer.token_to_id(word) for word in STOPWORDS} | special
        self._skipped.discard(None)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text (all zeros for a text with no content word)."""
        out = np.zeros((len(texts), self._table.shape[1]), dtype=np.float32)
        for row, encoding in enumerate(self._tokenizer.encode_batch(list(texts))):
            ids = [i for i in encoding.ids if i not in self._skipped]
            if ids:
                vector = np.asarray(self._table[ids], dtype=np.float32).mean(axis=0)
                norm = float(np.linalg.norm(vector))
                out[row] = vector / norm if norm else vector
        return out


@lru_cache(maxsize=1)
def bundled_word_vectors() -> WordVectors:
    """The bundled model's word vectors, mapped once per process."""
    return WordVectors(bundled_model_dir())
