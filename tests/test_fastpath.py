"""The ONNX fast path against the real sentence-transformers model (exported once per module)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semsearch.errors import ModelUnavailableError
from semsearch.model.bundled import BUNDLED_WEIGHTS_SHA256, bundled_model_dir, file_sha256
from semsearch.model.onnx import (
    DATA_NAME,
    MANIFEST_NAME,
    ONNX_NAME,
    OPTIMIZED_PREFIX,
    TOKENIZER_NAME,
    OnnxQueryEncoder,
    export_onnx,
)

pytestmark = pytest.mark.model

MIN_COSINE = 0.999
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")


@pytest.fixture(scope="module")
def model_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 folder."""
    return bundled_model_dir()


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, model_dir: Path) -> Path:
    """One export shared by the module (tests must not modify it)."""
    return export_onnx(model_dir, tmp_path_factory.mktemp("fastpath") / "onnx", model_id="test/minilm")


@pytest.fixture(scope="module")
def encoder(export_dir: Path) -> OnnxQueryEncoder:
    """An encoder over the shared export."""
    return OnnxQueryEncoder(export_dir)


@pytest.fixture(scope="module")
def reference(model_dir: Path):
    """The model through sentence-transformers, the vectors the fast path must reproduce."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def papers(arxiv_papers: list[dict]) -> list[dict]:
    """The first 1,000 papers of the arXiv sample."""
    return arxiv_papers


@pytest.fixture(scope="module")
def long_abstracts(papers: list[dict], encoder: OnnxQueryEncoder) -> list[str]:
    """Abstracts longer than max_seq_length tokens, so truncation decides their vectors."""
    from tokenizers import Tokenizer

    counter = Tokenizer.from_file(str(encoder.export_dir / TOKENIZER_NAME))
    counter.no_truncation()
    texts = [p["abstract"] for p in papers if len(counter.encode(p["abstract"]).ids) > encoder.max_seq_length + 20]
    assert len(texts) >= 12, "the sample should hold enough long abstracts"
    return texts[:24]


def _reference_queries(reference, texts: list[str]) -> np.ndarray:
    return reference.encode_query(
        texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False, batch_size=64
    )


def test_export_writes_model_tokenizer_and_manifest(export_dir: Path, model_dir: Path):
    manifest = json.loads((export_dir / MANIFEST_NAME).read_text())
    assert manifest["source_sha256"] == BUNDLED_WEIGHTS_SHA256
    for name in (ONNX_NAME, DATA_NAME, TOKENIZER_NAME):
        assert manifest["files"][name] == {
            "sha256": file_sha256(export_dir / name),
            "size": (export_dir / name).stat().st_size,
        }
    assert manifest["max_seq_length"] == json.loads((model_dir / "sentence_bert_config.json").read_text())[
        "max_seq_length"
    ]
    assert manifest["dim"] == 384 and manifest["pooling"] == "mean" and manifest["opset"] >= 13
    assert manifest["torch_version"] and manifest["onnx_version"] and manifest["model_id"] == "test/minilm"
    assert (export_dir / TOKENIZER_NAME).read_bytes() == (model_dir / TOKENIZER_NAME).read_bytes()
    # Atomic writes leave no temporary files behind (a session may have saved its optimized graph beside them).
    names = sorted(p.name for p in export_dir.iterdir() if not p.name.startswith(OPTIMIZED_PREFIX))
    assert names == sorted([MANIFEST_NAME, ONNX_NAME, DATA_NAME, TOKENIZER_NAME])


def test_export_is_deterministic(export_dir: Path, model_dir: Path, tmp_path: Path):
    again = export_onnx(model_dir, tmp_path / "again", model_id="test/minilm")
    assert (again / ONNX_NAME).read_bytes() == (export_dir / ONNX_NAME).read_bytes()
    assert file_sha256(again / DATA_NAME) == file_sha256(export_dir / DATA_NAME)
    assert (again / MANIFEST_NAME).read_bytes() == (export_dir / MANIFEST_NAME).read_bytes()


def test_queries_match_sentence_transformers_on_1000_titles(encoder, reference, papers):
    titles = [p["title"] for p in papers]
    ours = np.stack([encoder.embed_query(t) for t in titles])
    theirs = _reference_queries(reference, titles)
    assert ours.shape == (1000, 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(ours * theirs, axis=1)
    worst = int(np.argmin(cosines))
    assert cosines[worst] >= MIN_COSINE, (titles[worst], float(cosines[worst]))


def test_long_abstracts_are_truncated_like_sentence_transformers(encoder, reference, long_abstracts):
    ours = np.stack([encoder.embed_query(t) for t in long_abstracts])
    cosines = np.sum(ours * _reference_queries(reference, long_abstracts), axis=1)
    assert cosines.min() >= MIN_COSINE, float(cosines.min())
    # Past max_seq_length nothing counts: extra words at the end leave the vector unchanged.
    assert np.allclose(encoder.embed_query(long_abstracts[0] + " quantum gravity kittens"), ours[0], atol=1e-6)


def test_documents_in_padded_batches_match_sentence_transformers(encoder, reference, papers, long_abstracts):
    # Mixed lengths put heavy padding in each batch, which mean pooling must ignore.
    texts = long_abstracts[:8] + [p["title"] for p in papers[:40]] + [p["abstract"] for p in papers[40:60]]
    ticks: list[int] = []
    ours = encoder.embed_documents(texts, progress=ticks.append, batch_size=16)
    theirs = reference.encode_document(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=16)
    assert ours.shape == (len(texts), 384) and sum(ticks) == len(texts)
    assert np.sum(ours * theirs, axis=1).min() >= MIN_COSINE
    assert encoder.embed_documents([]).shape == (0, 384)


@pytest.mark.parametrize("text", ["", "   ", "Ünïcödé naïve café", "检索增强生成", "x" * 5000, "a\tb\nc"])
def test_odd_queries_match_sentence_transformers(encoder, reference, text):
    ours = encoder.embed_query(text)
    theirs = _reference_queries(reference, [text])[0]
    assert float(ours @ theirs) >= MIN_COSINE


def test_query_path_imports_no_torch(export_dir: Path):
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from semsearch.model.onnx import OnnxQueryEncoder\n"
        "vector = OnnxQueryEncoder(Path(sys.argv[1])).embed_query('does this import torch?')\n"
        "assert vector.shape == (384,)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", code, str(export_dir)], check=False, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _copy_export(export_dir: Path, target: Path, *, link: tuple[str, ...] = (ONNX_NAME, DATA_NAME)) -> Path:
    """A writable copy of the export; the files in `link` are symlinks (the 90 MB of weights need no copy)."""
    target.mkdir()
    for name in (MANIFEST_NAME, TOKENIZER_NAME, ONNX_NAME, DATA_NAME):
        if name in link:
            (target / name).symlink_to(export_dir / name)
        else:
            shutil.copy(export_dir / name, target / name)
    return target


def test_a_copy_with_linked_files_loads(export_dir: Path, tmp_path: Path, encoder):
    # The corruption tests below rely on these copies; a failure there must mean the corruption was seen.
    copy = _copy_export(export_dir, tmp_path / "copy")
    assert np.array_equal(OnnxQueryEncoder(copy, check_integrity=True).embed_query("x"), encoder.embed_query("x"))


def test_garbage_model_onnx_raises_model_unavailable(export_dir: Path, tmp_path: Path):
    broken = _copy_export(export_dir, tmp_path / "broken", link=(DATA_NAME,))
    size = (broken / ONNX_NAME).stat().st_size
    (broken / ONNX_NAME).write_bytes(os.urandom(size))  # same size, so only the parser can tell
    with pytest.raises(ModelUnavailableError) as caught:
        OnnxQueryEncoder(broken)
    assert "\n" not in str(caught.value)


def test_truncated_weights_raise_model_unavailable(export_dir: Path, tmp_path: Path):
    broken = _copy_export(export_dir, tmp_path / "truncated", link=(ONNX_NAME,))
    with open(export_dir / DATA_NAME, "rb") as source:
        (broken / DATA_NAME).write_bytes(source.read(1 << 20))
    with pytest.raises(ModelUnavailableError, match="damaged"):
        OnnxQueryEncoder(broken)


def test_flipped_weight_byte_is_caught_by_integrity_check(export_dir: Path, tmp_path: Path):
    broken = _copy_export(export_dir, tmp_path / "flipped", link=(ONNX_NAME,))
    data = bytearray((export_dir / DATA_NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a weight tensor: it still loads, so only the hash can tell
    (broken / DATA_NAME).write_bytes(bytes(data))
    with pytest.raises(ModelUnavailableError, match="sha256"):
        OnnxQueryEncoder(broken, check_integrity=True)


def test_missing_export_raises_model_unavailable(export_dir: Path, tmp_path: Path):
    with pytest.raises(ModelUnavailableError):
        OnnxQueryEncoder(tmp_path / "nothing-here")
    no_manifest = _copy_export(export_dir, tmp_path / "no-manifest")
    (no_manifest / MANIFEST_NAME).unlink()
    with pytest.raises(ModelUnavailableError):
        OnnxQueryEncoder(no_manifest)
    bad_manifest = _copy_export(export_dir, tmp_path / "bad-manifest")
    (bad_manifest / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelUnavailableError):
        OnnxQueryEncoder(bad_manifest)


def test_verify_detects_a_stale_export(export_dir: Path, model_dir: Path, tmp_path: Path, encoder):
    assert encoder.verify(model_dir) is True
    stale = _copy_export(export_dir, tmp_path / "stale")
    manifest = json.loads((stale / MANIFEST_NAME).read_text())
    manifest["source_sha256"] = "0" * 64
    (stale / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert OnnxQueryEncoder(stale).verify(model_dir) is False
    assert encoder.verify(tmp_path / "no-model-here") is False


def test_export_refuses_a_pooling_it_does_not_implement(model_dir: Path, tmp_path: Path):
    # Only the config differs; the export must fail before it loads any weights.
    other = tmp_path / "cls-model"
    shutil.copytree(model_dir, other, ignore=shutil.ignore_patterns("model.safetensors"))
    (other / "model.safetensors").symlink_to(model_dir / "model.safetensors")
    config = json.loads((other / "1_Pooling" / "config.json").read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (other / "1_Pooling" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelUnavailableError, match="mean pooling"):
        export_onnx(other, tmp_path / "out")
    assert not (tmp_path / "out").exists()
