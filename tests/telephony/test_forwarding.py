"""A user's forwarding, do-not-disturb and find-me, through edge and engine with real pjsua2 phones:
101 calls 102, whose forwarding sends the call on (to 103, or out through a carrier that is another
pjsua2 phone standing in for a mobile). One record per call: it keeps 102 as the callee, says who
answered, and lists the forwarding among its legs."""

from __future__ import annotations

import time

import pytest
from django_tenants.utils import tenant_context

from records.models import Cdr
from telephony.models import Forwarding
from tests.sip.phone import PhoneError
from tests.telephony.conftest import cdr_of
from tests.waiting import committed, wait_for

MOBILE = "+16502530001"


def forward(world, **fields):
    """102's forwarding, committed (the engine reads it with the dial plan, which the save drops)."""
    from telephony.services import forwarding_save

    client = world.client_a1
    extension = world.extension_of(world.user_a1b)
    return committed(lambda: forwarding_save(actor=None, client=client, extension=extension, **fields))


@pytest.fixture(autouse=True)
def _no_forwarding(world):
    yield

    def clear():
        with tenant_context(world.client_a1):
            Forwarding.objects.all().delete()

    committed(clear)


def forwarded_legs(cdr: Cdr) -> list[dict]:
    return [leg for leg in cdr.legs if leg.get("leg") == "forward"]


def test_a_busy_line_forwards_to_a_colleague(world, lines, third):
    caller, callee, domain = lines
    forward(world, busy_kind="user", busy_target="103")
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    label = third.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    third.wait_call_state(label, "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.disposition, cdr.answered_by) == ("answered", "103")
    assert [(leg["reason"], leg["to"]) for leg in forwarded_legs(cdr)] == [("busy", "user:103")]


def test_an_unanswered_line_forwards_after_its_seconds(world, lines, third):
    caller, callee, domain = lines
    forward(world, no_answer_kind="user", no_answer_target="103", no_answer_after=5)
    callee.set_incoming("102", answer=180)
    started = time.monotonic()
    caller.call("c1", f"sip:102@{domain}")
    rang = callee.wait_incoming()["call"]
    label = third.wait_incoming(timeout=15)["call"]
    assert time.monotonic() - started >= 4.5
    callee.wait_call_state(rang, "disconnected")  # the desk phone stops ringing
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    cdr = cdr_of(world, callee_number="102")
    assert cdr.answered_by == "103"
    assert [leg["reason"] for leg in forwarded_legs(cdr)] == ["no_answer"]


def test_a_line_with_no_phone_registered_forwards_as_unreachable(world, lines, third):
    caller, callee, domain = lines
    forward(world, unreachable_kind="user", unreachable_target="103")
    callee.unregister("102")
    caller.call("c1", f"sip:102@{domain}")
    label = third.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    assert [leg["reason"] for leg in forwarded_legs(cdr_of(world, callee_number="102"))] == ["unreachable"]


def test_always_forwarding_does_not_ring_the_line_and_a_loop_rings_the_first_line(world, lines, third):
    caller, callee, domain = lines
    forward(world, always_kind="user", always_target="103")
    caller.call("c1", f"sip:102@{domain}")
    label = third.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    assert not [e for e in callee.events() if e.get("event") == "incoming"], "102 never rang"

    # 103 forwards back to 102: the chain stops at a line met before, which just rings
    from telephony.services import forwarding_save

    client, extension = world.client_a1, world.extension_of(world.user_a1c)
    committed(lambda: forwarding_save(actor=None, client=client, extension=extension, always_kind="user",
                                      always_target="102"))  # fmt: skip
    caller.call("c2", f"sip:102@{domain}")
    rang = callee.wait_incoming()["call"]  # 102 -> 103 -> 102, met before: it rings
    callee.wait_call_state(rang, "confirmed")
    caller.hangup("c2")
    cdr = cdr_of(world, callee_number="102", answered_by="102")
    assert [leg["to"] for leg in forwarded_legs(cdr)] == ["user:103", "user:102"]


def test_do_not_disturb_answers_busy_or_goes_where_busy_forwarding_says(world, lines, third):
    caller, callee, domain = lines
    forward(world, dnd=True)
    caller.call("c1", f"sip:102@{domain}")
    assert caller.wait_call_state("c1", "disconnected")["code"] == 486
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.disposition, cdr.hangup_cause) == (Cdr.Disposition.BUSY, "dnd")

    forward(world, busy_kind="user", busy_target="103")
    caller.call("c2", f"sip:102@{domain}")
    label = third.wait_incoming()["call"]
    caller.wait_call_state("c2", "confirmed")
    caller.hangup("c2")
    third.wait_call_state(label, "disconnected")
    assert not [e for e in callee.events() if e.get("event") == "incoming"], "102 never rang"


def test_feature_codes_set_the_phones_own_forwarding(world, lines, third):
    _caller, callee, domain = lines

    def handling():
        with tenant_context(world.client_a1):
            return Forwarding.objects.filter(extension__number="102").first()

    for code, done in (("*78", lambda f: f and f.dnd), ("*79", lambda f: f and not f.dnd),
                       ("*72103", lambda f: f and (f.always_kind, f.always_target) == ("user", "103")),
                       ("*73", lambda f: f and not f.always_kind)):  # fmt: skip
        label = f"code{code}"
        callee.call(label, f"sip:{code}@{domain}")
        callee.wait_call_state(label, "confirmed")
        callee.wait_call_state(label, "disconnected", timeout=15)  # the engine says so and hangs up
        wait_for(lambda done=done: done(handling()), f"{code} applied")

    callee.call("bad", f"sip:*72999@{domain}")  # no such extension, not a phone number: nothing changes
    callee.wait_call_state("bad", "disconnected", timeout=15)
    assert not handling().always_kind


@pytest.fixture
def mobile(phone_carrier):
    return phone_carrier()


def test_find_me_rings_the_mobile_with_the_desk_and_connects_once_it_presses_one(world, lines, mobile):
    caller, callee, domain = lines
    phone, carrier = mobile
    forward(world, find_me=MOBILE)
    callee.set_incoming("102", answer=180)
    caller.call("c1", f"sip:102@{domain}")
    desk = callee.wait_incoming()["call"]
    away = phone.wait_incoming()["call"]
    phone.answer(away)
    phone.wait_call_state(away, "confirmed")
    time.sleep(0.5)  # the prompt starts; a key before it is taken too
    assert caller.call_states("c1")[-1] != "confirmed", "not connected before the key"
    phone.dtmf(away, "1")
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(desk, "disconnected")  # the desk stops ringing
    caller.hangup("c1")
    phone.wait_call_state(away, "disconnected")
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.disposition, cdr.answered_by) == ("answered", "102")
    reach = cdr_of(world, callee_number=MOBILE)
    assert (reach.direction, reach.carrier_id, reach.disposition) == (Cdr.Direction.OUTBOUND, carrier.pk, "answered")
    assert reach.caller_number == "102" and reach.billsec >= 0


def test_find_me_stops_ringing_the_mobile_when_the_desk_answers(world, lines, mobile):
    caller, _callee, domain = lines
    phone, _ = mobile
    forward(world, find_me=MOBILE)
    caller.call("c1", f"sip:102@{domain}")  # 102 answers after 300 ms
    away = phone.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    phone.wait_call_state(away, "disconnected")
    caller.hangup("c1")
    assert cdr_of(world, callee_number=MOBILE).disposition != "answered"


def test_a_busy_line_forwards_out_through_a_carrier(world, lines, mobile):
    caller, callee, domain = lines
    phone, carrier = mobile
    forward(world, busy_kind="external", busy_target=MOBILE)
    callee.set_incoming("102", answer=486)
    phone.set_incoming("mobile", answer=200)
    caller.call("c1", f"sip:102@{domain}")
    away = phone.wait_incoming()["call"]
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    phone.wait_call_state(away, "disconnected")
    cdr = cdr_of(world, callee_number=MOBILE)  # the record is now of a call out, through that carrier
    assert (cdr.direction, cdr.carrier_id, cdr.disposition) == (Cdr.Direction.OUTBOUND, carrier.pk, "answered")
    assert [leg["reason"] for leg in forwarded_legs(cdr)] == ["busy"]


def test_a_call_forwarded_into_a_conference_room_is_recorded_as_a_conference_join(world, lines):
    caller, callee, domain = lines
    forward(world, busy_kind="conference", busy_target="4242")
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed")  # the room's PIN prompt answers
    caller.hangup("c1")
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.service, cdr.conference, cdr.direction) == (Cdr.Service.CONFERENCE, "4242", Cdr.Direction.INBOUND)
    assert [leg["to"] for leg in forwarded_legs(cdr)] == ["conference:4242"]


def test_find_me_unanswered_while_the_desk_is_busy_goes_where_busy_forwarding_says(world, lines, third, mobile):
    """The desk is busy, the mobile rings unanswered until the ringing time is over: the caller goes to
    the busy forwarding (103), not to a 480, and once only."""
    caller, callee, domain = lines
    phone, _ = mobile
    forward(world, find_me=MOBILE, busy_kind="user", busy_target="103", no_answer_after=5)
    callee.set_incoming("102", answer=486)
    caller.call("c1", f"sip:102@{domain}")
    away = phone.wait_incoming()["call"]  # the mobile rings (and is never answered)
    label = third.wait_incoming(timeout=15)["call"]
    phone.wait_call_state(away, "disconnected")
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.disposition, cdr.answered_by) == ("answered", "103")
    assert [leg["reason"] for leg in forwarded_legs(cdr)] == ["busy"]


def test_a_forwarding_to_one_of_the_clients_own_numbers_stays_inside(world, lines, third, carrier_factory_pstn):
    """A forwarding to the company's own number goes where that number points, without a carrier (no
    outbound route here: a call sent out would find none); one pointing back at the line just rings
    it, instead of a loop out through the phone network and back in."""
    caller, callee, domain = lines
    # (its calls would come from elsewhere: the phones are on 127.0.0.1)
    carrier_factory_pstn([(world.brand_a, "+16502530077", world.client_a1, "user", "103"),
                          (world.brand_a, "+16502530078", world.client_a1, "user", "102")],
                         networks="192.0.2.1/32")  # fmt: skip
    forward(world, always_kind="external", always_target="+16502530077")
    caller.call("c1", f"sip:102@{domain}")
    label = third.wait_incoming(timeout=10)["call"]
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    cdr = cdr_of(world, callee_number="102", answered_by="103")
    assert cdr.carrier_id is None

    forward(world, always_kind="external", always_target="+16502530078")  # its own number: back to itself
    caller.call("c2", f"sip:102@{domain}")
    rang = callee.wait_incoming(timeout=10)["call"]
    callee.wait_call_state(rang, "confirmed")
    caller.hangup("c2")
    cdr = cdr_of(world, callee_number="102", answered_by="102")
    assert cdr.carrier_id is None


def test_find_me_never_calls_one_of_the_clients_own_numbers(world, lines, mobile, carrier_factory_pstn):
    """A find-me number that became one of the company's own (assigned after it was set) is not called:
    through a carrier it would come back in, ring the line, and call the find-me number once more."""
    caller, callee, domain = lines
    phone, _ = mobile
    forward(world, find_me=MOBILE)  # set while it was an external number
    carrier_factory_pstn([(world.brand_a, MOBILE, world.client_a1, "user", "102")], networks="192.0.2.1/32")
    callee.set_incoming("102", answer=180)
    caller.call("c1", f"sip:102@{domain}")
    desk = callee.wait_incoming()["call"]
    with pytest.raises(PhoneError):
        phone.wait_incoming(timeout=3)
    caller.hangup("c1")
    callee.wait_call_state(desk, "disconnected")


def test_find_me_answered_just_before_the_ringing_time_is_over_still_has_its_seconds_to_press_one(
    world, lines, mobile
):  # fmt: skip
    """The mobile answers 4 s into a 5 s ringing time: it is not hung up while it hears the prompt, and
    its 1 a moment later takes the call."""
    caller, callee, domain = lines
    phone, _ = mobile
    forward(world, find_me=MOBILE, no_answer_after=5)
    callee.set_incoming("102", answer=180)
    started = time.monotonic()
    caller.call("c1", f"sip:102@{domain}")
    desk = callee.wait_incoming()["call"]
    away = phone.wait_incoming()["call"]
    time.sleep(max(0.0, 4.0 - (time.monotonic() - started)))  # (the person takes the phone out of a pocket)
    phone.answer(away)
    phone.wait_call_state(away, "confirmed")
    time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))  # (and listens to the prompt)
    assert phone.call_states(away)[-1] == "confirmed", "still asked for its key after the ringing time"
    phone.dtmf(away, "1")
    caller.wait_call_state("c1", "confirmed")
    callee.wait_call_state(desk, "disconnected")
    caller.hangup("c1")
    phone.wait_call_state(away, "disconnected")
    assert cdr_of(world, callee_number="102").disposition == "answered"


def test_a_caller_who_hangs_up_while_the_mobile_is_asked_for_its_key_ends_both_calls(world, lines, mobile):
    caller, callee, domain = lines
    phone, _ = mobile
    forward(world, find_me=MOBILE)
    callee.set_incoming("102", answer=180)
    caller.call("c1", f"sip:102@{domain}")
    desk = callee.wait_incoming()["call"]
    away = phone.wait_incoming()["call"]
    phone.answer(away)
    phone.wait_call_state(away, "confirmed")  # it hears "press 1"
    caller.hangup("c1")  # CANCEL
    caller.wait_call_state("c1", "disconnected")
    callee.wait_call_state(desk, "disconnected")
    phone.wait_call_state(away, "disconnected")  # the mobile is hung up too
    cdr = cdr_of(world, callee_number="102")
    assert (cdr.disposition, cdr.ended_at is not None) == (Cdr.Disposition.CANCELLED, True)
    reach = cdr_of(world, callee_number=MOBILE)
    assert reach.ended_at is not None and reach.disposition == "answered"


def test_find_me_to_a_premium_number_is_refused_by_the_outbound_policy_and_the_desk_rings_on(world, lines, mobile):
    caller, callee, domain = lines
    phone, _ = mobile  # (the carrier takes every number; the client may call national and mobile ones)
    forward(world, find_me="+19005551234")
    callee.set_incoming("102", answer=180)
    caller.call("c1", f"sip:102@{domain}")
    desk = callee.wait_incoming()["call"]
    reach = cdr_of(world, callee_number="+19005551234")  # the find-me call's record: refused, no carrier
    assert (reach.disposition, reach.carrier_id) == (Cdr.Disposition.FAILED, None)
    with pytest.raises(PhoneError):
        phone.wait_incoming(timeout=2)
    callee.answer(desk)
    caller.wait_call_state("c1", "confirmed")
    caller.hangup("c1")
