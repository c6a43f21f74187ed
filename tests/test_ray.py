"""Embedding on a Ray cluster (`update --ray`): the vectors are a local update's, every paper is stored once, work
spreads over the nodes, an interrupted run resumes, and without Ray installed `--ray` says what to install.

Ray is an optional extra: these tests skip when it is not installed, except under CI (CI=true), whose .ci/run
installs it, where a missing Ray fails them. One local Ray instance (2 CPUs, one worker) serves the module; the
two-node test cluster starts after it is shut down.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from semsearch import index
from semsearch.cli import cli
from semsearch.ingest.digest import Digest, DigestPaper
from semsearch.storage.store import Store
from tests.fakes import HashingEmbedder

REPO = Path(__file__).resolve().parents[1]
PAPERS = 300
# Ray binds its ports on the loopback interface (and looks up this machine's address with a UDP socket).
loopback = pytest.mark.allow_hosts(["127.0.0.1"])


def require_ray():
    """The `ray` module, or a skip (a failure under CI, which must run these tests) naming what to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        problem = "Ray is not installed (pip install -e '.[ray]')"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; CI must run the Ray tests, so .ci/run has to install the extra")
        pytest.skip(problem)
    return ray


@pytest.fixture(scope="module")
def local_ray() -> Iterator[object]:
    """One local Ray instance for the module: 2 CPUs, as on the development machine."""
    ray = require_ray()
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def abstracts(arxiv_papers: list[dict]) -> Digest:
    """A few hundred real arXiv abstracts, as one digest built in memory."""
    papers = tuple(
        DigestPaper(p["title"], p["abstract"], "2024-05-06", "arxiv-sample", i + 1, p["id"])
        for i, p in enumerate(arxiv_papers[:PAPERS])
    )
    return Digest("arxiv-sample", ("2024-05-06",), papers)


@pytest.fixture(scope="module")
def local_index(tmp_path_factory, abstracts: Digest, int8_embedder) -> Path:
    """The same abstracts updated locally with the int8 model: the vectors the cluster must match."""
    folder = tmp_path_factory.mktemp("ray-local") / "index"
    index.update(folder, [abstracts], int8_embedder)
    return folder


def _vectors_by_key(folder: Path, dim: int = 384) -> dict[str, np.ndarray]:
    store = Store.open(folder)
    try:
        ids, vectors = store.all_vectors(dim)
        keys = {paper_id: paper.key for paper_id, paper in store.papers([int(i) for i in ids]).items()}
        return {keys[int(paper_id)]: vector for paper_id, vector in zip(ids, vectors)}
    finally:
        store.close()


def _assert_same_vectors(folder: Path, expected_folder: Path) -> None:
    got, expected = _vectors_by_key(folder), _vectors_by_key(expected_folder)
    assert sorted(got) == sorted(expected)
    cosines = np.array([float(got[key] @ expected[key]) for key in expected])
    assert cosines.min() >= 0.9999, f"lowest cosine {cosines.min():.6f}"


@pytest.mark.ray
@pytest.mark.model
@loopback
def test_update_on_ray_stores_the_vectors_of_a_local_update_once_each(
    tmp_path, local_ray, abstracts, local_index, int8_embedder
):
    from semsearch.model.cluster import RayEmbedder

    folder = tmp_path / "index"
    with RayEmbedder(int8_embedder, "local", workers=1, cpus_per_worker=2) as cluster:
        report = index.update(folder, [abstracts], cluster)
        texts_per_node = dict(cluster.texts_per_node)
    assert report.added == report.embedded == report.papers == PAPERS
    assert sum(texts_per_node.values()) == PAPERS  # each text came back from a worker once
    _assert_same_vectors(folder, local_index)
    store = Store.open(folder)
    try:
        assert store.state().model == int8_embedder.model_id  # the index's recorded variant, not another
        assert store.pending_count() == 0
    finally:
        store.close()


@pytest.mark.ray
@loopback
def test_interrupted_ray_update_resumes_locally_without_embedding_again(tmp_path, local_ray, abstracts, monkeypatch):
    from semsearch.model.cluster import RayEmbedder

    monkeypatch.setattr(index.write, "EMBED_CHECKPOINT", 100)
    received: list[int] = []

    def progress(total: int):
        def step(done: int) -> None:
            received.append(done)
            if sum(received) >= 150:  # the driver dies after the first checkpoint of 100 was kept
                raise KeyboardInterrupt

        return step

    folder = tmp_path / "index"
    with RayEmbedder(HashingEmbedder(), "local", worker_embedder=HashingEmbedder) as cluster:
        with pytest.raises(KeyboardInterrupt):
            index.update(folder, [abstracts], cluster, progress=progress)
    store = Store.open(folder)
    try:
        kept = store.pending_count()
        assert store.paper_count() == 0  # nothing was committed but the checkpoints
    finally:
        store.close()
    assert 100 <= kept < PAPERS

    report = index.update(folder, [abstracts], HashingEmbedder())
    assert report.embedded == PAPERS - kept
    assert report.papers == PAPERS
    reference = tmp_path / "reference"
    index.update(reference, [abstracts], HashingEmbedder())
    got, expected = _vectors_by_key(folder, 256), _vectors_by_key(reference, 256)
    assert got.keys() == expected.keys()
    assert all(np.array_equal(got[key], expected[key]) for key in expected)


@pytest.mark.ray
@loopback
def test_a_worker_with_another_model_fails_the_update_in_one_line_and_writes_nothing(tmp_path, local_ray, abstracts):
    from semsearch.errors import ClusterError
    from semsearch.model.cluster import RayEmbedder

    other_model = functools.partial(HashingEmbedder, 256, "other/model")
    folder = tmp_path / "index"
    with RayEmbedder(HashingEmbedder(), "local", worker_embedder=other_model) as cluster:
        with pytest.raises(ClusterError) as caught:
            index.update(folder, [abstracts], cluster)
    message = str(caught.value)
    assert message.startswith("a Ray worker built other/model (256-d), but the index records test/hashing")
    assert "\n" not in message
    store = Store.open(folder)
    try:
        assert store.paper_count() == 0 and store.pending_count() == 0
    finally:
        store.close()


@pytest.mark.ray
@loopback
def test_cli_update_and_rebuild_on_ray_report_like_local_ones(tmp_path, runner, local_ray, abstracts, monkeypatch):
    monkeypatch.setenv("SEMSEARCH_EMBEDDER", "tests.fakes:HashingEmbedder")
    source = tmp_path / "papers.jsonl"
    source.write_text(
        "".join(json.dumps({"title": p.title, "abstract": p.abstract, "date": p.date}) + "\n" for p in abstracts.papers)
    )
    result = runner.invoke(
        cli, ["update", str(source), "--index", str(tmp_path / "idx"), "--ray", "local", "--ray-workers", "1", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["added"] == report["embedded"] == report["papers"] == PAPERS

    result = runner.invoke(cli, ["rebuild", "--index", str(tmp_path / "idx"), "--ray", "local", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["embedded"] == report["papers"] == PAPERS and report["added"] == 0


@pytest.mark.ray
@loopback
def test_update_ray_local_from_a_fresh_process(tmp_path, abstracts):
    """`--ray local` starts Ray in the command's own process and shuts it down: what a fresh clone runs."""
    require_ray()
    source = tmp_path / "papers.jsonl"
    source.write_text(
        "".join(json.dumps({"title": p.title, "abstract": p.abstract}) + "\n" for p in abstracts.papers[:50])
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "SEMSEARCH_EMBEDDER": "tests.fakes:HashingEmbedder"}
    command = [sys.executable, "-m", "semsearch", "update", str(source), "--index", str(tmp_path / "idx"), "--ray",
               "local", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["papers"] == 50  # stdout holds the JSON document alone
    assert "Starting a local Ray instance" in done.stderr

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["embedded"] == 0
    assert "Ray" not in again.stderr  # nothing to embed: no cluster started


@pytest.mark.ray
def test_gpu_workers_are_refused_for_an_int8_index(int8_embedder):
    require_ray()
    from semsearch.errors import ClusterError
    from semsearch.model.cluster import RayEmbedder

    with pytest.raises(ClusterError, match="int8 model runs on CPU workers only"):
        RayEmbedder(int8_embedder, "local", gpus_per_worker=1)


def test_ray_options_need_ray(tmp_path, runner, seed_digest):
    result = runner.invoke(cli, ["update", str(seed_digest), "--index", str(tmp_path / "idx"), "--ray-workers", "2"])
    assert result.exit_code == 2
    assert "--ray-workers needs --ray ADDRESS" in result.stderr
    assert not (tmp_path / "idx").exists()


def test_ray_without_ray_installed_says_what_to_install(tmp_path, runner, seed_digest, monkeypatch):
    # A None entry in sys.modules makes `import ray` raise ImportError, as on a machine without the extra.
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    monkeypatch.setenv("SEMSEARCH_EMBEDDER", "tests.fakes:HashingEmbedder")
    result = runner.invoke(cli, ["update", str(seed_digest), "--index", str(tmp_path / "idx"), "--ray", "local"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "pip install 'semsearch[ray]'" in lines[0]
    assert not (tmp_path / "idx").exists()  # refused before reading or writing anything


@pytest.fixture
def two_nodes(local_ray) -> Iterator[object]:
    """Ray's two-node test cluster (1 CPU each), after the module's local instance is shut down."""
    from ray.cluster_utils import Cluster

    ray = local_ray
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.ray
@pytest.mark.model
@loopback
def test_two_node_cluster_spreads_the_work_over_both_nodes(tmp_path, two_nodes, abstracts, local_index, int8_embedder):
    from semsearch.model.cluster import RayEmbedder

    folder = tmp_path / "index"
    with RayEmbedder(int8_embedder, two_nodes.address, workers=2, cpus_per_worker=1, batch_size=16) as cluster:
        report = index.update(folder, [abstracts], cluster)
        texts_per_node = dict(cluster.texts_per_node)
    assert len(texts_per_node) == 2, texts_per_node
    assert all(count > 0 for count in texts_per_node.values()), texts_per_node
    assert sum(texts_per_node.values()) == report.embedded == PAPERS
    _assert_same_vectors(folder, local_index)
