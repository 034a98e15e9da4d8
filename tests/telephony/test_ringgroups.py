"""Ring groups with real phones (pjsua2) through the edge and a real engine: 101 calls one of client A1's
numbers, which points at a ring group of 102 and 103 (and an external number reached through a carrier
that is another pjsua2 phone, standing in for a mobile). All at once: the first to answer takes the
call and the other stops ringing; one after the other: the second rings once the first's ring time is
over, or at once when the first is busy; rotating: the next call starts at the next member; nobody
answering: the group's no-answer destination. The call's record says who answered and lists the group
and the members offered."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from records.models import Cdr
from telephony.callindex import where_key
from tests.telephony.conftest import cdr_of
from tests.waiting import committed, wait_for

DID = "+4930901840"
MOBILE = "+16502530001"


@pytest.fixture
def group(world, carrier_factory_pstn):
    """group(members, **fields) -> RingGroup: saved as the client's operator would (committed); the
    client's number DID points at it (its own number: 101 reaches it without a carrier)."""
    from ringgroups.models import RingGroup
    from ringgroups.services import ring_group_save
    from telephony.engine.applications.ringgroups import rotation_key

    made = []

    def make(members: list[tuple[str, str]], **fields):
        saved = committed(ring_group_save, actor=world.client_a1_op, client=world.client_a1,
                          name=f"Group {len(made) + 1}", members=[{"kind": k, "target": t} for k, t in members],
                          **fields)  # fmt: skip
        made.append(saved)
        get_redis().delete(rotation_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk, saved.pk))
        if len(made) == 1:
            carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "group", str(saved.pk))],
                                 networks="192.0.2.1/32")  # fmt: skip
        return saved

    yield make

    def remove():
        from telephony.directory import sip_directory_rooms_changed

        with tenant_context(world.client_a1):
            RingGroup.objects.all().delete()
        sip_directory_rooms_changed(world.client_a1)

    committed(remove)


def call_group(caller, domain: str, label: str = "c1") -> None:
    caller.call(label, f"sip:+{DID[1:]}@{domain}")


def group_record(world) -> Cdr:
    """The caller's record (an external member's call has a record of its own)."""
    return cdr_of(world, timeout=10, legs__contains=[{"leg": "group"}])


def members(cdr: Cdr) -> list[tuple[str, str]]:
    return [(leg["member"], leg.get("outcome", "")) for leg in cdr.legs if leg.get("leg") == "member"]


def test_all_at_once_the_first_to_answer_takes_the_call_and_the_other_stops_ringing(world, lines, third, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)  # 102 rings on; 103 answers at once
    made = group([("user", "102"), ("user", "103")], strategy="simultaneous", ring_time=10)
    call_group(caller, domain)
    ringing = callee.wait_incoming(timeout=15)["call"]
    taken = third.wait_incoming(timeout=15)["call"]
    third.wait_call_state(taken, "confirmed")
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(ringing, "disconnected")  # 102 stops ringing
    caller.hangup("c1")
    third.wait_call_state(taken, "disconnected")
    cdr = group_record(world)
    assert (cdr.disposition, cdr.answered_by) == ("answered", "103")
    assert members(cdr) == [("102", "answered-elsewhere"), ("103", "answered")]
    group_leg = next(leg for leg in cdr.legs if leg.get("leg") == "group")
    assert (group_leg["group"], group_leg["strategy"]) == (made.pk, "simultaneous")


def test_one_after_the_other_the_second_rings_once_the_firsts_ring_time_is_over(world, lines, third, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)
    group([("user", "102"), ("user", "103")], strategy="in_order", ring_time=1)
    call_group(caller, domain)
    first = callee.wait_incoming(timeout=15)["call"]
    rang_at = time.monotonic()
    taken = third.wait_incoming(timeout=15)["call"]
    assert time.monotonic() - rang_at >= 0.7, "103 rings only after 102's ring time"
    callee.wait_call_state(first, "disconnected")
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(taken, "disconnected")
    cdr = group_record(world)
    assert (cdr.disposition, cdr.answered_by) == ("answered", "103")
    assert [member for member, _outcome in members(cdr)] == ["102", "103"]
    assert members(cdr)[1][1] == "answered"


def test_a_busy_member_is_skipped_at_once(world, lines, third, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=486)
    group([("user", "102"), ("user", "103")], strategy="in_order", ring_time=8)
    started = time.monotonic()
    call_group(caller, domain)
    taken = third.wait_incoming(timeout=15)["call"]
    assert time.monotonic() - started < 5, "103 rings without waiting for 102's ring time"
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(taken, "disconnected")
    assert members(group_record(world)) == [("102", "busy"), ("103", "answered")]


def test_members_on_a_call_are_skipped_without_ringing(world, lines, third, group):
    """102 talks with 103: a group of the two rings neither (the call index says their lines are busy),
    and the caller is told at once that nobody is available."""
    caller, callee, domain = lines
    group([("user", "102"), ("user", "103")], strategy="in_order", ring_time=8)
    callee.call("busy", f"sip:103@{domain}")
    talking = third.wait_incoming(timeout=15)["call"]
    callee.wait_call_state("busy", "confirmed")
    index = where_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk)  # (the engine writes it every 50 ms)
    wait_for(lambda: get_redis().hexists(index, "line:102") and get_redis().hexists(index, "line:103"),
             "the call index says 102 and 103 are on a call")  # fmt: skip
    started = time.monotonic()
    call_group(caller, domain)
    assert caller.wait_call_state("c1", "disconnected", timeout=15)["code"] == 480
    assert time.monotonic() - started < 5, "no member rang for its ring time"
    assert members(group_record(world)) == [("102", "busy"), ("103", "busy")]
    assert [e for e in callee.events() if e.get("event") == "incoming"] == []
    callee.hangup("busy")
    third.wait_call_state(talking, "disconnected")


def test_a_caller_who_hangs_up_stops_every_member_ringing(world, lines, third, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)
    third.set_incoming("103", answer=180)
    group([("user", "102"), ("user", "103")], strategy="simultaneous", ring_time=10)
    call_group(caller, domain)
    first = callee.wait_incoming(timeout=15)["call"]
    second = third.wait_incoming(timeout=15)["call"]
    caller.hangup("c1")
    callee.wait_call_state(first, "disconnected")
    third.wait_call_state(second, "disconnected")
    cdr = group_record(world)
    assert (cdr.disposition, cdr.answered_by) == (Cdr.Disposition.CANCELLED, "")
    assert members(cdr) == [("102", "caller-gone"), ("103", "caller-gone")]


def test_rotating_starts_the_next_call_at_the_next_member(world, lines, third, group):
    caller, callee, domain = lines
    group([("user", "102"), ("user", "103")], strategy="rotating", ring_time=5)
    answered_by, last = [], 0
    for n, phone in enumerate((callee, third, callee)):  # 102, then 103, then 102 again
        label = f"c{n + 1}"
        call_group(caller, domain, label)
        incoming = phone.wait_incoming(timeout=15)["call"]
        phone.wait_call_state(incoming, "confirmed")
        caller.wait_call_state(label, "confirmed")
        caller.hangup(label)
        phone.wait_call_state(incoming, "disconnected")
        cdr = cdr_of(world, timeout=10, legs__contains=[{"leg": "group"}], id__gt=last)
        answered_by.append(cdr.answered_by)
        last = cdr.id
    assert answered_by == ["102", "103", "102"]


def test_nobody_answering_goes_to_the_no_answer_destination_or_is_refused(world, lines, third, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)
    group([("user", "102")], strategy="simultaneous", ring_time=1, no_answer_kind="user",
                 no_answer_target="103")  # fmt: skip
    call_group(caller, domain)
    ringing = callee.wait_incoming(timeout=15)["call"]
    taken = third.wait_incoming(timeout=15)["call"]
    callee.wait_call_state(ringing, "disconnected")
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(taken, "disconnected")
    cdr = group_record(world)
    assert (cdr.disposition, cdr.answered_by) == ("answered", "103")
    assert members(cdr) == [("102", "no-answer")]
    overflow = next(leg for leg in cdr.legs if leg.get("why"))
    assert (overflow["leg"], overflow["why"], overflow["to"]) == ("group", "no-answer", "user:103")


def test_nobody_answering_and_no_destination_is_480(world, lines, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)
    group([("user", "102")], strategy="in_order", ring_time=1)
    call_group(caller, domain)
    ringing = callee.wait_incoming(timeout=15)["call"]
    assert caller.wait_call_state("c1", "disconnected", timeout=15)["code"] == 480
    callee.wait_call_state(ringing, "disconnected")
    cdr = group_record(world)
    assert (cdr.disposition, cdr.hangup_cause, cdr.answered_by) == (Cdr.Disposition.NO_ANSWER, "group-no-answer", "")


def test_an_external_member_is_called_through_the_carrier_and_takes_the_call(world, lines, group, phone_carrier):
    caller, callee, domain = lines
    phone, carrier = phone_carrier()
    phone.set_incoming("mobile", answer=200)
    callee.set_incoming("102", answer=180)
    group([("user", "102"), ("external", MOBILE)], strategy="simultaneous", ring_time=10)
    call_group(caller, domain)
    ringing = callee.wait_incoming(timeout=15)["call"]
    away = phone.wait_incoming(timeout=15)["call"]
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(ringing, "disconnected")
    caller.hangup("c1")
    phone.wait_call_state(away, "disconnected")
    cdr = group_record(world)
    assert (cdr.disposition, cdr.answered_by) == ("answered", MOBILE)
    assert (MOBILE, "answered") in members(cdr)
    out = cdr_of(world, timeout=10, callee_number=MOBILE)  # the call out has its own record, with its carrier
    assert (out.direction, out.carrier_id, out.disposition) == (Cdr.Direction.OUTBOUND, carrier.pk, "answered")


def test_a_menu_key_leads_to_a_group(world, lines, third, group, carrier_factory_pstn):
    from menus.models import Menu
    from menus.services import menu_save

    caller, _callee, domain = lines
    made = group([("user", "103")], strategy="simultaneous", ring_time=5)
    menu = committed(menu_save, actor=world.client_a1_op, client=world.client_a1, name="Group menu",
                     timeout_kind="hangup", options=[{"key": "1", "destination_kind": "group",
                                                      "destination_target": str(made.pk)}])  # fmt: skip
    menu_did = "+4930901841"
    carrier_factory_pstn([(world.brand_a, menu_did, world.client_a1, "menu", str(menu.pk))], networks="192.0.2.1/32")
    try:
        caller.call("c1", f"sip:+{menu_did[1:]}@{domain}")
        caller.wait_call_state("c1", "confirmed", timeout=20)
        caller.dtmf("c1", "1")
        taken = third.wait_incoming(timeout=15)["call"]
        third.wait_call_state(taken, "confirmed")
        caller.hangup("c1")
        third.wait_call_state(taken, "disconnected")
        # The menu's call to the group (voicemail's Onward) has the group's legs; 103 answered it.
        assert group_record(world).answered_by == "103"
    finally:

        def remove():
            with tenant_context(world.client_a1):
                Menu.objects.filter(pk=menu.pk).delete()

        committed(remove)
