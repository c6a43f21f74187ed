"""Text to vectors: the only module that imports sentence-transformers (lazily, it costs seconds)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from semsearch.errors import ModelUnavailableError
from semsearch.model.bundled import (
    BUNDLED_MODEL_DIM,
    BUNDLED_MODEL_ID,
    BUNDLED_WEIGHTS_SHA256,
    CACHE_ENVVAR,
    MAX_TOKENS,
    bundled_model_dir,
    fast_query_dir,
    model_id_for,
)
from semsearch.model.precision import DEFAULT_PRECISION, FP32, INT8, PRECISIONS
from semsearch.progress import Progress

# semsearch.model.onnx is imported where it is used: `info`, `show` and `related` import this module through
# the index but never embed, and need not pay for the exporters' imports.

log = logging.getLogger("semsearch")

# Texts per encode() call: small enough for a smooth progress bar, large enough to batch well.
_CHUNK = 256



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


QUERY_BACKEND_ENVVAR = "SEMSEARCH_QUERY_BACKEND"


def _export_problem(folder: Path, precision: str = FP32) -> str | None:
    """Why the ONNX export in `folder` cannot serve the bundled weights at `precision`, or None when it can."""
    from semsearch.model.onnx import MANIFEST_NAME  # a cheap import: onnxruntime loads only with an encoder

    manifest_path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"no export in {folder}"
    except (OSError, ValueError) as exc:
        return f"{manifest_path} is unreadable ({exc.__class__.__name__})"
    if not isinstance(manifest, dict) or manifest.get("source_sha256") != BUNDLED_WEIGHTS_SHA256:
        return f"the export in {folder} comes from other weights"
    if manifest.get("precision", FP32) != precision:
        return f"the export in {folder} is {manifest.get('precision')}, not {precision}"
    return None


def _offline_and_quiet() -> None:
    """Settings the Hugging Face libraries read when first imported, so set before torch is loaded either way."""
    # Never let a missing file turn into a download attempt: the weights ship in a package.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Loading a local 90 MB file needs no progress bar, and stderr is for semsearch's own messages.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class SentenceTransformerEmbedder:
    """The bundled all-MiniLM-L6-v2: documents through sentence-transformers, questions through its ONNX export.

    Importing sentence-transformers costs ~5 s, so a one-question process embeds with onnxruntime instead
    (same fp32 vectors, cosine >= 0.999 in tests/test_fastpath.py). The export is made once, offline, the first
    time torch is loaded anyway (an update), and kept in the cache folder.
    """

    def __init__(
        self, model_dir: Path | None = None, batch_size: int = 32, device: str = "cpu", max_tokens: int = MAX_TOKENS
    ) -> None:
        self.model_id = model_id_for(FP32, max_tokens)
        self.dim = BUNDLED_MODEL_DIM
        self.max_tokens = max_tokens
        self._model_dir = model_dir
        self._batch_size = batch_size
        # "cuda" on a GPU worker of a Ray cluster (semsearch/model/cluster.py); questions always run on the CPU.
        self._device = device
        self._model = None
        self._fast = None
        self._fast_failed = os.environ.get(QUERY_BACKEND_ENVVAR, "").lower() == "torch"
        self._export_ready = False

    def _fast_encoder(self):
        """The onnxruntime encoder when a matching export exists, else None (never a wrong answer)."""
        if self._fast is not None or self._fast_failed:
            return self._fast
        folder = fast_query_dir()
        problem = _export_problem(folder)
        if problem is None:
            try:
                from semsearch.model import onnx

                self._fast = onnx.OnnxQueryEncoder(folder, max_tokens=self.max_tokens)
            except (ModelUnavailableError, ImportError) as exc:
                problem = str(exc)
        if problem is not None:
            self._fast_failed = True
            log.warning(
                "the fast query model is not ready (%s); answering through torch, which is slower, "
                "and preparing it for next time",
                problem,
            )
        return self._fast

    def prepare(self) -> None:
        """Make the one-time ONNX export for fast questions now, with a notice, rather than mid-embedding."""
        self.prepare_fast_queries(notice=True)

    def prepare_fast_queries(self, notice: bool = False) -> None:
        """Export the model to ONNX for torch-free questions, unless a matching export exists (checked once)."""
        if self._export_ready:
            return
        folder = fast_query_dir()
        if _export_problem(folder) is not None:
            _offline_and_quiet()  # the export may be what imports transformers first (prepare() runs before _load)
            if notice:
                log.info("Preparing the model for fast questions, once per machine...")
            try:
                from semsearch.model import onnx

                folder.mkdir(parents=True, exist_ok=True)
                onnx.export_onnx(self._model_dir or bundled_model_dir(), folder, model_id=BUNDLED_MODEL_ID)
            except Exception as exc:  # noqa: BLE001 - questions still work through torch; say so and go on
                log.warning("could not prepare the fast query model in %s (%s); questions will use torch", folder, exc)
        # Tried once per embedder: a failed export is not retried for every chunk of a long update.
        self._export_ready = True

    def _load(self):
        if self._model is None:
            _offline_and_quiet()
            model_dir = self._model_dir or bundled_model_dir()
            try:
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(str(model_dir), device=self._device)
            except Exception as exc:  # any loader failure means the same thing to a user
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
            model.max_seq_length = self.max_tokens
            self._model = model
        return self._model

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed abstracts in length-sorted chunks (less padding per batch), reporting progress per chunk."""
        model = self._load()
        self.prepare_fast_queries()  # torch is loaded now, so the one-time export costs only its own seconds
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
        """Embed one question: through onnxruntime when the export is ready, else through torch."""
        fast = self._fast_encoder()
        if fast is not None:
            return fast.embed_query(text)
        model = self._load()
        vectors = model.encode_query(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        if os.environ.get(QUERY_BACKEND_ENVVAR, "").lower() != "torch":
            self.prepare_fast_queries()
        return np.asarray(vectors[0], dtype=np.float32)


class QuantizedEmbedder:
    """The bundled model with int8 weights: documents and questions through one onnxruntime session, no torch.

    The int8 export is derived from the fp32 one, once, in the cache folder. When it is missing or damaged it is
    made again (torch is needed only if the fp32 export is missing too), with a one-line notice: an int8 index is
    never asked with fp32 vectors.
    """

    def __init__(self, model_dir: Path | None = None, threads: int | None = None, max_tokens: int = MAX_TOKENS) -> None:
        self.model_id = model_id_for(INT8, max_tokens)
        self.dim = BUNDLED_MODEL_DIM
        self.max_tokens = max_tokens
        self._model_dir = model_dir
        # Parallel one-text calls for documents (default: this machine's cores, at most 4); a Ray worker passes
        # the CPUs the cluster gave it, as every core of its node is visible to it.
        self._threads = threads
        self._encoder = None

    def _load(self):
        if self._encoder is None:
            from semsearch.model import onnx

            folder = fast_query_dir(INT8)
            problem = _export_problem(folder, INT8)
            # One intra-op thread: documents run one per call on parallel calls (embed_each), and a question
            # is too short to gain from a second thread (3.1 ms against 3.3 ms median on SciFact claims).
            if problem is None:
                try:
                    self._encoder = onnx.OnnxQueryEncoder(folder, threads=1, max_tokens=self.max_tokens)
                except ModelUnavailableError as exc:
                    problem = str(exc)
            if problem is not None:
                # A notice, not a warning: a first run on a machine always gets here, and nothing is wrong.
                log.info("Preparing the int8 model, once per machine (about 10 s; %s)...", problem)
                self._prepare(folder)
                self._encoder = onnx.OnnxQueryEncoder(folder, threads=1, max_tokens=self.max_tokens)
        return self._encoder

    def prepare(self) -> None:
        """Load the int8 model now, making its export first if this machine has none (once, with a notice)."""
        self._load()

    def _prepare(self, folder: Path) -> None:
        """Quantize the fp32 export into `folder`, exporting the fp32 one first when it is not ready."""
        from semsearch.model import onnx

        fp32_folder = fast_query_dir(FP32)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if _export_problem(fp32_folder, FP32) is None:
                try:
                    onnx.quantize_export(fp32_folder, folder)
                    return
                except ModelUnavailableError as exc:  # e.g. damaged fp32 files under an intact manifest
                    log.warning("exporting the fp32 model again (%s)", exc)
            fp32_folder.mkdir(parents=True, exist_ok=True)
            onnx.export_onnx(self._model_dir or bundled_model_dir(), fp32_folder, model_id=BUNDLED_MODEL_ID)
            onnx.quantize_export(fp32_folder, folder)
        except ModelUnavailableError as exc:
            raise ModelUnavailableError(
                f"could not prepare the int8 model ({exc}); run `bash scripts/setup`, "
                "or re-embed the index with `semsearch rebuild --precision fp32`"
            ) from exc
        except OSError as exc:
            raise ModelUnavailableError(
                f"could not write the int8 model to {folder} ({exc.strerror or exc}); "
                f"make it writable or point {CACHE_ENVVAR} elsewhere"
            ) from exc

    def embed_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed abstracts one per call on every core, so each vector depends on its text alone."""
        return self._load().embed_each(texts, progress, workers=self._threads)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one question with the same int8 session, and the same call, as the documents."""
        return self._load().embed_query(text)


def bundled_embedder(
    precision: str = DEFAULT_PRECISION, device: str = "cpu", threads: int | None = None, max_tokens: int = MAX_TOKENS
) -> Embedder:
    """The bundled model at `precision` (fp32 or int8) reading `max_tokens` word pieces; fp32 may run on a GPU
    (`device="cuda"`), int8 only on CPUs, with `threads` parallel calls."""
    if precision == FP32:
        return SentenceTransformerEmbedder(device=device, max_tokens=max_tokens)
    if precision == INT8:
        if device != "cpu":
            raise ValueError(f"the int8 model runs on CPUs only, not on {device!r}")
        return QuantizedEmbedder(threads=threads, max_tokens=max_tokens)
    raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


EMBEDDER_ENVVAR = "SEMSEARCH_EMBEDDER"


def embedder_from_spec(spec: str | None = None, precision: str | None = None, max_tokens: int = MAX_TOKENS) -> Embedder:
    """The bundled model, or the embedder a `module:factory` spec names (from SEMSEARCH_EMBEDDER when not given).

    The spec is how another model plugs in without code changes here, and how tests run real processes with a
    small deterministic embedder. `precision` and `max_tokens` pick the bundled model's variant and apply only to it.
    """
    spec = spec if spec is not None else os.environ.get(EMBEDDER_ENVVAR, "")
    if not spec:
        return bundled_embedder(precision or DEFAULT_PRECISION, max_tokens=max_tokens)
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
