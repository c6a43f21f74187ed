"""Faults with real processes: concurrent writers, readers during writes, kill -9 mid-update; plus remove/check."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
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
    time.sleep(1.5)
    fast = semsearch_process(["update", str(hf_daily / "digests"), "--no-wait"], folder)
    _, err = fast.communicate(timeout=60)
    assert fast.returncode == 1 and err.startswith("Error: another semsearch update is writing") and "Traceback" not in err
    assert slow.wait(timeout=120) == 0


def test_readers_during_writes_see_old_or_new_never_a_mix(tmp_path, hf_daily, seed_digest):
    files = sorted((hf_daily / "digests").glob("*.txt"))
    folder = tmp_path / "idx"
    assert semsearch_process(["update", str(seed_digest)], folder).wait(timeout=60) == 0
    reader_code = (
        "import json, sys, time\n"
        "from semsearch.search import SearchIndex\n"
        "from tests.fakes import HashingEmbedder\n"
        "seen, deadline = [], time.time() + float(sys.argv[2])\n"
        "while time.time() < deadline:\n"
        "    with SearchIndex(__import__('pathlib').Path(sys.argv[1]), HashingEmbedder()) as s:\n"
        "        n = s.info().papers\n"
        "        hits = s.ask('training large language models', 20)\n"
        "        ids = [h.paper.id for h in hits]\n"
        "        assert len(hits) == 20 and len(set(ids)) == 20, ids\n"
        "        seen.append(n)\n"
        "print(json.dumps(seen))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    reader = subprocess.Popen(
        [sys.executable, "-c", reader_code, str(folder), "12"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    for start in range(0, len(files), 40):  # seven commits, some merged into a new FAISS file, some not
        writer = semsearch_process(["update", *map(str, files[start : start + 40])], folder)
        assert writer.wait(timeout=120) == 0
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert len(seen) > 5 and seen == sorted(seen)  # counts only ever grow: each read saw one committed state


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


def test_check_and_commands_on_a_corrupt_database(tmp_path, seed_digest, fake_embedder):
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
