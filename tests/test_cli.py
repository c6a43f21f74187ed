"""The CLI over the library: every command, its output shapes, its errors and exit codes (fake embedder)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semsearch.cli import PaperNotFound, cli
from semsearch.errors import PaperNotFoundError
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, ABSTRACT_B, ABSTRACT_C, DIGEST_HEADER, write_digest, write_hostile_digest


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


def test_update_dash_reads_one_digest_from_stdin(tmp_path, runner, seed_digest):
    folder = tmp_path / "idx"
    text = seed_digest.read_bytes()
    result = run(runner, ["update", "-", "--index", str(folder), "--date", "2025-05-06"], input=text)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"Added 63 new papers from 1 digest (0 updated, 0 already present); 63 papers in {folder}"
    )
    shown = run(runner, ["show", "zero-memory-optimizations-toward-45e5", "--index", str(folder), "--json"])
    paper = json.loads(shown.stdout)
    assert paper["sources"] == ["<stdin>"] and paper["dates"] == ["2025-05-06"]
    # JSON records on stdin are sniffed as a file's are, and mix with files.
    record = {"title": "A Paper Piped In", "abstract": ABSTRACT_A, "id": "2401.00001"}
    piped = run(runner, ["update", "-", str(seed_digest), "--index", str(folder), "--json"], input=json.dumps(record))
    assert piped.exit_code == 0, piped.output
    report = json.loads(piped.stdout)
    assert report["added"] == 1 and report["already_present"] == 63 and report["digests"] == 2


@pytest.mark.parametrize("content", [b"", b"\n \n", b"\xef\xbb\xbf"])
def test_update_dash_with_empty_stdin_is_a_one_line_error(tmp_path, runner, content):
    result = run(runner, ["update", "-", "--index", str(tmp_path / "idx")], input=content)
    assert_clean_error(result, 1, "stdin is empty", "semsearch update -")
    assert not (tmp_path / "idx").exists()


def test_update_dash_with_stdin_that_holds_no_digest_names_stdin(tmp_path, runner):
    result = run(runner, ["update", "-", "--index", str(tmp_path / "idx")], input=b"GIF89a\x01\x00\x00\xff")
    assert_clean_error(result, 1, "<stdin>")


def test_index_from_environment_variable(tmp_path, runner, seed_digest):
    folder = tmp_path / "from-env"
    result = run(runner, ["update", str(seed_digest)], env={"SEMSEARCH_INDEX": str(folder)})
    assert result.exit_code == 0 and (folder / "papers.sqlite3").exists()


def test_index_before_the_command_and_after_it(tmp_path, runner, seeded):
    """`semsearch --index X ask` works; an --index after the command wins over one before it and the variable."""
    before = run(runner, ["--index", str(seeded), "info", "--json"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["path"] == str(seeded)
    index, elsewhere = str(seeded), str(tmp_path / "elsewhere")
    for args, env, used in (
        (["--index", elsewhere, "info", "--index", index], {}, index),
        (["--index", index, "info", "--index", elsewhere], {}, elsewhere),
        (["--index", index, "info"], {"SEMSEARCH_INDEX": elsewhere}, index),
        (["info", "--index", index], {"SEMSEARCH_INDEX": elsewhere}, index),
        (["--index", elsewhere, "info"], {"SEMSEARCH_INDEX": index}, elsewhere),
        (["info"], {"SEMSEARCH_INDEX": index}, index),
    ):
        result = run(runner, args, env=env)
        if used == index:
            assert result.exit_code == 0 and f"index     {index}" in result.stdout, (args, env, result.output)
        else:
            assert_clean_error(result, 1, f"no index at {elsewhere}")
    hits = run(runner, ["--index", str(seeded), "ask", "parallel corpora", "-n", "2"])
    assert hits.exit_code == 0 and len(hits.stdout.splitlines()) == 2


def test_counts_agree_with_their_nouns(tmp_path, runner):
    folder = tmp_path / "idx"
    one = write_digest(tmp_path / "one_2025-01-01.txt", "Jan 1", [("Lonely Paper", ABSTRACT_A)])
    added = run(runner, ["update", str(one), "--index", str(folder)])
    assert added.exit_code == 0, added.output
    assert "Embedding 1 paper..." in added.stderr
    assert added.stdout.strip() == (
        f"Added 1 new paper from 1 digest (0 updated, 0 already present); 1 paper in {folder}"
    )
    two = write_digest(
        tmp_path / "two_2025-01-02.txt", "Jan 2", [("Second Paper", ABSTRACT_B), ("Third Paper", ABSTRACT_C)]
    )
    more = run(runner, ["update", str(two), "--index", str(folder)])
    assert "Embedding 2 papers..." in more.stderr
    assert more.stdout.startswith("Added 2 new papers from 1 digest") and "; 3 papers in" in more.stdout
    removed = run(runner, ["remove", "Lonely Paper", "--index", str(folder)])
    assert removed.exit_code == 0 and removed.stdout.startswith("Removed 1 paper (")
    assert removed.stdout.rstrip().endswith(f"; 2 papers in {folder}")


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


NO_WORD_NOTICE = "notice: the question has no word to search for (only stopwords, punctuation or symbols)"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("question", ["the of and", "???", "🙂🙂", "What is it?", "(and) -- …"])
def test_a_question_with_no_word_to_search_for_finds_nothing_and_says_so(runner, seeded, question, mode):
    """Not the nearest vectors to a meaningless embedding passed off as answers: no hits, a notice, exit 0."""
    text = run(runner, ["ask", question, "--mode", mode, "--index", str(seeded)])
    assert text.exit_code == 0 and text.stdout == "", text.output
    assert text.stderr.startswith(NO_WORD_NOTICE) and "ask with content words" in text.stderr
    # --json keeps its one shape (the array of hits) on stdout; the notice is on stderr, as in text mode.
    as_json = run(runner, ["ask", question, "--mode", mode, "--index", str(seeded), "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == [], as_json.output
    assert as_json.stderr.startswith(NO_WORD_NOTICE)


@pytest.mark.parametrize("question", ["蛋白质折叠", "التعلم العميق", "Обучение моделей", "ZeRO?", "x"])
def test_a_question_in_any_script_is_searched_without_a_notice(runner, seeded, question):
    result = run(runner, ["ask", question, "-n", "3", "--mode", "dense", "--index", str(seeded)])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3 and "notice" not in result.stderr


def test_an_unknown_arxiv_id_says_what_the_index_holds(tmp_path, runner, seeded, seed_digest):
    """Not "the closest titles are below" with titles sharing digits, or nothing, below."""
    for reference in ("2305.12345", "arXiv:2305.12345v2", "https://arxiv.org/abs/2305.12345"):
        result = run(runner, ["related", reference, "--index", str(seeded)])
        assert_clean_error(
            result, 1, "Error: no paper in this index has an arXiv id (its digests gave none); pass a key or a title"
        )
        assert len(result.stderr.splitlines()) == 1 and "closest" not in result.stderr
    with_ids = tmp_path / "with-ids"
    added = run(runner, ["update", str(seed_digest), str(write_hostile_digest(tmp_path)), "--index", str(with_ids)])
    assert added.exit_code == 0, added.output
    unknown = run(runner, ["related", "2305.12345", "--index", str(with_ids)])
    assert_clean_error(unknown, 1, "Error: no paper has arXiv id 2305.12345; check the id, or pass a key or a title")
    assert len(unknown.stderr.splitlines()) == 1
    known = run(runner, ["related", "arXiv:2507.01234", "--index", str(with_ids), "-n", "1"])
    assert known.exit_code == 0 and "Related to 2507.01234:" in known.stderr
    for command in ("show", "remove"):
        same = run(runner, [command, "2305.12345", "--index", str(with_ids)])
        assert_clean_error(same, 1, "no paper has arXiv id 2305.12345")


def test_an_unknown_paper_with_no_close_title_does_not_promise_titles(runner, seeded):
    result = run(runner, ["related", "qqqzzz xyzzy", "--index", str(seeded)])
    assert_clean_error(result, 1, 'Error: no paper matches "qqqzzz xyzzy", and no title shares a word with it')
    assert "below" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_pasting_a_stored_paper_says_which_paper_is_left_out(runner, seeded):
    paper = json.loads(run(runner, ["show", "Samanantar", "--index", str(seeded), "--json"]).stdout)
    notice = (
        "notice: the pasted text is the {} of samanantar-largest-publicly-f726 (Samanantar: The Largest Publicly "
        "Available Parallel Corpora Collection for 11 Indic Languages); that paper is left out of the results"
    )
    wrapped = textwrap.fill(paper["abstract"], width=70, break_on_hyphens=False, break_long_words=False)
    for pasted, what in (
        (paper["abstract"], "abstract"),
        (f"  {wrapped}\n\n", "abstract"),  # whitespace aside
        (f"{paper['title']}\n\n{wrapped}\n", "title and abstract"),
        (f"{paper['title']}. {paper['abstract']}", "title and abstract"),  # the text semsearch embeds
    ):
        for options in ([], ["--mode", "lexical"]):
            result = run(runner, ["related", "-", "--index", str(seeded), "-n", "3", *options], input=pasted)
            assert result.exit_code == 0, result.output
            assert result.stderr.splitlines() == [notice.format(what)], result.stderr
            assert len(result.stdout.splitlines()) == 3 and paper["key"] not in result.stdout
        as_json = run(runner, ["related", "-", "--index", str(seeded), "--json"], input=pasted)
        hits = json.loads(as_json.stdout)
        assert len(hits) == 10 and paper["key"] not in {hit["key"] for hit in hits}
        assert as_json.stderr.splitlines() == [notice.format(what)]
    # Text that is not a stored paper's leaves nothing out and says nothing; a part of an abstract is not the paper.
    for pasted in (ABSTRACT_B, paper["abstract"][: len(paper["abstract"]) // 2], f"Samanantar {ABSTRACT_A}"):
        result = run(runner, ["related", "-", "--index", str(seeded), "--json"], input=pasted)
        assert result.exit_code == 0 and result.stderr == "" and len(json.loads(result.stdout)) == 10


def test_pasting_text_with_no_word_finds_nothing_and_says_so(runner, seeded):
    result = run(runner, ["related", "-", "--index", str(seeded)], input="?! -- 🙂 the of")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.startswith("notice: the pasted text has no word to search for")


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


def test_rebuild_says_what_it_did(tmp_path, runner, seeded):
    text = run(runner, ["rebuild", "--index", str(seeded)])
    assert text.exit_code == 0, text.output
    assert text.stdout.strip() == f"Rebuilt the index: re-embedded 63 papers; 63 papers in {seeded}"
    assert "Embedding 63 papers..." in text.stderr
    repaired = run(runner, ["rebuild", "--index", str(seeded), "--reuse-vectors"])
    assert repaired.stdout.strip() == (
        f"Rewrote the search files from 63 stored vectors without embedding anything; 63 papers in {seeded}"
    )
    assert "Embedding" not in repaired.stderr
    digest = write_digest(tmp_path / "new_2025-01-01.txt", "Jan 1", [("A Brand New Paper", ABSTRACT_C)])
    with_new = run(runner, ["rebuild", str(digest), "--index", str(seeded), "--reuse-vectors"])
    assert with_new.stdout.strip() == (
        "Rewrote the search files from 63 stored vectors, embedding only 1 paper from the digests; "
        f"added 1 new paper from 1 digest (0 updated, 0 already present); 64 papers in {seeded}"
    )
    again = run(runner, ["rebuild", str(digest), "--index", str(seeded)])
    assert again.stdout.strip() == (
        "Rebuilt the index: re-embedded 64 papers; added 0 new papers from 1 digest (0 updated, 1 already present); "
        f"64 papers in {seeded}"
    )


class PreparingEmbedder(HashingEmbedder):
    """A fake whose first embedding needs a one-time preparation, announced like the bundled model's."""

    def __init__(self) -> None:
        super().__init__()
        self.prepared = False

    def prepare(self) -> None:
        """Announce and do the one-time preparation."""
        if not self.prepared:
            logging.getLogger("semsearch").info("Preparing the test model, once per machine...")
            self.prepared = True


def test_model_preparation_is_a_notice_before_embedding(tmp_path, runner, seed_digest):
    embedder = PreparingEmbedder()
    result = run(runner, ["update", str(seed_digest), "--index", str(tmp_path / "idx")], embedder=embedder)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:2] == ["Preparing the test model, once per machine...", "Embedding 63 papers..."], lines
    assert "warning" not in result.stderr
    nothing_new = run(runner, ["update", str(seed_digest), "--index", str(tmp_path / "idx")],
                      embedder=PreparingEmbedder())
    # Nothing to embed: the model is not prepared at all.
    assert nothing_new.exit_code == 0 and nothing_new.stderr == ""


def test_ctrl_c_while_updating_exits_130_and_the_rerun_reuses_the_kept_vectors(tmp_path, runner, hf_daily):
    folder = tmp_path / "idx"
    digests = str(hf_daily / "digests")
    crashing = HashingEmbedder()
    crashing.fail_after = 1500  # past the first checkpoint (every 1024 papers), before the end (3506)
    interrupted = run(runner, ["update", digests, "--index", str(folder)], embedder=crashing)
    assert interrupted.exit_code == 130, interrupted.output
    assert "Aborted!" not in interrupted.stderr and "Traceback" not in interrupted.stderr
    assert interrupted.stderr.splitlines()[-1].startswith("Interrupted. The vectors embedded up to the last "
                                                           "checkpoint were kept; run the same `semsearch update`")
    resumed = run(runner, ["update", digests, "--index", str(folder), "--json"])
    report = json.loads(resumed.stdout)
    assert report["papers"] == report["added"] == 3506
    assert report["embedded"] <= 3506 - 1024  # what the interrupted run checkpointed was not embedded again


def test_ctrl_c_elsewhere_exits_130(tmp_path, runner, seeded):
    class Interrupting(HashingEmbedder):
        def embed_query(self, text):
            raise KeyboardInterrupt

    result = run(runner, ["ask", "anything", "--index", str(seeded)], embedder=Interrupting())
    assert result.exit_code == 130 and result.stderr == "Interrupted.\n" and result.stdout == ""
    crashing = HashingEmbedder()
    crashing.fail_after = 0
    rebuilt = run(runner, ["rebuild", "--index", str(seeded)], embedder=crashing)
    assert rebuilt.exit_code == 130 and "run the same `semsearch rebuild` again" in rebuilt.stderr


def test_missing_index_errors(tmp_path, runner):
    for args in (["ask", "q"], ["related", "x"], ["info"], ["show", "x"], ["rebuild"]):
        result = run(runner, [*args, "--index", str(tmp_path / "none")])
        assert_clean_error(result, 1, "Error: no index at", "semsearch update", "--index PATH", "SEMSEARCH_INDEX")


def test_unknown_and_ambiguous_paper(runner, seeded):
    unknown = run(runner, ["related", "trillion parameter memory optimisation qq", "--index", str(seeded)])
    assert_clean_error(unknown, 1, "Error: no paper matches")
    assert "ZeRO" in unknown.stderr and len(unknown.stderr.splitlines()) > 1
    ambiguous = run(runner, ["show", "ZeRO", "--index", str(seeded)])
    assert_clean_error(ambiguous, 1, "matches 2 papers")
    assert "ZeRO-Infinity" in ambiguous.stderr


def test_a_cut_list_of_candidates_says_how_many_it_left_out():
    candidates = [(f"paper-{n}", f"Paper {n}") for n in range(8)]
    for total, more in ((13, "  ... and 5 more"), (8, None), (None, None)):
        shown = io.StringIO()
        PaperNotFound(PaperNotFoundError('"Paper" matches 13 papers', candidates, total=total)).show(shown)
        lines = shown.getvalue().splitlines()
        assert lines[0] == 'Error: "Paper" matches 13 papers'
        assert lines[1:9] == [f"  paper-{n}  Paper {n}" for n in range(8)]
        assert lines[9:] == ([more] if more else [])
    assert PaperNotFoundError("no paper matches").total is None


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


def test_the_console_script_shortens_blas_spinning_before_numpy_loads_and_freezes_gc_before_exit(monkeypatch):
    from semsearch import cli as cli_module

    seen, frozen = [], []

    def command(**kwargs):
        seen.append(os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
        raise SystemExit(3)  # as click ends every command, with its exit code

    monkeypatch.setattr(cli_module, "cli", command)
    monkeypatch.setattr(cli_module.gc, "freeze", lambda: frozen.append(len(seen)))  # never this test process's gc
    monkeypatch.delenv("OPENBLAS_THREAD_TIMEOUT", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli_module.main()
    assert exited.value.code == 3
    monkeypatch.setenv("OPENBLAS_THREAD_TIMEOUT", "28")  # a value the user sets wins
    with pytest.raises(SystemExit):
        cli_module.main()
    assert seen == [cli_module.BLAS_SPIN_LOG2_CYCLES, "28"] and frozen == [1, 2]


def test_shorter_blas_spinning_gives_the_same_bits():
    # The setting only decides how long an idle OpenBLAS thread spins before it sleeps; the threads that split a
    # product are the same, so every product is the same to the bit (3,506 rows: a size two threads split).
    code = (
        "import sys, numpy as np\n"
        "rng = np.random.default_rng(7)\n"
        "m, v = rng.standard_normal((3506, 384), dtype=np.float32), rng.standard_normal(384, dtype=np.float32)\n"
        "sys.stdout.write((m @ v).tobytes().hex() + (m[:300] @ m[:300].T).tobytes().hex())\n"
    )
    outputs = []
    for setting in (None, "20"):
        env = {key: value for key, value in os.environ.items() if key != "OPENBLAS_THREAD_TIMEOUT"}
        if setting is not None:
            env["OPENBLAS_THREAD_TIMEOUT"] = setting
        outputs.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                      check=True).stdout)
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    "failure, fragment",
    [
        (lambda: __import__("sqlite3").OperationalError("database or disk is full"), "writing the index database"),
        (lambda: OSError(28, "No space left on device", "/x/vectors-000002.faiss"), "writing /x/vectors-000002.faiss"),
    ],
)
def test_a_full_disk_anywhere_is_named_not_masked(runner, seeded, monkeypatch, failure, fragment):
    """A full disk the write path did not name itself still says so, in one line (a cron log's only line)."""
    from semsearch.search import SearchIndex

    def info_on_a_full_disk(self):
        raise failure()

    monkeypatch.setattr(SearchIndex, "info", info_on_a_full_disk)
    result = run(runner, ["info", "--index", str(seeded)])
    assert_clean_error(result, 1, "Error: the disk is full (", fragment, "free space and run the same command again")


def test_info_says_the_state_and_never_none(runner, seeded):
    text = run(runner, ["info", "--index", str(seeded)]).stdout
    assert "state     ready\n" in text and "None" not in text
    assert json.loads(run(runner, ["info", "--index", str(seeded), "--json"]).stdout)["state"] == "ready"
