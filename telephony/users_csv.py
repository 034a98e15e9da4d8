"""A client's users as CSV, the shape of rate decks (billing.decks): the export writes the columns the
import reads, so an edited export imports; the import checks every row and names each bad one (line,
column, why) and creates nobody unless every row is good. No secret is ever in a file: imported people
choose their password through the sign-in page's reset link, and their SIP secrets are shown once.

Columns (header required, any order): extension, name, email, and optionally caller_name (empty: the
name), sip_username (empty: the extension), may_intercept and may_barge (true/false, default false).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.csvio import FORMULA_STARTS
from billing.decks import NUL, NUL_PROBLEM, Problem
from tenants.errors import PlatformError

COLUMNS = ["extension", "name", "email", "caller_name", "sip_username", "may_intercept", "may_barge"]
REQUIRED = ("extension", "name", "email")
FLAGS = ("may_intercept", "may_barge")
MAX_BYTES = 1024 * 1024
MAX_ROWS = 1000
MAX_PROBLEMS = 200
TRUE, FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}
# The service's field names, as the file's columns.
FIELD_COLUMNS = {"number": "extension", "display_name": "caller_name", "email": "email", "name": "name",
                 "sip_username": "sip_username"}  # fmt: skip


class UsersInvalid(PlatformError):
    """A users file with problems; nobody was created."""

    code = "invalid-users-file"
    status = 400

    def __init__(self, problems: list[Problem], more: int = 0):
        count = len(problems) + more
        super().__init__(
            ngettext(
                "The file has %(count)s problem; nobody was created.",
                "The file has %(count)s problems; nobody was created.",
                count,
            )
            % {"count": count}
        )
        self.problems, self.more = problems, more


def _text(text: str) -> str:
    if len(text) > 1 and text[0] == "'" and text[1].startswith(FORMULA_STARTS):
        return text[1:]  # neutralised by our own export
    return text


def _flag(text: str) -> bool:
    value = text.lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(_("%(text)s is not true or false.") % {"text": repr(text)})


def _header(cells: list[str]) -> tuple[list[str], list[Problem]]:
    names = [cell.strip().lower().removeprefix("\ufeff") for cell in cells]
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


def parse_users(data: bytes) -> tuple[list[dict], list[Problem]]:
    """The people of a users file, each {line, extension, name, email, caller_name, sip_username,
    may_intercept, may_barge}, and the problems of its rows (a bad cell, a repeat), for the service to
    add what the platform refuses in the good rows (a used extension or e-mail, a bad name) and report
    all at once. A file that cannot be read as a users CSV at all raises UsersInvalid."""
    if len(data) > MAX_BYTES:
        raise UsersInvalid(
            [Problem(None, "", _("is larger than %(megabytes)s MB.") % {"megabytes": MAX_BYTES // 1024 // 1024})]
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsersInvalid([Problem(None, "", _("is not UTF-8 text; save it as CSV UTF-8."))]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, [])
    except csv.Error as exc:
        raise UsersInvalid([Problem(1, "", _("is not CSV (%(problem)s).") % {"problem": exc})]) from None
    if not any(cell.strip() for cell in first):
        raise UsersInvalid([Problem(None, "", _("is empty; its first line names the columns."))])
    if any(NUL in cell for cell in first):
        raise UsersInvalid([Problem(1, "", NUL_PROBLEM)])
    names, problems = _header(first)
    if problems:
        raise UsersInvalid(problems)
    rows: list[dict] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(names):
                problems.append(
                    Problem(
                        line,
                        "",
                        _("has %(cells)s cells; the header has %(header)s.")
                        % {"cells": len(cells), "header": len(names)},
                    )
                )
                continue
            row, good = {"line": line, **dict.fromkeys(COLUMNS, "")}, True
            for name, cell in zip(names, cells, strict=True):
                if NUL in cell:
                    problems.append(Problem(line, name, NUL_PROBLEM))
                    good = False
                    continue
                try:
                    row[name] = _flag(cell.strip()) if name in FLAGS else _text(cell.strip())
                except ValueError as exc:
                    problems.append(Problem(line, name, str(exc)))
                    good = False
            for name in FLAGS:
                row[name] = row[name] or False
            if good:
                rows.append(row)
    except csv.Error as exc:
        problems.append(Problem(reader.line_num, "", _("is not CSV (%(problem)s).") % {"problem": exc}))
    if not rows and not problems:
        problems.append(Problem(None, "", _("has nobody in it: one line per person after the header.")))
    if len(rows) > MAX_ROWS:
        raise UsersInvalid(
            [Problem(None, "", _("has more than %(most)s people; import them in several files.") % {"most": MAX_ROWS})]
        )
    _repeats(rows, problems)
    return rows, problems


def _repeats(rows: list[dict], problems: list[Problem]) -> None:
    """One extension, e-mail or SIP user name for two people of the file: the later line is wrong."""
    seen: dict[tuple[str, str], int] = {}
    for row in rows:
        sip = row["sip_username"] or row["extension"]  # an empty one follows the extension
        repeated = False
        for column, value in (("extension", row["extension"]), ("email", row["email"].lower()), ("sip_username", sip)):
            if not value:
                continue
            first = seen.setdefault((column, value), row["line"])
            if first == row["line"]:
                continue
            if column == "sip_username" and not row["sip_username"]:
                if repeated:
                    continue  # the extension's repeat says it
                column = "extension"
            repeated = True
            problems.append(
                Problem(row["line"], column, _("%(value)s is also on line %(line)s.") % {"value": value, "line": first})
            )


def users_invalid(problems: list[Problem]) -> UsersInvalid:
    """One UsersInvalid for these problems, in line order, at most MAX_PROBLEMS of them named."""
    ordered = sorted(problems, key=lambda p: (p.line or 0, p.column))
    return UsersInvalid(ordered[:MAX_PROBLEMS], max(0, len(ordered) - MAX_PROBLEMS))


def users_csv_rows(extensions) -> Iterator[dict]:
    """The lines as CSV rows (billing.csvio), in extension order: no password, no SIP secret or hash."""
    for extension in extensions.select_related("account").order_by("number"):
        yield {
            "extension": extension.number,
            "name": extension.account.name,
            "email": extension.account.email,
            "caller_name": extension.display_name,
            "sip_username": extension.sip_username,
            "may_intercept": extension.may_intercept,
            "may_barge": extension.may_barge,
        }
