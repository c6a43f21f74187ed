"""Citations out: BibTeX `@misc` entries for papers, from plain values (no index, no search).

One entry per paper, keyed `arxiv:ID` when the arXiv id is known, else by the paper's key. The title is wrapped in
an extra pair of braces so BibTeX styles keep its capitals. Every TeX special character in a value is written as a
command whose own braces balance (`{` as `\\textbraceleft{}`, not `\\{`): BibTeX counts braces without looking at
backslashes, so a title with one stray brace would otherwise swallow the rest of the file. Other characters stay as
they are (UTF-8), which biber, bibtexparser and reference managers read. A year is written only when a digest date
has one: a month-day date (`--05-06`) says nothing about the year, and none is invented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

# The TeX meaning of each character that is not plain text inside a BibTeX value.
_TEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "{": r"\textbraceleft{}",
    "}": r"\textbraceright{}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_SPECIAL = re.compile("[" + re.escape("".join(_TEX_ESCAPES)) + "]")
# A citation key is one word without the characters BibTeX reads as syntax.
_KEY_UNSAFE = re.compile(r"[\s,{}()\"'#%=\\~]+")
_YEAR = re.compile(r"^(\d{4})-")
# Controls (a tab, a stray newline) mean nothing in a citation: one space each.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class Citable(Protocol):
    """What a citation needs of a paper (a stored paper has it all)."""

    key: str
    title: str
    arxiv_id: str | None
    dates: Sequence[str]
    authors: Sequence[str]


def tex_escape(text: str) -> str:
    """`text` with TeX's special characters written as commands and control characters as spaces."""
    text = _CONTROL.sub(" ", text)
    return _TEX_SPECIAL.sub(lambda match: _TEX_ESCAPES[match.group()], text)


def citation_key(key: str, arxiv_id: str | None) -> str:
    """`arxiv:ID` when the arXiv id is known, else the paper's key, as a BibTeX key."""
    raw = f"arxiv:{arxiv_id}" if arxiv_id else key
    return _KEY_UNSAFE.sub("-", raw).strip("-") or "paper"


def year_of(dates: Iterable[str]) -> str | None:
    """The earliest year among ISO digest dates; None when no date has a year (`--05-06`) or there is none."""
    years = [match.group(1) for date in dates if (match := _YEAR.match(date or ""))]
    return min(years) if years else None


def _author_field(authors: Sequence[str]) -> str | None:
    names = [" ".join(_CONTROL.sub(" ", name).split()) for name in authors]
    # "and" separates names in BibTeX, so a name holding the word is braced whole (read as one name).
    names = [f"{{{tex_escape(name)}}}" if re.search(r"\band\b", name, re.I) else tex_escape(name)
             for name in names if name]
    return " and ".join(names) or None


def bibtex_entry(
    key: str,
    title: str,
    arxiv_id: str | None = None,
    dates: Iterable[str] = (),
    authors: Sequence[str] = (),
) -> str:
    """One `@misc` entry: title (capitals kept), authors and year when known, eprint and URL for an arXiv paper."""
    fields: list[tuple[str, str]] = [("title", f"{{{tex_escape(' '.join(title.split()))}}}")]
    author = _author_field(authors)
    if author:
        fields.append(("author", author))
    year = year_of(dates)
    if year:
        fields.append(("year", year))
    if arxiv_id:
        fields += [
            ("eprint", tex_escape(arxiv_id)),
            ("archivePrefix", "arXiv"),
            ("url", f"https://arxiv.org/abs/{arxiv_id}"),
        ]
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{citation_key(key, arxiv_id)},\n{body}\n}}\n"


def bibtex_entries(papers: Iterable[Citable]) -> str:
    """The entries of several papers, in order, a blank line between them; one entry per citation key."""
    seen: set[str] = set()
    entries = []
    for paper in papers:
        cite_key = citation_key(paper.key, paper.arxiv_id)
        if cite_key in seen:
            continue
        seen.add(cite_key)
        entries.append(bibtex_entry(paper.key, paper.title, paper.arxiv_id, paper.dates, paper.authors))
    return "\n".join(entries)
