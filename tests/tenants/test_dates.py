"""Dates and times typed into filters: one the platform cannot hold (a UTC offset past 15:59, which
PostgreSQL refuses, or a moment past the year 9999 or before the year 1 once converted) is a field
error in every API and portal filter, never a server error; the edges that can be held still work."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import DatabaseError, transaction

from exports.models import ExportJob
from exports.selectors import CdrFilter, cdr_export_records
from exports.tasks import cdr_export_run
from tenants.dates import DAY_OUT_OF_RANGE, OUT_OF_RANGE, parse_moment, read_moment
from tests.pages import field_error

UNHELD = [
    "2026-01-01T00:00:00+23:00",  # an offset PostgreSQL refuses
    "2026-01-01T00:00:00-16:00",
    "9999-12-31T23:00:00-05:00",  # the year 10000 in UTC
    "0001-01-01T00:00:00+05:00",  # the year 0 in UTC
    "9999-12-31T12:00:00Z",  # the year 10000 in a zone east of UTC, or after "until" ends
    "0001-01-01",  # a midnight whose day before does not exist
]
HELD = ["2026-01-01T00:00:00+15:59", "2026-01-01T00:00:00-15:59", "0001-01-02", "9999-12-30T23:59:59Z"]

# Every API filter of a period, and who may use it.
API_GETS = [
    ("client_a1_op", "/api/v1/calls/"),
    ("client_a1_op", "/api/v1/cdrs/export.csv"),
    ("client_a1_op", "/api/v1/reports/usage/"),
    ("client_a1_op", "/api/v1/reports/conference-usage/"),
    ("client_a1_op", "/api/v1/reports/conference-detail/"),
    ("god", "/api/v1/unrated/"),
]
API_POSTS = [("client_a1_op", "/api/v1/cdr-exports/"), ("god", "/api/v1/unrated/retry/")]


def test_a_moment_is_read_only_when_the_platform_can_hold_it():
    for text in UNHELD:
        assert parse_moment(text) is None, text
    for text in HELD:
        moment = read_moment(text)
        assert moment.astimezone(dt.UTC).tzinfo is dt.UTC
    assert read_moment("2026-11-30") == dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("who,path", API_GETS)
def test_an_api_filter_refuses_a_moment_it_cannot_hold(world, api, who, path):
    http = api(getattr(world, who))
    for text in UNHELD:
        for name in ("since", "until"):
            response = http.get(path, {name: text})
            assert response.status_code == 400, (path, name, text, response.status_code)
            assert response["Content-Type"] == "application/json"
            assert response.json()["fields"][name] == [OUT_OF_RANGE], (path, name, text)
    for text in HELD:
        assert http.get(path, {"since": text}).status_code == 200, (path, text)
        assert http.get(path, {"until": text}).status_code == 200, (path, text)


@pytest.mark.parametrize("who,path", API_POSTS)
def test_an_api_action_refuses_a_moment_it_cannot_hold(world, api, who, path):
    http = api(getattr(world, who))
    jobs = ExportJob.objects.count()
    for text in UNHELD:
        response = http.post(path, {"since": text}, format="json")
        assert response.status_code == 400, (path, text, response.status_code)
        assert response.json()["fields"]["since"] == [OUT_OF_RANGE]
    assert ExportJob.objects.count() == jobs, "no job was queued for a period it cannot export"


def test_a_job_the_database_refuses_says_so_without_its_query(world, monkeypatch):
    """A job queued before its filters were checked fails with the database's reason, not its SQL."""
    bad = CdrFilter.from_json({"since": "2026-01-01T00:00:00+23:00"})
    try:
        with transaction.atomic():  # the refusal, as PostgreSQL words it (with the query quoted)
            cdr_export_records(actor=world.god, filters=bad).count()
    except DatabaseError as exc:
        refusal = exc
    assert "LINE 1" in str(refusal)

    def refused(*args, **kwargs):
        raise refusal

    monkeypatch.setattr("exports.services.cdr_csv", refused)
    job = ExportJob.objects.create(requested_by=world.god, filters={})
    assert cdr_export_run(job.pk) == "failed"
    job.refresh_from_db()
    assert (
        job.error == 'The database refused the export: time zone displacement out of range: "2026-01-01 00:00:00+23:00"'
    )


# Portal filters are days, read in the portal's time zone; their midnights must be held too.
PORTAL_PAGES = [
    ("client_a1_op", "/calls/"),
    ("client_a1_op", "/usage/"),
    ("client_a1_op", "/reports/"),
    ("client_a1_op", "/reports/conferences/"),
    ("brand_a_op", "/usage/"),
]
UNHELD_DAYS = ["0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31"]


@pytest.fixture
def far_east(world):
    """Client a1 east of UTC (+14:00): its midnights come before UTC's, days run out at both ends."""
    world.client_a1.timezone = "Pacific/Kiritimati"
    world.client_a1.save(update_fields=["timezone"])


@pytest.mark.parametrize("who,path", PORTAL_PAGES)
def test_a_portal_filter_refuses_a_day_it_cannot_hold(world, portal, far_east, who, path):
    page = portal(getattr(world, who))
    for day in UNHELD_DAYS:
        for name in ("since", "until"):
            response = page.get(path, {"since": "2026-11-01", "until": "2026-11-30", name: day})
            assert response.status_code == 200, (path, name, day, response.status_code)
            assert field_error(response, name) == DAY_OUT_OF_RANGE, (path, name, day)
    assert field_error(page.get(path, {"since": "0001-01-03", "until": "9999-12-29"}), "since") == ""


@pytest.mark.parametrize("path", ["/usage.csv", "/reports/usage.csv", "/reports/conferences.csv"])
def test_a_portal_download_refuses_a_day_it_cannot_hold(world, portal, far_east, path):
    page = portal(world.client_a1_op)
    for day in UNHELD_DAYS:
        response = page.get(path, {"since": day, "until": "2026-11-30"})
        assert response.status_code == 400, (path, day, response.status_code)


def test_the_export_page_refuses_a_day_it_cannot_hold(world, portal, far_east):
    jobs = ExportJob.objects.count()
    for day in UNHELD_DAYS:
        response = portal(world.client_a1_op).post("/exports/", {"since": day, "until": "2026-11-30"})
        assert response.status_code == 200, (day, response.status_code)
        assert field_error(response, "since") == DAY_OUT_OF_RANGE
    assert ExportJob.objects.count() == jobs
