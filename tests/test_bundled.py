"""What semsearch knows about the packaged model (no model loaded): ids, variants, cache folders, import order."""

from __future__ import annotations

import subprocess
import sys

from semsearch.model.bundled import (
    BUNDLED_MODEL_ID,
    LEGACY_MAX_TOKENS,
    MAX_TOKENS,
    cache_dir,
    fast_query_dir,
    model_id_for,
    precision_of,
    variant_of,
)
from semsearch.model.precision import FP32, INT8


def test_model_ids_name_their_variant():
    assert model_id_for(FP32) == f"{BUNDLED_MODEL_ID}@fp32-512" and model_id_for(INT8) == f"{BUNDLED_MODEL_ID}@int8-512"
    assert precision_of(model_id_for(INT8)) == INT8 and precision_of(model_id_for(FP32)) == FP32
    assert precision_of("test/hashing-bag-of-words") is None and precision_of(None) is None


def test_indexes_embedded_before_whole_abstracts_keep_their_meaning():
    """Indexes on disk record these ids: they must still name the 256-word-piece variants, or an update would mix
    vectors made two ways."""
    assert variant_of(BUNDLED_MODEL_ID) == (FP32, LEGACY_MAX_TOKENS)
    assert variant_of(f"{BUNDLED_MODEL_ID}@int8") == (INT8, LEGACY_MAX_TOKENS)
    ids = {model_id_for(p, n) for p in (FP32, INT8) for n in (LEGACY_MAX_TOKENS, MAX_TOKENS)}
    assert len(ids) == 4 and all(variant_of(model_id) is not None for model_id in ids)
    assert variant_of("test/hashing-bag-of-words") is None


def test_the_model_has_a_position_for_every_word_piece_it_reads():
    import json

    from semsearch.model.bundled import bundled_model_dir

    config = json.loads((bundled_model_dir() / "config.json").read_text(encoding="utf-8"))
    assert config["max_position_embeddings"] >= MAX_TOKENS > LEGACY_MAX_TOKENS


def test_exports_live_in_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMSEARCH_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert fast_query_dir(FP32).parent == fast_query_dir(INT8).parent == tmp_path / "onnx"
    assert fast_query_dir(FP32) != fast_query_dir(INT8)


def test_the_exporters_do_not_import_the_embedders():
    """onnx and embed share bundled; onnx must not need embed (they imported each other before)."""
    code = (
        "import sys\n"
        "import semsearch.model.onnx\n"
        "print('EMBED', 'semsearch.model.embed' in sys.modules, 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "EMBED False False" in result.stdout
