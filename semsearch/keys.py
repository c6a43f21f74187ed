"""Paper identity: the normalized title used for deduplication, short typable keys, arXiv ids, and the text a
paper is embedded as (with its hash, so unchanged papers are never embedded twice)."""

from __future__ import annotations

import re
import unicodedata

# Font commands only change how a word looks, so "$\textit{Can}$" must match a plain "Can".
_TEX_FONT_COMMAND = re.compile(r"\\(?:text|math)[a-z]*|\\(?:emph|boldsymbol|bm)\b")

_ASCII_SEPARATORS = re.compile(r"[^a-z0-9]+")

# Small words carry no identity; dropping them leaves more room in the 32-character slug.
_STOPWORDS = frozenset("a an the and or of for in on to with via by from at as is are be its into".split())

_SLUG_MAX = 32
_SLUG_WORDS = 5
_HASH_CHARS = 4

# New style (April 2007 on): YYMM.NNNN until 2014, YYMM.NNNNN since. Old style: archive[.SUBCLASS]/YYMMNNN.
_NEW_ID = r"(?P<new>\d{2}(?:0[1-9]|1[0-2])\.\d{4,5})"
_OLD_ID = r"(?P<archive>[a-z]+(?:-[a-z]+)?)(?:\.[a-z]{2})?/(?P<old>\d{2}(?:0[1-9]|1[0-2])\d{3})"
_ID = rf"(?:{_NEW_ID}|{_OLD_ID})(?:v\d+)?(?![\d])"

_BARE_ID = re.compile(rf"{_ID}", re.IGNORECASE)
_URL_PREFIX = r"(?:https?://)?(?:www\.|export\.)?(?:arxiv\.org/(?:abs|pdf|html)/|(?:huggingface|hf)\.co/papers/)"
_MARKED_ID = re.compile(rf"(?:{_URL_PREFIX}|\barxiv:\s*){_ID}", re.IGNORECASE)
# After an id, a link may go on with ".pdf", a query or a fragment; nothing else may follow in a whole-text match.
_ID_TAIL = re.compile(r"(?:\.pdf)?/?(?:[?#]\S*)?", re.IGNORECASE)


def normalize_title(title: str) -> str:
    """The dedup identity of a title: casefolded words of letters and digits, single-spaced, without TeX markup."""
    text = unicodedata.normalize("NFKC", title)
    # casefold can produce sequences that NFKC composes differently, so normalize again afterwards.
    text = unicodedata.normalize("NFKC", text.casefold())
    # "$" only switches TeX into math mode, so "PanGu-$α$" and "PanGu-α" are one title.
    text = _TEX_FONT_COMMAND.sub(" ", text).replace("$", "")
    if text.isascii():
        # The same rule as below, for the common case at regex speed: ASCII letters and digits are the words.
        return " ".join(_ASCII_SEPARATORS.sub(" ", text).split())
    # Letters and digits of every script (and combining marks NFKC could not compose) are words; all else separates.
    chars = [ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text]
    return " ".join("".join(chars).split())


def normalize_arxiv_id(text: str) -> str | None:
    """The canonical arXiv id (no version, lowercase) of an id, `arXiv:` id or arXiv/Hugging Face link, else None."""
    stripped = text.strip()
    match = _MARKED_ID.match(stripped) or _BARE_ID.match(stripped)
    if match is None or not _ID_TAIL.fullmatch(stripped, match.end()):
        return None
    return _canonical(match)


def find_arxiv_id(text: str) -> str | None:
    """The first arXiv id in a line, only from arxiv.org or huggingface.co (hf.co) paper links or an `arXiv:` prefix."""
    match = _MARKED_ID.search(text)
    return _canonical(match) if match else None


def paper_key(title: str, arxiv_id: str | None = None) -> str:
    """A stable short key: the canonical arXiv id when known, else a title slug plus 4 hex chars of its hash."""
    if arxiv_id:
        canonical = normalize_arxiv_id(arxiv_id)
        if canonical is not None:
            return canonical
    import hashlib  # here, not at the top: a question never hashes, and OpenSSL's bindings cost a cold one ~3 ms

    normalized = normalize_title(title)
    digest = hashlib.sha1(normalized.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    return f"{_slug(normalized) or 'paper'}-{digest}"


def _canonical(match: re.Match[str]) -> str:
    """The id a regex match holds, lowercase and without version or subject class."""
    if match.group("new"):
        return match.group("new")
    # arXiv treats math.GT/0309136 and math/0309136 as the same paper.
    return f"{match.group('archive').lower()}/{match.group('old')}"


def _slug(normalized: str) -> str:
    """Up to 5 ASCII words of a normalized title, hyphen-joined, at most 32 characters, cut at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", normalized).encode("ascii", "ignore").decode("ascii").lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    meaningful = [word for word in words if word not in _STOPWORDS] or words
    slug = ""
    for word in meaningful[:_SLUG_WORDS]:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > _SLUG_MAX:
            break
        slug = candidate
    # A first word longer than the limit is cut rather than dropped, so the key still reads like the title.
    return slug or (meaningful[0][:_SLUG_MAX] if meaningful else "")


def document_text(title: str, abstract: str) -> str:
    """The text embedded for a paper: its title, then its abstract."""
    title = title.strip()
    separator = " " if title.endswith((".", "?", "!", ":")) else ". "
    return f"{title}{separator}{abstract.strip()}"


def content_hash(title: str, abstract: str) -> str:
    """Identifies a paper's embedded text, so unchanged papers are never embedded twice."""
    import hashlib

    return hashlib.sha256(document_text(title, abstract).encode("utf-8")).hexdigest()
