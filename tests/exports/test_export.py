"""The CDR export: its columns and cells (times, names, formula cells), each scope, the filters and
their field errors, through the API and the portals, streamed in constant memory by COPY."""

from __future__ import annotations

import csv
import io

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import AsyncClient

from exports import selectors
from exports.selectors import COLUMNS, CdrFilter, cdr_csv, cdr_export_records, rated_prices
from records.models import Cdr

EXPORT = "/api/v1/cdrs/export.csv"


def rows_of(body: bytes) -> list[dict]:
    text = body.decode("utf-8")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def streamed(response) -> bytes:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response["Content-Type"].startswith("text/csv")
    return b"".join(response.streaming_content)


@pytest.fixture
def calls(world, make_cdr):
    """a1: three calls of user a1 (one with formula-like cells), a conference join moderated by a1, a
    call to user a1b; a2: one inbound call; b1: one call. Plus an unfinished call in a1."""
    a1, a2, b1 = world.client_a1, world.client_a2, world.client_b1
    return {
        "plain": make_cdr(a1, minutes=0, account_id=world.user_a1.pk, caller_name="User a1"),
        "formula": make_cdr(
            a1,
            minutes=1,
            account_id=world.user_a1.pk,
            caller_name='=HYPERLINK("http://x")',
            caller_number="+4420",
            callee_number="@SUM(1)",
            seconds=30,
        ),
        "minus": make_cdr(
            a1,
            minutes=2,
            account_id=world.user_a1.pk,
            caller_name="-2+3\nline",
            seconds=0,
            disposition="busy",
            answered_at=None,
        ),
        "conference": make_cdr(
            a1,
            minutes=3,
            service="conference",
            conference="4242",
            moderator_id=world.user_a1.pk,
            account_id=world.user_a1b.pk,
            direction="inbound",
            callee_number="4242",
        ),
        "to_a1b": make_cdr(a1, minutes=4, callee_account_id=world.user_a1b.pk, direction="internal"),
        "a2": make_cdr(a2, minutes=5, direction="inbound"),
        "b1": make_cdr(b1, minutes=6),
        "open": make_cdr(a1, minutes=7, unfinished=True),
    }


def test_columns_and_cells(world, calls):
    body = b"".join(cdr_csv(cdr_export_records(actor=world.god, filters=CdrFilter()), bom=True))
    assert body.startswith(b"\xef\xbb\xbfid,call_uuid,created_at,")
    rows = rows_of(body)
    assert list(rows[0]) == COLUMNS
    by_id = {int(r["id"]): r for r in rows}
    plain = by_id[calls["plain"].pk]
    assert plain["company"] == "Client a1" and plain["company_id"] == str(world.client_a1.pk)
    assert (plain["user_id"], plain["user_name"]) == (str(world.user_a1.pk), "User a1")
    assert plain["created_at"] == plain["called_at"] == "2026-11-02T09:00:00+00:00"
    assert plain["joined_at"] == "2026-11-02T09:00:05+00:00"
    assert plain["disconnected_at"] == "2026-11-02T09:01:05+00:00"
    assert (plain["duration"], plain["billable_seconds"], plain["engine"]) == ("65", "60", "engine-1")
    assert (plain["service_type"], plain["service_id"], plain["cost"], plain["price"]) == ("call", "", "", "")
    assert plain["destination_number"] == "0044201234567" and plain["call_uuid"] == str(calls["plain"].call_uuid)
    # Formula-like cells start with an apostrophe; numbers stay numbers; line breaks become spaces.
    formula = by_id[calls["formula"].pk]
    assert (formula["caller_number"], formula["destination_number"]) == ("'+4420", "'@SUM(1)")
    assert by_id[calls["minus"].pk]["joined_at"] == "" and by_id[calls["minus"].pk]["billable_seconds"] == "0"
    assert formula["caller_name"] == '\'=HYPERLINK("http://x")'
    assert by_id[calls["minus"].pk]["caller_name"] == "'-2+3 line"
    assert calls["open"].pk not in by_id, "calls in progress are not exported"
    conference = by_id[calls["conference"].pk]
    assert (conference["service_type"], conference["service_id"]) == ("conference", "4242")
    assert (conference["user_id"], conference["user_name"]) == (str(world.user_a1.pk), "User a1"), "the moderator"
    assert by_id[calls["to_a1b"].pk]["user_name"] == "User a1b", "nobody placed it: the user called"
    assert len(body.splitlines()) == len(rows) + 1, "one line per record"
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), key=int), "oldest first"


def test_names_and_times_match_the_python_writer(world, make_cdr):
    """COPY's cells follow billing.csvio.cell(): microseconds only when there are some, formula marks."""
    cdr = make_cdr(world.client_a1, minutes=0.5, caller_name="@x", caller_number="\tx")
    cdr.refresh_from_db()
    row = rows_of(b"".join(cdr_csv(cdr_export_records(actor=world.god, filters=CdrFilter()))))[0]
    from billing.csvio import cell

    assert row["called_at"] == cell(cdr.started_at) == "2026-11-02T09:00:30+00:00"
    cdr.started_at = cdr.started_at.replace(microsecond=120)
    cdr.save()
    row = rows_of(b"".join(cdr_csv(cdr_export_records(actor=world.god, filters=CdrFilter()))))[0]
    assert row["called_at"] == cell(cdr.started_at) == "2026-11-02T09:00:30.000120+00:00"
    assert row["caller_number"] == cell("\tx") == "'\tx"


def test_each_scope_exports_its_own_calls(world, api, calls):
    def ids(account) -> set[int]:
        return {int(r["id"]) for r in rows_of(streamed(api(account).get(EXPORT)))}

    a1 = {calls[k].pk for k in ("plain", "formula", "minus", "conference", "to_a1b")}
    assert ids(world.god) == a1 | {calls["a2"].pk, calls["b1"].pk}
    assert ids(world.brand_a_op) == a1 | {calls["a2"].pk}
    assert ids(world.brand_b_op) == {calls["b1"].pk}
    assert ids(world.client_a1_op) == a1
    assert ids(world.client_a2_op) == {calls["a2"].pk}
    assert ids(world.user_a1) == {calls[k].pk for k in ("plain", "formula", "minus")}
    assert ids(world.user_a1b) == {calls["conference"].pk, calls["to_a1b"].pk}, "placed or taken"
    assert ids(world.user_b1) == set()


def test_filters(world, api, calls):
    god = api(world.god)

    def ids(**query) -> set[int]:
        return {int(r["id"]) for r in rows_of(streamed(god.get(EXPORT, query)))}

    assert ids(since="2026-11-02T09:03:00Z", until="2026-11-02T09:05:00Z") == {calls["conference"].pk,
                                                                              calls["to_a1b"].pk}  # fmt: skip
    assert ids(until="2026-11-02T09:01:00") == {calls["plain"].pk}, "a time without zone is UTC"
    assert ids(since="2026-11-03") == set()
    assert ids(client=world.client_a2.pk) == {calls["a2"].pk}
    assert ids(service="conference") == {calls["conference"].pk}
    assert ids(direction="inbound") == {calls["conference"].pk, calls["a2"].pk}
    assert ids(direction="internal", client=world.client_a1.pk) == {calls["to_a1b"].pk}
    assert streamed(god.get(EXPORT, {"bom": "true"})).startswith(b"\xef\xbb\xbf")
    assert not streamed(god.get(EXPORT)).startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-11-10", "until": "2026-11-01"}, "until"),
        ({"service": "fax"}, "service"),
        ({"direction": "sideways"}, "direction"),
        ({"client": "abc"}, "client"),
    ],
)
def test_bad_filters_are_field_errors(world, api, query, field):
    response = api(world.brand_a_op).get(EXPORT, query, HTTP_ACCEPT="text/csv")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"], body


def test_another_scopes_company_is_a_field_error(world, api, calls):
    response = api(world.brand_a_op).get(EXPORT, {"client": world.client_b1.pk})
    assert response.status_code == 400 and response.json()["fields"]["client"] == ["No such company in your scope."]
    response = api(world.brand_a_op).get(EXPORT, {"client": 999999})
    assert response.json()["fields"]["client"] == ["No such company in your scope."], "no hint that it exists"


def test_portal_download_in_each_portal(world, portal, calls):
    for account, expected in ((world.god, 7), (world.brand_b_op, 1), (world.client_a1_op, 5), (world.user_a1, 3)):
        page = portal(account).get("/exports/")
        assert page.status_code == 200 and b"Export CSV" in page.content
        response = portal(account).post("/exports/", {"since": "2026-11-01", "until": "2026-11-30", "bom": "on"})
        body = streamed(response)
        assert body.startswith(b"\xef\xbb\xbf") and len(rows_of(body)) == expected, account
    only_a2 = portal(world.brand_a_op).post("/exports/", {"client": world.client_a2.pk})
    assert [int(r["id"]) for r in rows_of(streamed(only_a2))] == [calls["a2"].pk]
    other = portal(world.brand_a_op).post("/exports/", {"client": world.client_b1.pk})
    assert other.status_code == 200 and b"Select a valid choice" in other.content


def test_streams_under_asgi(world, calls, settings):
    """Under daphne the chunks are pulled one by one (config/downloads.py), not read into a list first."""
    settings.OCX_PLATFORM_HOSTS = [*settings.OCX_PLATFORM_HOSTS, "testserver"]  # AsyncClient's host
    client = AsyncClient()
    client.force_login(world.god)
    response = async_to_sync(client.get)(EXPORT)
    assert response.status_code == 200
    assert response.is_async

    async def body():
        return b"".join([chunk async for chunk in response.streaming_content])

    assert len(rows_of(async_to_sync(body)())) == 7


def test_cost_and_price_come_from_rating_when_it_exists(world, calls, monkeypatch):
    rated = rated_prices()
    try:
        from billing.models import Rating  # built beside this app; absent, the columns stay empty
    except ImportError:
        assert rated is None
    else:
        assert rated == (Rating._meta.db_table, "cdr_id", "cost", "price")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE test_rating (cdr_id bigint PRIMARY KEY, cost numeric, price numeric)")
        cursor.execute("INSERT INTO test_rating VALUES (%s, 0.0123, 0.05)", [calls["plain"].pk])
    monkeypatch.setattr(selectors, "rated_prices", lambda: ("test_rating", "cdr_id", "cost", "price"))
    rows = {int(r["id"]): r for r in rows_of(b"".join(cdr_csv(cdr_export_records(actor=world.god,
                                                                                  filters=CdrFilter()))))}  # fmt: skip
    assert (rows[calls["plain"].pk]["cost"], rows[calls["plain"].pk]["price"]) == ("0.0123", "0.05")
    assert rows[calls["b1"].pk]["price"] == "", "not rated yet: empty"


def test_who_answered_talked_and_listened_in_are_cells(world, make_cdr):
    """A pickup by 103, then a park (one side empty), a retrieve by 104 and a supervision: one line,
    one cell each, in order; a call with none has empty cells."""
    segment = {"caller": "101", "callee": "103", "caller_account": None, "callee_account": None, "began_at": "",
               "ended_at": ""}  # fmt: skip
    moved = make_cdr(
        world.client_a1, answered_by="103", callee_number="102",
        segments=[{**segment, "reason": "pickup", "seconds": 10},
                  {**segment, "callee": "", "reason": "park", "seconds": 5},
                  {**segment, "callee": "104", "reason": "retrieve", "seconds": 45}],
        supervisions=[{"supervisor": "105", "mode": "whisper", "agent": "callee", "agent_number": "104",
                       "began_at": "2026-11-02T09:00:20+00:00", "ended_at": "2026-11-02T09:00:30+00:00",
                       "seconds": 10}],
    )  # fmt: skip
    plain = make_cdr(world.client_a1, minutes=1)
    rows = {int(r["id"]): r for r in rows_of(b"".join(cdr_csv(Cdr.objects.filter(pk__in=[moved.pk, plain.pk]))))}
    assert (rows[moved.pk]["destination_number"], rows[moved.pk]["answered_by"]) == ("102", "103")
    assert rows[moved.pk]["segments"] == "pickup 101-103 10s; park 101- 5s; retrieve 101-104 45s"
    assert rows[moved.pk]["supervisions"] == ("whisper 105 104 2026-11-02T09:00:20+00:00/2026-11-02T09:00:30+00:00 10s")
    assert (rows[plain.pk]["answered_by"], rows[plain.pk]["segments"], rows[plain.pk]["supervisions"]) == ("", "", "")
