"""When a scheduled room lets callers in (telephony/engine/conference.py room_is_open)."""

from __future__ import annotations

import datetime as dt

from telephony.engine.applications.conference import RoomInfo, room_is_open

MONDAY_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)  # a Monday


def room(**schedule) -> RoomInfo:
    return RoomInfo(id=1, name="r", conference_id="1234", moderator=1, participant_pin="1111", moderator_pin="2222",
                    max_minutes=60, **schedule)  # fmt: skip


def at(days: int = 0, minutes: int = 0) -> dt.datetime:
    return MONDAY_9 + dt.timedelta(days=days, minutes=minutes)


def test_unscheduled_rooms_are_always_open():
    assert room_is_open(room(), at(days=-400)) and room_is_open(room(), at(days=400))


def test_a_one_off_meeting_opens_ten_minutes_early_and_closes_at_its_end_or_after_max_minutes():
    once = room(starts_at=MONDAY_9, ends_at=at(minutes=30))
    assert [room_is_open(once, at(minutes=m)) for m in (-11, -10, 0, 30, 31)] == [False, True, True, True, False]
    open_ended = room(starts_at=MONDAY_9)  # max_minutes: 60
    assert room_is_open(open_ended, at(minutes=59)) and not room_is_open(open_ended, at(minutes=61))
    assert not room_is_open(once, at(days=1)), "not again the next day"


def test_recurring_meetings_daily_weekly_and_on_weekdays():
    daily = room(starts_at=MONDAY_9, ends_at=at(minutes=30), recurrence="daily")
    assert room_is_open(daily, at(days=3, minutes=5)) and not room_is_open(daily, at(days=3, minutes=45))
    weekly = room(starts_at=MONDAY_9, ends_at=at(minutes=30), recurrence="weekly")
    assert room_is_open(weekly, at(days=7, minutes=1)) and not room_is_open(weekly, at(days=3, minutes=1))
    weekdays = room(starts_at=MONDAY_9, ends_at=at(minutes=30), recurrence="weekdays")
    assert room_is_open(weekdays, at(days=4, minutes=1)), "Friday"
    assert not room_is_open(weekdays, at(days=5, minutes=1)), "Saturday"
    assert not room_is_open(daily, at(days=-1, minutes=1)), "not before the first occurrence"
    assert room_is_open(daily, at(days=2, minutes=-8)), "ten minutes early, every time"


def test_a_schedule_keeps_the_clients_wall_clock_and_weekdays():
    # Weekdays at 08:00 in Auckland from Monday 30 November: 19:00 UTC on the Sunday before.
    auckland = room(starts_at=dt.datetime(2026, 11, 29, 19, 0, tzinfo=dt.UTC), ends_at=dt.datetime(
        2026, 11, 29, 19, 30, tzinfo=dt.UTC), recurrence="weekdays", zone="Pacific/Auckland")  # fmt: skip
    friday, saturday = dt.datetime(2026, 12, 3, 19, 5, tzinfo=dt.UTC), dt.datetime(2026, 12, 4, 19, 5, tzinfo=dt.UTC)
    assert room_is_open(auckland, friday), "08:05 on Friday in Auckland (Thursday in UTC)"
    assert not room_is_open(auckland, saturday), "Saturday in Auckland, though a Friday in UTC"

    # Daily at 09:00 in Paris from 2 March (08:00 UTC in winter): at 09:00 in summer time too (07:00 UTC).
    paris = room(starts_at=dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC), ends_at=dt.datetime(
        2026, 3, 2, 8, 30, tzinfo=dt.UTC), recurrence="daily", zone="Europe/Paris")  # fmt: skip
    assert room_is_open(paris, dt.datetime(2026, 11, 30, 8, 5, tzinfo=dt.UTC)), "09:05 in Paris"
    assert not room_is_open(paris, dt.datetime(2026, 11, 30, 7, 5, tzinfo=dt.UTC)), "08:05 in Paris: too early"
    assert room_is_open(paris, dt.datetime(2026, 7, 1, 7, 5, tzinfo=dt.UTC)), "09:05 in Paris in summer (07:05 UTC)"
