"""Faults with real processes: concurrent writers, readers during writes, kill -9 mid-update; plus remove/check."""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from semsearch import index
from semsearch.errors import PaperNotFoundError
from semsearch.search import SearchIndex
from tests.fakes import HashingEmbedder

REPO = Path(__file__).resolve().parents[1]


def semsearch_process(args: list[str], folder: Path, seconds_per_document: float = 0.0005, **kwargs):
    """Start `python -m semsearch ARGS` on `folder` with the slow fake embedder."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SEMSEARCH_INDEX": str(folder),
        "SEMSEARCH_EMBEDDER": "tests.fakes:SlowHashingEmbedder",
        "FAKE_EMBED_SECONDS": str(seconds_per_document),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "semsearch", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, **kwargs
    )


def info(folder: Path) -> dict:
    process = semsearch_process(["info", "--json"], folder)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return json.loads(out)


def test_two_writers_at_once_both_land(tmp_path, hf_daily):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = tmp_path / "idx"
    first = semsearch_process(["update", *map(str, files[:140]), "--json"], folder)
    second = semsearch_process(["update", *map(str, files[140:]), "--json"], folder)
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    assert "waiting" in err1 + err2  # one of them really had to wait
    assert json.loads(out1)["added"] + json.loads(out2)["added"] == 3506
    assert info(folder)["papers"] == 3506
    assert index.check(folder).ok


def test_second_writer_with_no_wait_fails_cleanly(tmp_path, hf_daily):
    folder = tmp_path / "idx"
    slow = semsearch_process(["update", str(hf_daily / "digests")], folder, seconds_per_document=0.002)
    # It says "Embedding N papers..." once it holds the lock (inputs are parsed before the lock is taken).
    lines = iter(slow.stderr.readline, "")
    assert any(line.startswith("Embedding") for line in lines), "the first writer never started embedding"
    fast = semsearch_process(["update", str(hf_daily / "digests"), "--no-wait"], folder)
    _, err = fast.communicate(timeout=60)
    assert fast.returncode == 1, err
    assert err.startswith("Error: another semsearch update is writing") and "Traceback" not in err
    assert slow.poll() is None  # the first writer was still writing: the failure was the lock's, at once
    _, slow_err = slow.communicate(timeout=120)
    assert slow.returncode == 0, slow_err
    assert info(folder)["papers"] == 3506


# Reads the index in a loop until the stop file exists (then once more), each read in a fresh SearchIndex, and prints
# one JSON line per read: the committed state it saw and what its searches returned. Any warning (a fallback to
# stored vectors or to FTS5 because a file the state named was gone) is printed too.
READER = r"""
import json, logging, sys
from pathlib import Path
from semsearch.search import SearchIndex
from tests.fakes import HashingEmbedder

folder, stop = Path(sys.argv[1]), Path(sys.argv[2])
warnings = []
handler = logging.Handler(logging.WARNING)
handler.emit = lambda record: warnings.append(record.getMessage())
logging.getLogger("semsearch").addHandler(handler)
embedder = HashingEmbedder()
while True:
    last = stop.exists()
    with SearchIndex(folder, embedder) as s:
        with s._store.snapshot():  # one committed state: its papers and the files it names
            state = s._store.state()
            papers, recent = s._store.paper_count(), s._store.unindexed_count()
        vector = embedder.embed_query("training large language models")
        # Every paper the vectors answer for, from the snapshot the vectors were loaded in (maybe a later commit).
        dense = [paper_id for paper_id, _ in s.rank("dense", "", vector, 10**6)]
        lexical = [paper_id for paper_id, _ in s.rank("lexical", "training large language models", None, 10**6)]
        hybrid = [hit.paper.id for hit in s.ask("training large language models", 20)]
        stored = s._store.papers(dense)
        print(json.dumps({
            "papers": papers, "recent": recent, "vector_file": state.files.vector_file,
            "word_file": state.files.word_file, "dense": len(dense), "dense_distinct": len(set(dense)),
            "dense_stored": len(stored), "vector_layers": s._vectors.size, "lexical": len(lexical),
            "lexical_distinct": len(set(lexical)), "hybrid": len(hybrid), "hybrid_distinct": len(set(hybrid)),
            "warnings": warnings,
        }), flush=True)
    if last:
        break
"""


def committed_state(folder: Path) -> dict:
    """The state a read must report when no writer is running: papers, recent papers and the files named."""
    with SearchIndex(folder) as search_index:
        state = search_index._store.state()
        return {
            "papers": search_index._store.paper_count(),
            "recent": search_index._store.unindexed_count(),
            "vector_file": state.files.vector_file,
            "word_file": state.files.word_file,
        }


def test_readers_during_writes_see_old_or_new_never_a_mix(tmp_path, hf_daily, seed_digest):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder, stop = tmp_path / "idx", tmp_path / "stop"
    # A small merge threshold: some commits only add recent papers, others merge them into new FAISS and word files.
    policy = index.MergePolicy(merge_threshold=1000)
    index.update(folder, [seed_digest], HashingEmbedder(), policy=policy)
    committed = [committed_state(folder)]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(folder), str(stop)], env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    # This thread is the only reader of the pipe (communicate() beside it could take half a line).
    listener = threading.Thread(target=lambda: [lines.put(line) for line in reader.stdout], daemon=True)
    listener.start()
    seen: list[dict] = []

    def parsed(line: str) -> dict:
        """One read; anything else on the reader's stdout (a library printing there) fails with the line itself."""
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"the reader's stdout holds a line that is not one JSON document: {line!r}")

    def read_until(papers: int) -> None:
        """Collect the reader's reads until one has seen `papers` (so each commit is seen before the next)."""
        deadline = time.monotonic() + 60
        while not seen or seen[-1]["papers"] != papers:
            assert reader.poll() is None, reader.stderr.read()
            try:
                seen.append(parsed(lines.get(timeout=max(0.0, deadline - time.monotonic()))))
            except queue.Empty:
                pytest.fail(f"the reader never saw the commit of {papers} papers; it saw {seen[-3:]}")

    try:
        read_until(committed[0]["papers"])
        for start in range(0, len(files), 40):  # seven commits while the reader reads
            index.update(folder, files[start : start + 40], HashingEmbedder(), policy=policy)
            committed.append(committed_state(folder))
            read_until(committed[-1]["papers"])
    finally:
        stop.touch()
    reader.wait(timeout=60)
    listener.join(timeout=60)
    assert reader.returncode == 0, reader.stderr.read()
    while not lines.empty():
        seen.append(parsed(lines.get()))

    assert committed[-1]["papers"] == 63 + 3506
    states = [{name: read[name] for name in ("papers", "recent", "vector_file", "word_file")} for read in seen]
    counts = {state["papers"] for state in committed}
    for read, state in zip(seen, states):
        assert state in committed, state  # each read saw one committed state, whole: never one commit's count
        assert read["warnings"] == [], read  # with another's files, nor a file deleted under it
        # The vectors answer for every paper of one committed state, each once, each stored.
        assert read["vector_layers"] == read["dense"] == read["dense_distinct"] == read["dense_stored"], read
        assert read["dense"] in counts, read
        assert read["lexical"] == read["lexical_distinct"] and read["hybrid"] == read["hybrid_distinct"] == 20, read
    assert [state["papers"] for state in states] == sorted(state["papers"] for state in states)  # never back
    assert states[-1] == committed[-1]  # the reader ran until the writers finished
    assert len({state["papers"] for state in states}) == len(committed) >= 3  # it saw every commit
    # Merges happened while it read: it saw new FAISS and word files, and commits that only added recent papers.
    vector_files = {state["vector_file"] for state in states}
    assert len(vector_files) >= 3 and len({state["word_file"] for state in states}) == len(vector_files)
    assert any(state["recent"] > 0 for state in states) and any(state["recent"] == 0 for state in states[1:])


@pytest.mark.parametrize("command", ["update", "rebuild"])
def test_kill_9_at_random_points_loses_nothing_committed(tmp_path, hf_daily, command):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = tmp_path / "idx"
    index.update(folder, files[:20], HashingEmbedder(model_id="test/hashing-bag-of-words"))
    rng = random.Random(20261125)
    committed = info(folder)["papers"]
    kills = 0
    for attempt in range(6):
        batch = files[: 20 + 40 * (attempt + 1)]
        args = ["update", *map(str, batch)] if command == "update" else ["rebuild", *map(str, batch)]
        process = semsearch_process(args, folder, seconds_per_document=0.001)
        time.sleep(rng.uniform(0.3, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
        report = index.check(folder)
        assert report.ok, report.problems
        now = info(folder)["papers"]
        assert now >= committed  # nothing committed was lost
        committed = now
        with SearchIndex(folder, HashingEmbedder()) as search_index:
            assert len(search_index.ask("diffusion models for video", 5)) == 5
    assert kills >= 2  # the test really interrupted work
    finish = semsearch_process(["update", str(hf_daily / "digests")], folder)
    assert finish.wait(timeout=180) == 0
    assert info(folder)["papers"] == 3506 and index.check(folder).ok


def test_remove_forgets_papers_all_or_nothing(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    with SearchIndex(folder) as search_index:
        zero = search_index.resolve("ZeRO: Memory Optimizations Toward Training Trillion Parameter Models")
    with pytest.raises(PaperNotFoundError):
        index.remove(folder, [zero.key, "no-such-paper-0000"])
    assert index.remove(folder, [zero.key, "Samanantar"]).papers == 61
    with SearchIndex(folder, fake_embedder) as search_index:
        hits = search_index.ask("ZeRO memory optimizations trillion parameter", 61)
        assert len(hits) == 61 and zero.id not in {hit.paper.id for hit in hits}
        with pytest.raises(PaperNotFoundError):
            search_index.resolve(zero.key)
    assert index.check(folder).ok
    index.update(folder, [seed_digest], fake_embedder)  # the digest brings them back
    assert index.check(folder).ok


@pytest.mark.parametrize("damage", ["delete", "truncate", "foreign"])
def test_check_finds_vector_file_damage_and_rebuild_repairs_it(tmp_path, seed_digest, fake_embedder, damage):
    import faiss

    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    (vector_file,) = folder.glob("vectors-*.faiss")
    if damage == "delete":
        vector_file.unlink()
    elif damage == "truncate":
        vector_file.write_bytes(vector_file.read_bytes()[:1000])
    else:
        faiss.write_index(faiss.IndexFlatL2(8), str(vector_file))
    report = index.check(folder)
    assert not report.ok and "rebuild --reuse-vectors" in report.problems[0]
    repaired = index.rebuild(folder, [], HashingEmbedder(), reuse_vectors=True)
    assert repaired.embedded == 0 and index.check(folder).ok


def test_a_corrupt_database_fails_check_ask_and_info_with_one_line(tmp_path, seed_digest, fake_embedder):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], fake_embedder)
    database = folder / "papers.sqlite3"
    data = bytearray(database.read_bytes())
    data[4096:12288] = os.urandom(8192)  # scribble over pages past the header
    database.write_bytes(bytes(data))
    for args in (["check"], ["ask", "memory"], ["info"]):
        process = semsearch_process(args, folder)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1, (args, out, err)
        assert err.startswith("Error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path, seed_digest):
    """`semsearch ask ... | head`: a closed stdout is no error message, just the shell's SIGPIPE status."""
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    process = semsearch_process(["ask", "training", "-a", "-n", "60"], folder)
    process.stdout.close()  # the reader is gone before the first line is written
    _, err = process.communicate(timeout=60)
    assert process.returncode == 141 and err == ""


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB file system (tmpfs), mounted for the test and unmounted after; root only."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8) (CI runs as root, so it runs there)")
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mountpoint)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


@pytest.mark.parametrize("digests, cause", [(40, "is full (writing papers.sqlite3)"), (80, "is nearly full")])
def test_a_full_disk_fails_with_one_line_and_leaves_the_previous_index_answering(
    small_disk, hf_daily, digests, cause
):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = small_disk / "idx"
    first = semsearch_process(["update", *map(str, files[:5])], folder)
    assert first.wait(timeout=60) == 0
    before = info(folder)["papers"]

    failing = semsearch_process(["update", *map(str, files[:digests])], folder)
    _, err = failing.communicate(timeout=120)
    assert failing.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"Error: the disk holding {folder} {cause}") and "Traceback" not in err, err
    assert "free space and run the same command again: nothing in the index was changed" in last
    # What the failed write took is given back: no grown write-ahead log, no half-written file.
    wal = folder / "papers.sqlite3-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    assert not list(folder.glob("*.tmp")) and len(list(folder.glob("vectors-*"))) == 1
    assert shutil.disk_usage(small_disk).free > 1_500_000

    assert index.check(folder).ok
    assert info(folder)["papers"] == before
    with SearchIndex(folder, HashingEmbedder()) as search_index:
        assert len(search_index.ask("language models", 5)) == 5

    # Free space (a bigger file system), and the same command finishes.
    subprocess.run(["mount", "-o", "remount,size=32m", str(small_disk)], check=True)
    rerun = semsearch_process(["update", *map(str, files[:digests])], folder)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert info(folder)["papers"] > before and index.check(folder).ok


def pending_vectors(folder: Path) -> int:
    """Vectors a running or interrupted update has checkpointed (read without disturbing the writer)."""
    import sqlite3

    if not (folder / "papers.sqlite3").exists():
        return 0
    connection = sqlite3.connect(f"file:{folder / 'papers.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute("SELECT count(*) FROM pending_vectors").fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0
    finally:
        connection.close()


def look(folder: Path) -> tuple[str, str, dict]:
    """What `check`, `info` and `info --json` print (each must succeed)."""
    printed = []
    for args in (["check"], ["info"]):
        process = semsearch_process(args, folder)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (args, out, err)
        assert "None" not in out and "Traceback" not in err, out
        printed.append(out)
    return printed[0], printed[1], info(folder)


def start_and_wait_for_a_checkpoint(args: list[str], folder: Path, seconds_per_document: float):
    writer = semsearch_process(args, folder, seconds_per_document=seconds_per_document)
    deadline = time.monotonic() + 120
    while pending_vectors(folder) == 0:
        assert writer.poll() is None and time.monotonic() < deadline, writer.communicate()
        time.sleep(0.1)
    return writer


def test_check_and_info_say_what_state_the_index_is_in_and_what_finishes_it(tmp_path, hf_daily):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = tmp_path / "idx"

    # The first update of a new index, while it runs: nothing is wrong, it is writing.
    first = start_and_wait_for_a_checkpoint(["update", *map(str, files[:150])], folder, 0.002)
    check_out, info_out, summary = look(folder)
    assert re.search(r"note: the index has no papers yet: its first update is writing to it now \(\d+ vectors "
                     r"embedded so far\)", check_out) and "OK: 0 papers" in check_out
    assert "state     new: the index has no papers yet: its first update is writing" in info_out
    assert "vectors   none yet (the first update has not committed yet; format 2)" in info_out
    assert "updated   not yet" in info_out
    assert summary["state"] == "new" and summary["vector_file"] is None and summary["papers"] == 0

    # ...and after it was killed: the advice is to run the same update again, not a repair.
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    check_out, info_out, summary = look(folder)
    assert re.search(r"note: the index has no papers yet: its first update did not finish \(\d+ vectors embedded "
                     r"so far are kept\); run the same `semsearch update` again", check_out)
    assert "rebuild" not in check_out and "problem" not in check_out
    assert "vectors   none yet (the first update did not finish; format 2)" in info_out
    assert summary["state"] == "new" and index.check(folder).state == "new"
    finish = semsearch_process(["update", *map(str, files[:150])], folder)
    _, err = finish.communicate(timeout=120)
    assert finish.returncode == 0, err
    check_out, info_out, summary = look(folder)
    assert check_out.startswith("OK: ") and summary["state"] == "ready" and summary["state_message"] is None
    assert "state     ready\n" in info_out

    # An update of an index with papers, while it runs, and after it was killed.
    second = start_and_wait_for_a_checkpoint(["update", str(hf_daily / "digests")], folder, 0.002)
    check_out, info_out, summary = look(folder)
    assert "note: an update is writing to this index now" in check_out and "OK: " in check_out
    assert summary["state"] == "updating" and "state     updating: an update is writing" in info_out
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=60)
    check_out, info_out, summary = look(folder)
    assert re.search(r"note: an update or rebuild was interrupted before its commit: the \d+ vectors embedded so far "
                     r"are kept; run the same command again to finish it", check_out) and "OK: " in check_out
    assert summary["state"] == "interrupted" and index.check(folder).state == "interrupted"
