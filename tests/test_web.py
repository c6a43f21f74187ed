"""The web page and JSON API through the framework's test client (fake embedder): same answers as the CLI's
--json, errors as JSON with proper status codes, escaped paper text, and new papers served without a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from semsearch import index
from semsearch.cli import cli
from semsearch.web import create_app
from semsearch.web.server import is_loopback
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, HOSTILE_TITLE, write_digest, write_hostile_digest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def web_index(tmp_path_factory, seed_digest, hf_daily) -> Path:
    """The seed digest, a hostile digest and three real days; tests must not modify it."""
    folder = tmp_path_factory.mktemp("web")
    days = [hf_daily / "digests" / f"hf_daily_2025-06-{day}.txt" for day in ("10", "11", "12")]
    index.update(folder / "idx", [seed_digest, write_hostile_digest(folder), *days], HashingEmbedder())
    return folder / "idx"


@pytest.fixture(scope="module")
def client(web_index):
    with TestClient(create_app(web_index, HashingEmbedder())) as test_client:
        yield test_client


def cli_json(runner, *args: str):
    """What the CLI prints with --json, as data."""
    result = runner.invoke(cli, [*args, "--json"], obj={"embedder": HashingEmbedder()})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- the API gives the CLI's answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "options"),
    [
        ({"q": "memory optimizations for trillion parameter models"}, []),
        ({"q": "parallel corpora for Indian languages", "n": 3}, ["-n", "3"]),
        ({"q": "video generation", "n": 20, "since": "2025-06-11"}, ["-n", "20", "--since", "2025-06-11"]),
        ({"q": "video generation", "until": "2025-06-10", "n": 5}, ["--until", "2025-06-10", "-n", "5"]),
        ({"q": "machine translation", "digest": "May 6"}, ["--digest", "May 6"]),
        ({"q": "machine translation", "digest": "hf_daily_2025-06-12.txt"}, ["--digest", "hf_daily_2025-06-12.txt"]),
    ],
)
def test_api_ask_equals_cli_json(client, runner, web_index, params, options):
    response = client.get("/api/ask", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["server-timing"].startswith("search;dur=")
    assert response.json() == cli_json(runner, "ask", params["q"], "--index", str(web_index), *options)
    assert len(response.json()) == params.get("n", 10)


def test_api_related_paper_and_info_equal_cli_json(client, runner, web_index):
    related = client.get("/api/related", params={"paper": "Samanantar", "n": 5})
    assert related.status_code == 200
    assert related.json() == cli_json(runner, "related", "Samanantar", "--index", str(web_index), "-n", "5")
    filtered = client.get("/api/related", params={"paper": "Samanantar", "digest": "2025-06-11"})
    expected = cli_json(runner, "related", "Samanantar", "--index", str(web_index), "--digest", "2025-06-11")
    assert filtered.json() == expected
    assert {hit["date"] for hit in filtered.json()} == {"2025-06-11"}
    paper = client.get("/api/paper", params={"paper": "2507.01234"})
    assert paper.status_code == 200
    assert paper.json() == cli_json(runner, "show", "2507.01234", "--index", str(web_index))
    assert paper.json()["arxiv_id"] == "2507.01234"
    info = client.get("/api/info").json()
    expected = cli_json(runner, "info", "--index", str(web_index))
    # The size on disk moves by a few KB whenever any process opens the database (its WAL file grows).
    assert info.pop("size_bytes") == pytest.approx(expected.pop("size_bytes"), rel=0.05)
    assert info == expected
    assert info["papers"] == 63 + 2 + 27 + 28 + 27


# -- errors ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "fragment"),
    [
        ("/api/ask", {}, 400, "q: Field required"),
        ("/api/ask", {"q": ""}, 400, "q: String should have at least 1 character"),
        ("/api/ask", {"q": "   "}, 400, "the question is empty"),
        ("/api/ask", {"q": "x" * 1001}, 400, "q: String should have at most 1000 characters"),
        ("/api/ask", {"q": "x", "n": 0}, 400, "n: Input should be greater than or equal to 1"),
        ("/api/ask", {"q": "x", "n": 101}, 400, "n: Input should be less than or equal to 100"),
        ("/api/ask", {"q": "x", "n": "ten"}, 400, "n: Input should be a valid integer"),
        ("/api/ask", {"q": "x", "since": "June 1"}, 400, 'the since date "June 1" is not a date'),
        ("/api/ask", {"q": "x", "until": "2025-02-30"}, 400, "does not exist"),
        ("/api/ask", {"q": "x", "since": "2025-06-12", "until": "2025-06-10"}, 400, "after the until date"),
        ("/api/ask", {"q": "x", "digest": "../../etc/passwd"}, 400, "no digest in the index is named"),
        ("/api/ask", {"q": "x", "digest": "x" * 301}, 400, "digest: String should have at most 300 characters"),
        ("/api/related", {"paper": "no such paper quokka"}, 404, "no paper matches"),
        ("/api/related", {"paper": "ZeRO"}, 404, "matches 2 papers"),
        ("/api/paper", {"paper": "zzz-unknown-0000"}, 404, "no paper matches"),
        ("/api/nothing", {}, 404, "no such page"),
    ],
)
def test_api_errors_are_json_with_a_status(client, path, params, status, fragment):
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert fragment in body["error"], body
    assert "Traceback" not in response.text


def test_a_question_with_no_word_is_answered_with_no_hits_and_a_notice(client, runner, web_index):
    notice = "the question has no word to search for (only stopwords, punctuation or symbols)"
    for question in ("the of and", "???", "🙂🙂"):
        for mode in ("hybrid", "dense", "lexical"):
            response = client.get("/api/ask", params={"q": question, "mode": mode})
            assert response.status_code == 200 and response.json() == [], (question, mode)
            assert response.json() == cli_json(runner, "ask", question, "--index", str(web_index), "--mode", mode)
            assert response.headers["x-semsearch-notice"].startswith(notice)
        page = client.get("/", params={"q": question})
        assert page.status_code == 200 and f'<p class="notice" role="status">{notice}' in page.text
        assert page.text.index('class="notice"') < page.text.index('id="summary"')  # above the (empty) result
        assert '<li class="hit"' not in page.text
    searched = client.get("/api/ask", params={"q": "parallel corpora", "n": 2})
    assert len(searched.json()) == 2 and "x-semsearch-notice" not in searched.headers
    assert 'class="notice"' not in client.get("/", params={"q": "parallel corpora"}).text
    header = client.get("/openapi.json").json()["paths"]["/api/ask"]["get"]["responses"]["200"]["headers"]
    assert set(header) == {"X-Semsearch-Notice"}


def test_an_unknown_arxiv_id_is_a_404_saying_so(client):
    # This index holds one arXiv id (2507.01234), so it says that this one is unknown rather than list titles.
    response = client.get("/api/related", params={"paper": "2305.12345"})
    assert response.status_code == 404
    assert response.json() == {"error": "no paper has arXiv id 2305.12345; check the id, or pass a key or a title"}
    page = client.get("/related", params={"paper": "arXiv:2305.12345"})
    assert page.status_code == 404 and "no paper has arXiv id 2305.12345" in page.text


def test_unknown_paper_lists_candidates(client):
    body = client.get("/api/related", params={"paper": "ZeRO"}).json()
    assert {candidate["title"][:5] for candidate in body["candidates"]} == {"ZeRO:", "ZeRO-"}


class BrokenEmbedder(HashingEmbedder):
    def embed_query(self, text: str):
        raise RuntimeError("secret internals")


def test_unexpected_failures_are_500_without_a_stack_trace(web_index):
    with TestClient(create_app(web_index, BrokenEmbedder()), raise_server_exceptions=False) as broken:
        api = broken.get("/api/ask", params={"q": "anything"})
        page = broken.get("/", params={"q": "anything"})
    assert api.status_code == 500 and api.json() == {
        "error": "unexpected RuntimeError; the server's log has the details"
    }
    assert page.status_code == 500 and "the server&#39;s log has the details" in page.text
    for response in (api, page):
        assert "Traceback" not in response.text and "secret internals" not in response.text


def test_another_model_or_no_index_is_503(web_index, tmp_path):
    with TestClient(create_app(web_index, HashingEmbedder(model_id="test/other"))) as other:
        response = other.get("/api/ask", params={"q": "x"})
    assert response.status_code == 503 and "semsearch rebuild" in response.json()["error"]
    with TestClient(create_app(tmp_path / "none", HashingEmbedder())) as missing:
        response = missing.get("/api/info")
        page = missing.get("/")
    assert response.status_code == 503 and "no index at" in response.json()["error"]
    assert page.status_code == 503 and "no index at" in page.text


# -- the page ----------------------------------------------------------------------------------------------------------


def test_page_shows_results_with_everything_a_reader_needs(client):
    response = client.get("/", params={"q": "partitioned optimizer states trillion parameter training", "n": 5})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'value="partitioned optimizer states trillion parameter training"' in html  # the question stays in the box
    assert html.count('<li class="hit"') == 5
    first = html.split('<li class="hit"')[1]
    assert '<span class="rank">1</span>' in first
    link = '<a href="https://arxiv.org/abs/2507.01234">Partitioned Optimizer States for Trillion Parameter Training</a>'
    assert link in first
    assert '<a class="related" href="/related?paper=2507.01234&amp;n=5">Related papers</a>' in first  # key = arXiv id
    assert '<span class="dates">2025-07-01</span>' in first
    assert "<details><summary>Abstract</summary>" in first and "We partition optimizer states" in first
    assert '<p class="summary" id="summary">5 papers in ' in html and " ms</p>" in html
    assert "147</strong> papers" in html and "test/hashing-bag-of-words" in html  # the index view
    assert '<p class="why">' not in html  # explaining costs more than searching: asked for, not the default
    explained = client.get("/", params={"q": "partitioned optimizer states", "n": 5, "why": "true"}).text
    assert explained.count('<p class="why">') == 5 and 'name="why" value="true" checked' in explained
    seed = client.get("/", params={"q": "ZeRO memory optimizations trillion", "digest": "May 6"}).text
    assert '<span class="dates">May 6</span>' in seed
    assert '<option value="--05-06" selected>May 6 (63)</option>' in seed


def test_related_page_and_empty_front_page(client):
    related = client.get("/related", params={"paper": "Samanantar", "n": 3})
    assert related.status_code == 200
    assert "Papers related to" in related.text and "Samanantar: The Largest Publicly Available" in related.text
    assert related.text.count('<li class="hit"') == 3
    front = client.get("/")
    assert front.status_code == 200 and '<li class="hit"' not in front.text and "Ask a question" in front.text


def test_page_errors_keep_the_form_and_say_what_is_wrong(client):
    bad = client.get("/", params={"q": "video", "since": "yesterday"})
    assert bad.status_code == 400 and 'the since date &#34;yesterday&#34; is not a date' in bad.text
    assert 'value="video"' in bad.text and 'value="yesterday"' in bad.text
    unknown = client.get("/related", params={"paper": "ZeRO"})
    assert unknown.status_code == 404 and "matches 2 papers" in unknown.text
    assert 'href="/related?paper=zero-' in unknown.text  # each candidate links to its related papers
    assert client.get("/nowhere").status_code == 404


def test_paper_text_and_request_text_are_escaped(client):
    page = client.get("/", params={"q": "hostile markup sanitization digests script alert"})
    html = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    # Not one tag from the digest survives; the page itself has no script at all.
    assert "<script" not in html and "<img" not in html and "<b>" not in html and "javascript:" not in html.replace(
        "javascript:alert(3)&#34;&gt;", ""
    )
    related = client.get("/related", params={"paper": "script-alert-1-script-1b69"}).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in related and "<script" not in related
    echoed = client.get("/", params={"q": '"><script>alert(4)</script>', "digest": '"><script>alert(5)</script>'})
    assert echoed.status_code == 400 and "<script" not in echoed.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(4)&lt;/script&gt;"' in echoed.text
    api = client.get("/api/ask", params={"q": "hostile markup sanitization", "n": 1}).json()
    assert api[0]["title"] == HOSTILE_TITLE  # the API returns the text as it is: JSON is data


def test_every_response_forbids_scripts(client):
    for path in ("/", "/api/info", "/nowhere", "/static/style.css"):
        headers = client.get(path).headers
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "script-src" not in headers["content-security-policy"]  # so none may run
        assert headers["x-content-type-options"] == "nosniff"
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")


def test_openapi_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/api/ask", "/api/related", "/api/paper", "/api/info", "/api/news"}
    ask = schema["paths"]["/api/ask"]["get"]
    parameters = {parameter["name"]: parameter for parameter in ask["parameters"]}
    assert set(parameters) == {"q", "n", "since", "until", "digest", "mode", "why", "format"}
    assert parameters["mode"]["schema"]["enum"] == ["dense", "lexical", "hybrid"]
    assert parameters["format"]["schema"]["enum"] == ["json", "bibtex"]
    assert parameters["q"]["required"] is True and parameters["q"]["schema"]["maxLength"] == 1000
    assert parameters["n"]["schema"]["maximum"] == 100
    assert set(ask["responses"]) == {"200", "400", "503"}  # 400 for a bad parameter, never 422
    assert "404" in schema["paths"]["/api/related"]["get"]["responses"]
    hit = schema["components"]["schemas"]["HitModel"]["properties"]
    assert {"rank", "score", "key", "title", "date", "dates", "arxiv_id", "abstract"} <= set(hit)


def test_openapi_mode_defaults_are_the_searches_own(client):
    from semsearch.search.fusion import DEFAULT_MODE, RELATED_MODE

    paths = client.get("/openapi.json").json()["paths"]
    for path, default in (("/api/ask", DEFAULT_MODE), ("/api/related", RELATED_MODE)):
        mode = next(parameter for parameter in paths[path]["get"]["parameters"] if parameter["name"] == "mode")
        assert mode["schema"]["default"] == default
        assert "default" not in mode["description"]  # stated once, by the schema, from fusion's constants


def test_loopback_detection():
    assert all(is_loopback(host) for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(host) for host in ("0.0.0.0", "192.168.1.2", "::", "example.org"))


def test_serve_without_an_index_fails_before_listening(runner, tmp_path):
    result = runner.invoke(cli, ["serve", "--index", str(tmp_path / "none")], obj={"embedder": HashingEmbedder()})
    assert result.exit_code == 1 and "Error: no index at" in result.stderr and "Serving" not in result.stdout


# -- live updates ------------------------------------------------------------------------------------------------------


def test_new_papers_are_served_after_an_update_without_a_restart(tmp_path, seed_digest):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    question = "quokka telemetry from burrow sensors"
    with TestClient(create_app(folder, HashingEmbedder(), threads=2)) as live:
        before = live.get("/api/ask", params={"q": question, "n": 1}).json()
        assert before[0]["title"] != "Quokka Telemetry"
        assert live.get("/api/info").json()["papers"] == 63
        new = write_digest(
            tmp_path / "new_2025-07-04.txt",
            "Jul 4",
            [("Quokka Telemetry", "Quokka telemetry from burrow sensors. " + ABSTRACT_A)],
        )
        index.update(folder, [new], HashingEmbedder())
        after = live.get("/api/ask", params={"q": question, "n": 1}).json()
        assert after[0]["title"] == "Quokka Telemetry" and after[0]["date"] == "2025-07-04"
        assert live.get("/api/info").json()["papers"] == 64
        assert '<option value="2025-07-04">2025-07-04 (1)</option>' in live.get("/").text
        index.remove(folder, ["Quokka Telemetry"])
        assert live.get("/api/ask", params={"q": question, "n": 1}).json()[0]["title"] != "Quokka Telemetry"


def test_keeps_answering_while_update_runs_in_another_process(tmp_path, seed_digest, hf_daily):
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    files = sorted((hf_daily / "digests").glob("hf_daily_2025-0[45]-*.txt"))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SEMSEARCH_EMBEDDER": "tests.fakes:SlowHashingEmbedder",
        "FAKE_EMBED_SECONDS": "0.002",  # about 2 s of embedding, so requests land before, during and after
    }
    statuses: list[int] = []
    with TestClient(create_app(folder, HashingEmbedder(), threads=2)) as live:
        writer = subprocess.Popen(
            [sys.executable, "-m", "semsearch", "update", "--index", str(folder), *map(str, files)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + 120
        with ThreadPoolExecutor(4) as pool:
            while writer.poll() is None and time.monotonic() < deadline:
                batch = [
                    pool.submit(live.get, "/api/ask", params={"q": f"video generation {i}", "n": 5}) for i in range(4)
                ] + [pool.submit(live.get, "/", params={"q": "reasoning"})]
                statuses += [future.result().status_code for future in batch]
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        assert len(statuses) >= 20 and set(statuses) == {200}
        # Served at once: the papers of the update answer a question asked only of them.
        hits = live.get("/api/ask", params={"q": "video generation", "since": "2025-04-01", "n": 10}).json()
        assert len(hits) == 10 and all(hit["date"] >= "2025-04-01" for hit in hits)
        on_disk = subprocess.run(
            [sys.executable, "-m", "semsearch", "info", "--json", "--index", str(folder)],
            env=env, capture_output=True, text=True, check=True,
        )
        served = live.get("/api/info").json()["papers"]
        assert served == json.loads(on_disk.stdout)["papers"] == 63 + 889  # the manifest: 889 papers in Apr-May


@pytest.mark.model
def test_real_model_answers_through_the_api_as_through_the_library(seed_index, real_embedder):
    from semsearch.search import SearchIndex

    question = "memory-efficient training of trillion-parameter models"
    with TestClient(create_app(seed_index, real_embedder)) as real:
        response = real.get("/api/ask", params={"q": question, "n": 5, "why": "true"})
        page = real.get("/", params={"q": question, "why": "true"})
    assert response.status_code == 200
    hits = response.json()
    assert hits[0]["title"] == "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"
    with SearchIndex(seed_index, real_embedder) as search_index:
        expected = [hit.to_dict() for hit in search_index.ask(question, 5, why=True)]
    # A fused score z-scores the cosines, so a last-bit difference in a question vector computed on another thread
    # shows at the 6th decimal.
    assert hits == [{**hit, "score": pytest.approx(hit["score"], abs=1e-5)} for hit in expected]
    assert hits[0]["why"]["sentence"] and f'<p class="why">{escape(hits[0]["why"]["sentence"])}</p>' in page.text
