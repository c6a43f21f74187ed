"""`semsearch eval`: reading BEIR folders, the embedding cache, and scored runs on a slice of SciFact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from semsearch.cli import cli
from semsearch.evaluation.evaluate import DatasetError, EmbeddingCache, evaluate, load_beir
from semsearch.evaluation.metrics import MEASURES
from tests.fakes import HashingEmbedder

MODES = ("dense", "lexical", "hybrid")


def write_beir(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]], split="test"):
    """A BEIR folder from rows."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(row) + "\n" for row in queries), encoding="utf-8")
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{r}" for q, d, r in qrels]
    (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def scifact_slice(scifact, folder: Path, queries: int = 40, others: int = 400) -> Path:
    """The first judged SciFact test queries, the papers judged for them, and a fixed sample of other papers."""
    chosen = sorted(scifact.queries, key=int)[:queries]
    judged = {doc for query in chosen for doc in scifact.qrels[query]}
    rest = [row for row in scifact.corpus if row[0] not in judged]
    keep = judged | {row[0] for row in rest[:: max(1, len(rest) // others)][:others]}
    return write_beir(
        folder,
        [{"_id": d, "title": t, "text": x} for d, t, x in scifact.corpus if d in keep],
        [{"_id": q, "text": scifact.queries[q]} for q in chosen],
        [(q, d, r) for q in chosen for d, r in scifact.qrels[q].items()],
    )


TINY_CORPUS = [
    {"_id": "d1", "title": "Aspirin and colorectal cancer", "text": "Daily aspirin lowers colorectal cancer risk."},
    {"_id": "d2", "title": "Statins in heart disease", "text": "Statins reduce cholesterol and heart attacks."},
    {"_id": "d3", "title": "Sleep and memory", "text": "Deep sleep consolidates long-term memory in adults."},
    {"_id": "d4", "title": "Vitamin D and bones", "text": "Vitamin D supplements strengthen bones in the elderly."},
]
TINY_QUERIES = [
    {"_id": "1", "text": "Does aspirin prevent colorectal cancer?"},
    {"_id": "2", "text": "sleep consolidates memory"},
    {"_id": "3", "text": "an unjudged question"},
]
TINY_QRELS = [("1", "d1", 1), ("2", "d3", 1), ("2", "d9", 0)]


def test_tiny_dataset_scores_and_cache(tmp_path):
    folder = write_beir(tmp_path / "tiny", TINY_CORPUS, TINY_QUERIES, TINY_QRELS)
    embedder = HashingEmbedder()
    report = evaluate(folder, embedder, cache_dir=tmp_path / "cache")
    document = report.to_dict()
    assert document["dataset"] == "tiny" and document["split"] == "test" and document["default"] == "hybrid"
    assert (document["documents"], document["queries"], document["embedded"]) == (4, 2, 4)
    assert set(document["modes"]) == set(MODES)
    for measures in document["modes"].values():
        assert set(measures) == set(MEASURES)
    # Each question shares its words with exactly one abstract, and that one is judged relevant.
    assert document["modes"]["lexical"] == {name: 1.0 for name in MEASURES}
    # A second run reads every vector back from the cache.
    again = evaluate(folder, embedder, cache_dir=tmp_path / "cache", modes=["lexical"])
    assert again.embedded == 0 and embedder.documents_embedded == 4 and list(again.modes) == ["lexical"]
    assert again.modes["lexical"] == report.modes["lexical"]


def test_cache_keeps_digests_that_end_in_zero_bytes(tmp_path):
    # A numpy bytes array would silently drop a trailing zero byte of a sha256 key and lose the vector.
    text = next(f"text {i}" for i in range(100_000) if hashlib.sha256(f"text {i}".encode()).digest()[-1] == 0)
    embedder = HashingEmbedder()
    first = EmbeddingCache(embedder, tmp_path).embed_documents([text, "another text"])
    second = EmbeddingCache(embedder, tmp_path)
    assert second.missing([text, "another text"]) == 0
    assert np.array_equal(second.embed_documents([text, "another text"]), first) and second.embedded == 0


def test_cache_is_per_model_and_survives_a_damaged_file(tmp_path):
    texts = ["alpha beta", "gamma delta"]
    EmbeddingCache(HashingEmbedder(), tmp_path).embed_documents(texts)
    assert EmbeddingCache(HashingEmbedder(model_id="other/model"), tmp_path).missing(texts) == 2
    for path in (tmp_path / "embeddings").rglob("*.npz"):
        path.write_bytes(b"not a numpy file")
    cache = EmbeddingCache(HashingEmbedder(), tmp_path)
    assert cache.missing(texts) == 2
    cache.embed_documents(texts)
    assert cache.embedded == 2


def test_bad_folders_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="no folder"):
        load_beir(tmp_path / "absent")
    folder = write_beir(tmp_path / "d", TINY_CORPUS, TINY_QUERIES, TINY_QRELS)
    with pytest.raises(DatasetError, match=r"train\.tsv is missing \(this folder has: test\)"):
        load_beir(folder, "train")
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "fine"}\n{broken\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2: not a JSON object"):
        load_beir(folder)
    write_beir(folder, TINY_CORPUS, TINY_QUERIES, [("7", "d1", 1)])
    with pytest.raises(DatasetError, match="judged queries .* are not in"):
        load_beir(folder)
    write_beir(folder, TINY_CORPUS + TINY_CORPUS[:1], TINY_QUERIES, TINY_QRELS)
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:5: the id 'd1' is used twice"):
        load_beir(folder)
    (folder / "qrels" / "test.tsv").write_text("1\td1\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"test\.tsv:1: expected"):
        load_beir(folder)


def test_cli_eval_json_text_and_errors(tmp_path, runner):
    folder = write_beir(tmp_path / "tiny", TINY_CORPUS, TINY_QUERIES, TINY_QRELS)
    args = ["eval", str(folder), "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(cli, [*args, "--json"], obj={"embedder": HashingEmbedder()})
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["default"] == "hybrid" and set(document["modes"]) == set(MODES)
    text = runner.invoke(cli, args, obj={"embedder": HashingEmbedder()})
    lines = text.stdout.splitlines()
    assert lines[1].split() == ["mode", "nDCG@10", "Recall@10", "Recall@100", "MRR@10"]
    assert [line.split()[0] for line in lines[2:]] == list(MODES)
    assert lines[3].split()[1:] == ["1.0000"] * 4  # lexical
    missing = runner.invoke(cli, [*args, "--split", "dev"], obj={"embedder": HashingEmbedder()})
    assert missing.exit_code == 1 and missing.stdout == ""
    assert missing.stderr.startswith("Error: ") and "pick another split with --split" in missing.stderr


def test_eval_on_a_slice_of_scifact(tmp_path, scifact):
    """BM25 on real judgments: 40 SciFact claims over the 450 papers around their evidence (fake vectors)."""
    folder = scifact_slice(scifact, tmp_path / "slice")
    report = evaluate(folder, HashingEmbedder(), cache_dir=None)
    assert report.queries == 40 and 400 <= report.documents <= 460
    lexical = report.modes["lexical"]
    # Full SciFact gives BM25 0.69 nDCG@10 over 5,183 papers; a tenth of the distractors can only help.
    assert lexical["ndcg@10"] > 0.7 and lexical["recall@100"] > 0.9
    assert all(0.0 <= value <= 1.0 for measures in report.modes.values() for value in measures.values())


@pytest.mark.model
@pytest.mark.slow
def test_eval_on_a_slice_of_scifact_with_the_real_model(tmp_path, scifact, real_embedder):
    folder = scifact_slice(scifact, tmp_path / "slice", queries=40, others=200)
    report = evaluate(folder, real_embedder, cache_dir=tmp_path / "cache")
    dense, lexical, hybrid = (report.modes[mode]["ndcg@10"] for mode in MODES)
    assert dense > 0.6 and lexical > 0.6
    # The default must not lose to either of its parts.
    assert hybrid >= max(dense, lexical) - 0.02, report.modes
    again = evaluate(folder, real_embedder, cache_dir=tmp_path / "cache", modes=["dense"])
    assert again.embedded == 0 and again.modes["dense"]["ndcg@10"] == pytest.approx(dense, abs=1e-6)


def test_cache_merges_many_small_files(tmp_path):
    from semsearch.evaluation.evaluate import COMPACT_AFTER

    texts = [f"text number {i}" for i in range(COMPACT_AFTER + 1)]
    for text in texts:  # one file per call
        EmbeddingCache(HashingEmbedder(), tmp_path).embed_documents([text])
    folder = next((tmp_path / "embeddings").iterdir())
    assert len(list(folder.glob("*.npz"))) == len(texts)
    cache = EmbeddingCache(HashingEmbedder(), tmp_path)
    assert cache.missing(texts) == 0
    assert len(list(folder.glob("*.npz"))) == 1
    assert EmbeddingCache(HashingEmbedder(), tmp_path).missing(texts) == 0
