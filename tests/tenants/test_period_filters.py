"""The report filters (tenants.forms.PeriodForm and the forms built on it: usage, exports, the
conference report, the calls history) and the other small forms: several bad fields in one request
show each field's error in that one answer."""

from __future__ import annotations

import pytest

from exports.models import ExportJob
from tests.pages import field_error

BAD_DAYS = {"since": "x", "until": "2026-02-30"}
DAY_ERRORS = {"since": "valid date", "until": "valid date"}


def _filters(world) -> list[tuple]:
    """(who, method, path, typed, {field: text})."""
    return [
        ("client_a1_op", "get", "/calls/", BAD_DAYS, DAY_ERRORS),
        ("user_a1", "get", "/calls/", BAD_DAYS, DAY_ERRORS),
        ("client_a1_op", "get", "/usage/", {**BAD_DAYS, "service": "fax"}, {**DAY_ERRORS, "service": "valid choice"}),
        ("brand_a_op", "get", "/usage/", {**BAD_DAYS, "service": "fax", "group": "planet"},
         {**DAY_ERRORS, "service": "valid choice", "group": "valid choice"}),
        ("client_a1_op", "get", "/reports/", BAD_DAYS, DAY_ERRORS),
        ("client_a1_op", "get", "/reports/conferences/", {**BAD_DAYS, "conference": "1234567890"},
         {**DAY_ERRORS, "conference": "at most 9 characters"}),
        ("client_a1_op", "post", "/exports/", {**BAD_DAYS, "service": "fax", "direction": "sideways"},
         {**DAY_ERRORS, "service": "valid choice", "direction": "valid choice"}),
        ("brand_a_op", "post", "/exports/", {"since": "2026-11-30", "until": "2026-11-01",
                                             "client": world.client_b1.pk, "service": "fax"},
         {"until": "must not come before", "client": "valid choice", "service": "valid choice"}),
    ]  # fmt: skip


@pytest.mark.parametrize("case", range(8))
def test_a_filter_with_several_bad_fields_shows_each_error_at_once(world, portal, case):
    who, method, path, typed, expected = _filters(world)[case]
    jobs = ExportJob.objects.count()
    answer = getattr(portal(getattr(world, who)), method)(path, typed)
    assert answer.status_code == 200, (path, answer.status_code)
    for field, text in expected.items():
        assert text in field_error(answer, field), (path, field, field_error(answer, field))
    assert ExportJob.objects.count() == jobs


def test_ones_password_with_several_bad_fields_shows_each_error_at_once(world, portal):
    http = portal(world.user_a1)
    answer = http.post("/account/password/", {"old_password": "wrong", "new_password1": "short",
                                              "new_password2": "other"})  # fmt: skip
    assert answer.status_code == 200
    assert "incorrectly" in field_error(answer, "old_password")
    assert "match" in field_error(answer, "new_password2")


def test_the_route_tester_with_several_bad_fields_shows_each_error_at_once(world, portal):
    answer = portal(world.brand_a_op).get("/routing/test/", {"number": "", "country": "XX"})
    assert answer.status_code == 200
    assert "required" in field_error(answer, "number")
    assert "two-letter country code" in field_error(answer, "country")
    answer = portal(world.god).get("/routing/test/", {"number": "abc", "country": "DE"})
    assert "Not a phone number" in field_error(answer, "number")
    assert "Name the brand" in field_error(answer, "brand")
    answer = portal(world.god).get("/routing/test/", {"number": "", "country": "XX", "brand": "x"})
    for field, text in [("number", "required"), ("country", "two-letter"), ("brand", "whole number")]:
        assert text in field_error(answer, field), (field, field_error(answer, field))
