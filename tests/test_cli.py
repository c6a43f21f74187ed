"""The CLI over the library: every command, its output shapes, its errors and exit codes (fake embedder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semsearch.cli import cli
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, ABSTRACT_B, DIGEST_HEADER, write_digest


def run(runner, args, embedder=None, **kwargs):
    """Invoke the CLI with the fake embedder injected."""
    return runner.invoke(cli, args, obj={"embedder": embedder or HashingEmbedder()}, **kwargs)


@pytest.fixture
def seeded(tmp_path, runner, seed_digest) -> Path:
    folder = tmp_path / "idx"
    result = run(runner, ["update", str(seed_digest), "--index", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def assert_clean_error(result, exit_code: int, *fragments: str) -> None:
    """A one-line `Error:` on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == exit_code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    first_line = result.stderr.splitlines()[0] if exit_code == 1 else result.stderr
    for fragment in fragments:
        assert fragment in first_line, result.stderr


def test_update_text_and_json(tmp_path, runner, seed_digest):
    folder = tmp_path / "idx"
    result = run(runner, ["update", str(seed_digest), "--index", str(folder)])
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        f"Added 63 new papers from 1 digest (0 updated, 0 already present); 63 papers in {folder}"
    )
    again = run(runner, ["update", str(seed_digest), "--index", str(folder), "--json"])
    assert again.exit_code == 0
    report = json.loads(again.stdout)
    assert report["added"] == 0 and report["updated"] == 0 and report["already_present"] == 63
    assert report["papers"] == 63


def test_index_from_environment_variable(tmp_path, runner, seed_digest):
    folder = tmp_path / "from-env"
    result = run(runner, ["update", str(seed_digest)], env={"SEMSEARCH_INDEX": str(folder)})
    assert result.exit_code == 0 and (folder / "papers.sqlite3").exists()


def test_ask_text_json_and_abstracts(runner, seeded):
    text = run(runner, ["ask", "memory optimizations for trillion parameter models", "--index", str(seeded), "-n", "3"])
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert len(lines) == 3 and lines[0].split()[0] == "1"
    assert "ZeRO" in text.stdout
    data = json.loads(run(runner, ["ask", "parallel corpora", "--index", str(seeded), "--json", "-n", "5"]).stdout)
    assert [hit["rank"] for hit in data] == [1, 2, 3, 4, 5]
    assert {"rank", "score", "key", "title", "date"} <= set(data[0])
    assert data[0]["date"] == "--05-06"
    with_abstracts = run(runner, ["ask", "parallel corpora", "--index", str(seeded), "-n", "1", "-a"])
    assert data[0]["abstract"][:60] in with_abstracts.stdout.replace("\n       ", " ")


def test_no_hits_is_not_an_error(tmp_path, runner):
    folder = tmp_path / "idx"
    digest = write_digest(tmp_path / "one_2025-01-01.txt", "Jan 1", [("Lonely Paper", ABSTRACT_A)])
    run(runner, ["update", str(digest), "--index", str(folder)])
    for args in (["related", "Lonely Paper"], ["ask", "parallel corpora", "--since", "2025-01-02"]):
        result = run(runner, [*args, "--index", str(folder), "--json"])
        assert result.exit_code == 0 and json.loads(result.stdout) == [], (args, result.output)
        text = run(runner, [*args, "--index", str(folder)])
        assert text.exit_code == 0 and text.stdout == "" and "No papers found" in text.stderr, (args, text.output)


def test_related_by_key_title_and_stdin(runner, seeded):
    hits = json.loads(run(runner, ["related", "Samanantar", "--index", str(seeded), "--json"]).stdout)
    assert len(hits) == 10 and all("Samanantar" not in hit["title"] for hit in hits)
    key = json.loads(run(runner, ["show", "Samanantar", "--index", str(seeded), "--json"]).stdout)["key"]
    by_key = json.loads(run(runner, ["related", key, "--index", str(seeded), "--json"]).stdout)
    assert by_key == hits
    text = run(runner, ["related", key, "--index", str(seeded), "-n", "2"])
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 2 and key in text.stderr
    piped = run(runner, ["related", "-", "--index", str(seeded), "--json", "-n", "3"], input=ABSTRACT_B)
    assert piped.exit_code == 0 and len(json.loads(piped.stdout)) == 3


def test_show_and_info(runner, seeded, seed_digest):
    shown = run(runner, ["show", "IndicTrans2", "--index", str(seeded)])
    assert shown.exit_code == 0
    assert "IndicTrans2: Towards High-Quality" in shown.stdout and str(seed_digest.resolve()) in shown.stdout
    info = json.loads(run(runner, ["info", "--index", str(seeded), "--json"]).stdout)
    assert info["papers"] == 63 and info["digests"] == 1 and info["dim"] == 256
    assert info["model"] == "test/hashing-bag-of-words" and info["path"] == str(seeded)
    assert info["size_bytes"] > 0
    text = run(runner, ["info", "--index", str(seeded)])
    assert text.exit_code == 0 and "papers    63" in text.stdout


def test_rebuild_re_embeds_and_rebuild_reuse_vectors_repairs(runner, seeded):
    result = run(runner, ["rebuild", "--index", str(seeded), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["papers"] == 63
    repaired = run(runner, ["rebuild", "--index", str(seeded), "--reuse-vectors"])
    assert repaired.exit_code == 0 and "63 papers" in repaired.stdout


def test_missing_index_errors(tmp_path, runner):
    for args in (["ask", "q"], ["related", "x"], ["info"], ["show", "x"], ["rebuild"]):
        result = run(runner, [*args, "--index", str(tmp_path / "none")])
        assert_clean_error(result, 1, "Error: no index at", "semsearch update")


def test_unknown_and_ambiguous_paper(runner, seeded):
    unknown = run(runner, ["related", "trillion parameter memory optimisation qq", "--index", str(seeded)])
    assert_clean_error(unknown, 1, "Error: no paper matches")
    assert "ZeRO" in unknown.stderr and len(unknown.stderr.splitlines()) > 1
    ambiguous = run(runner, ["show", "ZeRO", "--index", str(seeded)])
    assert_clean_error(ambiguous, 1, "matches 2 papers")
    assert "ZeRO-Infinity" in ambiguous.stderr


def test_malformed_digest_names_file_and_line(tmp_path, runner, seed_digest):
    bad = tmp_path / "bad.txt"
    bad.write_text(DIGEST_HEADER + "May 7\n\nA Title Without Abstract\n", encoding="utf-8")
    folder = tmp_path / "idx"
    result = run(runner, ["update", str(seed_digest), str(bad), "--index", str(folder)])
    assert_clean_error(result, 1, f"Error: {bad}:")
    assert not folder.exists()


def test_model_mismatch_message(runner, seeded):
    result = run(runner, ["ask", "q", "--index", str(seeded)], embedder=HashingEmbedder(model_id="test/other"))
    assert_clean_error(result, 1, "was built with test/hashing-bag-of-words", "semsearch rebuild")


def test_usage_errors_exit_2(runner, seeded):
    assert_clean_error(run(runner, ["update"]), 2, "Missing argument")
    assert_clean_error(run(runner, ["ask", "q", "-n", "0", "--index", str(seeded)]), 2, "Invalid value")
    assert_clean_error(run(runner, ["update", "x", "--date", "June 5"]), 2, "Invalid value")
    assert_clean_error(run(runner, ["nonsense"]), 2, "No such command")


def test_empty_question_and_empty_stdin(runner, seeded):
    assert_clean_error(run(runner, ["ask", "  ", "--index", str(seeded)]), 1, "question is empty")
    assert_clean_error(run(runner, ["related", "-", "--index", str(seeded)], input=""), 1, "no abstract given")


def test_busy_index_with_no_wait(tmp_path, runner, seed_digest):
    from semsearch.storage.locking import write_lock

    folder = tmp_path / "idx"
    with write_lock(folder):
        result = run(runner, ["update", str(seed_digest), "--index", str(folder), "--no-wait"])
    assert_clean_error(result, 1, "another semsearch update is writing")


def test_every_command_has_help():
    for name, command in cli.commands.items():
        assert command.help and command.help.strip(), name


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from semsearch.cli import cli\n"
        "for args in (['--help'], *[[name, '--help'] for name in cli.commands]):\n"
        "    try:\n"
        "        cli.main(args, prog_name='semsearch')\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, args\n"
        "heavy = ('torch', 'sentence_transformers', 'faiss', 'numpy', 'transformers')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stderr
    assert "update" in result.stdout and "related" in result.stdout
