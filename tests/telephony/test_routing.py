"""Call routing by conditions with real phones (pjsua2) through the edge and a real engine: client
A1's numbers point at a rule set; who calls (101 or 103), which number was called, and whether a
schedule says open now decide which phone rings (102 or 103). The call's record names the rule that
matched (leg "route": its position, 0 for the default)."""

from __future__ import annotations

import uuid

import pytest
from django_tenants.utils import tenant_context

from tests.telephony.conftest import cdr_of
from tests.waiting import committed

DID, OTHER_DID = "+4930901840", "+4930901841"


def rule(kind: str, target: str, **conditions) -> dict:
    return {"destination_kind": kind, "destination_target": target, **conditions}


@pytest.fixture
def routes(world, carrier_factory_pstn):
    """routes(rules, default=(kind, target), hours=None) -> the rule set saved as the client's operator
    would (committed); DID and OTHER_DID point at it. `hours`: a schedule (its id in the rules'
    `schedule="office"`) with those office hours."""
    from menus.models import RuleSet
    from menus.routing import route_save
    from telephony.models import Schedule

    def make(rules: list[dict], default: tuple[str, str], hours: str | None = None):
        def save():
            if hours is not None:
                with tenant_context(world.client_a1):
                    office = Schedule.objects.create(name=f"office-{uuid.uuid4().hex[:6]}", hours=hours)
                for each in rules:
                    if each.get("schedule") == "office":
                        each["schedule"] = office.pk
            return route_save(actor=world.client_a1_op, client=world.client_a1, name="Front", rules=rules,
                              default_kind=default[0], default_target=default[1])  # fmt: skip

        rule_set = committed(save)
        carrier_factory_pstn([(world.brand_a, e164, world.client_a1, "route", str(rule_set.pk))
                              for e164 in (DID, OTHER_DID)], networks="192.0.2.1/32")  # fmt: skip
        return rule_set

    yield make

    def remove():
        from menus.models import Menu
        from telephony.directory import sip_directory_rooms_changed

        with tenant_context(world.client_a1):
            Menu.objects.all().delete()
            RuleSet.objects.all().delete()
            Schedule.objects.filter(name__startswith="office-").delete()
        sip_directory_rooms_changed(world.client_a1)

    committed(remove)


def call_and_answer(caller, answering, domain: str, number: str, label: str) -> None:
    """`caller` calls `number`; `answering` (the phone the routing must choose) rings and answers; both hang up."""
    caller.call(label, f"sip:+{number[1:]}@{domain}")
    ringing = answering.wait_incoming(timeout=15)["call"]
    answering.wait_call_state(ringing, "confirmed")
    caller.wait_call_state(label, "confirmed")
    caller.hangup(label)
    answering.wait_call_state(ringing, "disconnected")


def route_leg(world, **leg) -> dict:
    cdr = cdr_of(world, timeout=10, legs__contains=[{"leg": "route", **leg}])
    return next(each for each in cdr.legs if each["leg"] == "route")


def test_the_callers_number_chooses_the_way(world, lines, third, routes):
    caller, callee, domain = lines
    made = routes([rule("user", "103", callers=["+49.", "1X1"])], default=("user", "102"))
    call_and_answer(caller, third, domain, DID, "c1")  # 101 matches 1X1: to 103
    leg = route_leg(world, rule=1)
    assert (leg["route"], leg["route_name"], leg["to"]) == (made.pk, "Front", "user:103")
    call_and_answer(third, callee, domain, DID, "c2")  # 103 matches no pattern: the default, 102
    assert route_leg(world, rule=0)["to"] == "user:102"


@pytest.mark.parametrize(("hours", "rings"), [("mon-sun 00:00-24:00", "102"), ("", "103")], ids=["open", "closed"])
def test_a_schedule_condition_during_and_outside_office_hours(world, lines, third, routes, hours, rings):
    caller, callee, domain = lines
    routes([rule("user", "102", schedule="office", when_open=True)], default=("user", "103"), hours=hours)
    call_and_answer(caller, callee if rings == "102" else third, domain, DID, "c1")
    assert route_leg(world)["rule"] == (1 if rings == "102" else 0)


def test_the_number_called_chooses_the_way(world, lines, third, routes):
    caller, callee, domain = lines
    routes([rule("user", "103", dialled=[OTHER_DID])], default=("user", "102"))
    call_and_answer(caller, third, domain, OTHER_DID, "c1")
    assert route_leg(world, rule=1)["to"] == "user:103"
    call_and_answer(caller, callee, domain, DID, "c2")
    assert route_leg(world, rule=0)["to"] == "user:102"


def test_a_menus_key_leads_to_a_rule_set_that_chooses_for_the_answered_caller(world, lines, third, routes):
    from menus.services import menu_save
    from pstn.models import Number
    from telephony.directory import sip_directory_rooms_changed

    caller, _callee, domain = lines
    made = routes([rule("user", "103", callers=["1X1"])], default=("user", "102"))

    def menu_first():
        key = {"key": "1", "destination_kind": "route", "destination_target": str(made.pk)}
        menu = menu_save(actor=world.client_a1_op, client=world.client_a1, name="Main", timeout_kind="hangup",
                         options=[key])  # fmt: skip
        Number.objects.filter(e164=DID).update(destination_kind="menu", destination_target=str(menu.pk))
        sip_directory_rooms_changed(world.client_a1)
        return menu

    committed(menu_first)
    caller.call("c1", f"sip:+{DID[1:]}@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)  # the menu answered
    caller.dtmf("c1", "1")
    ringing = third.wait_incoming(timeout=15)["call"]  # 101 matches 1X1: to 103
    third.wait_call_state(ringing, "confirmed")
    caller.hangup("c1")
    third.wait_call_state(ringing, "disconnected")
    cdr = cdr_of(world, timeout=10, legs__contains=[{"leg": "route", "rule": 1}])
    assert [leg["leg"] for leg in cdr.legs if leg["leg"] in ("menu", "route")] == ["menu", "route"]
