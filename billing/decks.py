"""Rate decks as CSV. The import checks every row and names each bad one (line, column, why) and
writes nothing unless every row is good; the export writes the same columns back, so importing an
export gives the same deck (a description that the export neutralised against formula injection,
`'=...`, comes back without its apostrophe).

Columns (header required, any order): prefix, description, price_per_minute, and optionally
connection_fee (default 0), initial_seconds and increment_seconds (default 60 and 60),
effective_from (a date or a time with its zone; default: always) and effective_to (empty: no end).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.csvio import CsvInvalid, Problem, csv_read, uncell
from billing.models import Rate, RateDeck
from tenants.dates import BadMoment, MomentOutOfRange, read_moment

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


class DeckInvalid(CsvInvalid):
    """A deck file with problems; nothing was imported."""

    code = "invalid-deck"

    @staticmethod
    def summary(count: int) -> str:
        return ngettext(
            "The file has %(count)s problem; nothing was imported.",
            "The file has %(count)s problems; nothing was imported.",
            count,
        ) % {"count": count}


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
    text = uncell(text)  # neutralised by our own export
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


def parse_deck(data: bytes) -> list[dict]:
    """The rates of a deck file, each as Rate fields, or DeckInvalid naming every problem."""
    problems: list[Problem] = []
    more = 0

    def report(problem: Problem) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(problem)
        else:
            more += 1

    rows: list[dict] = []
    for row in csv_read(data, parsers=PARSERS, required=REQUIRED, invalid=DeckInvalid, max_bytes=MAX_BYTES,
                        not_utf8=_("is not UTF-8 text."), report=report):  # fmt: skip
        if row["effective_to"] is not None and row["effective_to"] <= row["effective_from"]:
            report(Problem(row["line"], "effective_to", _("must be after effective_from.")))
        else:
            rows.append(row)
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
