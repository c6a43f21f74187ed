"""The words BM25 counts in a paper, exactly as the index's FTS5 tokenizer (Porter over unicode61) makes them.

Texts are split on whitespace and each distinct chunk is tokenized once by FTS5 itself, then remembered. This is
exact, not an approximation: whitespace is never part of a unicode61 token, so no token spans two chunks. It is
also fast: a collection repeats the same chunks ("the", "model,", "(LLMs)") over and over.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from semsearch.storage.store import FtsTokenizer

# Chunks remembered per counter; past it the cache starts over (bounds memory on endless input).
_CACHE_LIMIT = 2_000_000


class TermCounter:
    """Counts the FTS5 terms of titles and abstracts, tokenizing each distinct chunk of text once."""

    def __init__(self) -> None:
        self._tokenizer = FtsTokenizer()
        self._terms_of: dict[str, tuple[str, ...]] = {}

    def close(self) -> None:
        """Release the tokenizer."""
        self._tokenizer.close()

    def __enter__(self) -> TermCounter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def terms_each(self, texts: Sequence[str]) -> list[list[str]]:
        """The terms of each text, in order, repeats kept (one FTS5 call for every chunk not seen yet)."""
        self._learn([chunk for text in texts for chunk in text.split()])
        return [[term for chunk in text.split() for term in self._terms_of[chunk]] for text in texts]

    def count(self, papers: Sequence[tuple[str, str]]) -> list[tuple[Counter, Counter]]:
        """For each (title, abstract), how often each term occurs in the title and in the abstract."""
        split = [(title.split(), abstract.split()) for title, abstract in papers]
        self._learn([chunk for title, abstract in split for chunk in (*title, *abstract)])
        terms_of = self._terms_of
        return [
            (
                Counter(term for chunk in title for term in terms_of[chunk]),
                Counter(term for chunk in abstract for term in terms_of[chunk]),
            )
            for title, abstract in split
        ]

    def _learn(self, chunks: Sequence[str]) -> None:
        """Tokenize the chunks not seen yet."""
        unknown = list({chunk: None for chunk in chunks if chunk not in self._terms_of})
        if not unknown:
            return
        if len(self._terms_of) + len(unknown) > _CACHE_LIMIT:
            self._terms_of.clear()
            unknown = list(dict.fromkeys(chunks))
        for chunk, terms in zip(unknown, self._tokenizer.terms(unknown)):
            self._terms_of[chunk] = tuple(terms)
