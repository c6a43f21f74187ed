"""Digests written by tests, shared by the test modules (test modules import from here, never from each other)."""

from __future__ import annotations

from pathlib import Path

# The page header of a saved Daily Papers digest, as in the seed.
DIGEST_HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nbyAK and the research community\n\n"
ABSTRACT_A = (
    "We train a transformer on parallel corpora for low-resource Indian languages and release the data. "
    "Our models improve translation quality over strong baselines on every benchmark we consider."
)
ABSTRACT_B = (
    "We partition optimizer states, gradients and parameters across data-parallel workers to cut memory. "
    "This lets us train models with a trillion parameters on current hardware clusters efficiently."
)
ABSTRACT_C = (
    "A graph neural network for traffic forecasting that models road sensors as nodes in a dynamic graph. "
    "It outperforms recurrent baselines on two public traffic data sets with fewer parameters."
)

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_ABSTRACT = (
    'Abstracts may hold markup: <b>bold</b>, <img src=x onerror="alert(2)"> and <a href="javascript:alert(3)">a '
    "link</a>, quotes \" ' and ampersands &amp; too. We benchmark hostile markup sanitization in digests."
)


def write_digest(path: Path, date_line: str, papers: list[tuple[str, str]]) -> Path:
    """Write a digest in the seed's layout."""
    body = "".join(f"{title}\n\n{abstract}\n\n" for title, abstract in papers)
    path.write_text(DIGEST_HEADER + f"{date_line}\n\n" + body, encoding="utf-8")
    return path


def write_hostile_digest(folder: Path) -> Path:
    """A digest whose title is a script tag, whose abstract holds HTML, and one paper with an arXiv id."""
    path = folder / "hostile_2025-07-01.txt"
    path.write_text(
        DIGEST_HEADER
        + f"Jul 1\n\n{HOSTILE_TITLE}\n\n{HOSTILE_ABSTRACT}\n\n"
        + f"Partitioned Optimizer States for Trillion Parameter Training\n\nhttps://arxiv.org/abs/2507.01234\n\n{ABSTRACT_B}\n\n",
        encoding="utf-8",
    )
    return path


def hard_wrap(text: str, width: int = 70) -> str:
    """Prose hard-wrapped at `width` characters, the way an e-mail client or a copied page breaks it."""
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return "\n".join(lines + [current])
