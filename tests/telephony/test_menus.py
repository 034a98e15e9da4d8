"""Voice menus with real phones (pjsua2) through the edge and a real engine: 101 calls one of client
A1's numbers, which points at a menu (its greeting a library message that is a tone: 850 Hz for the
main menu, 1300 Hz for the sales menu), and walks the menus by keys to a person (whose phone then hears
the caller's 1000 Hz tone), a voicemail box or goodbye; silence and wrong keys repeat the greeting
before the menu's timeout and invalid-key destinations; direct dialing reaches an extension; the
number's schedule chooses between menus. The call's record lists the menus, keys and destinations."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from django_tenants.utils import tenant_context

from tests.sip.audio import heard_ms, tone_file
from tests.telephony.conftest import cdr_of
from tests.waiting import committed, wait_for

MESSAGES_DIR = Path(tempfile.mkdtemp(prefix="ocx-test-menus-"))
VOICEMAIL_DIR = Path(tempfile.mkdtemp(prefix="ocx-test-menus-vm-"))
ENGINE_SETTINGS = {"OCX_MESSAGES_DIR": str(MESSAGES_DIR), "OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR)}
DID = "+4930901830"
MAIN, SALES, SPOKEN = 850, 1300, 1000  # Hz: the greetings, what the caller says


def key(k: str, kind: str, target: str) -> dict:
    return {"key": k, "destination_kind": kind, "destination_target": target}


@pytest.fixture
def menus(world, settings, carrier_factory_pstn):
    """menus(**per_name) -> {name: Menu}: the menus saved as the client's operator would (committed),
    each name's fields given; greetings `main` and `sales` are library messages (tones). The client's
    number DID points at the first one (its own number: 101 reaches it without a carrier)."""
    from conferencing.models import Message
    from conferencing.notifications import message_path
    from menus.models import Menu
    from menus.services import menu_save
    from telephony.models import Forwarding
    from voicemail.models import Message as VoicemailMessage

    settings.OCX_MESSAGES_DIR = str(MESSAGES_DIR)

    def greetings():
        with tenant_context(world.client_a1):
            made = {}
            for name, freq in (("main", MAIN), ("sales", SALES)):
                message = Message.objects.create(name=f"menu-{name}", recorded=True, seconds=0.6,
                                                 created_by=world.client_a1_op)  # fmt: skip
                tone_file(message_path(world.client_a1.pk, message.pk), freq, 0.6)
                made[name] = message
            return made

    library = committed(greetings)

    def messages_now() -> set[int]:
        with tenant_context(world.client_a1):
            return set(VoicemailMessage.objects.values_list("pk", flat=True))

    messages_before = committed(messages_now)

    def make(first: str, **per_name: dict) -> dict:
        saved = {}
        for name, fields in per_name.items():  # (in order: a menu's keys may point at those before it)
            fields = dict(fields)
            if fields.get("greeting_message") in library:
                fields["greeting_message"] = library[fields["greeting_message"]]
            options = [key(k, kind, str(saved[t].pk) if kind == "menu" else t) for k, kind, t in
                       fields.pop("keys", [])]  # fmt: skip
            saved[name] = committed(menu_save, actor=world.client_a1_op, client=world.client_a1, name=name,
                                    options=options, **fields)  # fmt: skip
        carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "menu", str(saved[first].pk))],
                             networks="192.0.2.1/32")  # fmt: skip
        return saved

    yield make

    def remove():
        from telephony.directory import sip_directory_rooms_changed

        with tenant_context(world.client_a1):
            Menu.objects.all().delete()
            Message.objects.filter(pk__in=[m.pk for m in library.values()]).delete()
            # (a message a caller left through a menu: voicemail's tests count the box's messages)
            VoicemailMessage.objects.exclude(pk__in=messages_before).delete()
            Forwarding.objects.all().delete()
        sip_directory_rooms_changed(world.client_a1)

    committed(remove)


def menu_record(world, **leg):
    """The caller's record (a person the menu called has a record of its own), with a menu leg that
    says `leg` (when given)."""
    return cdr_of(world, timeout=10, legs__contains=[{"leg": "menu", **leg}])


def menu_legs(cdr) -> list[dict]:
    return [leg for leg in cdr.legs if leg.get("leg") == "menu"]


def legs(cdr) -> list[tuple]:
    return [(leg["menu_name"], leg.get("key", leg.get("dialled")), leg.get("why", ""), leg["to"].split(":")[0])
            for leg in menu_legs(cdr)]  # fmt: skip


def call_menu(caller, domain: str, heard: Path | None = None, keys: str = "", label: str = "c1") -> None:
    caller.call(label, f"sip:+{DID[1:]}@{domain}")
    caller.wait_call_state(label, "confirmed", timeout=20)
    if heard is not None:
        caller.record(label, heard)
    if keys:
        caller.dtmf(label, keys)


def test_a_caller_walks_two_menus_by_keys_to_a_person(world, lines, menus, tmp_path):
    caller, callee, domain = lines
    made = menus("Main", Sales={"greeting_message": "sales", "timeout_kind": "hangup", "keys": [("1", "user", "102")]},
          Main={"greeting_message": "main", "timeout_kind": "hangup", "direct_dial": True,
                "keys": [("1", "menu", "Sales")]})  # fmt: skip
    main = made["Main"].pk
    # Typed ahead: the second 1 is the sales menu's (11 begins no extension, so direct dialing lets it go).
    call_menu(caller, domain, keys="11")
    label = callee.wait_incoming(timeout=15)["call"]
    callee.wait_call_state(label, "confirmed")
    heard = tmp_path / "callee-heard.wav"
    callee.record(label, heard)
    caller.play_tone("c1", [SPOKEN], 1200)
    caller.wait_tone_done("c1")
    caller.hangup("c1")
    callee.wait_call_state(label, "disconnected")
    callee.wait_recorded(label)
    assert heard_ms(heard, SPOKEN) >= 800, "the person the menu led to hears the caller"
    cdr = menu_record(world)
    assert legs(cdr) == [("Main", "1", "", "menu"), ("Sales", "1", "", "user")]
    # The menu answered the call; then the caller talked to 102 (the record's segments say who talked).
    assert (cdr.disposition, cdr.answered_by, cdr.segments[-1]["callee"]) == ("answered", f"menu:{main}", "102")


def test_silence_repeats_the_greeting_then_the_timeout_destination_applies(world, lines, menus, tmp_path):
    caller, _, domain = lines
    menus("Main", Main={"greeting_message": "main", "timeout": 1, "retries": 1, "timeout_kind": "hangup",
                        "timeout_target": "goodbye", "keys": [("1", "user", "102")]})  # fmt: skip
    heard = tmp_path / "caller-heard.wav"
    call_menu(caller, domain, heard)
    caller.wait_call_state("c1", "disconnected", timeout=20)
    caller.wait_recorded("c1")
    assert heard_ms(heard, MAIN) >= 900, "the greeting, said twice (once, then one retry)"
    cdr = menu_record(world)
    assert legs(cdr) == [("Main", "", "timeout", "hangup")]
    assert (cdr.answered_by, cdr.hangup_side) == (f"menu:{menu_legs(cdr)[0]['menu']}", "engine")


def test_wrong_keys_are_retried_then_the_invalid_key_destination_applies(world, lines, third, menus):
    caller, _, domain = lines
    menus("Main", Main={"greeting_message": "main", "retries": 1, "timeout_kind": "hangup",
                        "invalid_kind": "user", "invalid_target": "103", "keys": [("1", "user", "102")]})  # fmt: skip
    call_menu(caller, domain, keys="77")
    label = third.wait_incoming(timeout=15)["call"]  # 103: the second wrong key spent the retry
    third.wait_call_state(label, "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    assert legs(menu_record(world)) == [("Main", "7", "invalid", "user")]


def test_direct_dialing_reaches_an_extension_and_a_key_still_works_beside_it(world, lines, third, menus):
    caller, callee, domain = lines
    menus("Main", Main={"greeting_message": "main", "direct_dial": True, "timeout_kind": "hangup",
                        "keys": [("1", "user", "102")]})  # fmt: skip
    call_menu(caller, domain, keys="103")
    label = third.wait_incoming(timeout=15)["call"]
    third.wait_call_state(label, "confirmed")
    caller.hangup("c1")
    third.wait_call_state(label, "disconnected")
    assert legs(menu_record(world)) == [("Main", "103", "", "user")]
    # 1 alone (extensions begin with 1 too: once no second digit comes) is the menu's key.
    call_menu(caller, domain, keys="1", label="c2")
    label = callee.wait_incoming(timeout=15)["call"]
    callee.wait_call_state(label, "confirmed")
    caller.hangup("c2")
    callee.wait_call_state(label, "disconnected")
    assert legs(menu_record(world, key="1")) == [("Main", "1", "", "user")]


def test_a_person_who_does_not_take_the_call_sends_the_caller_where_their_forwarding_says(world, lines, menus):
    """The menu's key calls 102, whose phone is busy and whose busy forwarding is their voicemail: the
    caller, answered by the menu, leaves the message there (not "not possible")."""
    from telephony.services import forwarding_save

    caller, callee, domain = lines
    extension = world.extension_of(world.user_a1b)
    committed(lambda: forwarding_save(actor=None, client=world.client_a1, extension=extension,
                                      busy_kind="voicemail", busy_target="102"))  # fmt: skip
    callee.set_incoming("102", answer=486)
    menus("Main", Main={"greeting_message": "main", "timeout_kind": "hangup", "keys": [("1", "user", "102")]})
    call_menu(caller, domain, keys="1")
    callee.wait_incoming(timeout=15)  # (refused at once: busy)
    # The platform's busy greeting ("the person at extension 1 0 2 is busy...", 9.7 s), the beep, the message.
    caller.play_tone("c1", [SPOKEN], 14000)
    caller.wait_tone_done("c1", timeout=20)
    caller.dtmf("c1", "#")
    caller.wait_call_state("c1", "disconnected", timeout=20)
    cdr = menu_record(world)
    assert legs(cdr) == [("Main", "1", "", "user")]
    assert [(leg["box"], leg["greeting"]) for leg in cdr.legs if leg.get("leg") == "voicemail"] == [("102", "busy")]
    message = wait_for(lambda: box_messages(world, "102"), timeout=10, what="the message's row")[0]
    assert message.caller_number == "101" and heard_ms(VOICEMAIL_DIR / message.file, SPOKEN) >= 1000


def box_messages(world, number: str) -> list:
    from voicemail.models import Message

    def read():
        with tenant_context(world.client_a1):
            return list(Message.objects.filter(mailbox__number=number))

    return committed(read)


@pytest.mark.parametrize(("hours", "first"), [("mon-sun 00:00-24:00", "Main"), ("", "Sales")], ids=["open", "closed"])
def test_a_numbers_schedule_sends_callers_to_one_menu_or_the_other(world, lines, menus, hours, first, tmp_path):
    from pstn.models import Number
    from telephony.directory import sip_directory_rooms_changed
    from telephony.models import Schedule

    caller, _, domain = lines
    made = menus("Main", Main={"greeting_message": "main", "timeout": 1, "retries": 0, "timeout_kind": "hangup"},
                 Sales={"greeting_message": "sales", "timeout": 1, "retries": 0, "timeout_kind": "hangup",
                        "keys": [("3", "voicemail", "102")]})  # fmt: skip

    def scheduled():
        with tenant_context(world.client_a1):
            schedule = Schedule.objects.create(name=f"office-{uuid.uuid4().hex[:6]}", hours=hours)
        Number.objects.filter(e164=DID).update(schedule=schedule.pk, closed_kind="menu",
                                               closed_target=str(made["Sales"].pk))  # fmt: skip
        sip_directory_rooms_changed(world.client_a1)
        return schedule

    schedule = committed(scheduled)
    try:
        heard = tmp_path / "caller-heard.wav"
        call_menu(caller, domain, heard, keys="3" if first == "Sales" else "")
        if first == "Sales":  # closed: the key leads to 102's voicemail, where the caller hangs up
            caller.play_tone("c1", [SPOKEN], 1500)
            caller.wait_tone_done("c1")
            caller.hangup("c1")
        caller.wait_call_state("c1", "disconnected", timeout=20)
        caller.wait_recorded("c1")
    finally:

        def remove():
            with tenant_context(world.client_a1):
                Schedule.objects.filter(pk=schedule.pk).delete()

        committed(remove)
    cdr = menu_record(world)
    if first == "Main":
        assert legs(cdr) == [("Main", "", "timeout", "hangup")]
        assert heard_ms(heard, MAIN) >= 400 and heard_ms(heard, SALES) < 200
    else:
        assert legs(cdr) == [("Sales", "3", "", "voicemail")]
        assert cdr.answered_by == "voicemail:102"
