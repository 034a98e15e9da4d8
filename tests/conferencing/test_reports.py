"""Conference usage reports from the call records, per scope, and their CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest

from billing.csvio import csv_lines
from billing.models import Cdr
from conferencing.reports import DETAIL_COLUMNS, USAGE_COLUMNS, conference_detail, conference_usage, detail_row

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def join(world, client, *, number: str, name: str, seconds: int, moderator, conference: str = "4242",
         account=None, minutes_in: int = 0, direction: str = "inbound") -> Cdr:  # fmt: skip
    start = T0 + dt.timedelta(minutes=minutes_in)
    return Cdr.objects.create(
        brand_id=client.brand_id, client_id=client.pk, account_id=account.pk if account else None,
        call_uuid=uuid.uuid4(), engine="e1", direction=direction, disposition="answered", caller_number=number,
        caller_name=name, callee_number=conference, started_at=start, answered_at=start + dt.timedelta(seconds=5),
        ended_at=start + dt.timedelta(seconds=5 + seconds), duration=5 + seconds, billsec=seconds,
        service="conference", conference=conference, moderator_id=moderator.pk,
    )  # fmt: skip


@pytest.fixture
def joins(world):
    a1, b1 = world.client_a1, world.client_b1
    made = [
        join(world, a1, number="101", name="User a1", seconds=600, moderator=world.user_a1, account=world.user_a1),
        join(
            world,
            a1,
            number="102",
            name='=HYPERLINK("x")',
            seconds=120,
            moderator=world.user_a1,
            account=world.user_a1b,
            minutes_in=1,
        ),
        join(
            world,
            a1,
            number="555",
            name="Guest",
            seconds=30,
            moderator=world.user_a1,
            conference="7777",
            minutes_in=2,
            direction="outbound",
        ),
        join(world, b1, number="101", name="User b1", seconds=300, moderator=world.user_b1, account=world.user_b1),
    ]
    # Not conference joins: plain calls never count.
    Cdr.objects.create(brand_id=a1.brand_id, client_id=a1.pk, call_uuid=uuid.uuid4(), engine="e1", direction="internal",
                       disposition="answered", caller_number="101", callee_number="102", started_at=T0,
                       answered_at=T0, ended_at=T0 + dt.timedelta(minutes=9), billsec=540)  # fmt: skip
    return made


def test_usage_per_company_and_moderator_in_each_scope(world, joins):
    everything = conference_usage(world.god, since=T0 - dt.timedelta(days=1))
    assert [(r["company"], r["moderator"], r["events"], r["conferences"], r["minutes"]) for r in everything] == [
        ("Client a1", "User a1", 3, 2, 12.5), ("Client b1", "User b1", 1, 1, 5.0)]  # fmt: skip
    assert [r["company"] for r in conference_usage(world.brand_a_op)] == ["Client a1"]
    assert [r["events"] for r in conference_usage(world.client_a1_op)] == [3]
    assert [r["events"] for r in conference_usage(world.user_a1)] == [3], "the moderator sees their rooms"
    assert [r["events"] for r in conference_usage(world.user_a1b)] == [1], "a participant sees only their join"
    assert conference_usage(world.god, since=T0 + dt.timedelta(hours=1)) == []


def test_the_conference_report_and_its_csv(world, joins):
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
