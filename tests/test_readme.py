"""The README against the CLI: it names every command and option, and its console examples print what the commands
print (run against a real int8 index of the seed digest). Expected text is read from README.md, never copied here,
so a change of wording is made once, in the README, and this test then holds the two together."""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from semsearch.cli import cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# README examples that are not run, and why. Any other `$ semsearch ...` line in a console block is run.
NOT_RUN = {
    "serve": "serves until stopped",
    "eval": "minutes of embedding; its figures are the tables under it",
}
# Commands that change an index run on a fresh one (shared by all such examples, in README order); the others read
# the shared seed index. A console block that starts with `update` and goes on with other commands (watch, like,
# news) is a session: all of its commands run in order on an index of their own, so an example can show state
# that carries from one command to the next.
WRITES = {"update", "rebuild", "remove"}
# Output lines that differ from run to run, by command and first word.
VOLATILE = {"info": {"size", "updated"}}
# A line of just "..." in an example's output: the rest of the output is left out.
ELIDED = "..."


def commands() -> Iterator[tuple[str, click.Command, click.Context]]:
    """The group and each of its commands (with its full name and a context, for the help option)."""
    root = click.Context(cli, info_name="semsearch", **cli.context_settings)
    yield "", cli, root
    for name, command in cli.commands.items():
        yield name, command, click.Context(command, info_name=name, parent=root)


def mentioned(text: str, word: str) -> bool:
    """Whether `word` (an option like -n or --no-wait) stands on its own in `text`, not inside a longer one."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def test_readme_names_every_command_and_option():
    text = README.read_text(encoding="utf-8")
    missing = []
    for name, command, ctx in commands():
        if name and not (mentioned(text, f"semsearch {name}") or f"`{name}" in text):
            missing.append(f"command {name}")
        for param in command.get_params(ctx):
            if isinstance(param, click.Option):
                missing += [f"{name or 'semsearch'} {opt}" for opt in param.opts + param.secondary_opts
                            if not mentioned(text, opt)]
    assert missing == [], "README.md does not mention these; document them"


@dataclass
class Example:
    """One `$ semsearch ...` line of a console block and the output shown under it."""

    line: int
    args: list[str]
    output: list[str]
    block: int = 0

    def __str__(self) -> str:
        return f"README.md:{self.line}: $ semsearch {shlex.join(self.args)}"


def console_examples() -> list[Example]:
    """Every `$ semsearch ...` line of the README's console blocks, with its output lines."""
    examples: list[Example] = []
    in_console = False
    current: Example | None = None
    block = 0
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            in_console, current = line.strip() == "```console", None
            block += 1
            continue
        if not in_console:
            continue
        if line.startswith("$ "):
            words = shlex.split(line[2:], comments=True)
            current = None
            if words[0] == "semsearch":  # not `curl ...` or `pbpaste | semsearch related -`
                current = Example(number, words[1:], [], block)
                examples.append(current)
        elif current is not None:
            current.output.append(line.rstrip())
    return examples


def data_paths(text: str) -> str:
    """Paths into the data folder, wherever it is on this machine, as ../shared/data/..."""
    return re.sub(r"\S*/shared/data/", "../shared/data/", text)


def check_output(example: Example, printed: str) -> None:
    """The README's output for an example equals what was printed (JSON as data; "..." ends a prefix)."""
    expected = [data_paths(line) for line in example.output]
    printed = data_paths(printed)
    if expected and expected[0].startswith(("{", "[")):
        assert json.loads(printed) == json.loads("\n".join(expected)), example
        return
    actual = [line.rstrip() for line in printed.splitlines()]
    if ELIDED in expected:
        expected = expected[: expected.index(ELIDED)]
        actual = actual[: len(expected)]
    volatile = VOLATILE.get(example.args[0], set())
    expected = [line for line in expected if line.split(" ", 1)[0] not in volatile]
    actual = [line for line in actual if line.split(" ", 1)[0] not in volatile]
    diff = "\n".join(difflib.unified_diff(expected, actual, "README.md", "printed", lineterm=""))
    assert actual == expected, f"{example}\n{diff}"


def first_of(examples: list[Example], block: int) -> Example:
    """The first example of a console block."""
    return next(example for example in examples if example.block == block)


def expand_globs(args: list[str]) -> list[str]:
    """The arguments as a shell would pass them: a pattern (`hf_daily_2025-12-3*.txt`) becomes the sorted paths."""
    expanded = []
    for arg in args:
        matches = sorted(str(path) for path in Path().glob(arg)) if any(c in arg for c in "*?[") else []
        expanded += matches or [arg]
    return expanded


def test_readme_console_blocks_are_parsed():
    """The parser finds the examples this file relies on (a README reshuffle must not make the test vacuous)."""
    examples = console_examples()
    run = [example for example in examples if example.args[0] not in NOT_RUN]
    assert {example.args[0] for example in run} >= {"update", "ask", "related", "show", "info"}
    assert all(example.output for example in run), [str(example) for example in run if not example.output]
    assert {example.args[0] for example in examples} <= set(cli.commands)


@pytest.mark.model
def test_readme_console_examples_print_what_the_commands_print(tmp_path, monkeypatch, int8_seed_index, int8_embedder):
    monkeypatch.chdir(REPO)  # the README's paths (../shared/data/...) are relative to the repository
    fresh = tmp_path / "index"
    runner = CliRunner()
    examples = console_examples()
    sessions = {
        example.block
        for example in examples
        if first_of(examples, example.block).args[0] == "update" and example.args[0] not in WRITES
    }
    for example in examples:
        if example.args[0] in NOT_RUN:
            continue
        if example.block in sessions:
            folder = tmp_path / f"session-{example.block}"
        else:
            folder = fresh if example.args[0] in WRITES else int8_seed_index
        # The bundled int8 model, as `semsearch` picks for a new index and for one that records it, loaded once.
        args = [*expand_globs(example.args), "--index", str(folder)]
        result = runner.invoke(cli, args, obj={"embedder": int8_embedder})
        is_error = bool(example.output) and example.output[0].startswith("Error:")
        assert result.exit_code == (1 if is_error else 0), f"{example}\n{result.output}"
        check_output(example, result.output.replace(str(folder), "indexes/default"))
