"""The "New for you" page, `/api/news` and the forms that change the reader's state (fake embedder): the same picks as
`news --json`, and no state change without the page's token from the page's own origin."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from semsearch import feed, index
from semsearch.cli import cli
from semsearch.web import create_app
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_C, HOSTILE_TITLE, write_digest, write_hostile_digest

TRAFFIC_QUESTION = "traffic forecasting with a graph neural network over road sensors"


@pytest.fixture
def news_index(tmp_path, seed_digest) -> Path:
    """The seed digest, all seen; then a new day with a traffic paper and the hostile digest."""
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    feed.mark_seen(folder)
    new_day = write_digest(tmp_path / "new_2025-06-10.txt", "Jun 10, 2025", [("Graph Traffic Forecasting", ABSTRACT_C)])
    index.update(folder, [new_day, write_hostile_digest(tmp_path)], HashingEmbedder())
    return folder


@pytest.fixture
def client(news_index):
    with TestClient(create_app(news_index, HashingEmbedder())) as test_client:
        yield test_client


def token_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "the page carries no form token"
    return match.group(1)


def test_news_page_without_watches_lists_the_new_papers_and_escapes_them(client):
    page = client.get("/news")
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "No watches or likes yet" in page.text
    assert "3 new papers" in page.text
    assert HOSTILE_TITLE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script" not in page.text


def test_a_watch_added_through_the_page_picks_the_new_paper(client, news_index):
    token = token_of(client.get("/news").text)
    added = client.post("/watches", data={"csrf": token, "question": TRAFFIC_QUESTION, "name": "traffic"},
                        follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/news"
    assert [w.name for w in feed.watches(news_index)] == ["traffic"]
    page = client.get("/news").text
    first = page.index('class="hit"')
    assert "Graph Traffic Forecasting" in page[first : first + 1500]
    assert "watch <strong>traffic</strong>" in page
    removed = client.post("/watches/remove", data={"csrf": token, "name": "traffic"}, follow_redirects=False)
    assert removed.status_code == 303 and feed.watches(news_index) == []


def test_api_news_equals_cli_news_json_peek_and_never_moves_the_mark(client, runner, news_index):
    feed.add_watch(news_index, TRAFFIC_QUESTION, name="traffic")
    api = client.get("/api/news", params={"all": "true"})
    assert api.status_code == 200
    printed = runner.invoke(
        cli, ["news", "--json", "--peek", "--all", "--index", str(news_index)], obj={"embedder": HashingEmbedder()}
    )
    assert api.json() == json.loads(printed.stdout)
    assert api.json()[0]["title"] == "Graph Traffic Forecasting"
    assert api.json()[0]["matched"][0]["name"] == "traffic"
    assert len(client.get("/api/news", params={"all": "true"}).json()) == 3  # still new: GET only looks
    assert client.get("/api/news", params={"since": "June 10"}).status_code == 400
    # The page's button marks what it showed as seen.
    token = token_of(client.get("/news").text)
    seen = client.post("/news/seen", data={"csrf": token, "upto": "999999"}, follow_redirects=False)
    assert seen.status_code == 303
    assert client.get("/api/news", params={"all": "true"}).json() == []


def test_like_buttons_on_a_result_list_like_and_unlike(client, news_index):
    page = client.get("/", params={"q": "traffic forecasting"}).text
    assert 'action="/likes"' in page
    token = token_of(page)
    back = "/?q=traffic+forecasting"
    key = re.search(r'name="paper" value="([^"]+)"', page).group(1)
    liked = client.post("/likes", data={"csrf": token, "paper": key, "next": back}, follow_redirects=False)
    assert liked.status_code == 303 and liked.headers["location"] == back
    assert [like.paper.key for like in feed.likes(news_index)] == [key]
    again = client.get(back).text
    assert 'action="/likes/remove"' in again and ('aria-label="Unlike' in again)
    unliked = client.post("/likes/remove", data={"csrf": token, "paper": key, "next": back}, follow_redirects=False)
    assert unliked.status_code == 303 and feed.likes(news_index) == []
    # A form cannot send the reader to another site afterwards.
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = client.post("/likes", data={"csrf": token, "paper": key, "next": elsewhere}, follow_redirects=False)
        assert response.headers["location"] == "/news"


@pytest.mark.parametrize(
    ("fields", "headers"),
    [
        ({}, {}),  # no token
        ({"csrf": "0" * 64}, {}),  # a wrong token
        ({"csrf": None}, {"origin": "https://evil.example"}),  # the right token, from another site
        ({"csrf": None}, {"sec-fetch-site": "cross-site"}),
        ({"csrf": None}, {"origin": "http://127.0.0.1.evil.example"}),
        ({"csrf": "0" * 64}, {"origin": "null", "sec-fetch-site": "same-origin"}),
    ],
)
def test_a_change_without_the_pages_token_or_from_another_site_is_refused(client, news_index, fields, headers):
    token = token_of(client.get("/news").text)
    fields = {name: (token if value is None else value) for name, value in fields.items()}
    paper = feed.news(news_index, embedder=HashingEmbedder(), peek=True, include_all=True)[0].paper.key
    attempts = [
        ("/watches", {"question": TRAFFIC_QUESTION, "name": "x"}),
        ("/likes", {"paper": paper}),
        ("/news/seen", {}),
    ]
    for path, data in attempts:
        response = client.post(path, data={**fields, **data}, headers=headers, follow_redirects=False)
        assert response.status_code == 403, (path, response.text)
        assert "Traceback" not in response.text
    assert feed.watches(news_index) == [] and feed.likes(news_index) == []
    assert len(feed.news(news_index, embedder=HashingEmbedder(), peek=True, include_all=True)) == 3


def test_a_browsers_own_form_is_accepted(client, news_index):
    """What Chromium sends with this page's forms (its Referrer-Policy makes the Origin "null")."""
    token = token_of(client.get("/news").text)
    headers = {"origin": "null", "sec-fetch-site": "same-origin"}
    response = client.post("/watches", data={"csrf": token, "question": "graphs"}, headers=headers,
                           follow_redirects=False)
    assert response.status_code == 303 and [w.question for w in feed.watches(news_index)] == ["graphs"]
    same_host = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    response = client.post("/watches/remove", data={"csrf": token, "name": "graphs"}, headers=same_host,
                           follow_redirects=False)
    assert response.status_code == 303 and feed.watches(news_index) == []


def test_form_errors_are_one_line_answers(client):
    token = token_of(client.get("/news").text)
    unknown = client.post("/watches/remove", data={"csrf": token, "name": "nope"}, follow_redirects=False)
    assert unknown.status_code == 400 and "no watch is named" in unknown.text
    no_paper = client.post("/likes", data={"csrf": token, "paper": "no such paper title whatsoever"})
    assert no_paper.status_code == 404 and "no paper matches" in no_paper.text
    as_json = {"content-type": "application/json"}
    not_a_form = client.post("/watches", content=json.dumps({"csrf": token, "question": "x"}), headers=as_json)
    assert not_a_form.status_code == 403


def test_openapi_documents_api_news(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/news"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"since", "n", "all"}
    assert set(operation["responses"]) == {"200", "400", "503"}
    pick = schema["components"]["schemas"]["NewsModel"]["properties"]
    assert set(pick) == {"rank", "score", "key", "title", "date", "arxiv_id", "matched", "why"}
    # The forms that change state are not API endpoints: they are the page's, behind its token.
    assert not any("post" in operations for operations in schema["paths"].values())
