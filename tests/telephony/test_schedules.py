"""Office hours and holidays (telephony/schedules.py), their API for a client's operators, and the
numbers that follow them."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from telephony.schedules import hours_of, parse_hours

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(dt.UTC)


def test_open_by_weekday_and_range_in_the_clients_zone_closed_on_holidays():
    hours = hours_of("mon-fri 09:00-12:30, 13:30-17:00\nsat 10:00-14:00", "2026-12-25 Christmas\n2026-12-26")
    assert hours.is_open(at("2026-12-07T09:00"), BERLIN)  # Monday
    assert not hours.is_open(at("2026-12-07T12:45"), BERLIN)  # lunch
    assert not hours.is_open(at("2026-12-07T17:00"), BERLIN)  # (the end is closed)
    assert hours.is_open(at("2026-12-12T13:59"), BERLIN) and not hours.is_open(at("2026-12-13T11:00"), BERLIN)
    assert not hours.is_open(at("2026-12-25T10:00"), BERLIN)  # a Friday, and a holiday
    # Summer time: 09:00 in Berlin is 07:00 UTC in July and 08:00 UTC in December, open both times.
    assert hours.is_open(dt.datetime(2026, 7, 6, 7, 0, tzinfo=dt.UTC), BERLIN)
    assert not hours.is_open(dt.datetime(2026, 7, 6, 6, 59, tzinfo=dt.UTC), BERLIN)


def test_day_ranges_wrap_over_the_weekend_and_an_empty_schedule_is_always_closed():
    week = parse_hours("fri-mon 08:00-24:00")
    assert [bool(day) for day in week] == [True, False, False, False, True, True, True]
    assert not hours_of("", "").is_open(at("2026-12-07T10:00"), BERLIN)


@pytest.mark.parametrize("text", ["monday 09:00-17:00", "mon 9-17", "mon 17:00-09:00", "mon 09:00-25:00", "mon"])
def test_a_line_people_cannot_mean_is_an_error_that_names_it(text):
    with pytest.raises(ValidationError) as error:
        parse_hours(f"tue 09:00-17:00\n{text}")
    assert error.value.message_dict["hours"][0].startswith("Line 2 ")


def test_the_api_keeps_schedules_per_client_with_field_errors_and_numbers_follow_them(world, api):
    from pstn.models import Number
    from tests.waiting import committed

    operator = api(world.client_a1_op)
    made = operator.post("/api/v1/schedules/", {"name": "Office", "hours": "mon-fri 09:00-17:00"}, format="json")
    assert made.status_code == 201, made.json()
    bad = operator.post("/api/v1/schedules/", {"name": "Office", "hours": "weekdays 9 to 5", "holidays": "xmas"},
                        format="json")  # fmt: skip
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"name", "hours", "holidays"}
    other = api(world.client_a2_op)
    assert other.get(f"/api/v1/schedules/{made.json()['id']}/").status_code == 404
    assert api(world.user_a1).get("/api/v1/schedules/").json()["count"] == 0
    assert api(world.user_a1).post("/api/v1/schedules/", {"name": "Mine"}, format="json").status_code in (403, 404)
    changed = operator.patch(f"/api/v1/schedules/{made.json()['id']}/", {"holidays": "2026-12-25"}, format="json")
    assert changed.status_code == 200 and changed.json()["holidays"] == "2026-12-25"
    number = committed(lambda: Number.objects.create(brand=world.brand_a, e164="+4930901888", client=world.client_a1,
                                                     carrier=_carrier(), schedule=made.json()["id"]))  # fmt: skip
    try:
        refused = operator.delete(f"/api/v1/schedules/{made.json()['id']}/")
        assert refused.status_code == 400 and "+4930901888" in str(refused.json())
    finally:
        committed(number.delete)


def _carrier():
    from billing.models import Carrier

    return Carrier.objects.get_or_create(name="schedule-test-carrier")[0]


def test_the_client_portal_keeps_schedules_with_every_error_at_once(world, portal):
    from django_tenants.utils import tenant_context

    from telephony.models import Schedule

    http = portal(world.client_a1_op)
    assert http.get("/schedules/").status_code == 200
    bad = http.post("/schedules/new/", {"name": "", "hours": "weekdays", "holidays": "soon"})
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"name", "hours", "holidays"}
    made = http.post("/schedules/new/", {"name": "Office", "hours": "mon-fri 09:00-17:00", "holidays": ""})
    assert made.status_code == 302
    with tenant_context(world.client_a1):
        schedule = Schedule.objects.get(name="Office")
    page = http.get("/schedules/")
    assert b"mon-fri 09:00-17:00" in page.content
    assert portal(world.client_a2_op).get(f"/schedules/{schedule.pk}/").status_code == 404  # another company
    assert portal(world.user_a1).get("/schedules/").status_code in (403, 404)
    assert http.post(f"/schedules/{schedule.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not Schedule.objects.filter(pk=schedule.pk).exists()
