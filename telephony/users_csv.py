"""A client's users as CSV, the shape of rate decks (billing.decks): the export writes the columns the
import reads, so an edited export imports; the import checks every row and names each bad one (line,
column, why) and creates nobody unless every row is good. No secret is ever in a file: imported people
choose their password through the sign-in page's reset link, and their SIP secrets are shown once.

Columns (header required, any order): extension, name, email, and optionally caller_name (empty: the
name), sip_username (empty: the extension), may_intercept and may_barge (true/false, default false).
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.csvio import CsvInvalid, Problem, csv_read, uncell

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


class UsersInvalid(CsvInvalid):
    """A users file with problems; nobody was created."""

    code = "invalid-users-file"

    @staticmethod
    def summary(count: int) -> str:
        return ngettext(
            "The file has %(count)s problem; nobody was created.",
            "The file has %(count)s problems; nobody was created.",
            count,
        ) % {"count": count}


def _flag(text: str) -> bool:
    value = text.lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(_("%(text)s is not true or false.") % {"text": repr(text)})


PARSERS = {name: _flag if name in FLAGS else uncell for name in COLUMNS}  # an empty text or flag: "" or false


def parse_users(data: bytes) -> tuple[list[dict], list[Problem]]:
    """The people of a users file, each {line, extension, name, email, caller_name, sip_username,
    may_intercept, may_barge}, and the problems of its rows (a bad cell, a repeat), for the service to
    add what the platform refuses in the good rows (a used extension or e-mail, a bad name) and report
    all at once. A file that cannot be read as a users CSV at all raises UsersInvalid."""
    problems: list[Problem] = []
    rows = list(csv_read(data, parsers=PARSERS, required=REQUIRED, invalid=UsersInvalid, max_bytes=MAX_BYTES,
                         not_utf8=_("is not UTF-8 text; save it as CSV UTF-8."), report=problems.append))  # fmt: skip
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
