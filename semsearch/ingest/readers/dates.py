"""Digest dates: date lines such as "May 6" or "Tuesday, June 10, 2025", where a missing year comes from, and how
a stored date is shown."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from semsearch.errors import DigestError

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_DAY = r"(?P<day>0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:[a-z]*)?\.?,?\s+)?"
_DATE_FORMS = [
    re.compile(rf"{_WEEKDAY}(?P<month>[a-z]+)\.?\s+{_DAY}(?:,?\s+(?P<year>\d{{4}}))?", re.IGNORECASE),
    re.compile(rf"{_WEEKDAY}{_DAY}\s+(?P<month>[a-z]+)\.?,?(?:\s+(?P<year>\d{{4}}))?", re.IGNORECASE),
    re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"),
]
_PUBLISHED = re.compile(r"published(?:\s+on)?\s*:?\s+(?P<date>.+)", re.IGNORECASE)
_NAME_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def parse_date_line(text: str) -> tuple[int | None, int, int] | None:
    """(year or None, month, day) when the whole line is a date, else None; the day need not exist yet."""
    stripped = text.strip()
    if len(stripped) > 40:
        return None
    for form in _DATE_FORMS:
        match = form.fullmatch(stripped)
        if match is None:
            continue
        month_text = match.group("month")
        month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text.lower())
        if month is None or not 1 <= month <= 12:
            continue
        year = int(match.group("year")) if match.group("year") else None
        return year, month, int(match.group("day"))
    return None


def published_date_text(text: str) -> str | None:
    """The date part of a "Published on Jun 10" line, else None."""
    match = _PUBLISHED.fullmatch(text.strip())
    if match is None or parse_date_line(match.group("date")) is None:
        return None
    return match.group("date")


def iso_date(text: str) -> str | None:
    """A record's date as "YYYY-MM-DD" or "--MM-DD", from an ISO date or date-time; None when it is not one."""
    stripped = text.strip()
    if stripped.startswith("--") and len(stripped) == 7:
        try:
            month, day = int(stripped[2:4]), int(stripped[5:7])
        except ValueError:
            return None
        return stripped if stripped[4] == "-" and _valid(2000, month, day) else None
    try:
        return datetime.date.fromisoformat(stripped[:10]).isoformat() if len(stripped) >= 10 else None
    except ValueError:
        return None


def name_date(source: str) -> datetime.date | None:
    """The YYYY-MM-DD a file name carries (hf_daily_2025-06-10.txt), if it is a real date."""
    match = _NAME_DATE.search(Path(source).name)
    if match is None:
        return None
    year, month, day = map(int, match.groups())
    return datetime.date(year, month, day) if _valid(year, month, day) else None


class DateContext:
    """Turns date lines into ISO dates for one digest.

    A missing year comes from the file name's YYYY-MM-DD, else from `reference` (an e-mail's Date header or the
    saved page's address: the year that puts the date nearest to it), else from `default_date`, else it stays
    unknown and the date is kept as "--MM-DD". Papers without any date line get `default_date`, else `reference`.
    """

    def __init__(
        self,
        source: str,
        default_date: datetime.date | None = None,
        reference: datetime.date | None = None,
    ) -> None:
        self.source = source
        self.default_date = default_date
        self.reference = reference
        named = name_date(source)
        self.name_year = named.year if named else None

    @property
    def fallback(self) -> str | None:
        """The date of papers the digest gives no date line for."""
        chosen = self.default_date or self.reference
        return chosen.isoformat() if chosen else None

    def resolve(self, line: int | None, text: str) -> str:
        """The ISO date of a date line; raises DigestError naming the line when the date does not exist."""
        parsed = parse_date_line(text)
        if parsed is None:
            raise DigestError(self.source, line, f"'{text.strip()}' is not a date line (e.g. 'May 6')")
        year, month, day = parsed
        if year is None:
            year = self._year(month, day)
        # With no year known, Feb 29 is allowed: some year has it.
        if not _valid(year if year is not None else 2000, month, day):
            problem = f"'{text.strip()}' is not a real date; fix the date line (e.g. 'May 6')"
            raise DigestError(self.source, line, problem)
        return f"{year:04d}-{month:02d}-{day:02d}" if year is not None else f"--{month:02d}-{day:02d}"

    def _year(self, month: int, day: int) -> int | None:
        if self.name_year is not None:
            return self.name_year
        if self.reference is not None:
            candidates = [
                datetime.date(year, month, day)
                for year in (self.reference.year - 1, self.reference.year, self.reference.year + 1)
                if _valid(year, month, day)
            ]
            if candidates:
                # A digest dated Dec 31 and mailed on Jan 1 belongs to the year before.
                return min(candidates, key=lambda date: abs((date - self.reference).days)).year
        return self.default_date.year if self.default_date is not None else None


def _valid(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


_MONTH_ABBREVIATIONS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def display_date(date: str | None) -> str:
    """ISO dates as they are; a month-day date with no known year ("--05-06") as "May 6"; none as "-"."""
    if not date:
        return "-"
    if date.startswith("--") and len(date) == 7:
        return f"{_MONTH_ABBREVIATIONS[int(date[2:4]) - 1]} {int(date[5:7])}"
    return date
