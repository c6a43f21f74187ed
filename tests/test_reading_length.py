"""The model reads up to 512 word pieces of an abstract; indexes embedded at 256 keep reading 256 until rebuilt."""

from __future__ import annotations

import numpy as np
import pytest

from semsearch import index
from semsearch.cli import cli
from semsearch.model.bundled import LEGACY_MAX_TOKENS, MAX_TOKENS, model_id_for, whole_text_tokenizer
from semsearch.model.precision import FP32, INT8
from semsearch.search import SearchIndex


def _word_pieces(texts: list[str]) -> list[int]:
    return [len(encoding.ids) for encoding in whole_text_tokenizer().encode_batch(texts)]


@pytest.fixture(scope="module")
def long_abstracts(arxiv_papers) -> list[str]:
    """Real arXiv abstracts of 300 to 500 word pieces: longer than the old cut, within the new one."""
    abstracts = [p["abstract"] for p in arxiv_papers[:400]]
    found = [text for text, size in zip(abstracts, _word_pieces(abstracts)) if 300 <= size <= 500]
    assert len(found) >= 5, "the arXiv sample has too few long abstracts for this test"
    return found[:5]


@pytest.fixture(scope="module")
def legacy_int8():
    from semsearch.model.embed import QuantizedEmbedder

    return QuantizedEmbedder(max_tokens=LEGACY_MAX_TOKENS)


def test_the_end_of_a_long_abstract_now_counts(int8_embedder, legacy_int8, long_abstracts):
    """Replacing an abstract's last sentences changes its vector; at 256 word pieces it changed nothing."""
    for abstract in long_abstracts:
        changed = abstract[: int(len(abstract) * 0.9)] + " Protein folding with cryo-electron microscopy."
        now = int8_embedder.embed_documents([abstract, changed])
        before = legacy_int8.embed_documents([abstract, changed])
        assert float(before[0] @ before[1]) == pytest.approx(1.0, abs=1e-6)
        assert float(now[0] @ now[1]) < 0.999


def test_past_the_models_positions_a_text_is_cut_not_refused(int8_embedder, real_embedder, long_abstracts):
    endless = " ".join(long_abstracts) * 3
    assert _word_pieces([endless])[0] > 3 * MAX_TOKENS
    for embedder in (int8_embedder, real_embedder):
        vector = embedder.embed_documents([endless])[0]
        assert np.isfinite(vector).all() and float(np.linalg.norm(vector)) == pytest.approx(1.0, abs=1e-3)


def test_fp32_questions_read_as_much_as_fp32_documents(real_embedder, long_abstracts):
    """A pasted abstract (`related -`) is embedded as a question through onnxruntime; the stored one through torch."""
    assert real_embedder.model_id == model_id_for(FP32)
    documents = real_embedder.embed_documents(long_abstracts)
    for abstract, stored in zip(long_abstracts, documents):
        assert float(real_embedder.embed_query(abstract) @ stored) >= 0.999


def test_an_index_keeps_its_reading_length_until_it_is_rebuilt(tmp_path, seed_digest, legacy_int8, runner):
    folder = tmp_path / "index"
    index.update(folder, [seed_digest], legacy_int8)
    legacy = model_id_for(INT8, LEGACY_MAX_TOKENS)
    assert index.embedder_for(folder).model_id == legacy  # updates and questions match the stored vectors
    assert index.embedder_for(folder, reembed=True).model_id == model_id_for(INT8)
    result = runner.invoke(cli, ["info", "--index", str(folder)])
    assert f"reads {LEGACY_MAX_TOKENS} word pieces: `semsearch rebuild`" in result.output

    result = runner.invoke(cli, ["rebuild", "--index", str(folder), "--reuse-vectors"])
    assert result.exit_code == 0, result.output
    with SearchIndex(folder) as search_index:
        assert search_index.info().model == legacy

    result = runner.invoke(cli, ["rebuild", "--index", str(folder)])
    assert result.exit_code == 0, result.output
    with SearchIndex(folder) as search_index:
        assert search_index.info().model == model_id_for(INT8)
    assert index.embedder_for(folder).model_id == model_id_for(INT8)
    assert "word pieces" not in runner.invoke(cli, ["info", "--index", str(folder)]).output
