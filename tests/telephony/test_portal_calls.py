"""The calls pages: in progress and history, the client's for operators and a user's own."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from records.models import Cdr


def record(cdr_factory, caller, callee, *, client=None, **fields) -> Cdr:
    """A call of 42 s from caller to callee ((number, account id) each), five minutes ago."""
    return cdr_factory(client, started_at=timezone.now() - dt.timedelta(minutes=5), answer_after=0, seconds=42,
                       engine="test:1:5070", direction="internal", caller_number=caller[0], account_id=caller[1],
                       number=callee[0], callee_account_id=callee[1], **fields)  # fmt: skip


def test_operators_see_their_clients_calls_and_users_their_own(world, cdr_factory, portal):
    mine = record(cdr_factory, ("101", world.user_a1.pk), ("102", world.user_a1b.pk))
    others = record(
        cdr_factory, ("102", world.user_a1b.pk), ("150", None), disposition="busy", callee_name="Zed Other", billsec=42
    )  # billed 42 s, which the page shows
    elsewhere = record(cdr_factory, ("101", world.user_b1.pk), ("102", None), client=world.client_b1)
    talking = record(cdr_factory, ("101", world.user_a1.pk), ("102", world.user_a1b.pk), ended=False)

    page = portal(world.client_a1_op).get("/calls/?q=Zed").content.decode()  # other tests' calls may fill page 1
    assert "Zed Other" in page and "Busy" in page and str(talking.call_uuid) in page and "42 s" in page
    assert str(elsewhere.call_uuid) not in page
    own = portal(world.user_a1).get("/calls/?q=Zed").content.decode()
    assert "Zed Other" not in own and "My calls" in own and str(talking.call_uuid) in own
    filtered = portal(world.client_a1_op).get("/calls/?disposition=busy&q=Zed").content.decode()
    assert "Zed Other" in filtered and filtered.count("<td>Answered</td>") == 0
    assert mine.pk and others.pk


def test_hanging_up_a_call_outside_the_scope_is_404_and_a_lost_engine_is_explained(world, cdr_factory, portal):
    talking = record(cdr_factory, ("101", world.user_b1.pk), ("102", None), client=world.client_b1, ended=False)
    assert portal(world.client_a1_op).post(f"/calls/{talking.call_uuid}/hangup/").status_code == 404
    assert portal(world.user_a1).get("/calls/").status_code == 200
    assert portal(world.brand_a_op).get("/calls/").status_code == 404

    own = record(cdr_factory, ("101", world.user_a1.pk), ("102", world.user_a1b.pk), ended=False)
    answer = portal(world.user_a1).post(f"/calls/{own.call_uuid}/hangup/", follow=True)
    assert "is not running" in answer.content.decode()


def test_the_history_is_filtered_by_days_and_a_bad_day_is_a_field_error(world, cdr_factory, portal):
    day = timezone.now() - dt.timedelta(days=3)
    old = record(cdr_factory, ("101", world.user_a1.pk), ("102", None), callee_name="Yan Early")
    Cdr.objects.filter(pk=old.pk).update(started_at=day, answered_at=day, ended_at=day + dt.timedelta(seconds=42))
    record(cdr_factory, ("101", world.user_a1.pk), ("102", None), callee_name="Yan Late")
    http = portal(world.client_a1_op)

    that_day = http.get("/calls/", {"q": "Yan", "since": f"{day:%Y-%m-%d}", "until": f"{day:%Y-%m-%d}"})
    page = that_day.content.decode()
    assert "Yan Early" in page and "Yan Late" not in page
    later = http.get("/calls/", {"q": "Yan", "since": f"{day + dt.timedelta(days=1):%Y-%m-%d}"}).content.decode()
    assert "Yan Late" in later and "Yan Early" not in later

    bad = http.get("/calls/", {"q": "Yan", "since": "2026-02-30", "until": "2026-01-01"})
    assert bad.status_code == 200
    text = bad.content.decode()
    assert 'id="since-error"' in text and "Yan Early" in text and "Yan Late" in text, "shown, not applied"
    backwards = http.get("/calls/", {"since": "2026-11-02", "until": "2026-11-01"}).content.decode()
    assert 'id="until-error"' in backwards
