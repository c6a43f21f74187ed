"""Paper identity: normalized titles, paper keys and arXiv ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

import pytest

from semsearch.ingest.digest import read_digests
from semsearch.keys import find_arxiv_id, normalize_arxiv_id, normalize_title, paper_key

KEY_SHAPE = re.compile(r"[a-z0-9][a-z0-9./-]*")
INDICTRANS2 = (
    "IndicTrans2: Towards High-Quality and Accessible Machine Translation Models for all 22 Scheduled Indian Languages"
)


# -- normalize_title ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        INDICTRANS2.lower(),
        INDICTRANS2.upper().replace(":", ""),
        "  " + INDICTRANS2.replace(": ", " :  ").replace(" High-", "\tHigh--") + ". ",
        INDICTRANS2.replace(":", " —").replace("High-Quality", "“High-Quality”").replace("Models", "Models,")
        + "!",
        INDICTRANS2.replace("IndicTrans2", "ＩｎｄｉｃＴｒａｎｓ２"),
    ],
)
def test_normalize_title_ignores_case_spacing_punctuation_and_width(variant: str) -> None:
    assert normalize_title(variant) == normalize_title(INDICTRANS2)


def test_normalize_title_shape() -> None:
    assert normalize_title(INDICTRANS2) == (
        "indictrans2 towards high quality and accessible machine translation models "
        "for all 22 scheduled indian languages"
    )
    assert normalize_title("  \t ") == ""


def test_normalize_title_drops_tex_dollars_and_keeps_greek() -> None:
    assert normalize_title("PanGu-$α$: Large-scale Models") == "pangu α large scale models"
    assert normalize_title("PanGu-$α$: Large-scale Models") == normalize_title("PanGu-α: Large-scale Models")
    assert normalize_title("$Ψ$-Sampler") == normalize_title("Ψ-Sampler") == "ψ sampler"
    assert normalize_title("D$^2$iT: Dynamic") == normalize_title("D^2iT: Dynamic")
    # Font commands only style a word.
    assert normalize_title("SAEs $\\textit{Can}$ Improve Unlearning") == "saes can improve unlearning"


def test_normalize_title_unicode_forms_are_equal() -> None:
    composed = unicodedata.normalize("NFC", "Branched Schrödinger Bridge Matching")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert normalize_title(composed) == normalize_title(decomposed) == "branched schrödinger bridge matching"
    assert normalize_title("Eﬃcient ﬁne-tuning") == normalize_title("Efficient fine tuning")
    assert normalize_title("STRASSE") == normalize_title("Straße")


def test_normalize_title_ascii_shortcut_agrees_with_the_general_rule() -> None:
    # ASCII titles take a faster path; a non-ASCII character anywhere sends the same title down the general one.
    for title in ["GPT-4o: A Report", "  D^2iT -- Dynamic!! ", "$\\textit{Can}$ LLMs_Reason?", "a\tb\nc", "x" * 300]:
        assert normalize_title(title) == normalize_title(title + " \u2014")  # a dash separates: no new word


def test_normalize_title_keeps_different_titles_apart() -> None:
    assert normalize_title("Scaling Laws for LLMs") != normalize_title("Scaling Laws for VLMs")
    assert normalize_title("GPT-4 Report") != normalize_title("GPT-4o Report")


# -- arXiv ids -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2306.06189", "2306.06189"),
        ("2306.06189v3", "2306.06189"),
        (" arXiv:2306.06189 ", "2306.06189"),
        ("ARXIV: 2306.06189V2", "2306.06189"),
        ("https://arxiv.org/abs/2306.06189v2", "2306.06189"),
        ("http://export.arxiv.org/abs/2306.06189", "2306.06189"),
        ("https://arxiv.org/pdf/2306.06189v1.pdf", "2306.06189"),
        ("https://huggingface.co/papers/2306.06189", "2306.06189"),
        ("https://huggingface.co/papers/2306.06189#community", "2306.06189"),
        ("https://hf.co/papers/2306.06189", "2306.06189"),
        ("1501.0001", "1501.0001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("cs/0501001v2", "cs/0501001"),
        ("HEP-TH/9901001", "hep-th/9901001"),
        ("math.GT/0309136", "math/0309136"),
        ("https://arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
    ],
)
def test_normalize_arxiv_id_accepts_every_form(text: str, expected: str) -> None:
    assert normalize_arxiv_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "paper", "2306.061891", "2313.06189", "230.06189", "see 2306.06189", "2306.06189 and more", "cs/05010011",
     "https://example.org/abs/2306.06189", "IndicTrans2"],
)
def test_normalize_arxiv_id_rejects_anything_else(text: str) -> None:
    assert normalize_arxiv_id(text) is None


def test_find_arxiv_id_only_trusts_marked_forms() -> None:
    assert find_arxiv_id("We train on 2306.06189 samples over 1501.0001 steps.") is None
    assert find_arxiv_id("Code: https://github.com/x/y, paper https://arxiv.org/abs/2306.06189v2.") == "2306.06189"
    assert find_arxiv_id("see https://huggingface.co/papers/2401.00001 and arXiv:2306.06189") == "2401.00001"
    assert find_arxiv_id("cite arXiv:hep-th/9901001v1 here") == "hep-th/9901001"
    assert find_arxiv_id("no id here") is None


# -- paper_key -------------------------------------------------------------------------------------------------------


def test_paper_key_follows_the_documented_rule() -> None:
    short_hash = hashlib.sha1(normalize_title(INDICTRANS2).encode("utf-8")).hexdigest()[:4]
    # First meaningful words, at most 32 characters, cut at a word boundary.
    assert paper_key(INDICTRANS2) == f"indictrans2-towards-high-quality-{short_hash}"


def test_paper_key_prefers_the_arxiv_id() -> None:
    assert paper_key(INDICTRANS2, "2305.16307v3") == "2305.16307"
    assert paper_key(INDICTRANS2, "https://arxiv.org/abs/2305.16307") == "2305.16307"
    assert paper_key("Old paper", "cs/0501001") == "cs/0501001"
    # An unusable id is ignored rather than turned into a key.
    assert paper_key(INDICTRANS2, "not an id") == paper_key(INDICTRANS2)


def test_paper_key_is_stable_across_title_variants() -> None:
    key = paper_key(INDICTRANS2)
    assert paper_key(INDICTRANS2.upper()) == key
    assert paper_key("  " + INDICTRANS2.replace(" ", "   ") + "  ") == key
    assert paper_key("PanGu-$α$: Large-scale Models") == paper_key("PanGu-α: Large-scale Models")


def test_paper_key_for_titles_without_ascii_letters() -> None:
    key = paper_key("Ψ-Φ")
    assert re.fullmatch(r"paper-[0-9a-f]{4}", key)
    assert paper_key("Ψ-Φ") == key != paper_key("Ψ-Ω")
    assert paper_key("Branched Schrödinger Bridge Matching").startswith("branched-schrodinger-bridge-")
    assert paper_key("") .startswith("paper-")


def test_paper_key_shape_for_odd_titles() -> None:
    for title in [
        "A" * 80,
        "Supercalifragilisticexpialidocious-and-then-some-more-words Again",
        "The Of And",
        "$\\mathbf{\\texttt{D}}$ual-$\\mathbf{\\texttt{H}}$ead $\\mathbf{\\texttt{O}}$ptimization",
        "São Paulo 2025: 漢字 タイトル",
    ]:
        key = paper_key(title)
        assert KEY_SHAPE.fullmatch(key) and len(key) <= 40, key


def test_paper_keys_of_all_real_papers_are_unique_and_typable(data_dir: Path) -> None:
    digests = read_digests([data_dir / "digests" / "seed", data_dir / "digests" / "hf_daily" / "digests"])
    titles = {normalize_title(paper.title): paper.title for digest in digests for paper in digest.papers}
    assert len(titles) == 3506 + 63
    keys: dict[str, list[str]] = {}
    for title in titles.values():
        key = paper_key(title)
        assert KEY_SHAPE.fullmatch(key) and len(key) <= 40, (title, key)
        keys.setdefault(key, []).append(title)
    collisions = {key: found for key, found in keys.items() if len(found) > 1}
    assert collisions == {}
