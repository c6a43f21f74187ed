"""A known-item test derived by rule from any collection: names and title fragments that single out one paper.

Users most often type a name (a method, data set or model: `BioASQ`, `ThinkARM`, `GPT4o`) or a piece of a title
they remember. This module builds such questions from the papers themselves, with no hand-picking, so the test
runs on any collection:

- name items: a token that looks like a name (an uppercase letter after its first character, as in BioASQ or
  ThinkARM, or letters and digits together, as in GPT4o or Llama3; at least `MIN_NAME_CHARS` characters) and
  that occurs, case-insensitively and as a whole token, in the title or abstract of exactly one paper. The
  question is the name as that paper spells it; the answer is that paper.
- title items: `FRAGMENT_WORDS` consecutive words of a title, within one clause, neither first nor last word a
  stopword, that occur as a phrase in exactly one title. The question is the fragment as the title spells it.

Tokens keep their hyphen and digit structure: `Qwen2.5-VL-7B` is one token whose hyphen-joined pieces
(`Qwen2.5`, `VL`, `Qwen2.5-VL`, ...) also count as occurring, so `Qwen2` does not occur in it but `VL` does.
Candidates are taken from the text without URLs, e-mail addresses, arXiv ids and LaTeX commands; occurrences are
counted over the raw text (a name that another paper mentions only inside a link still occurs there), so
"exactly one paper" errs on the strict side.

Sampling is deterministic: each paper contributes at most one item of each kind, picked by a generator seeded with
the seed and the paper's key (so a paper's item does not depend on the order papers come in), and at most `limit`
items per kind are drawn from those with the seed.

`run_known_items` asks an open `SearchIndex` every item in every mode and reports hit@1, hit@3, hit@10 and
MRR@10 per mode and kind. The module is pure apart from that: importing it loads no numpy, FAISS or model.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from semsearch.keys import normalize_title
from semsearch.search.lexical import STOPWORDS

if TYPE_CHECKING:
    from semsearch.search import SearchIndex

NAME = "name"
TITLE = "title"
KINDS = (NAME, TITLE)

MIN_NAME_CHARS = 5
FRAGMENT_WORDS = (3, 4, 5)
DEFAULT_LIMIT = 300
DEFAULT_SEED = 20261128
# The cut-offs reported, and the depth searched (MRR@10 and hit@10 need the top 10).
CUTOFFS = (1, 3, 10)
DEPTH = 10

# A token: runs of letters and digits (any script) joined by single hyphens, or by a dot between two digits
# (Qwen2.5, GPT-4.1); anything else separates tokens.
_TOKEN = re.compile(r"[^\W_]+(?:(?:-|(?<=\d)\.(?=\d))[^\W_]+)*")
# Text that holds no names a user would type: links, bare domains, e-mail addresses, arXiv ids, and the arguments
# of LaTeX commands that hold code points, links or labels.
_NOT_PROSE = re.compile(
    r"\\(?:unicode|href|url|cite[a-z]*|ref|label|includegraphics)\s*\{[^}]*\}"
    r"|(?:https?://|ftp://|www\.)\S+"
    r"|\S+@\S+\.\S+"
    r"|[\w.-]+\.(?:com|org|net|io|ai|dev|edu|gov|html?|pdf)\b\S*"
    r"|\barxiv:\s*\S+"
    r"|\b\d{4}\.\d{4,5}(?:v\d+)?\b",
    re.IGNORECASE,
)
# A LaTeX command around one argument gives way to the argument, so \textbf{C}ityGPT reads CityGPT; other
# commands become spaces and braces vanish.
_TEX_WRAPPED = re.compile(r"\\[A-Za-z]+\*?\s*\{([^{}]*)\}")
_TEX_COMMAND = re.compile(r"\\[A-Za-z]+\*?")
_BRACES = re.compile(r"[{}]")
# A number with a unit or a size, not a name: 16kHz, 100ms, 1024x1024, 50K.
_QUANTITY = re.compile(r"\d[\d.,]*(?:[x×]\d[\d.,]*)*[^\W\d_]{0,3}")
# Between two words of a title fragment only spaces may stand: a fragment never spans a colon, comma or bracket.
_SPACES = re.compile(r"\s+")
# Words that neither start nor end a fragment a user would type, beyond the stopwords lexical search drops.
FRAGMENT_STOPWORDS = STOPWORDS | frozenset(
    """via towards toward using through without within across beyond over under between about after before
    during upon versus vs all any more most less some other each both one two new""".split()
)


@dataclass(frozen=True)
class PaperText:
    """One paper of a collection: its identifier (an index key), title and abstract."""

    key: str
    title: str
    abstract: str


@dataclass(frozen=True)
class KnownItem:
    """A question that singles out one paper: `kind` is "name" or "title", `paper` the key of the paper it finds."""

    kind: str
    query: str
    paper: str

    def to_dict(self) -> dict[str, str]:
        """The JSON shape of an item."""
        return {"kind": self.kind, "query": self.query, "paper": self.paper}


def tokens(text: str) -> list[str]:
    """The tokens of a text, in order, as written: letters and digits joined by hyphens or digit dots."""
    return _TOKEN.findall(text)


def token_spans(token: str) -> list[str]:
    """Every run of consecutive hyphen-joined pieces of a token, the token itself included, as written."""
    parts = token.split("-")
    return ["-".join(parts[start:end]) for start in range(len(parts)) for end in range(start + 1, len(parts) + 1)]


def occurring(text: str) -> set[str]:
    """The case-folded tokens and hyphen-joined pieces of tokens that occur in a text (raw, links included)."""
    return {span.casefold() for token in tokens(text) for span in token_spans(token)}


def prose(text: str) -> str:
    """The text without links, e-mail addresses and arXiv ids (blanked out), and without LaTeX markup."""
    text = _NOT_PROSE.sub(" ", text)
    text = _TEX_WRAPPED.sub(r"\1", text)
    return _BRACES.sub("", _TEX_COMMAND.sub(" ", text))


def looks_like_name(token: str) -> bool:
    """Whether a token has the shape of a name: mixed case or letters with digits in one piece, long enough."""
    parts = token.split("-")
    if len(token) < MIN_NAME_CHARS or sum(ch.isalpha() for ch in token) < 2:
        return False
    if all(_QUANTITY.fullmatch(part) for part in parts):  # 16kHz, 1024x1024, 100K-1M
        return False
    return any(_mixed_case(part) or _letters_and_digits(part) for part in parts)


def _mixed_case(part: str) -> bool:
    return any(ch.isupper() for ch in part[1:])


def _letters_and_digits(part: str) -> bool:
    return any(ch.isalpha() for ch in part) and any(ch.isdigit() for ch in part)


def name_candidates(text: str) -> list[str]:
    """The name-shaped tokens of a text, as written, in order of first appearance (each once, case-insensitively).

    A hyphenated token gives itself without lower-case pieces at its ends (ThinkARM-based gives ThinkARM) and each
    of its pieces (GPT-4o-mini gives GPT-4o-mini and GPT).
    """
    found: dict[str, str] = {}
    for token in tokens(prose(text)):
        parts = token.split("-")
        while len(parts) > 1 and _plain_word(parts[-1]):
            parts.pop()
        while len(parts) > 1 and _plain_word(parts[0]):
            parts.pop(0)
        for candidate in ["-".join(parts), *(parts if len(parts) > 1 else ())]:
            if looks_like_name(candidate):
                found.setdefault(candidate.casefold(), candidate)
    return list(found.values())


def _plain_word(part: str) -> bool:
    return part.isalpha() and part.islower()


def name_pool(papers: Sequence[PaperText], seed: int = DEFAULT_SEED) -> list[KnownItem]:
    """Every paper's rare-name item: one of its name-shaped tokens that no other paper holds (papers without one
    give none)."""
    occurrences = [occurring(f"{paper.title}\n{paper.abstract}") for paper in papers]
    papers_with: Counter[str] = Counter(span for found in occurrences for span in found)
    pool = []
    for paper, found in zip(papers, occurrences):
        names = [
            name
            for name in name_candidates(f"{paper.title}\n{paper.abstract}")
            if name.casefold() in found and papers_with[name.casefold()] == 1
        ]
        if names:
            pool.append(KnownItem(NAME, _paper_rng(seed, paper).choice(names), paper.key))
    return pool


def name_items(
    papers: Sequence[PaperText], limit: int = DEFAULT_LIMIT, seed: int = DEFAULT_SEED
) -> list[KnownItem]:
    """Rare-name items: a name-shaped token found in exactly one paper, at most one per paper, `limit` papers."""
    return sample_items(name_pool(papers, seed), limit, seed)


def title_words(title: str) -> list[str]:
    """The case-folded words of a title as `normalize_title` splits them (the identity titles are compared by)."""
    return normalize_title(title).split()


def fragment_candidates(title: str, sizes: Iterable[int] = FRAGMENT_WORDS) -> list[str]:
    """The fragments of a title a user might type: `sizes` consecutive tokens within one clause (only spaces between
    them), neither end a stopword, shorter than the whole title, as written."""
    text = prose(title)
    matches = list(_TOKEN.finditer(text))
    total = len(title_words(title))
    out: list[str] = []
    for size in sizes:
        for start in range(len(matches) - size + 1):
            run = matches[start : start + size]
            if run[0].group().casefold() in FRAGMENT_STOPWORDS or run[-1].group().casefold() in FRAGMENT_STOPWORDS:
                continue
            if not all(_SPACES.fullmatch(text, a.end(), b.start()) for a, b in zip(run, run[1:])):
                continue
            fragment = text[run[0].start() : run[-1].end()]
            words = len(normalize_title(fragment).split())
            if 0 < words < total:
                out.append(fragment)
    return out


def phrase_in(fragment: str, title: str) -> bool:
    """Whether a fragment occurs in a title as a phrase of whole words (case, punctuation and TeX aside)."""
    phrase = normalize_title(fragment)
    return bool(phrase) and f" {phrase} " in f" {normalize_title(title)} "


def title_pool(papers: Sequence[PaperText], seed: int = DEFAULT_SEED) -> list[KnownItem]:
    """Every paper's title-fragment item: one of its fragments that occurs as a phrase in no other title."""
    words = [title_words(paper.title) for paper in papers]
    counts: dict[int, Counter[tuple[str, ...]]] = {}

    def titles_with(phrase: tuple[str, ...]) -> int:
        size = len(phrase)
        if size not in counts:
            counts[size] = Counter(
                gram for title in words for gram in {tuple(title[i : i + size]) for i in range(len(title) - size + 1)}
            )
        return counts[size][phrase]

    pool = []
    for paper in papers:
        unique = [
            fragment
            for fragment in fragment_candidates(paper.title)
            if titles_with(tuple(title_words(fragment))) == 1 and phrase_in(fragment, paper.title)
        ]
        if unique:
            pool.append(KnownItem(TITLE, _paper_rng(seed, paper).choice(unique), paper.key))
    return pool


def title_items(
    papers: Sequence[PaperText], limit: int = DEFAULT_LIMIT, seed: int = DEFAULT_SEED
) -> list[KnownItem]:
    """Title-fragment items: a fragment found as a phrase in exactly one title, at most one per paper."""
    return sample_items(title_pool(papers, seed), limit, seed)


def known_items(
    papers: Sequence[PaperText], limit: int = DEFAULT_LIMIT, seed: int = DEFAULT_SEED
) -> list[KnownItem]:
    """Both kinds of items for a collection: name items, then title items."""
    return name_items(papers, limit, seed) + title_items(papers, limit, seed)


def sample_items(pool: Sequence[KnownItem], limit: int, seed: int = DEFAULT_SEED) -> list[KnownItem]:
    """At most `limit` items of a pool, drawn with `seed` whatever order the pool is in, sorted by paper key."""
    ordered = sorted(pool, key=lambda item: (item.paper, item.query))
    if len(ordered) > limit:
        ordered = sorted(random.Random(seed).sample(ordered, limit), key=lambda item: (item.paper, item.query))
    return ordered


def _paper_rng(seed: int, paper: PaperText) -> random.Random:
    """A generator for one paper's pick: the same paper gets the same item whatever else the collection holds."""
    return random.Random(f"{seed}:{paper.key}")


# -- running the test -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownItemScores:
    """How one mode did on one kind of item: the share found at rank 1, within 3 and within 10, and MRR@10."""

    items: int
    top1: float
    top3: float
    top10: float
    mrr10: float

    def to_dict(self) -> dict[str, float]:
        """The JSON shape."""
        return {"items": self.items, "top1": self.top1, "top3": self.top3, "top10": self.top10, "mrr@10": self.mrr10}


def score_ranks(ranks: Sequence[int | None]) -> KnownItemScores:
    """Scores from each item's rank of its paper (1-based; None when it is not in the top `DEPTH`)."""
    count = len(ranks)
    if count == 0:
        return KnownItemScores(0, 0.0, 0.0, 0.0, 0.0)

    def share(cutoff: int) -> float:
        return sum(1 for rank in ranks if rank is not None and rank <= cutoff) / count

    mrr = sum(1.0 / rank for rank in ranks if rank is not None and rank <= DEPTH) / count
    return KnownItemScores(count, share(1), share(3), share(10), mrr)


def item_ranks(
    index: SearchIndex, items: Sequence[KnownItem], paper_ids: Mapping[str, int], mode: str
) -> list[int | None]:
    """The rank of each item's paper when `index` is asked its query in `mode` (None: not in the top `DEPTH`)."""
    ranks: list[int | None] = []
    for item in items:
        ranking = [paper_id for paper_id, _ in index.search(item.query, DEPTH, mode)]
        wanted = paper_ids[item.paper]
        ranks.append(ranking.index(wanted) + 1 if wanted in ranking else None)
    return ranks


def summarize(
    items: Sequence[KnownItem], ranks: Mapping[str, Sequence[int | None]]
) -> dict[str, dict[str, KnownItemScores]]:
    """Scores per mode and kind, and over all items ("all"), from each mode's ranks (aligned with `items`)."""
    out: dict[str, dict[str, KnownItemScores]] = {}
    for mode, mode_ranks in ranks.items():
        out[mode] = {
            kind: score_ranks([rank for item, rank in zip(items, mode_ranks) if item.kind == kind]) for kind in KINDS
        }
        out[mode]["all"] = score_ranks(mode_ranks)
    return out


def run_known_items(
    index: SearchIndex, items: Sequence[KnownItem], paper_ids: Mapping[str, int], modes: Sequence[str]
) -> dict[str, dict[str, KnownItemScores]]:
    """Ask `index` every item in each mode; scores per mode and kind. `paper_ids` maps paper keys to index ids."""
    return summarize(items, {mode: item_ranks(index, items, paper_ids, mode) for mode in modes})
