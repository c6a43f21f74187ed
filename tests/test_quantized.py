"""The int8 variant of the bundled model: how it is made, how close it stays to fp32, and how an index keeps it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semsearch.errors import ModelMismatchError, ModelUnavailableError
from semsearch.keys import document_text
from semsearch.model.bundled import MAX_TOKENS, fast_query_dir, file_sha256, model_id_for, precision_of
from semsearch.model.embed import QuantizedEmbedder, SentenceTransformerEmbedder
from semsearch.model.onnx import (
    DATA_NAME,
    MANIFEST_NAME,
    ONNX_NAME,
    OPTIMIZED_PREFIX,
    OnnxQueryEncoder,
    optimized_name,
    quantize_export,
)
from semsearch.model.precision import DEFAULT_PRECISION, FP32, INT8
from semsearch.search import SearchIndex

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def arxiv(arxiv_papers: list[dict]) -> list[dict]:
    """The first 1,000 real arXiv records."""
    return arxiv_papers


@pytest.fixture(scope="module")
def claims(data_dir: Path) -> list[str]:
    """Real questions: 300 SciFact claims."""
    with open(data_dir / "scifact" / "queries.jsonl", encoding="utf-8") as handle:
        return [json.loads(line)["text"] for line, _ in zip(handle, range(300))]


def _use_a_copy_of_the_exports(target_cache: Path, monkeypatch) -> None:
    """Point the cache at `target_cache`, holding a copy of the session's fp32 and int8 exports."""
    for precision in (FP32, INT8):
        source = fast_query_dir(precision)
        shutil.copytree(source, target_cache / source.relative_to(source.parents[1]))
    monkeypatch.setenv("SEMSEARCH_CACHE_DIR", str(target_cache))


def test_int8_export_records_its_recipe_and_is_smaller(int8_embedder):
    folder = fast_query_dir(INT8)
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["precision"] == INT8 and manifest["quantization"]["reduce_range"] is False
    assert "per output channel" in manifest["quantization"]["weights"]
    assert set(manifest["files"]) == {ONNX_NAME, DATA_NAME, "tokenizer.json"}
    for name, entry in manifest["files"].items():
        assert file_sha256(folder / name) == entry["sha256"]
    assert manifest["files"][DATA_NAME]["size"] < 0.7 * manifest["fp32_files"][DATA_NAME]["size"]


def test_quantizing_again_gives_the_same_file(int8_embedder, tmp_path: Path):
    again = quantize_export(fast_query_dir(FP32), tmp_path / "int8")
    for name in (ONNX_NAME, DATA_NAME):
        assert file_sha256(again / name) == file_sha256(fast_query_dir(INT8) / name)


def test_quantizing_refuses_an_export_that_is_not_fp32(int8_embedder, tmp_path: Path):
    with pytest.raises(ModelUnavailableError, match="not fp32"):
        quantize_export(fast_query_dir(INT8), tmp_path / "twice")


@pytest.mark.slow
def test_int8_abstracts_stay_close_to_fp32(int8_embedder, arxiv):
    texts = [document_text(r["title"], r["abstract"]) for r in arxiv[:300]]
    fp32 = OnnxQueryEncoder(fast_query_dir(FP32), max_tokens=MAX_TOKENS).embed_documents(texts)
    cosines = np.sum(fp32 * int8_embedder.embed_documents(texts), axis=1)
    assert cosines.min() >= 0.98 and cosines.mean() >= 0.99, (cosines.min(), cosines.mean())


def test_int8_questions_and_documents_get_the_same_vectors_and_rankings(int8_embedder, arxiv, claims):
    """1,000 titles and 300 claims: the query path and the document path agree, so rankings agree."""
    texts = [r["title"] for r in arxiv] + claims
    as_documents = int8_embedder.embed_documents(texts)
    as_questions = np.stack([int8_embedder.embed_query(text) for text in texts])
    assert np.sum(as_documents * as_questions, axis=1).min() >= 0.999
    titles_as_documents, titles_as_questions = as_documents[: len(arxiv)], as_questions[: len(arxiv)]
    for claim in as_questions[len(arxiv) :]:
        top_a = np.argsort(-(titles_as_documents @ claim), kind="stable")[:10]
        top_b = np.argsort(-(titles_as_questions @ claim), kind="stable")[:10]
        assert list(top_a) == list(top_b)


def test_a_document_vector_does_not_depend_on_its_companions(int8_embedder, arxiv):
    texts = [document_text(r["title"], r["abstract"]) for r in arxiv[:40]]
    alone = int8_embedder.embed_documents(texts[:1])[0]
    with_others = int8_embedder.embed_documents(texts)[0]
    assert float(alone @ with_others) >= 0.99999


def test_the_saved_optimized_graph_gives_the_same_bits_and_is_saved_once(int8_embedder, arxiv, claims, tmp_path,
                                                                          monkeypatch):
    _use_a_copy_of_the_exports(tmp_path / "cache", monkeypatch)
    folder = fast_query_dir(INT8)
    for path in folder.glob(f"{OPTIMIZED_PREFIX}*"):
        path.unlink()
    texts = claims[:60] + [document_text(r["title"], r["abstract"]) for r in arxiv[:40]]
    # check_integrity loads the export's own files, optimized in memory at each session: what every session did.
    as_before = OnnxQueryEncoder(folder, threads=1, check_integrity=True)
    expected = as_before.embed_each(texts, workers=1), as_before.embed_documents(texts[:8])

    first = OnnxQueryEncoder(folder, threads=1)  # saves the optimized graph
    name = optimized_name(json.loads((folder / MANIFEST_NAME).read_text())["files"])
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith((OPTIMIZED_PREFIX, "."))) == [
        name,
        f"{name}.data",
    ]

    def never(*args, **kwargs):
        raise AssertionError("the saved graph should have been loaded")

    with monkeypatch.context() as patched:
        patched.setattr(OnnxQueryEncoder, "_save_optimized", never)
        later = OnnxQueryEncoder(folder, threads=1)  # loads it as it is
    # Damaged (a new file: the sessions above map the old one, and cutting a mapped file short kills the process):
    # loading it fails, so it is saved again.
    (tmp_path / "short").write_bytes(b"\0" * 1000)
    os.replace(tmp_path / "short", folder / f"{name}.data")
    after_damage = OnnxQueryEncoder(folder, threads=1)
    assert (folder / f"{name}.data").stat().st_size > 1000
    for encoder in (first, later, after_damage):
        assert np.array_equal(encoder.embed_each(texts, workers=1), expected[0])
        assert np.array_equal(encoder.embed_documents(texts[:8]), expected[1])  # padded batches too
        assert np.array_equal(encoder.embed_query(texts[0]), expected[0][0])


def test_a_missing_or_damaged_int8_export_is_made_again_with_a_notice(int8_embedder, tmp_path, monkeypatch, caplog):
    _use_a_copy_of_the_exports(tmp_path / "cache", monkeypatch)
    expected = int8_embedder.embed_query("graph neural networks for molecules")
    folder = fast_query_dir(INT8)
    for damage in (lambda: shutil.rmtree(folder), lambda: (folder / ONNX_NAME).write_bytes(b"not a model")):
        damage()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="semsearch"):
            got = QuantizedEmbedder().embed_query("graph neural networks for molecules")
        # A notice (INFO), not a warning: preparing the model once per machine is not a problem.
        assert [r.levelno for r in caplog.records if "Preparing the int8 model" in r.getMessage()] == [logging.INFO]
        assert float(got @ expected) >= 0.99999


def test_a_damaged_fp32_export_is_made_again_before_quantizing(int8_embedder, tmp_path, monkeypatch, caplog):
    _use_a_copy_of_the_exports(tmp_path / "cache", monkeypatch)
    expected = int8_embedder.embed_query("graph neural networks for molecules")
    shutil.rmtree(fast_query_dir(INT8))
    weights = fast_query_dir(FP32) / DATA_NAME
    weights.write_bytes(b"\0" * weights.stat().st_size)  # same size: only the hash tells
    with caplog.at_level(logging.WARNING, logger="semsearch"):
        got = QuantizedEmbedder().embed_query("graph neural networks for molecules")
    assert any("exporting the fp32 model again" in r.getMessage() for r in caplog.records)
    assert float(got @ expected) >= 0.99999


def test_an_unwritable_cache_is_a_one_line_error(int8_embedder, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("SEMSEARCH_CACHE_DIR", str(blocker))
    with pytest.raises(ModelUnavailableError) as caught:
        QuantizedEmbedder().embed_query("anything")
    assert "\n" not in str(caught.value) and "SEMSEARCH_CACHE_DIR" in str(caught.value)


def test_new_indexes_are_int8():
    assert DEFAULT_PRECISION == INT8 and precision_of(QuantizedEmbedder().model_id) == INT8


def test_an_int8_index_records_its_variant_and_refuses_fp32_vectors(int8_seed_index):
    with SearchIndex(int8_seed_index) as search_index:
        assert search_index.info().model == model_id_for(INT8)
    with (
        SearchIndex(int8_seed_index, SentenceTransformerEmbedder()) as search_index,
        pytest.raises(ModelMismatchError, match="@int8-512"),
    ):
        search_index.ask("anything", 3, mode="dense")


def _semsearch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("semsearch")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [str(executable), *args], check=False, capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


@pytest.mark.slow
def test_cli_builds_int8_by_default_and_keeps_each_index_on_its_variant(int8_embedder, seed_digest, tmp_path):
    """Real processes: a new index is int8; later updates and questions follow what the index records."""
    int8_index, fp32_index = tmp_path / "int8", tmp_path / "fp32"
    assert _semsearch("update", str(seed_digest), "--index", str(int8_index), cwd=tmp_path).returncode == 0
    info = json.loads(_semsearch("info", "--json", "--index", str(int8_index), cwd=tmp_path).stdout)
    assert info["model"] == model_id_for(INT8)

    question = "parallel corpora for Indian languages"
    asked = _semsearch("ask", question, "--json", "--index", str(int8_index), cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    with SearchIndex(int8_index, int8_embedder) as search_index:
        expected = search_index.ask(question, 10)
    assert [hit["key"] for hit in json.loads(asked.stdout)] == [hit.paper.key for hit in expected]

    mixed = _semsearch("update", str(seed_digest), "--precision", "fp32", "--index", str(int8_index), cwd=tmp_path)
    assert mixed.returncode != 0 and "rebuild" in mixed.stderr and len(mixed.stderr.strip().splitlines()) == 1

    built = _semsearch("update", str(seed_digest), "--precision", "fp32", "--index", str(fp32_index), cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    info = json.loads(_semsearch("info", "--json", "--index", str(fp32_index), cwd=tmp_path).stdout)
    assert info["model"] == model_id_for(FP32)
    # A plain update of an fp32 index stays fp32: nothing new to embed, no mismatch.
    again = _semsearch("update", str(seed_digest), "--index", str(fp32_index), cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_rebuild_switches_an_index_to_the_precision_asked_for(seed_digest, tmp_path, int8_embedder):
    folder = tmp_path / "index"
    made = _semsearch("update", str(seed_digest), "--precision", "fp32", "--index", str(folder), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    switched = _semsearch("rebuild", "--precision", "int8", "--index", str(folder), "--json", cwd=tmp_path)
    assert switched.returncode == 0, switched.stderr
    with SearchIndex(folder, int8_embedder) as search_index:
        assert search_index.info().model == model_id_for(INT8)
        assert search_index.ask("speech recognition without autoregressive decoding", 3)[0].paper.title.startswith(
            "Paraformer"
        )
