"""Conference call records for the report tests: client a1's room 4242 (101 for 10 min, 102 for
2 min, a caller name that looks like a formula) and 7777 (a dial-out of 30 s), moderated by user
a1; client b1's own 4242 (5 min); and one plain call, which conference reports never count."""

from __future__ import annotations

import datetime as dt

import pytest

from records.models import Cdr

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def conferences(world, cdr_factory):
    a1, b1 = world.client_a1, world.client_b1

    def join(client, *, number: str, name: str, seconds: int, moderator, conference: str = "4242", account=None,
             minutes_in: int = 0, direction: str = "inbound") -> Cdr:  # fmt: skip
        return cdr_factory(client, service="conference", conference=conference, callee_number=conference,
                           caller_number=number, caller_name=name, seconds=seconds, answer_after=5,
                           moderator=moderator, account=account, minutes=minutes_in, direction=direction)  # fmt: skip

    made = [
        join(a1, number="101", name="User a1", seconds=600, moderator=world.user_a1, account=world.user_a1),
        join(
            a1,
            number="102",
            name='=HYPERLINK("x")',
            seconds=120,
            moderator=world.user_a1,
            account=world.user_a1b,
            minutes_in=1,
        ),
        join(
            a1,
            number="555",
            name="Guest",
            seconds=30,
            moderator=world.user_a1,
            conference="7777",
            minutes_in=2,
            direction="outbound",
        ),
        join(b1, number="101", name="User b1", seconds=300, moderator=world.user_b1, account=world.user_b1),
    ]
    # Not conference joins: plain calls never count.
    cdr_factory(a1, direction="internal", number="102", answer_after=0, seconds=540)
    return made
