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


def csv_response(columns: list[str], rows: Iterable[dict], *, filename: str, bom: bool = True):
    """A CSV download streamed line by line (a BOM by default, for spreadsheet programs)."""
    from django.http import StreamingHttpResponse

    response = StreamingHttpResponse(csv_lines(columns, rows, bom=bom), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
