"""What semsearch knows about the packaged model (no model loaded): ids, variants, cache folders, import order."""

from __future__ import annotations

import subprocess
import sys

from semsearch.model.bundled import BUNDLED_MODEL_ID, cache_dir, fast_query_dir, model_id_for, precision_of
from semsearch.model.precision import FP32, INT8


def test_model_ids_name_their_variant():
    assert model_id_for(FP32) == BUNDLED_MODEL_ID and model_id_for(INT8) == f"{BUNDLED_MODEL_ID}@int8"
    assert precision_of(model_id_for(INT8)) == INT8 and precision_of(model_id_for(FP32)) == FP32
    assert precision_of("test/hashing-bag-of-words") is None and precision_of(None) is None


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
