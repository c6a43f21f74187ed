"""Why a paper matched: its abstract cut into sentences, and the sentence nearest to the question. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# A sentence ends at . ! or ? followed by space and a capital, a digit or an opening bracket or quote, but not
# after the abbreviations abstracts use mid-sentence (each lookbehind must have a fixed width, hence one each).
_SENTENCE_BREAK = re.compile(
    r"(?<!\bet al\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\bFig\.)(?<!\bEq\.)(?<!\bapprox\.)(?<!\bca\.)"
    r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])"
)


def sentences(text: str) -> list[str]:
    """The sentences of an abstract, in order, whitespace collapsed (the whole text when it has no break)."""
    text = " ".join(text.split())
    return [part for part in _SENTENCE_BREAK.split(text) if part]


# How much the sentence's BM25 score counts against its word-vector similarity (both z-scored within the abstract):
# on 500 SciFact claim/abstract pairs, 0.3 picked an annotated evidence sentence most often (README).
BM25_SHARE = 0.3


@dataclass(frozen=True)
class Why:
    """The abstract sentence nearest to the question, and the question's words the paper matched lexically."""

    sentence: str
    matched_terms: tuple[str, ...]

    def to_dict(self) -> dict:
        """The `--json` shape: the `sentence` and the `matched_terms`."""
        return {"sentence": self.sentence, "matched_terms": list(self.matched_terms)}


def _zscores(values: np.ndarray) -> np.ndarray:
    spread = float(values.std())
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def nearest_sentences(
    groups: Sequence[Sequence[str]], similarities: np.ndarray, bm25: np.ndarray, bm25_share: float = BM25_SHARE
) -> list[str]:
    """Each group's best sentence by similarity and BM25 (flat arrays over all groups' sentences, in order)."""
    out: list[str] = []
    start = 0
    for group in groups:
        if not group:
            out.append("")
            continue
        end = start + len(group)
        scores = (1 - bm25_share) * _zscores(similarities[start:end]) + bm25_share * _zscores(bm25[start:end])
        out.append(group[int(np.argmax(scores))])  # argmax keeps the first of equals: the earlier sentence
        start = end
    return out
