"""CSV for reports and exports: streamed line by line (constant memory), UTF-8 with an optional BOM
for spreadsheet programs, ISO 8601 times with their zone, and cells that a spreadsheet would run as a
formula (starting with = + - @, or a tab or carriage return) neutralised with a leading apostrophe
(OWASP CSV injection). Numbers are written as numbers, so a negative amount stays a number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

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
