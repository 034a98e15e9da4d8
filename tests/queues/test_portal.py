"""Queues in the client portal: operators make a queue with members as rows (each error on its field or
row, all at once), log a member in and pause them from the queue's page, and delete queues; an agent
logs in and out of their queues and pauses from their own page. Users do not see the queues' pages."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from queues.models import Agent, Member, Queue


def rows(*members: tuple[str, str, str], extra: int = 1) -> dict:
    data = {
        "members-TOTAL_FORMS": str(len(members) + extra),
        "members-INITIAL_FORMS": "0",
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "200",
    }
    for n, (ext, penalty, order) in enumerate(members):
        data.update({f"members-{n}-extension": ext, f"members-{n}-penalty": penalty, f"members-{n}-order": order})
    return data


def fields(**values) -> dict:
    return {
        "name": "",
        "number": "",
        "strategy": "ring_all",
        "ring_seconds": "15",
        "wrapup_seconds": "0",
        "max_wait_seconds": "0",
        "max_wait_kind": "",
        "max_wait_target": "",
        "max_callers": "0",
        "full_kind": "",
        "full_target": "",
        "announce_every": "0",
        "pause_after_missed": "0",
        "sticky_minutes": "0",
        **values,
    }


def test_operators_make_a_queue_with_members_and_see_every_error_at_once(world, portal):
    http = portal(world.client_a1_op)
    assert http.get("/queues/").status_code == 200 and http.get("/queues/new/").status_code == 200
    bad = http.post(
        "/queues/new/",
        {
            **fields(name="", number="102", ring_seconds="0", max_wait_kind="voicemail", max_wait_target="999"),
            **rows(("101", "0", "0"), ("101", "100", "0")),
        },
    )
    assert bad.status_code == 200
    form, members = bad.context["form"], [row for row in bad.context["rows"].forms if row.errors]
    assert set(form.errors) == {"name", "number", "ring_seconds", "max_wait_target"}
    assert set(members[0].errors) == {"extension", "penalty"}
    made = http.post(
        "/queues/new/", {**fields(name="Support", strategy="in_order"), **rows(("101", "0", "1"), ("102", "1", "2"))}
    )
    assert made.status_code == 302, made.context["form"].errors if made.context else made
    with tenant_context(world.client_a1):
        queue = Queue.objects.get(name="Support")
        assert list(queue.members.values_list("extension__number", "penalty")) == [("101", 0), ("102", 1)]
    page = http.get(f"/queues/{queue.pk}/")
    assert page.status_code == 200 and b"Log in" in page.content
    assert http.post(f"/queues/{queue.pk}/agents/", {"extension": "101", "action": "login"}).status_code == 302
    assert http.post(f"/queues/{queue.pk}/agents/", {"extension": "102", "action": "pause"}).status_code == 302
    assert http.post(f"/queues/{queue.pk}/agents/", {"extension": "103", "action": "login"}).status_code == 404
    with tenant_context(world.client_a1):
        assert Member.objects.get(queue=queue, extension__number="101").logged_in
        assert Agent.objects.get(extension__number="102").paused
    assert http.post(f"/queues/{queue.pk}/delete/", {"confirm": "x"}).status_code == 302
    with tenant_context(world.client_a1):
        assert not Queue.objects.filter(pk=queue.pk).exists()


def test_an_agent_logs_in_out_and_pauses_from_their_own_page(world, portal):
    with tenant_context(world.client_a1):
        queue = Queue.objects.create(name="Help")
        Member.objects.create(queue=queue, extension=world.extension_of(world.user_a1))
    http = portal(world.user_a1)
    assert http.get("/queues/").status_code == 404
    page = http.get("/phone/queues/")
    assert page.status_code == 200 and b"Help" in page.content
    assert http.post("/phone/queues/", {"queue": str(queue.pk), "action": "login"}).status_code == 302
    assert http.post("/phone/queues/", {"action": "pause", "reason": "lunch"}).status_code == 302
    assert http.post("/phone/queues/", {"queue": "x", "action": "login"}).status_code == 404
    with tenant_context(world.client_a1):
        assert Member.objects.get(queue=queue).logged_in
        assert Agent.objects.get(extension__number="101").pause_reason == "lunch"
    assert b"lunch" in http.get("/phone/queues/").content
    http.post("/phone/queues/", {"action": "unpause"})
    http.post("/phone/queues/", {"action": "logout"})
    with tenant_context(world.client_a1):
        assert not Member.objects.get(queue=queue).logged_in and not Agent.objects.get(extension__number="101").paused


def test_the_supervision_page_speaks_the_users_language_and_operators_name_supervisors(world, portal):
    from tenants.services import account_update

    account_update(actor=world.user_a1, account=world.user_a1, language="fr")
    page = portal(world.user_a1).get("/phone/supervision/").content.decode()
    assert "Aucun appel des agents de vos files en ce moment." in page and "Écouter" not in page
    assert portal(world.client_a1_op).get("/phone/supervision/").status_code in (302, 403, 404)
    saved = portal(world.client_a1_op).post("/queues/new/", {"name": "Watched", "supervisors": "102, 103",
                                                             "callback_key": "1", **rows()})  # fmt: skip
    assert saved.status_code == 302, saved.content.decode()[:2000]
    with tenant_context(world.client_a1):
        made = Queue.objects.get(name="Watched")
        assert sorted(made.supervisors.values_list("extension__number", flat=True)) == ["102", "103"]
        assert made.callback_key == "1"
