"""From a question to an FTS5 query: words, stopwords dropped, each word quoted, all OR-ed. Pure functions.

Every word becomes an FTS5 string ("word"), so nothing a user types (quotes, parentheses, AND, NOT, NEAR, -, *,
^, column filters) is ever read as query syntax. The index's tokenizer (Porter over unicode61) then stems the
quoted words exactly as it stemmed the papers.
"""

from __future__ import annotations

import re
import unicodedata

# Lucene's English stop set (what BM25 baselines such as Anserini and Elasticsearch drop) plus the question words
# and auxiliaries that questions add and abstracts never need to match.
STOPWORDS = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then there these
    they this to was will with
    what which who whom whose when where why how do does did can could should would may might been being have has
    had i me my we our you your its from than""".split()
)

# Runs of letters and digits of any script, as FTS5's unicode61 tokenizer splits text (underscore separates).
_WORD = re.compile(r"[^\W_]+")

# BM25 weights of the title and abstract columns: a word in the title counts three times (tuned on SciFact's
# train judgments with `scripts/eval_scifact.py tune`: +0.008 nDCG@10 for lexical, +0.006 for hybrid over 1:1).
FIELD_WEIGHTS = (3.0, 1.0)

# A question longer than this many distinct words is cut: it bounds the work of one OR query, and the words past
# it add almost nothing to a BM25 ranking.
MAX_TERMS = 64


def query_terms(text: str, max_terms: int = MAX_TERMS) -> list[str]:
    """The distinct lower-cased words of `text` that are not stopwords, in order of first appearance."""
    terms: list[str] = []
    seen: set[str] = set()
    # NFKC first, so composed and decomposed accents, ligatures and full-width letters give the same words.
    for match in _WORD.finditer(unicodedata.normalize("NFKC", text).casefold()):
        word = match.group()
        if word in STOPWORDS or word in seen:
            continue
        seen.add(word)
        terms.append(word)
        if len(terms) == max_terms:
            break
    return terms


def fts_query(terms: list[str]) -> str | None:
    """An FTS5 MATCH expression that finds papers holding any of `terms`, or None when there are none."""
    if not terms:
        return None
    # Terms come from `query_terms`, so they hold no double quote; doubling one keeps any other caller safe too.
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
