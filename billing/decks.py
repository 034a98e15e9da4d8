"""Rate decks as CSV. The import checks every row and names each bad one (line, column, why) and
writes nothing unless every row is good; the export writes the same columns back, so importing an
export gives the same deck (a description that the export neutralised against formula injection,
`'=...`, comes back without its apostrophe).

Columns (header required, any order): prefix, description, price_per_minute, and optionally
connection_fee (default 0), initial_seconds and increment_seconds (default 60 and 60),
effective_from (a date or a time with its zone; default: always) and effective_to (empty: no end).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from billing.csvio import FORMULA_STARTS
from billing.models import Rate, RateDeck
from tenants.dates import BadMoment, MomentOutOfRange, read_moment
from tenants.errors import PlatformError

COLUMNS = [
    "prefix",
    "description",
    "price_per_minute",
    "connection_fee",
    "initial_seconds",
    "increment_seconds",
    "effective_from",
    "effective_to",
]
REQUIRED = ("prefix", "description", "price_per_minute")
ALWAYS = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # effective_from when the file does not say
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_PROBLEMS = 200
MAX_MONEY = Decimal(10) ** 10  # 14 digits, 4 of them decimals
PREFIX = re.compile(r"^[0-9]{1,20}$")
NUL = "\x00"
NUL_PROBLEM = gettext_noop("contains a NUL character (binary data?); save the file as CSV text.")


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be imported: its line (None: the whole file), column and why."""

    line: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = _("File") if self.line is None else _("Line %(line)s") % {"line": self.line}
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class DeckInvalid(PlatformError):
    """A deck file with problems; nothing was imported."""

    code = "invalid-deck"
    status = 400

    def __init__(self, problems: list[Problem], more: int = 0):
        count = len(problems) + more
        super().__init__(
            ngettext(
                "The file has %(count)s problem; nothing was imported.",
                "The file has %(count)s problems; nothing was imported.",
                count,
            )
            % {"count": count}
        )
        self.problems, self.more = problems, more


def _money(text: str, *, default: str | None = None) -> Decimal:
    if not text and default is not None:
        text = default
    if not text:
        raise ValueError(_("is required."))
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(
            _("%(text)r is not a number (use a dot for decimals, such as 0.0125).") % {"text": text}
        ) from None
    if not value.is_finite():
        raise ValueError(_("%(text)r is not a number.") % {"text": text})
    if value < 0:
        raise ValueError(_("must not be negative."))
    if value.as_tuple().exponent < -4:
        raise ValueError(_("has more than 4 decimal places."))
    if value >= MAX_MONEY:
        raise ValueError(_("is too large."))
    return value.quantize(Decimal("0.0001"))


def _seconds(text: str, *, low: int) -> int:
    if not text:
        return 60
    if not text.isascii() or not text.isdigit():
        raise ValueError(_("%(text)r is not a whole number of seconds.") % {"text": text})
    value = int(text)
    if not low <= value <= 3600:
        raise ValueError(_("must be between %(low)s and 3600.") % {"low": low})
    return value


def _moment(text: str, *, default: dt.datetime | None) -> dt.datetime | None:
    if not text:
        return default
    try:
        return read_moment(text)
    except MomentOutOfRange as exc:
        raise ValueError(f"{text!r}: {exc.message}") from None
    except BadMoment:
        raise ValueError(
            _("%(text)r is not a date (2026-11-01) or a time (2026-11-01T00:00:00+00:00).") % {"text": text}
        ) from None


def _description(text: str) -> str:
    if len(text) > 1 and text[0] == "'" and text[1].startswith(FORMULA_STARTS):
        text = text[1:]  # neutralised by our own export
    if not text:
        raise ValueError(_("is required."))
    if len(text) > 100:
        raise ValueError(_("is longer than 100 characters."))
    return text


def _prefix(text: str) -> str:
    text = text.removeprefix("+")
    if not PREFIX.match(text):
        raise ValueError(_("%(text)r is not 1 to 20 digits.") % {"text": text})
    return text


PARSERS = {
    "prefix": _prefix,
    "description": _description,
    "price_per_minute": lambda text: _money(text),
    "connection_fee": lambda text: _money(text, default="0"),
    "initial_seconds": lambda text: _seconds(text, low=0),
    "increment_seconds": lambda text: _seconds(text, low=1),
    "effective_from": lambda text: _moment(text, default=ALWAYS),
    "effective_to": lambda text: _moment(text, default=None),
}


def _header(cells: list[str]) -> tuple[list[str], list[Problem]]:
    names = [cell.strip().lower() for cell in cells]
    problems = [
        Problem(
            1,
            name or _("column %(number)s") % {"number": i + 1},
            _("unknown column; use %(columns)s.") % {"columns": ", ".join(COLUMNS)},
        )
        for i, name in enumerate(names)
        if name not in COLUMNS
    ]
    problems += [Problem(1, name, _("appears twice.")) for i, name in enumerate(names) if name in names[:i]]
    problems += [Problem(1, name, _("is missing.")) for name in REQUIRED if name not in names]
    return names, problems


def parse_deck(data: bytes) -> list[dict]:
    """The rates of a deck file, each as Rate fields, or DeckInvalid naming every problem."""
    if len(data) > MAX_BYTES:
        raise DeckInvalid(
            [Problem(None, "", _("is larger than %(megabytes)s MB.") % {"megabytes": MAX_BYTES // 1024 // 1024})]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DeckInvalid([Problem(None, "", _("is not UTF-8 text."))]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, [])
    except csv.Error as exc:
        raise DeckInvalid([Problem(1, "", _("is not CSV (%(error)s).") % {"error": exc})]) from None
    if not any(cell.strip() for cell in first):
        raise DeckInvalid([Problem(None, "", _("is empty; its first line names the columns."))])
    if any(NUL in cell for cell in first):
        raise DeckInvalid([Problem(1, "", _(NUL_PROBLEM))])
    names, problems = _header(first)
    if problems:
        raise DeckInvalid(problems)
    rows: list[dict] = []
    more = 0

    def report(problem: Problem) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(problem)
        else:
            more += 1

    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                report(
                    Problem(
                        line,
                        "",
                        _("has %(cells)s cells; the header has %(names)s.")
                        % {"cells": len(cells), "names": len(names)},
                    )
                )
                continue
            row, good = {"line": line}, True
            for name, cell in zip(names, cells, strict=True):
                if NUL in cell:  # no database text holds one
                    report(Problem(line, name, _(NUL_PROBLEM)))
                    good = False
                    continue
                try:
                    row[name] = PARSERS[name](cell.strip())
                except ValueError as exc:
                    report(Problem(line, name, str(exc)))
                    good = False
            for name in COLUMNS:
                if name not in row and name not in names:
                    row[name] = PARSERS[name]("")
            if good and row["effective_to"] is not None and row["effective_to"] <= row["effective_from"]:
                report(Problem(line, "effective_to", _("must be after effective_from.")))
                good = False
            if good:
                rows.append(row)
    except csv.Error as exc:
        report(Problem(reader.line_num, "", _("is not CSV (%(error)s).") % {"error": exc}))
    if not rows and not problems:
        report(Problem(None, "", _("has no rates.")))
    if len(rows) > MAX_ROWS:
        report(Problem(None, "", _("has more than %(count)s rates.") % {"count": MAX_ROWS}))
    _overlaps(rows, report)
    if problems:
        raise DeckInvalid(sorted(problems, key=lambda p: (p.line or 0, p.column)), more)
    return rows


def _overlaps(rows: list[dict], report) -> None:
    """Two rows of one prefix may not be in effect at the same moment."""
    by_prefix: dict[str, list[dict]] = {}
    for row in rows:
        by_prefix.setdefault(row["prefix"], []).append(row)
    for prefix, same in by_prefix.items():
        same.sort(key=lambda r: (r["effective_from"], r["line"]))
        for before, after in pairwise(same):
            if before["effective_to"] is None or before["effective_to"] > after["effective_from"]:
                report(
                    Problem(
                        after["line"],
                        "effective_from",
                        _("prefix %(prefix)s is already in effect then (line %(line)s).")
                        % {"prefix": prefix, "line": before["line"]},
                    )
                )


def deck_replace_rates(deck: RateDeck, rows: list[dict]) -> int:
    """Replace the deck's rates with the parsed rows (the caller holds the transaction)."""
    deck.rates.all().delete()
    Rate.objects.bulk_create(
        [Rate(deck=deck, **{name: row[name] for name in COLUMNS}) for row in rows], batch_size=5000
    )
    return len(rows)


def deck_csv_rows(deck: RateDeck) -> Iterator[dict]:
    """The deck's rates as CSV rows (billing.csvio), in prefix order."""
    for rate in deck.rates.order_by("prefix", "effective_from").iterator(chunk_size=5000):
        yield {name: getattr(rate, name) for name in COLUMNS}
