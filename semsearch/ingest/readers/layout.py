"""What a line of a digest page is: page chrome, a date, a link, paper metadata (upvotes, authors), a title, prose."""

from __future__ import annotations

import enum
import re

from semsearch.ingest.readers.dates import parse_date_line, published_date_text
from semsearch.keys import find_arxiv_id, normalize_arxiv_id

# No real title comes near this length (the longest of 3,569 real ones has 202 characters).
TITLE_MAX = 300
# A lone line shorter than this, not ending in a period, reads as a title rather than an abstract.
SHORT_LINE = 200

_HEADER_PHRASES = frozenset(
    {
        "new",
        "get trending papers in your email inbox!",
        "subscribe",
        "byak and the research community",
        "daily papers",
        "trending papers",
        "papers",
        "hugging face",
        "unsubscribe",
        "view in browser",
        "view this email in your browser",
        "back to top",
    }
)
# Header lines only the daily papers page (or its e-mail) has: they mark a digest.
_DIGEST_MARKERS = frozenset({"get trending papers in your email inbox!", "byak and the research community"})
# Labels and buttons of a paper card or page, never part of a title or abstract.
_BOILERPLATE = frozenset(
    {
        "upvote",
        "upvoted",
        "view arxiv page",
        "view pdf",
        "add to collection",
        "community",
        "paper page",
        "project page",
        "github",
        "code",
        "pdf",
        "arxiv",
        "read more",
        "read paper",
        "follow",
        "comments",
        "authors",
        "submitted by",
        # Counters, buttons and menus of a card or a paper page (a lone count word is never a title).
        "upvotes",
        "like",
        "likes",
        "share",
        "save",
        "saved",
        "cite",
        "citation",
        "bookmark",
        "star",
        "stars",
        "fork",
        "forks",
        "discuss",
        "comment",
        "reply",
        "copy link",
        "more",
        "show more",
        "show less",
        "see more",
    }
)
# A count with the words that label it ("Upvote 42", "★ 1.2k", "· 12 authors", "GitHub 3,210 stars").
_COUNT = re.compile(r"[\d][\d.,]*[kKmM]?\+?")
_COUNT_SYMBOLS = "▲⬆↑△★☆⭐·•|-–—()[]:#+"
# What a count may label: with these words beside it a short line is a counter, not a title ("Llama 3" is one).
_COUNT_NOUNS = frozenset(
    "upvote upvotes comment comments author authors star stars fork forks like likes view views citation citations "
    "download downloads follower followers paper papers model models dataset datasets space spaces collection "
    "collections reply replies".split()
)
_ABSTRACT_WORDS = 8
_SENTENCE_ENDS = (".", "!", "?", ".)", ".\"", ".”")
_LONE_WORD = re.compile(r"[a-z]+:?")
_ABSTRACT_LABEL = re.compile(r"abstract\s*[:.\-–—]?", re.IGNORECASE)
_ABSTRACT_PREFIX = re.compile(r"abstract\s*[:.\-–—]\s*(?=\S)", re.IGNORECASE)
_SUMMARY_LABEL = re.compile(r"(?:ai[- ]generated\s+)?summary\s*:?|tl;?dr\s*:?", re.IGNORECASE)
_META = re.compile(
    r"""
    (?:[▲⬆↑△]|upvotes?\s*:?)?\s*\d{1,7}(?:\s*upvotes?)?   # an upvote or comment count
    | \#?\d{1,4}[.)]                                     # a bare list number
    | \+\s?\d{1,5}                                       # "+34" more authors
    | [·•]?\s*\d{1,5}\s+(?:authors?|comments?|upvotes?)  # "· 5 authors"
    | submitted\s+by\b.{0,120}                           # "Submitted by akhaliq on Jun 11"
    | authors?\s*:.*                                     # "Authors: A, B"
    | (?:by|posted\s+by)\s*:?\s+@\S+                     # "by @akhaliq"
    """,
    re.IGNORECASE | re.VERBOSE,
)
_URL = r"(?:https?://\S+?|arxiv:\s*\S+?|(?:www\.)?(?:arxiv\.org|huggingface\.co|hf\.co)/\S+?)"
_LINK_LINE = re.compile(
    rf"""
    (?:(?:read\s+more|view\s+(?:paper|on\s+arxiv|arxiv\s+page|pdf)|paper|pdf|link|url|arxiv|hf\s+page)\s*[:\-–]?\s*
       | [\w'’]+(?:\s+[\w'’]+){{0,3}}\s*:\s*)?                # or any short label with a colon ("Paper page: ...")
    [<(\[]?{_URL}[>)\]]?[.,;]?
    (?:\s*\[[\w.\- ]{{1,20}}\])?                         # "arXiv:2506.01234 [cs.CL]"
    """,
    re.IGNORECASE | re.VERBOSE,
)
_NUMBERING = re.compile(r"(?:#\s?\d{1,3}[.):]?|\d{1,3}[.)]|\[\d{1,3}\])\s+(?=\S)")
_MARKDOWN_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<url>[^)\s]+)\)")
_TRAILING_LINK = re.compile(rf"(?P<title>.*?\S)\s*[(<\[]?\s*(?P<url>{_URL})\s*[)>\]]?", re.IGNORECASE)
_TITLE_LABEL = re.compile(r"title\s*:\s*(?=\S)", re.IGNORECASE)
# Name particles that stay lowercase ("Vincent van Gogh").
_PARTICLES = frozenset("van von der den de del della di da dos du la le bin al ibn y zu ter".split())
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&)\s*")
_AFFILIATION_MARKS = "0123456789*†‡§¶∗"
# Words common in paper titles and rare in names: "Vision Transformers and Language Models" is not two people.
_TITLE_WORDS = frozenset(
    """
    model models learning language languages vision visual data dataset datasets network networks neural deep large
    small efficient reasoning benchmark benchmarks agent agents generation generative diffusion attention scaling
    training transformer transformers image images video videos text multimodal robust optimization via towards
    toward beyond understanding evaluation analysis survey system systems framework method methods approach graph
    graphs reinforcement policy memory knowledge retrieval search detection segmentation recognition translation
    speech audio token tokens inference tuning alignment safety adversarial shot supervised representation
    representations embedding embeddings foundation instruction prompt prompting thought code math world control
    robot robotic planning semantic sparse dense mixture experts layer layers quantization compression distillation
    adaptation parallel distributed scale scalable open corpus matching sampling bridge estimation prediction
    modeling modelling editing synthesis spatial temporal scene object objects fusion field fields
    """.split()
)


class Kind(enum.Enum):
    """What a line is."""

    TEXT = "text"
    HEADER = "header"
    DATE = "date"
    PUBLISHED = "published"
    LINK = "link"
    META = "meta"
    ABSTRACT_LABEL = "abstract-label"
    SUMMARY_LABEL = "summary-label"


def classify(text: str) -> Kind:
    """The kind of one stripped line; anything that is not page chrome or metadata is TEXT."""
    if not text or len(text) > TITLE_MAX:
        return Kind.TEXT
    folded = " ".join(text.split()).casefold()
    if folded in _HEADER_PHRASES:
        return Kind.HEADER
    if parse_date_line(text) is not None:
        return Kind.DATE
    if published_date_text(text) is not None:
        return Kind.PUBLISHED
    if is_link(text):
        return Kind.LINK
    if folded.rstrip(":") in _BOILERPLATE or _META.fullmatch(text) or is_chrome(text):
        return Kind.META
    if _ABSTRACT_LABEL.fullmatch(text):
        return Kind.ABSTRACT_LABEL
    if _SUMMARY_LABEL.fullmatch(text):
        return Kind.SUMMARY_LABEL
    return Kind.TEXT


def is_chrome(text: str) -> bool:
    """A line of page chrome that no title or abstract is: no letters at all, a lone lowercase word, a button or
    label, or a count with its label ("42 upvotes", "Upvote 42", "★ 1.2k", "GitHub 3,210")."""
    words = text.split()
    if not words:
        return True
    if not any(ch.isalpha() for ch in text):
        # "26-66%." ends an abstract wrapped over lines; a count never ends a sentence.
        return not text.rstrip().endswith(_SENTENCE_ENDS)
    folded = " ".join(words).casefold().rstrip(":")
    if folded in _BOILERPLATE or (len(words) == 1 and _LONE_WORD.fullmatch(text.strip())):
        return True
    if len(words) > 4:
        return False
    cores = [word.strip(_COUNT_SYMBOLS) for word in words]
    counts = [core for core in cores if _COUNT.fullmatch(core)]
    labels = [core.casefold() for core in cores if core and not _COUNT.fullmatch(core)]
    return bool(counts) and all(label in _COUNT_NOUNS or label in _BOILERPLATE for label in labels)


def is_link(text: str) -> bool:
    """A line that is only a link or an arXiv reference, perhaps labelled ("PDF: https://...")."""
    return bool(_LINK_LINE.fullmatch(text.strip())) or normalize_arxiv_id(text) is not None


def link_arxiv_id(text: str) -> str | None:
    """The arXiv id of a link line (a bare id counts), else None."""
    return find_arxiv_id(text) or normalize_arxiv_id(text)


def split_title(text: str) -> tuple[str, str | None]:
    """A title line without list numbering, a "Title:" label or a trailing link; and the arXiv id of that link."""
    title = " ".join(text.split())
    arxiv_id = None
    markdown = _MARKDOWN_LINK.fullmatch(title)
    if markdown:
        title, arxiv_id = markdown.group("text").strip(), find_arxiv_id(markdown.group("url"))
    else:
        trailing = _TRAILING_LINK.fullmatch(title)
        if trailing:
            title, arxiv_id = trailing.group("title"), link_arxiv_id(trailing.group("url"))
    title = _strip_prefix(_TITLE_LABEL, title)
    return _strip_prefix(_NUMBERING, title).strip(), arxiv_id


def is_boilerplate(text: str) -> bool:
    """A card's button or label ("View arXiv page", "Add to collection")."""
    return " ".join(text.split()).casefold().rstrip(":") in _BOILERPLATE


def strip_abstract_label(text: str) -> str:
    """An abstract without a leading "Abstract:" label."""
    return _strip_prefix(_ABSTRACT_PREFIX, text)


def _strip_prefix(pattern: re.Pattern[str], text: str) -> str:
    """The text without a leading match of the pattern (only ever at the start)."""
    match = pattern.match(text)
    return text[match.end() :] if match else text


def is_digest_marker(text: str) -> bool:
    """A line only a digest carries: a date line, or the daily page's own header lines."""
    folded = " ".join(text.split()).casefold()
    return folded in _DIGEST_MARKERS or parse_date_line(text) is not None


def is_header(text: str) -> bool:
    """A page header or footer phrase ("Subscribe", "Get trending papers in your email inbox!")."""
    return " ".join(text.split()).casefold() in _HEADER_PHRASES


def looks_like_author_list(text: str, min_names: int = 2) -> bool:
    """A line of personal names ("Ada Lovelace, Alan M. Turing and Grace Hopper"), possibly with affiliation marks."""
    if len(text) > 4000 or text.endswith((":", "?", "!")):
        return False
    # The first name ends within a few words: this rejects prose without splitting all of it.
    first = _AUTHOR_SPLIT.search(text, 0, 80)
    if first is None or not _looks_like_name(text[: first.start()]):
        return False
    names = [name for name in _AUTHOR_SPLIT.split(text.strip().rstrip(".")) if name]
    names = [name for name in names if not name.lower().startswith(("et al", "+"))]
    return len(names) >= min_names and all(_looks_like_name(name) for name in names)


def looks_like_title(text: str) -> bool:
    """One short line that does not end a sentence (titles may end in '?' or '!', rarely in '.')."""
    return len(text) < SHORT_LINE and not text.endswith(".")


def reads_as_sentence(text: str) -> bool:
    """A line of prose rather than a title: eight words or more ending in a period (no title of 82,779 real ones)."""
    return len(text.split()) >= _ABSTRACT_WORDS and text.rstrip().endswith(".")


def ends_sentence(text: str) -> bool:
    """Whether a line ends a sentence (or a parenthesis or quote closing one)."""
    return text.rstrip().endswith(_SENTENCE_ENDS + (")", "]", '"', "”"))


def looks_like_abstract(text: str) -> bool:
    """Prose: at least eight words, and long or ending a sentence (one of 82,779 real abstracts is shorter)."""
    return len(text.split()) >= _ABSTRACT_WORDS and (len(text) >= SHORT_LINE or text.endswith(_SENTENCE_ENDS))


def _looks_like_name(name: str) -> bool:
    words = name.strip(_AFFILIATION_MARKS + " ").split()
    if not 2 <= len(words) <= 5:
        return False
    for word in words:
        word = word.strip(_AFFILIATION_MARKS)
        if word.lower() in _PARTICLES:
            continue
        core = word.rstrip(".")
        if core.lower() in _TITLE_WORDS or (len(core) > 1 and core.isupper()):
            return False
        if not word or not word[0].isupper() or not all(ch.isalpha() or ch in ".-'’" for ch in word):
            return False
    return True
