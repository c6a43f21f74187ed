"""The page in a real headless Chromium (Debian's `chromium`, driven by Playwright) against a real `semsearch serve`:
ask a question, see the expected paper, open its related papers, see a hostile title shown as text.

Nothing is installed at run time: Playwright drives /usr/bin/chromium, which `.ci/run` installs. Screenshots are
saved under build/test-artifacts/ (ignored by git).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from semsearch import index
from tests.fakes import HashingEmbedder
from tests.helpers import ABSTRACT_A, ABSTRACT_C, HOSTILE_TITLE, write_digest, write_hostile_digest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "build" / "test-artifacts"
# Chromium as root needs --no-sandbox; the rest keeps it from reaching for the network or a GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ZERO_TITLE = "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"
# The new day of the feed test: one paper for its watch, one like the paper it likes, one for neither.
FEED_PAPERS = [
    ("Graph Networks for Road Traffic Forecasting", ABSTRACT_C),
    (
        "Sharded Optimizer Memory for Data-Parallel Training",
        "The Zero Redundancy Optimizer (ZeRO) eliminates memory redundancies in data-parallel training. We extend "
        "it to offload optimizer states and gradients to host memory, so that models with a trillion parameters "
        "train on limited device memory with low communication volume.",
    ),
    ("Parallel Corpora for Indic Translation", ABSTRACT_A),
]


def require_browser():
    """Playwright's sync API, or a skip (a failure under CI, which must run this test) naming what is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is absent (Debian package chromium: apt-get install chromium)"
    else:
        try:
            from playwright import sync_api
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; CI must run the browser test, so .ci/run has to install it")
        pytest.skip(problem)
    return sync_api


@pytest.fixture(scope="module")
def server_url(tmp_path_factory, seed_digest) -> Iterator[str]:
    """`semsearch serve` on 127.0.0.1 and a free port, over the seed digest and a hostile one (fake embedder)."""
    folder = tmp_path_factory.mktemp("browser")
    index.update(folder / "idx", [seed_digest, write_hostile_digest(folder)], HashingEmbedder())
    yield from serving(folder / "idx")


def serving(folder: Path) -> Iterator[str]:
    """Run `semsearch serve` over an index (fake embedder) until the caller is done; yields its URL."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "SEMSEARCH_EMBEDDER": "tests.fakes:HashingEmbedder"}
    process = subprocess.Popen(
        [sys.executable, "-m", "semsearch", "serve", "--index", str(folder), "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        line = ""
        for _ in range(600):
            try:
                line = lines.get(timeout=0.1)
                break
            except queue.Empty:
                if process.poll() is not None:
                    pytest.fail(f"semsearch serve exited with {process.returncode}: {process.stderr.read()}")
        else:
            pytest.fail("semsearch serve printed no URL within 60 s")
        assert line.startswith("Serving ") and " at http://127.0.0.1:" in line, line
        yield line.split(" at ", 1)[1].strip()
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        assert "Traceback" not in err, err


@contextmanager
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    """A page of Chromium with a fresh profile folder for this run (nothing from an earlier run or another user leaks
    in), and the messages of any dialog it opened (a script that ran)."""
    sync_api = require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.set_default_timeout(15_000)
            yield page, dialogs
        finally:
            context.close()


def test_ask_open_related_and_hostile_title_in_chromium(server_url, tmp_path):
    with browser_page(tmp_path) as (page, dialogs):

        # Ask a question in the search box: the answer page is bookmarkable and names the paper.
        page.goto(server_url)
        assert page.title() == "semsearch"
        page.fill("#q", "ZeRO memory optimizations toward training trillion parameter models")
        page.press("#q", "Enter")
        page.wait_for_selector("li.hit")
        assert "?q=ZeRO+memory+optimizations+toward+training+trillion+parameter+models" in page.url
        first = page.locator("li.hit").first
        assert first.locator(".title").inner_text() == ZERO_TITLE
        assert first.locator(".dates").inner_text() == "May 6"
        assert " ms" in page.locator("#summary").inner_text()
        assert "65 papers from 2 digests" in " ".join(page.locator("footer").inner_text().split())
        # The abstract is shown on demand.
        abstract = first.locator(".abstract")
        assert not abstract.is_visible()
        first.locator("summary").click()
        assert abstract.is_visible() and "Large deep learning models" in abstract.inner_text()
        page.screenshot(path=str(ARTIFACTS / "browser-results.png"), full_page=True)

        # Its related papers: a new page about that paper, without the paper itself.
        first.locator("a.related").click()
        page.wait_for_selector(".source h1")
        assert "/related?paper=zero-memory-optimizations-toward-" in page.url
        assert page.locator(".source h1").inner_text() == ZERO_TITLE
        related_titles = page.locator("li.hit .title").all_inner_texts()
        assert len(related_titles) == 10 and ZERO_TITLE not in related_titles

        # A digest's hostile title and abstract are text on the page, never markup.
        page.fill("#q", "hostile markup sanitization in digests")
        page.press("#q", "Enter")
        page.wait_for_selector("li.hit")
        hostile = page.locator("li.hit").first
        assert hostile.locator(".title").inner_text() == HOSTILE_TITLE
        hostile.locator("summary").click()
        assert '<img src=x onerror="alert(2)">' in hostile.locator(".abstract").inner_text()
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.images.length") == 0
        assert dialogs == []
        page.screenshot(path=str(ARTIFACTS / "browser-hostile.png"), full_page=True)

        # Phone width: everything fits, nothing scrolls sideways.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{server_url}?q=parallel+corpora+for+Indian+languages&digest=May+6")
        page.wait_for_selector("li.hit")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.locator("#q").bounding_box()["width"] > 200
        page.screenshot(path=str(ARTIFACTS / "browser-phone.png"), full_page=True)


@pytest.fixture
def feed_server(tmp_path, seed_digest) -> Iterator[tuple[str, Path]]:
    """`semsearch serve` over the seed digest, in an index this test may change; its URL and folder."""
    folder = tmp_path / "idx"
    index.update(folder, [seed_digest], HashingEmbedder())
    for url in serving(folder):
        yield url, folder


def test_watch_like_update_and_read_the_feed_in_chromium(feed_server, tmp_path):
    server_url, folder = feed_server
    with browser_page(tmp_path) as (page, dialogs):

        # Nothing watched yet: the page says how to start; the 63 papers are new until marked as seen.
        page.goto(server_url)
        page.click("a.news-link")
        assert "No watches or likes yet" in page.locator("main").inner_text()
        assert page.locator("#summary").inner_text().startswith("63 new papers")
        page.click("form.seen button")
        page.wait_for_url("**/news")
        assert page.locator("#summary").inner_text().startswith("0 new papers")

        # Add a watch through the form.
        page.fill("input[name=question]", "traffic forecasting with graph neural networks over road sensors")
        page.fill("input[name=name]", "traffic")
        page.click("form.add-watch button")
        page.wait_for_url("**/news")
        assert "traffic: traffic forecasting" in page.locator("section.watches").inner_text()

        # Like a paper from a result list: back on the same results, its button now says Unlike.
        page.fill("#q", "ZeRO memory optimizations toward training trillion parameter models")
        page.press("#q", "Enter")
        page.wait_for_selector("li.hit")
        results_url = page.url
        first = page.locator("li.hit").first
        assert first.locator(".title").inner_text() == ZERO_TITLE
        first.locator("form.like button").click()
        page.wait_for_url(results_url)
        assert page.locator("li.hit").first.locator("form.like button").inner_text() == "Unlike"

        # A new day arrives (an update while the server runs); the feed ranks it by the watch and the like.
        new_day = write_digest(tmp_path / "new_2025-06-10.txt", "Jun 10, 2025", FEED_PAPERS)
        index.update(folder, [new_day], HashingEmbedder())
        page.goto(f"{server_url}news")
        picks = page.locator("ol.picks li.hit")
        assert page.locator("#summary").inner_text().startswith("3 new papers, 2 matching")
        assert picks.nth(0).locator(".title").inner_text() in {FEED_PAPERS[0][0], FEED_PAPERS[1][0]}
        matched = {picks.nth(i).locator(".title").inner_text(): picks.nth(i).locator(".matched").inner_text()
                   for i in range(2)}
        assert matched[FEED_PAPERS[0][0]].startswith("matched watch traffic")
        assert matched[FEED_PAPERS[1][0]].startswith("matched like zero-memory-optimizations")
        assert "ZeRO" in page.locator("section.likes").inner_text()
        assert page.evaluate("document.scripts.length") == 0
        assert dialogs == []
        page.screenshot(path=str(ARTIFACTS / "browser-news.png"), full_page=True)
