"""`semsearch mcp`: every tool and error through the SDK's in-memory client (fake embedder), the answers compared with
the CLI's `--json`; one real `semsearch mcp` subprocess over stdio; fetching against the local Daily Papers API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from semsearch.cli import cli
from semsearch.ingest import dailypapers
from semsearch.mcp import TOOL_NAMES, PaperTools, create_server
from tests.apiserver import DailyPapersServer
from tests.fakes import HashingEmbedder

REPO = Path(__file__).resolve().parents[1]
DAY_FILE = "daily-papers-2025-06-26.json"


def cli_run(args: list[str], **kwargs):
    return CliRunner().invoke(cli, args, obj={"embedder": HashingEmbedder()}, **kwargs)


def cli_json(args: list[str]):
    result = cli_run([*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cli_error(args: list[str]) -> str:
    """The line after `Error: ` the CLI prints for these arguments (and the candidate lines after it)."""
    result = cli_run(args)
    assert result.exit_code != 0 and result.stderr.startswith("Error: "), result.output
    return result.stderr.removeprefix("Error: ").rstrip("\n")


@pytest.fixture(scope="module")
def day_index(tmp_path_factory, data_dir) -> Path:
    folder = tmp_path_factory.mktemp("mcp") / "idx"
    result = cli_run(["update", str(data_dir / "hf_api" / "days" / DAY_FILE), "--index", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


class BrokenEmbedder(HashingEmbedder):
    def embed_query(self, text: str):
        raise RuntimeError("the model broke")


def call_tools(folder: Path, calls: list[tuple[str, dict]], embedder=HashingEmbedder) -> tuple[list, list]:
    """The tool listing and the result of each call, through the SDK's in-memory client."""
    tools = PaperTools(folder, embedder)

    async def main():
        async with Client(create_server(tools)) as client:
            listing = (await client.list_tools()).tools
            return listing, [await client.call_tool(name, arguments) for name, arguments in calls]

    try:
        return anyio.run(main)
    finally:
        tools.close()


def document(result) -> object:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def error_text(result) -> str:
    assert result.is_error
    (block,) = result.content
    return block.text


def test_the_tools_are_listed_with_descriptions_and_say_which_one_writes(day_index):
    listing, _ = call_tools(day_index, [])
    assert tuple(tool.name for tool in listing) == TOOL_NAMES
    by_name = {tool.name: tool for tool in listing}
    for tool in listing:
        assert len(tool.description) > 80, tool.name
    assert "writes" in by_name["fetch_daily_papers"].description
    assert by_name["fetch_daily_papers"].annotations.read_only_hint is False
    # whats_new writes only with peek=False (the last-seen mark), and says so.
    assert "writes" in by_name["whats_new"].description and by_name["whats_new"].annotations.read_only_hint is False
    writers = {"fetch_daily_papers", "whats_new"}
    assert all(by_name[name].annotations.read_only_hint for name in TOOL_NAMES if name not in writers)
    schema = by_name["search_papers"].input_schema
    assert schema["required"] == ["query"]
    assert set(schema["properties"]) == {"query", "limit", "since", "until", "mode"}


def test_each_reading_tool_answers_what_the_cli_prints_with_json(day_index):
    index = ["--index", str(day_index)]
    hits = cli_json(["ask", "video generation", "-n", "5", *index])
    key = hits[0]["key"]
    _, (search, lexical, dated, related, paper, status) = call_tools(
        day_index,
        [
            ("search_papers", {"query": "video generation", "limit": 5}),
            ("search_papers", {"query": "video generation", "limit": 3, "mode": "lexical"}),
            ("search_papers", {"query": "video generation", "since": "2025-06-27"}),
            ("related_papers", {"paper": key, "limit": 4}),
            ("get_paper", {"paper": key}),
            ("index_status", {}),
        ],
    )
    assert document(search) == hits
    assert search.structured_content == {"result": hits}
    assert document(lexical) == cli_json(["ask", "video generation", "-n", "3", "--mode", "lexical", *index])
    assert document(dated) == [] == cli_json(["ask", "video generation", "--since", "2025-06-27", *index])
    assert document(related) == cli_json(["related", key, "-n", "4", *index])
    assert document(paper) == paper.structured_content == cli_json(["show", key, *index])
    assert document(paper)["authors"]  # the API listed them
    status_now = document(status)
    assert status_now == cli_json(["info", *index]) and status_now["papers"] == 21


def test_errors_are_tool_errors_with_the_cli_message(day_index, tmp_path):
    index = ["--index", str(day_index)]
    _, (unknown, ambiguous, bad_date, bad_limit, bad_mode) = call_tools(
        day_index,
        [
            ("get_paper", {"paper": "no such paper at all"}),
            ("related_papers", {"paper": "video"}),
            ("search_papers", {"query": "video", "since": "2025-13-01"}),
            ("search_papers", {"query": "video", "limit": 0}),
            ("search_papers", {"query": "video", "mode": "fuzzy"}),
        ],
    )
    assert error_text(unknown) == cli_error(["show", "no such paper at all", *index])
    assert error_text(ambiguous) == cli_error(["related", "video", *index])
    assert "\n  " in error_text(ambiguous)  # the candidates, one per line, as the CLI lists them
    # The CLI says a bad filter as a usage error; the line naming the problem is the same.
    usage = cli_run(["ask", "video", "--since", "2025-13-01", *index])
    assert usage.exit_code == 2 and error_text(bad_date) in usage.stderr
    for result in (bad_limit, bad_mode):
        assert "Traceback" not in error_text(result)
    assert "limit" in error_text(bad_limit) and "mode" in error_text(bad_mode)
    missing = tmp_path / "nothing-here"
    _, (status, search) = call_tools(missing, [("index_status", {}), ("search_papers", {"query": "video"})])
    assert error_text(status) == cli_error(["info", "--index", str(missing)])
    assert error_text(search) == cli_error(["ask", "video", "--index", str(missing)])
    assert not missing.exists()


def test_an_unexpected_failure_is_a_one_line_tool_error_and_the_server_goes_on(day_index):
    _, (broken, status) = call_tools(
        day_index, [("search_papers", {"query": "video"}), ("index_status", {})], embedder=BrokenEmbedder
    )
    assert error_text(broken).startswith("unexpected RuntimeError: the model broke; ")
    assert "\n" not in error_text(broken) and "Traceback" not in error_text(broken)
    assert document(status)["papers"] == 21


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_fetch_daily_papers_downloads_days_and_indexes_them(tmp_path, data_dir, monkeypatch):
    folder = tmp_path / "fetched"
    with DailyPapersServer(data_dir / "hf_api" / "days") as api:
        monkeypatch.setenv(dailypapers.URL_ENVVAR, api.url)
        _, (fetched, again, backwards, bad, status) = call_tools(
            folder,
            [
                ("fetch_daily_papers", {"since": "2025-06-26", "until": "2025-06-27"}),
                ("fetch_daily_papers", {"since": "2025-06-26", "until": "2025-06-27"}),
                ("fetch_daily_papers", {"since": "2025-06-27", "until": "2025-06-26"}),
                ("fetch_daily_papers", {"since": "June 26"}),
                ("index_status", {}),
            ],
        )
    report = document(fetched)
    listed = [json.loads((data_dir / "hf_api" / "days" / f"daily-papers-2025-06-{day}.json").read_text())
              for day in (26, 27)]
    assert report["days"] == 2 and report["added"] == sum(len(day) for day in listed) == report["papers"]
    assert sorted(Path(path).name for path in report["saved"]) == [
        "daily-papers-2025-06-26.json", "daily-papers-2025-06-27.json"
    ]
    assert document(again)["added"] == 0 and document(again)["papers"] == report["papers"]
    assert error_text(backwards) == "since 2025-06-27 is after until 2025-06-26"
    assert "since" in error_text(bad) and "YYYY-MM-DD" in error_text(bad)
    # The read tools see what the fetch wrote (the index is reopened when it changed).
    assert document(status)["papers"] == report["papers"]


def test_semsearch_mcp_serves_over_stdio_as_a_subprocess(day_index):
    env = {**os.environ, "PYTHONPATH": str(REPO), "SEMSEARCH_EMBEDDER": "tests.fakes:HashingEmbedder"}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "semsearch", "mcp", "--index", str(day_index)], env=env, cwd=str(REPO)
    )

    async def main():
        async with Client(params) as client:
            listing = await client.list_tools()
            result = await client.call_tool("search_papers", {"query": "video generation", "limit": 3})
            return [tool.name for tool in listing.tools], result

    names, result = anyio.run(main)
    assert tuple(names) == TOOL_NAMES
    assert document(result) == cli_json(["ask", "video generation", "-n", "3", "--index", str(day_index)])


def test_stdout_carries_only_the_protocol_and_errors_are_one_line_tool_errors(day_index):
    env = {**os.environ, "PYTHONPATH": str(REPO), "SEMSEARCH_EMBEDDER": "tests.fakes:HashingEmbedder"}
    process = subprocess.Popen(
        [sys.executable, "-m", "semsearch", "mcp", "--index", str(day_index)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO, text=True,
    )
    killer = threading.Timer(60, process.kill)  # a hung server fails the test instead of hanging it
    killer.start()
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "search_papers", "arguments": {"query": "video generation", "limit": 2}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "get_paper", "arguments": {"paper": "no such paper at all"}}},
    ]
    try:
        process.stdin.write("".join(json.dumps(request) + "\n" for request in requests))
        process.stdin.flush()
        answers = {}
        while len(answers) < 3:
            line = process.stdout.readline()
            assert line, f"the server stopped: {process.stderr.read()}"
            message = json.loads(line)  # every line on stdout is a JSON-RPC message
            assert message["jsonrpc"] == "2.0"
            if "id" in message:
                answers[message["id"]] = message
        process.stdin.close()  # the client goes away: the server ends
        rest, errors = process.stdout.read(), process.stderr.read()
        process.wait(timeout=30)
    finally:
        killer.cancel()
        process.kill()
    assert process.returncode == 0, errors
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in rest.splitlines())
    assert len(json.loads(answers[2]["result"]["content"][0]["text"])) == 2
    error = answers[3]["result"]
    assert error["isError"] is True
    assert error["content"][0]["text"] == cli_error(["show", "no such paper at all", "--index", str(day_index)])
    assert "Traceback" not in errors


def test_whats_new_answers_what_news_prints_and_moves_the_mark_only_when_asked(tmp_path, data_dir):
    folder = tmp_path / "idx"
    assert cli_run(["update", str(data_dir / "hf_api" / "days" / DAY_FILE), "--index", str(folder)]).exit_code == 0
    assert cli_run(["watch", "add", "video generation", "--index", str(folder)]).exit_code == 0
    expected = cli_json(["news", "--peek", "-n", "5", "--index", str(folder)])
    assert expected and expected[0]["matched"][0]["kind"] == "watch"
    _, (peeked, again, seen, after) = call_tools(
        folder,
        [
            ("whats_new", {"limit": 5}),
            ("whats_new", {"limit": 5}),
            ("whats_new", {"limit": 5, "peek": False}),
            ("whats_new", {"limit": 5}),
        ],
    )
    assert document(peeked) == document(again) == document(seen) == expected
    # The mark moved: nothing is new any more, for the tool and for the CLI alike.
    assert document(after) == [] == cli_json(["news", "--peek", "--index", str(folder)])
