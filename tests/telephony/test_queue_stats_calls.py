"""Queue statistics and the queue's missed-call mail from real calls (pjsua2 phones through the edge and
a real engine; a real Celery worker mailing through a real SMTP server, aiosmtpd): a caller who hangs up
while nobody is logged in is counted as abandoned within a few seconds and mailed to the queue's
addresses; a caller whom agent 102 answers is counted as answered in time, with 102's offer, talk time
and the queue's wrap-up; the API's figures of today say so."""

from __future__ import annotations

import datetime as dt

from django_tenants.utils import tenant_context

from tenants.dates import zone_named
from tests.mailbox import smtp_server_fixture  # noqa: F401 (the SMTP server fixture)
from tests.telephony.test_queues import (
    answer_and_hang_up,
    call_queue,
    queue,  # noqa: F401 (the queue fixture)
    queue_leg,
    waiting_count,
)
from tests.telephony.test_voicemail_notices import mail_worker  # noqa: F401 (a Celery worker mailing to the server)
from tests.waiting import committed, wait_for


def test_real_queue_calls_make_the_statistics_and_an_abandoned_caller_is_mailed(world, lines, queue, api, mail_worker):  # noqa: F811
    from queues.services import agent_login
    from telephony.models import Extension

    caller, agent, domain = lines
    made = queue(members=(("102", 0, 1),), logged_in=(), wrapup_seconds=3, service_level_seconds=20,
                 missed_call_emails="team@example.com")  # fmt: skip
    call_queue(caller, domain, "c1")
    wait_for(lambda: waiting_count(world, made.pk) == 1, "the caller waits", 5)
    caller.hangup("c1")
    caller.wait_call_state("c1", "disconnected")
    abandoned = queue_leg(world, outcome="abandoned")
    [mail] = wait_for(lambda: [m for m in mail_worker.messages if m["To"] == "team@example.com"], "the mail", 60)
    assert mail["Subject"] == "Missed queue call from User a1 (Support)"
    body = mail.get_body(("plain",)).get_content()
    assert "hung up while waiting in the queue Support" in body and "101 (User a1)" in body

    def login():
        with tenant_context(world.client_a1):
            line = Extension.objects.get(number="102")
        agent_login(actor=None, client=world.client_a1, extension=line, queue=made)

    committed(login)
    call_queue(caller, domain, "c2")
    answer_and_hang_up(caller, agent, "c2")
    answered = queue_leg(world, outcome="answered")
    assert (answered["agent"], answered["wrapup"]) == ("102", 3)

    today = dt.datetime.now(zone_named(world.client_a1.timezone)).date()
    body = api(world.client_a1_op).get(f"/api/v1/queues/{made.pk}/stats/?from={today}&to={today}").json()
    assert (body["offered"], body["answered"], body["abandoned"] + body["abandoned_short"]) == (2, 1, 1), body
    assert body["abandoned_short"] == (1 if abandoned["wait"] < 5 else 0)
    assert body["service_level"] == 100.0 and body["longest_wait"] >= abandoned["wait"]
    assert body["average_talk"] is not None and body["average_talk"] >= 0 and body["average_wrapup"] == 3.0
    [mine] = body["agents"]
    assert (mine["agent"], mine["offers"], mine["answered"], mine["missed"]) == ("102", 1, 1, 0)


def test_the_wallboard_shows_a_real_waiting_caller_with_their_number(world, lines, queue):  # noqa: F811
    from queues.wallboard import wallboard_snapshot

    caller, _agent, domain = lines
    made = queue(members=(("102", 0, 1),), logged_in=())
    call_queue(caller, domain, "c1")
    try:
        wait_for(lambda: waiting_count(world, made.pk) == 1, "the caller waits", 5)

        def board():
            found = committed(wallboard_snapshot, client=world.client_a1, queues=[made])
            waiting = found["queues"][0]["waiting"]
            return found if waiting and waiting[0]["number"] else None

        found = wait_for(board, "the waiting caller's number on the wallboard", 5)  # (the call index: a tick late)
        [waiting] = found["queues"][0]["waiting"]
        assert (waiting["number"], waiting["name"], waiting["offered"]) == ("101", "User a1", False)
        assert [(a["extension"], a["state"]) for a in found["agents"]] == [("102", "logged_out")]
    finally:
        caller.hangup("c1")
    wait_for(lambda: not committed(wallboard_snapshot, client=world.client_a1, queues=[made])["queues"][0]["waiting"],
             "the caller left the wallboard", 5)  # fmt: skip
