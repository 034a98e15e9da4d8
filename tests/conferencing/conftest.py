"""Conference call records for the report tests: client a1's room 4242 (101 for 10 min, 102 for
2 min, a caller name that looks like a formula) and 7777 (a dial-out of 30 s), moderated by user
a1; client b1's own 4242 (5 min); and one plain call, which conference reports never count."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from billing.models import Cdr

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
def conferences(world):
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
