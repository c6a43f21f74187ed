"""Storage and update logic with the fake embedder, on the real digests."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from semsearch import index
from semsearch.errors import (
    DigestError,
    DiskFullError,
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    ModelMismatchError,
    PaperNotFoundError,
)
from semsearch.keys import document_text
from semsearch.search import SearchIndex
from semsearch.storage.locking import write_lock
from semsearch.storage.store import Store
from semsearch.storage.vectors import VectorIndex, compressed_factory
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, DIGEST_HEADER, write_digest

ZERO_TITLE = "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"


def all_papers(folder: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """key -> (title, dates) for every paper in an index."""
    store = Store.open(folder)
    try:
        ids = [row.id for row in store.title_rows()]
        return {p.key: (p.title, p.dates) for p in store.papers(ids).values()}
    finally:
        store.close()


def manifest(hf_daily: Path) -> list[dict]:
    return [json.loads(line) for line in (hf_daily / "manifest.jsonl").read_text().splitlines() if line.strip()]


def test_update_seed_then_rerun_adds_nothing(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    first = index.update(folder, [seed_digest], fake_embedder)
    assert (first.added, first.updated, first.already_present, first.papers) == (63, 0, 0, 63)
    assert first.embedded == 63
    again = index.update(folder, [seed_digest], fake_embedder)
    assert (again.added, again.updated, again.already_present, again.papers, again.embedded) == (0, 0, 63, 63, 0)
    assert fake_embedder.documents_embedded == 63


def test_hf_daily_in_two_halves_equals_all_at_once(tmp_path, hf_daily, fake_embedder):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    rows = manifest(hf_daily)
    expected_total = sum(row["n_papers"] for row in rows)
    assert len(files) == len(rows) == 274

    at_once = tmp_path / "at_once"
    report = index.update(at_once, [hf_daily / "digests"], fake_embedder)
    assert report.added == report.papers == expected_total == 3506
    assert report.digests == 274

    halves = tmp_path / "halves"
    first = index.update(halves, files[:137], HashingEmbedder())
    second = index.update(halves, files[137:], HashingEmbedder())
    assert first.added + second.added == expected_total
    assert all_papers(halves) == all_papers(at_once)

    # Each manifest day holds exactly its papers, dated with the day from the file name's year.
    per_date: dict[str, int] = {}
    for _, dates in all_papers(at_once).values():
        assert len(dates) == 1
        per_date[dates[0]] = per_date.get(dates[0], 0) + 1
    assert per_date == {row["date"]: row["n_papers"] for row in rows}

    for folder in (at_once, halves):
        rerun = index.update(folder, [hf_daily / "digests"], HashingEmbedder())
        assert (rerun.added, rerun.updated, rerun.embedded, rerun.papers) == (0, 0, 0, expected_total)


def test_same_paper_in_two_digests_is_one_paper_with_both_dates(tmp_path, fake_embedder):
    day1 = write_digest(
        tmp_path / "d_2025-06-10.txt", "Jun 10", [("Shared Paper", ABSTRACT_A), ("Only One", ABSTRACT_B)]
    )
    day2 = write_digest(tmp_path / "d_2025-06-11.txt", "Jun 11", [("Shared  paper", ABSTRACT_A)])
    folder = tmp_path / "idx"
    report = index.update(folder, [day1, day2], fake_embedder)
    assert (report.added, report.papers) == (2, 2)
    with SearchIndex(folder) as search_index:
        paper = search_index.resolve("shared paper")
        assert paper.dates == ("2025-06-10", "2025-06-11")
        assert [Path(s).name for s in paper.sources] == ["d_2025-06-10.txt", "d_2025-06-11.txt"]
        assert paper.date == "2025-06-10"


def test_revised_abstract_updates_text_and_vector(tmp_path, fake_embedder):
    folder = tmp_path / "idx"
    first = write_digest(tmp_path / "a_2025-01-01.txt", "Jan 1", [("Paper X", ABSTRACT_A)])
    index.update(folder, [first], fake_embedder)
    with SearchIndex(folder) as search_index:
        before = search_index._store.vector_of(search_index.resolve("Paper X").id, fake_embedder.dim)
    revised = write_digest(tmp_path / "a_2025-01-02.txt", "Jan 2", [("Paper X", ABSTRACT_C)])
    report = index.update(folder, [revised], fake_embedder)
    assert (report.added, report.updated, report.papers) == (0, 1, 1)
    with SearchIndex(folder, fake_embedder) as search_index:
        paper = search_index.resolve("Paper X")
        assert paper.abstract == ABSTRACT_C
        assert paper.dates == ("2025-01-01", "2025-01-02")
        after = search_index._store.vector_of(paper.id, fake_embedder.dim)
        assert not np.allclose(before, after)
        hits = search_index.ask("traffic forecasting graph road sensors", 1, mode="dense")  # a cosine score
        # The cosine of the new vector as the FAISS file keeps it (16-bit floats).
        stored = after.astype(np.float16).astype(np.float32)
        expected = float(stored @ fake_embedder.embed_query("traffic forecasting graph road sensors"))
        assert hits[0].paper.key == paper.key and hits[0].score == pytest.approx(expected, abs=1e-6)


def test_a_bad_digest_means_nothing_is_stored(tmp_path, seed_digest, fake_embedder):
    bad = tmp_path / "bad.txt"
    bad.write_text(DIGEST_HEADER + "May 7\n\nA Title Without Abstract\n", encoding="utf-8")
    folder = tmp_path / "idx"
    with pytest.raises(DigestError) as caught:
        index.update(folder, [seed_digest, bad], fake_embedder)
    assert str(bad) in str(caught.value)
    assert not folder.exists()
    assert fake_embedder.documents_embedded == 0


def test_interrupted_embedding_keeps_old_index_and_rerun_finishes_without_reembedding(tmp_path, hf_daily):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = tmp_path / "idx"
    first = index.update(folder, files[:20], HashingEmbedder())

    crashing = HashingEmbedder()
    crashing.fail_after = index.write.EMBED_CHECKPOINT + 100  # dies after one checkpoint was saved
    with pytest.raises(KeyboardInterrupt):
        index.update(folder, files, crashing)
    with SearchIndex(folder, HashingEmbedder()) as search_index:
        assert search_index.info().papers == first.papers
        assert len(search_index.ask("language models", 5)) == 5

    resumed = HashingEmbedder()
    report = index.update(folder, files, resumed)
    assert report.papers == 3506
    assert report.added == 3506 - first.papers
    # Only what the crashed run had not checkpointed is embedded again.
    assert resumed.documents_embedded == report.added - index.write.EMBED_CHECKPOINT


def test_crash_while_publishing_leaves_previous_index_usable(tmp_path, seed_digest, hf_daily, monkeypatch):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    real_save = VectorIndex.save

    def save_then_die(self, path):
        real_save(self, path)  # the new FAISS file is fully written...
        raise OSError(28, "No space left on device", str(path))  # ...and the commit never happens

    monkeypatch.setattr(VectorIndex, "save", save_then_die)
    with pytest.raises(DiskFullError, match=r"is full \(writing vectors-000002\.faiss\).*nothing in the index was "
                       r"changed \(the 3506 vectors embedded so far are kept"):
        index.update(folder, [hf_daily / "digests"], HashingEmbedder())
    monkeypatch.undo()
    # The file the failed write left is removed at once (it would keep the disk full), the log truncated.
    assert sorted(p.name for p in folder.glob("vectors-*")) == ["vectors-000001.faiss"]
    assert not (folder / "papers.sqlite3-wal").exists() or (folder / "papers.sqlite3-wal").stat().st_size == 0

    with SearchIndex(folder, HashingEmbedder()) as search_index:
        assert search_index.info().papers == 63
        assert search_index.info().vector_file == "vectors-000001.faiss"
        assert search_index.ask("memory optimizations trillion parameters", 1)[0].paper.title.startswith("ZeRO")
    report = index.update(folder, [hf_daily / "digests"], HashingEmbedder())
    assert report.papers == 63 + 3506 and report.embedded == 0  # vectors kept from the failed run
    assert sorted(p.name for p in folder.glob("vectors-*")) == ["vectors-000002.faiss"]


def test_model_mismatch_is_refused_until_rebuild(tmp_path, seed_digest):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder(model_id="test/a"))
    other = HashingEmbedder(dim=32, model_id="test/b")
    with pytest.raises(ModelMismatchError, match="semsearch rebuild"):
        index.update(folder, [seed_digest], other)
    with SearchIndex(folder, other) as search_index, pytest.raises(ModelMismatchError):
        search_index.ask("anything")
    report = index.rebuild(folder, [], other)
    assert report.papers == 63 and report.embedded == 63
    with SearchIndex(folder, other) as search_index:
        assert search_index.info().model == "test/b" and search_index.info().dim == 32
        assert len(search_index.ask("parallel training", 3)) == 3


def test_rebuild_with_new_digests_and_reuse_vectors(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    extra = write_digest(tmp_path / "x_2025-02-02.txt", "Feb 2", [("Traffic Graphs", ABSTRACT_C)])
    report = index.rebuild(folder, [seed_digest, extra], fake_embedder)
    assert (report.added, report.papers) == (64, 64)
    (folder / "vectors-000001.faiss").unlink()
    repaired = index.rebuild(folder, [], HashingEmbedder(), reuse_vectors=True)
    assert repaired.embedded == 0 and repaired.papers == 64
    with pytest.raises(ModelMismatchError):
        index.rebuild(folder, [], HashingEmbedder(model_id="test/other"), reuse_vectors=True)


@pytest.mark.parametrize("damage", ["deleted", "unreadable"])
def test_missing_or_unreadable_vector_file_answers_as_before_from_stored_vectors(
    tmp_path, seed_digest, fake_embedder, caplog, damage
):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    # Recent papers beside the file, one of them a revision that supersedes a vector the file holds.
    day = write_digest(
        tmp_path / "n_2025-03-01.txt",
        "Mar 1",
        [("Traffic Graphs", ABSTRACT_C), (ZERO_TITLE, ABSTRACT_B)],
    )
    index.update(folder, [day], fake_embedder)
    questions = [
        "ZeRO memory optimizations",
        "partition optimizer states across data-parallel workers",
        "traffic graph",
    ]

    def answers() -> list[list[tuple[str, str, float]]]:
        with SearchIndex(folder, fake_embedder) as search_index:
            return [
                [(hit.paper.key, hit.score_kind, hit.score) for hit in search_index.ask(question, 10, mode=mode)]
                for question in questions
                for mode in ("dense", "hybrid")
            ]

    before = answers()
    assert "rebuild --reuse-vectors" not in caplog.text
    (vector_file,) = folder.glob("vectors-*.faiss")
    if damage == "deleted":
        vector_file.unlink()
    else:
        vector_file.write_bytes(b"not a faiss file")
    after = answers()
    assert "rebuild --reuse-vectors" in caplog.text  # the warning names the repair
    for old, new in zip(before, after, strict=True):
        assert [(key, kind) for key, kind, _ in new] == [(key, kind) for key, kind, _ in old]
        # The same vectors, read from the database instead of the file (and kept as 16-bit floats, as the file does).
        assert [score for *_, score in new] == pytest.approx([score for *_, score in old], abs=1e-5)


def test_missing_and_corrupt_index_errors(tmp_path, fake_embedder):
    with pytest.raises(IndexMissingError, match="semsearch update"):
        SearchIndex(tmp_path / "nowhere")
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "papers.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexCorruptError):
        SearchIndex(folder)


def test_second_writer_waits_or_fails_fast(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    waiting = threading.Event()
    outcome: dict[str, object] = {}

    def second_writer() -> None:
        try:
            outcome["report"] = index.update(folder, [seed_digest], HashingEmbedder(), on_wait=waiting.set)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    with write_lock(folder):  # the first writer
        # --no-wait: fails at once, having stored nothing.
        with pytest.raises(IndexBusyError, match="another semsearch update"):
            index.update(folder, [seed_digest], fake_embedder, wait=False)
        assert fake_embedder.documents_embedded == 0 and not (folder / "papers.sqlite3").exists()
        # Without it: says it waits, and waits for as long as the lock is held.
        writer = threading.Thread(target=second_writer)
        writer.start()
        assert waiting.wait(timeout=30), "the second writer never reported waiting"
        writer.join(timeout=1.0)
        assert writer.is_alive() and outcome == {} and not (folder / "papers.sqlite3").exists()
    writer.join(timeout=60)  # the lock is released: it proceeds
    assert not writer.is_alive() and "error" not in outcome, outcome
    report = outcome["report"]
    assert isinstance(report, index.UpdateReport) and (report.added, report.papers) == (63, 63)
    # A writer that finds the index free neither waits nor fails.
    waited = []
    again = index.update(folder, [seed_digest], fake_embedder, wait=False, on_wait=lambda: waited.append(1))
    assert again.already_present == 63 and waited == []


def test_related_resolution_and_never_itself(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    with SearchIndex(folder, fake_embedder) as search_index:
        zero = search_index.resolve(ZERO_TITLE)
        assert search_index.resolve(zero.key).id == zero.id
        assert search_index.resolve(zero.key.upper()).id == zero.id
        assert search_index.resolve("toward training trillion").id == zero.id
        source, hits = search_index.related(zero.key, 62)
        assert source.id == zero.id
        assert len(hits) == 62 and zero.id not in {hit.paper.id for hit in hits}
        assert [hit.rank for hit in hits] == list(range(1, 63))
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
        with pytest.raises(PaperNotFoundError) as ambiguous:
            search_index.resolve("ZeRO")
        assert {key for key, _ in ambiguous.value.candidates} >= {zero.key, search_index.resolve("ZeRO-Infinity").key}
        with pytest.raises(PaperNotFoundError) as unknown:
            search_index.resolve("memory optimisations for trillion models zzz")
        assert zero.key in [key for key, _ in unknown.value.candidates]
        pasted = search_index.related_to_text(zero.abstract, 3)
        assert zero.id not in {hit.paper.id for hit in pasted}


def test_store_rejects_foreign_sqlite_file(tmp_path):
    folder = tmp_path / "foreign"
    folder.mkdir()
    connection = sqlite3.connect(folder / "papers.sqlite3")
    connection.execute("CREATE TABLE something (x)")
    connection.commit()
    connection.close()
    with pytest.raises(IndexCorruptError, match="not a semsearch index"):
        SearchIndex(folder)


def test_small_updates_wait_in_the_recent_layer_and_are_searched(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    day = write_digest(
        tmp_path / "n_2025-03-01.txt",
        "Mar 1",
        [("Traffic Graphs", ABSTRACT_C), (ZERO_TITLE, ABSTRACT_B)],
    )
    report = index.update(folder, [day], fake_embedder)
    assert (report.added, report.updated) == (1, 1)
    with SearchIndex(folder, fake_embedder) as search_index:
        info = search_index.info()
        assert info.vector_file == "vectors-000001.faiss" and info.unindexed == 2  # no FAISS rewrite
        hits = search_index.ask("graph neural network traffic forecasting road sensors", 63)
        ids = [hit.paper.id for hit in hits]
        assert hits[0].paper.title == "Traffic Graphs" and len(ids) == len(set(ids)) == 63
        zero = search_index.resolve(ZERO_TITLE)
        query = "partition optimizer states gradients parameters data-parallel workers"
        (match,) = [hit for hit in search_index.ask(query, 64, mode="dense") if hit.paper.id == zero.id]
        revised = fake_embedder._vector(document_text(zero.title, ABSTRACT_B)).astype(np.float16).astype(np.float32)
        expected = float(revised @ fake_embedder.embed_query(query))  # as stored: 16-bit floats
        assert match.score == pytest.approx(expected, abs=1e-6)  # the revised vector, not the superseded one


def test_reading_the_recent_vectors_walks_the_recent_papers_not_every_paper(tmp_path, seed_digest, fake_embedder):
    # Every cold question reads the recent layer; with no recent papers that must cost next to nothing, however
    # many papers the index holds (it once walked every paper, stored vectors and all: 15 ms at 3,506 papers).
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    store = Store.open(folder)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    try:
        store._db.set_progress_handler(count, 1)
        ids, _ = store.unindexed_vectors(fake_embedder.dim)
    finally:
        store.close()
    assert len(ids) == 0 and steps < 63  # one SQLite instruction per paper would already be 63


def test_large_collections_switch_to_ivf_and_grow_without_retraining(tmp_path, hf_daily, seed_digest):
    import faiss

    policy = index.MergePolicy(approximate_from=1000, merge_threshold=50)
    folder = tmp_path / "idx"
    index.update(folder, [hf_daily / "digests"], HashingEmbedder(), policy=policy)
    with SearchIndex(folder) as search_index:
        first = search_index.info()
    assert first.index_factory.startswith("IVF") and first.papers == 3506
    def centroids_of(path: Path) -> np.ndarray:
        native = faiss.read_index(str(path))  # kept alive: the views below point into it
        quantizer = faiss.downcast_index(faiss.extract_index_ivf(native).quantizer)
        return faiss.vector_to_array(quantizer.codes).copy()

    centroids = centroids_of(folder / first.vector_file)

    # 63 new papers: past the threshold, so merged.
    index.update(folder, [seed_digest], HashingEmbedder(), policy=policy)
    with SearchIndex(folder, HashingEmbedder()) as search_index:
        second = search_index.info()
        assert second.vector_file != first.vector_file and second.unindexed == 0
        assert second.index_factory == first.index_factory
        hits = search_index.ask(ZERO_TITLE, 1)
        assert hits[0].paper.title.startswith("ZeRO")
    assert faiss.read_index(str(folder / second.vector_file)).ntotal == 3506 + 63
    assert np.array_equal(centroids_of(folder / second.vector_file), centroids)  # extended, not retrained


def test_an_ivf_index_is_trained_anew_once_the_collection_outgrows_it(tmp_path, hf_daily, seed_digest):
    import faiss

    policy = index.MergePolicy(approximate_from=1000, merge_threshold=50)
    digests = sorted((hf_daily / "digests").iterdir())
    folder = tmp_path / "idx"
    index.update(folder, digests[:100], HashingEmbedder(), policy=policy)

    def trained(path: Path) -> tuple[int, np.ndarray]:
        native = faiss.read_index(str(path))
        quantizer = faiss.downcast_index(faiss.extract_index_ivf(native).quantizer)
        return native.ntotal, faiss.vector_to_array(quantizer.codes).copy()

    with SearchIndex(folder) as search_index:
        first = search_index.info()
    size, centroids = trained(folder / first.vector_file)
    assert first.index_factory.startswith("IVF") and size == first.papers >= 1000
    # Grown past retrain_growth x the trained size: the merge trains new centroids over every vector.
    index.update(folder, digests[100:], HashingEmbedder(), policy=replace(policy, retrain_growth=1.5))
    with SearchIndex(folder) as search_index:
        second = search_index.info()
    grown, new_centroids = trained(folder / second.vector_file)
    assert grown == second.papers >= 1.5 * first.papers
    assert not np.array_equal(new_centroids, centroids)
    # A small update afterwards extends the new index as before.
    index.update(folder, [seed_digest], HashingEmbedder())
    with SearchIndex(folder) as search_index:
        third = search_index.info()
    assert np.array_equal(trained(folder / third.vector_file)[1], new_centroids)


def test_pages_left_free_by_an_update_go_back_to_the_file_system(tmp_path, hf_daily, fake_embedder):
    folder = tmp_path / "idx"
    # Vectors are kept aside while embedding, then cleared at the commit: their pages must not stay in the file.
    index.update(folder, sorted((hf_daily / "digests").glob("*.txt"))[:40], fake_embedder)
    connection = sqlite3.connect(folder / "papers.sqlite3")
    try:
        assert connection.execute("PRAGMA freelist_count").fetchone()[0] == 0
    finally:
        connection.close()


def test_a_transaction_sqlite_already_rolled_back_raises_the_original_error(tmp_path, seed_digest, fake_embedder):
    """A failed statement after which SQLite rolled back by itself must not turn into "cannot rollback"."""
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    store = Store.open(folder)
    try:
        with pytest.raises(ValueError, match="the original"):
            with store.transaction():
                store._db.execute("ROLLBACK")  # what SQLite does on its own after SQLITE_FULL or a failed COMMIT
                raise ValueError("the original")
        page_count = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {page_count}")  # a full disk, as SQLite sees it
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            with store.transaction():
                store.save_pending_vectors("m", ((f"h{i}", np.ones(256, np.float32)) for i in range(5000)))
        assert not store._db.in_transaction
    finally:
        store.close()
    assert index.check(folder).ok


def test_a_full_database_fails_naming_the_disk_and_keeps_the_previous_index(
    tmp_path, seed_digest, hf_daily, monkeypatch
):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    real_open = Store.open.__func__

    def open_on_a_full_disk(cls, folder, create=False):
        store = real_open(cls, folder, create)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 250}")  # room for a checkpoint, not the commit
        return store

    monkeypatch.setattr(Store, "open", classmethod(open_on_a_full_disk))
    files = sorted((hf_daily / "digests").glob("*.txt"))[:20]
    with pytest.raises(DiskFullError, match=r"the disk holding .*idx is full \(writing papers\.sqlite3\); free space "
                       r"and run the same command again: nothing in the index was changed \(the 292 vectors embedded "
                       r"so far are kept"):
        index.update(folder, files, HashingEmbedder())  # the checkpoint fitted, the commit did not
    monkeypatch.undo()

    assert index.check(folder).ok
    with SearchIndex(folder, HashingEmbedder()) as search_index:
        assert search_index.info().papers == 63
        assert search_index.ask("memory optimizations trillion parameters", 1)[0].paper.title.startswith("ZeRO")
    rerun = index.update(folder, files, HashingEmbedder())
    assert rerun.papers > 63 and rerun.embedded == 0
    assert index.check(folder).ok


def test_a_faiss_write_on_a_full_disk_is_named_and_leaves_no_partial_file(tmp_path, seed_digest, monkeypatch):
    import faiss

    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())

    def write_index_on_a_full_disk(native, path):
        Path(path).write_bytes(b"half a file")
        raise RuntimeError(f"Error: 'ret == (n)' failed: write error in {path}: 0 != 1 (No space left on device)")

    monkeypatch.setattr(faiss, "write_index", write_index_on_a_full_disk)
    with pytest.raises(DiskFullError, match=r"is full \(writing vectors-000002\.faiss\)"):
        index.rebuild(folder, [], HashingEmbedder(), reuse_vectors=True)
    monkeypatch.undo()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("vectors-")) == ["vectors-000001.faiss"]
    assert index.check(folder).ok


def test_collections_from_compressed_from_papers_scan_codes_and_answer_as_the_exact_index(tmp_path, hf_daily):
    digests = [hf_daily / "digests"]
    exact_folder, compressed_folder = tmp_path / "exact", tmp_path / "compressed"
    index.update(exact_folder, digests, HashingEmbedder())
    index.update(compressed_folder, digests, HashingEmbedder(), policy=index.MergePolicy(compressed_from=1000))
    embedder = HashingEmbedder()
    with SearchIndex(exact_folder, embedder) as exact, SearchIndex(compressed_folder, embedder) as cut:
        assert exact.info().index_factory == "IDMap2,SQfp16"
        assert cut.info().index_factory == compressed_factory(HashingEmbedder().dim)
        titles = [hit.paper.title for hit in exact.ask("video generation with diffusion", 40, mode="lexical")]
        same = []
        for title in titles[:20]:
            for mode in ("dense", "hybrid"):
                ours = [(hit.paper.key, round(hit.score, 5)) for hit in cut.ask(title, 10, mode=mode)]
                truth = [(hit.paper.key, round(hit.score, 5)) for hit in exact.ask(title, 10, mode=mode)]
                same.append(len(set(ours) & set(truth)) / 10)
            # A stored paper's neighbours come from the exact scan of the float16 vectors: the same answer.
            key = exact.ask(title, 1, mode="lexical")[0].paper.key
            assert [h.paper.key for h in cut.related(key, 10)[1]] == [h.paper.key for h in exact.related(key, 10)[1]]
        assert np.mean(same) >= 0.98
    assert index.check(compressed_folder).problems == []
