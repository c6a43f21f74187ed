"""Shared fixtures: the real data folder, the real model (loaded once per session) and the fake embedder."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.fakes import HashingEmbedder


def pytest_configure(config) -> None:
    """Keep derived files (the ONNX export, eval caches) inside this test session, for subprocesses too."""
    if "SEMSEARCH_CACHE_DIR" not in os.environ:
        os.environ["SEMSEARCH_CACHE_DIR"] = tempfile.mkdtemp(prefix="semsearch-test-cache-")


DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SEED_DIGEST = DATA_DIR / "digests" / "seed" / "daily-papers-may-6.txt"
HF_DAILY = DATA_DIR / "digests" / "hf_daily"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data beside the project (../shared/data)."""
    if not DATA_DIR.is_dir():
        pytest.skip(f"real data folder {DATA_DIR} is absent (it is present for developers and CI)")
    return DATA_DIR


@pytest.fixture(scope="session")
def seed_digest(data_dir: Path) -> Path:
    """The digest the project was specified from."""
    return SEED_DIGEST


@pytest.fixture(scope="session")
def hf_daily(data_dir: Path) -> Path:
    """The folder of 274 daily digests with their manifest."""
    return HF_DAILY


@pytest.fixture(scope="session")
def arxiv_papers(data_dir: Path) -> list[dict]:
    """The first 1,000 papers of the real arXiv sample."""
    out = []
    with gzip.open(data_dir / "arxiv" / "papers.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            out.append(json.loads(line))
            if len(out) == 1000:
                break
    return out


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    """A fresh deterministic embedder for storage and CLI logic."""
    return HashingEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    from semsearch.model.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def int8_embedder():
    """The bundled model's int8 variant (the default for new indexes), its export made once per session."""
    from semsearch.model.embed import QuantizedEmbedder

    embedder = QuantizedEmbedder()
    embedder.embed_query("warm up")
    return embedder


@pytest.fixture(scope="session")
def int8_seed_index(tmp_path_factory, seed_digest: Path, int8_embedder) -> Path:
    """An index of the seed digest built once with the int8 variant (tests must not modify it)."""
    from semsearch import index

    folder = tmp_path_factory.mktemp("seed-int8") / "index"
    index.update(folder, [seed_digest], int8_embedder)
    return folder


@pytest.fixture(params=["fp32", "int8"])
def seed_pair(request) -> tuple[Path, object]:
    """The seed index and the embedder it was built with, once per variant of the bundled model."""
    if request.param == "fp32":
        return request.getfixturevalue("seed_index"), request.getfixturevalue("real_embedder")
    return request.getfixturevalue("int8_seed_index"), request.getfixturevalue("int8_embedder")


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, seed_digest: Path, real_embedder) -> Path:
    """An index of the seed digest built once with the real model (tests must not modify it)."""
    from semsearch import index

    folder = tmp_path_factory.mktemp("seed") / "index"
    index.update(folder, [seed_digest], real_embedder)
    return folder


@pytest.fixture
def runner() -> CliRunner:
    """A click test runner with stdout and stderr kept apart."""
    return CliRunner()


@pytest.fixture(scope="session")
def scifact(data_dir: Path):
    """SciFact (BEIR layout): the 5,183-abstract corpus with its 300 judged test queries."""
    from semsearch.evaluation.evaluate import load_beir

    return load_beir(data_dir / "scifact", "test")


@pytest.fixture(scope="session")
def scifact_lexical(tmp_path_factory, scifact) -> tuple[Path, dict[int, str]]:
    """An index of all of SciFact built through `semsearch eval`'s own path with the fake embedder (its words are
    real; its vectors are not), for lexical search; and paper id -> BEIR id."""
    from semsearch.evaluation.evaluate import build_index

    folder = tmp_path_factory.mktemp("scifact") / "index"
    return folder, build_index(folder, scifact, HashingEmbedder())
