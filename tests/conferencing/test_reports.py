"""Conference usage reports from the call records, per scope, and their CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io

from billing.csvio import csv_lines
from conferencing.reports import DETAIL_COLUMNS, USAGE_COLUMNS, conference_detail, conference_usage, detail_row
from tests.conferencing.conftest import T0


def test_usage_per_company_and_moderator_in_each_scope(world, conferences):
    everything = conference_usage(world.god, since=T0 - dt.timedelta(days=1))
    assert [(r["company"], r["moderator"], r["events"], r["conferences"], r["minutes"]) for r in everything] == [
        ("Client a1", "User a1", 3, 2, 12.5), ("Client b1", "User b1", 1, 1, 5.0)]  # fmt: skip
    assert [r["company"] for r in conference_usage(world.brand_a_op)] == ["Client a1"]
    assert [r["events"] for r in conference_usage(world.client_a1_op)] == [3]
    assert [r["events"] for r in conference_usage(world.user_a1)] == [3], "the moderator sees their rooms"
    assert [r["events"] for r in conference_usage(world.user_a1b)] == [1], "a participant sees only their join"
    assert conference_usage(world.god, since=T0 + dt.timedelta(hours=1)) == []


def test_the_conference_report_and_its_csv(world, conferences):
    rows = [detail_row(c) for c in conference_detail(world.client_a1_op, conference="4242")]
    seen = [(r["caller_number"], r["minutes"], r["direction"]) for r in rows]
    assert seen == [("102", 2.0, "dial-in"), ("101", 10.0, "dial-in")]
    assert conference_detail(world.client_b1_op, conference="4242").count() == 1, "b1's own room 4242 only"
    assert [detail_row(c)["direction"] for c in conference_detail(world.user_a1, conference="7777")] == ["dial-out"]

    text = "".join(csv_lines(DETAIL_COLUMNS, rows, bom=True))
    assert text.startswith("\ufeffconference,caller_number,")
    parsed = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert parsed[0]["caller_name"] == '\'=HYPERLINK("x")', "formula cells are neutralised"
    assert parsed[0]["called_at"] == "2026-11-02T09:01:00+00:00" and parsed[0]["minutes"] == "2.0"
    usage = "".join(csv_lines(USAGE_COLUMNS, conference_usage(world.client_a1_op)))
    assert usage.splitlines()[1] == f"Client a1,User a1,{world.user_a1.pk},conference,3,2,12.5"


def test_a_dial_out_that_never_joined_is_not_usage(world, conferences, cdr_factory):
    """A room's call out refused with 480 has its record (it was a call), but no one joined: no event,
    no conference, no minutes; the per-conference report still lists it, with no join time."""
    cdr_factory(disposition="no-answer", hangup_cause="480", caller_number="103", number="8888", seconds=3,
                service="conference", conference="8888", moderator=world.user_a1)  # fmt: skip
    usage = conference_usage(world.client_a1_op, since=T0 - dt.timedelta(days=1))
    assert [(r["events"], r["conferences"], r["minutes"]) for r in usage] == [(3, 2, 12.5)]
    rows = [detail_row(c) for c in conference_detail(world.client_a1_op, conference="8888")]
    assert [(r["caller_number"], r["joined_at"], r["direction"]) for r in rows] == [("103", None, "dial-out")]
