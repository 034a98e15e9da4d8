"""CSV for reports and exports: streamed line by line (constant memory), UTF-8 with an optional BOM
for spreadsheet programs, ISO 8601 times with their zone, and cells that a spreadsheet would run as a
formula (starting with = + - @, or a tab or carriage return) neutralised with a leading apostrophe
(OWASP CSV injection). Numbers are written as numbers, so a negative amount stays a number.

And the imports' reading (rate decks, a client's users): every bad row named by line and column, for
an all-or-nothing import that reports them all at once (csv_read).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenants.errors import PlatformError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def cell(value) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Line(io.StringIO):
    def take(self) -> str:
        text = self.getvalue()
        self.seek(0)
        self.truncate()
        return text


def csv_lines(columns: list[str], rows: Iterable[dict], *, bom: bool = False) -> Iterator[str]:
    """The header and one line per row (dicts keyed by column), ready for a StreamingHttpResponse."""
    buffer = _Line()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    yield (BOM if bom else "") + buffer.take()
    for row in rows:
        writer.writerow([cell(row.get(column)) for column in columns])
        yield buffer.take()


def csv_response(request, columns: list[str], rows: Iterable[dict], *, filename: str, bom: bool = True):
    """A CSV download (a BOM by default, for spreadsheet programs), streamed in chunks as the rows
    are read, under daphne too (config/downloads.py)."""
    from config.downloads import download, text_chunks

    return download(request, text_chunks(csv_lines(columns, rows, bom=bom)), filename=filename)


# The same rules written by PostgreSQL. Big exports stream COPY's own CSV: Python's csv writer over
# a cursor reached about a fourteenth of `psql \copy`'s rate here (bench/cdr_export.py), COPY as
# much as psql. Its lines end in \n (COPY cannot write \r\n); the header written here does too.


def text_sql(expression: str) -> str:
    """SQL of a text cell as cell() writes it (a leading apostrophe when it starts like a formula),
    kept on one line: line breaks become spaces, so that one record is one line."""
    starts = ", ".join("E'" + start.encode("unicode_escape").decode() + "'" for start in FORMULA_STARTS)
    mark = f"CASE WHEN left({expression}, 1) IN ({starts}) THEN '''' ELSE '' END"
    return f"({mark} || translate({expression}, E'\\r\\n', '  '))"


def time_sql(expression: str) -> str:
    """SQL of a time as cell() writes an aware UTC datetime: ISO 8601, microseconds only when there are
    some, +00:00."""
    whole = '\'YYYY-MM-DD"T"HH24:MI:SS"+00:00"\''
    fraction = '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\''
    return (f"to_char({expression} AT TIME ZONE 'UTC', CASE WHEN mod(extract(microseconds FROM {expression})::bigint, "
            f"1000000) = 0 THEN {whole} ELSE {fraction} END)")  # fmt: skip


def copy_csv(
    cursor, query: str, params, columns: list[str], *, bom: bool = False, size: int = 1 << 16
) -> Iterator[bytes]:
    """The CSV of a SELECT written by PostgreSQL (COPY ... TO STDOUT, FORMAT csv) on a psycopg cursor:
    the header, then chunks of about `size` bytes; memory stays flat whatever the number of rows.
    Build its text cells with text_sql() and times with time_sql(); numbers stay numbers, NULL is empty.
    `query` takes %s parameters (bound client-side: COPY has no server-side parameters)."""
    header = _Line()
    csv.writer(header, lineterminator="\n").writerow(columns)
    buffer = bytearray(((BOM if bom else "") + header.take()).encode())
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT csv)", params or None) as copy:
        for data in copy:
            buffer += data
            if len(buffer) >= size:
                yield bytes(buffer)
                buffer.clear()
    if buffer:
        yield bytes(buffer)


# Reading an import's file ------------------------------------------------------------------------

NUL = "\x00"
NUL_PROBLEM = gettext_noop("contains a NUL character (binary data?); save the file as CSV text.")


def uncell(text: str) -> str:
    """A text cell as cell() wrote it, read back: the apostrophe that neutralised a formula goes."""
    if len(text) > 1 and text[0] == "'" and text[1].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def upload_within(upload, max_bytes: int):
    """An uploaded import file, or a field error (forms and API serializers alike) when it is larger
    than the import reads."""
    if upload.size > max_bytes:
        raise ValidationError(_("The file is larger than %(megabytes)s MB.") % {"megabytes": max_bytes // 1024 // 1024})
    return upload


@dataclass(frozen=True)
class Problem:
    """One reason a file cannot be imported: its line (None: the whole file), column and why."""

    line: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = _("File") if self.line is None else _("Line %(line)s") % {"line": self.line}
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class CsvInvalid(PlatformError):
    """An import's file with problems (`problems`, and `more` not named); nothing of it was written.
    Each import says so in its own words (summary)."""

    status = 400

    def __init__(self, problems: list[Problem], more: int = 0):
        super().__init__(self.summary(len(problems) + more))
        self.problems, self.more = problems, more

    @staticmethod
    def summary(count: int) -> str:
        raise NotImplementedError


def _header(cells: list[str], columns: list[str], required: Iterable[str]) -> tuple[list[str], list[Problem]]:
    names = [cell.strip().lower().removeprefix("\ufeff") for cell in cells]
    problems = [
        Problem(
            1,
            name or _("column %(number)s") % {"number": i + 1},
            _("unknown column; use %(columns)s.") % {"columns": ", ".join(columns)},
        )
        for i, name in enumerate(names)
        if name not in columns
    ]
    problems += [Problem(1, name, _("appears twice.")) for i, name in enumerate(names) if name in names[:i]]
    problems += [Problem(1, name, _("is missing.")) for name in required if name not in names]
    return names, problems


def csv_read(
    data: bytes,
    *,
    parsers: Mapping[str, Callable[[str], object]],
    required: Iterable[str],
    invalid: type[CsvInvalid],
    max_bytes: int,
    not_utf8: str,
    report: Callable[[Problem], None],
) -> Iterator[dict]:
    """The rows of an import's CSV file (a header naming its columns, in any order) whose every cell
    was read, each {"line": its line, column: value}: `parsers` reads each column's stripped text (its
    keys are the columns, in the order the messages name them) or raises ValueError saying why; a
    column the file does not have gets its parser's value of "". A bad row's problems (its cell count,
    a NUL, what a parser refused, text that is not CSV) go to `report` and the row is left out. A file
    that cannot be read as this CSV at all (too large, not UTF-8 text, no header, a bad header)
    raises `invalid` before any row."""
    if len(data) > max_bytes:
        megabytes = max_bytes // 1024 // 1024
        raise invalid([Problem(None, "", _("is larger than %(megabytes)s MB.") % {"megabytes": megabytes})])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid([Problem(None, "", not_utf8)]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, [])
    except csv.Error as exc:
        raise invalid([Problem(1, "", _("is not CSV (%(error)s).") % {"error": exc})]) from None
    if not any(cell.strip() for cell in first):
        raise invalid([Problem(None, "", _("is empty; its first line names the columns."))])
    if any(NUL in cell for cell in first):
        raise invalid([Problem(1, "", _(NUL_PROBLEM))])
    names, problems = _header(first, list(parsers), required)
    if problems:
        raise invalid(problems)
    missing = {name: parse("") for name, parse in parsers.items() if name not in names}
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
                    row[name] = parsers[name](cell.strip())
                except ValueError as exc:
                    report(Problem(line, name, str(exc)))
                    good = False
            if good:
                yield {**row, **missing}
    except csv.Error as exc:
        report(Problem(reader.line_num, "", _("is not CSV (%(error)s).") % {"error": exc}))
