"""Call routing rule sets' data, API and portal: patterns, every bad field at once (rows' as
rules.<n>.<field>), rule sets that would send calls round forever refused (through rule sets, or
through menus with no way out), a rule set or schedule something uses is not deleted (saying what),
and another client's rule set answers 404."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django_tenants.utils import tenant_context

from menus.models import RuleSet
from menus.routing import compile_patterns, route_delete, route_save
from menus.services import menu_delete, menu_save
from tenants.errors import NotAllowed


def rule(kind: str, target: str = "", **conditions) -> dict:
    return {"destination_kind": kind, "destination_target": target, **conditions}


def save(world, rule_set=None, **fields):
    return route_save(actor=world.client_a1_op, client=world.client_a1, rule_set=rule_set, **fields)


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as error:
        call()
    return error.value.message_dict


@pytest.mark.parametrize(
    ("patterns", "number", "matches"),
    [
        (["101"], "101", True),
        (["101"], "1011", False),
        (["1XX"], "155", True),
        (["1XX"], "15", False),
        (["NXX"], "155", False),
        (["NXX"], "255", True),
        (["+4930."], "+4930123456", True),
        (["+4930."], "+4930", False),  # (. is one character at least)
        (["+4930*"], "4930123", False),  # (+ first: E.164 only)
        (["+33.", "+49."], "+4989123", True),
    ],
)
def test_patterns_match_whole_numbers(patterns, number, matches):
    assert bool(compile_patterns(patterns).fullmatch(number)) is matches


def test_a_rule_set_keeps_its_rules_in_order_and_patterns_as_people_write_them(world):
    from telephony.models import Schedule

    with tenant_context(world.client_a1):
        office = Schedule.objects.create(name="Office", hours="mon-fri 09:00-17:00")
    made = save(world, name="Front", default_kind="user", default_target="102",
                rules=[rule("user", "103", callers="101, 1x5\n+4930."), rule("hangup", "closed", schedule=office.pk,
                       when_open=False), rule("voicemail", "101", dialled=["+4930901830"])])  # fmt: skip
    with tenant_context(world.client_a1):
        rules = list(RuleSet.objects.get(pk=made.pk).rules.values_list("position", "callers", "schedule", "when_open"))
    assert rules == [(1, ["101", "1X5", "+4930."], None, True), (2, [], office.pk, False), (3, [], None, True)]
    save(world, made, name="Front desk")  # rules not given: kept
    with tenant_context(world.client_a1):
        assert RuleSet.objects.get(pk=made.pk).rules.count() == 3


def test_every_bad_field_is_said_at_once_rows_by_their_number(world):
    errors = errors_of(lambda: save(world, name="", default_kind="teleport",
                                    rules=[rule("user", "102", callers="10#"),
                                           rule("user", "999", schedule=424242),
                                           rule("user", "102"),
                                           rule("", "", dialled="+4930."),
                                           rule("menu", "777", callers="1XX", dialled="abc")]))  # fmt: skip
    assert set(errors) == {"name", "default_kind", "rules.0.callers", "rules.1.schedule",
                           "rules.1.destination_target", "rules.2", "rules.3.destination_kind", "rules.4.dialled",
                           "rules.4.destination_target"}  # fmt: skip
    assert "10#" in errors["rules.0.callers"][0]
    assert errors_of(lambda: save(world, name="X", rules="1"))["rules"]


def test_only_the_clients_operators_change_routing(world):
    with pytest.raises(NotAllowed):
        route_save(actor=world.user_a1, client=world.client_a1, name="Mine")
    with pytest.raises(NotAllowed):
        route_save(actor=world.client_a2_op, client=world.client_a1, name="Theirs")


def test_rule_sets_that_send_calls_round_forever_are_refused(world):
    first = save(world, name="First", default_kind="user", default_target="102")
    # Directly: a rule that sends the call back to its own rule set.
    looping = errors_of(lambda: save(world, first, rules=[rule("route", str(first.pk), callers="101")]))
    assert "First" in looping["rules"][0]
    # Through another rule set: First -> Second -> First, whatever the defaults say.
    second = save(world, name="Second", default_kind="route", default_target=str(first.pk))
    looping = errors_of(lambda: save(world, first, rules=[rule("route", str(second.pk), callers="101")]))
    assert "First" in looping["rules"][0] and "Second" in looping["rules"][0]
    # Through a menu with no way out but the rule set (the menu's own check sees rule sets too).
    save(world, first, default_kind="hangup", default_target="")
    menu = menu_save(actor=world.client_a1_op, client=world.client_a1, name="Back", timeout_kind="route",
                     timeout_target=str(first.pk))  # fmt: skip
    looping = errors_of(lambda: save(world, first, default_kind="menu", default_target=str(menu.pk)))
    assert "Back" in looping["rules"][0]
    # A menu's key to a person is a way out: then the rule set may lead to it.
    menu_save(actor=world.client_a1_op, client=world.client_a1, menu=menu,
              options=[{"key": "1", "destination_kind": "user", "destination_target": "102"}])  # fmt: skip
    save(world, first, default_kind="menu", default_target=str(menu.pk))
    stuck = errors_of(lambda: menu_save(actor=world.client_a1_op, client=world.client_a1, menu=menu, options=[]))
    assert "First" in stuck["options"][0] and "Back" in stuck["options"][0]


def test_what_a_rule_set_or_schedule_is_used_by_is_not_deleted(world):
    from telephony.models import Schedule
    from telephony.services import schedule_delete

    target = save(world, name="Target", default_kind="user", default_target="102")
    with tenant_context(world.client_a1):
        office = Schedule.objects.create(name="Office", hours="mon-fri 09:00-17:00")
    pointing = save(world, name="Pointing", rules=[rule("route", str(target.pk), schedule=office.pk)])
    menu = menu_save(actor=world.client_a1_op, client=world.client_a1, name="Menu", timeout_kind="route",
                     timeout_target=str(target.pk))  # fmt: skip
    refused = errors_of(lambda: route_delete(actor=world.client_a1_op, client=world.client_a1, rule_set=target))
    assert "rule set Pointing" in refused["rule_set"][0] and "menu Menu" in refused["rule_set"][0]
    refused = errors_of(lambda: schedule_delete(actor=world.client_a1_op, client=world.client_a1, schedule=office))
    assert "rule set Pointing" in refused["schedule"][0]
    menu_delete(actor=world.client_a1_op, client=world.client_a1, menu=menu)
    route_delete(actor=world.client_a1_op, client=world.client_a1, rule_set=pointing)
    route_delete(actor=world.client_a1_op, client=world.client_a1, rule_set=target)
    with tenant_context(world.client_a1):
        assert not RuleSet.objects.exists()


def test_the_api_keeps_rule_sets_with_rules_nested_every_error_at_once_and_404_across_clients(world, api):
    http = api(world.client_a1_op)
    made = http.post("/api/v1/routes/", {"name": "Front", "default_kind": "user", "default_target": "102",
                                         "rules": [rule("user", "103", callers=["1XX"], when_open=True)]},
                     format="json")  # fmt: skip
    assert made.status_code == 201, made.json()
    pk = made.json()["id"]
    assert made.json()["rules"] == [{"callers": ["1XX"], "dialled": [], "schedule": None, "when_open": True,
                                     "destination_kind": "user", "destination_target": "103"}]  # fmt: skip
    changed = http.patch(f"/api/v1/routes/{pk}/", {"rules": [rule("hangup", "goodbye", dialled=["+4930."])]},
                         format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["rules"][0]["dialled"] == ["+4930."]
    bad = http.post("/api/v1/routes/", {"name": "Front", "default_kind": "route", "default_target": "999999",
                                        "rules": [rule("user", "102", callers=["1?"]), rule("user", "102")]},
                    format="json")  # fmt: skip
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"name", "default_target", "rules.0.callers", "rules.1"}
    assert http.post("/api/v1/routes/", {"name": "X", "rules": "1"}, format="json").status_code == 400
    assert api(world.client_a2_op).get(f"/api/v1/routes/{pk}/").status_code == 404
    assert api(world.client_a2_op).delete(f"/api/v1/routes/{pk}/").status_code == 404
    assert api(world.user_a1).get("/api/v1/routes/").json()["count"] == 0
    pointing = http.post("/api/v1/routes/", {"name": "Pointing", "default_kind": "route",
                                             "default_target": str(pk)}, format="json")  # fmt: skip
    refused = http.delete(f"/api/v1/routes/{pk}/")
    assert refused.status_code == 400 and "Pointing" in refused.json()["fields"]["rule_set"][0]
    assert http.delete(f"/api/v1/routes/{pointing.json()['id']}/").status_code == 204
    assert http.delete(f"/api/v1/routes/{pk}/").status_code == 204


def rows(*rules: dict, extra: int = 1) -> dict:
    data = {"rules-TOTAL_FORMS": str(len(rules) + extra), "rules-INITIAL_FORMS": "0", "rules-MIN_NUM_FORMS": "0",
            "rules-MAX_NUM_FORMS": "53"}  # fmt: skip
    for n, values in enumerate(rules):
        data.update({f"rules-{n}-{name}": value for name, value in values.items()})
    return data


def test_the_portal_keeps_rule_sets_with_each_error_on_its_row(world, portal):
    http = portal(world.client_a1_op)
    assert http.get("/routing/").status_code == 200 and http.get("/routing/new/").status_code == 200
    bad = http.post("/routing/new/", {"name": "", "default_kind": "", "default_target": "",
                                     **rows({"callers": "1?", "destination_kind": "user", "destination_target": "102"},
                                            {"dialled": "+4930.", "destination_kind": "user",
                                             "destination_target": "999"})})  # fmt: skip
    assert bad.status_code == 200
    assert set(bad.context["form"].errors) == {"name"}
    assert set(bad.context["rows"].forms[0].errors) == {"callers"}
    assert set(bad.context["rows"].forms[1].errors) == {"destination_target"}
    made = http.post("/routing/new/", {"name": "Front", "default_kind": "user", "default_target": "102",
                                      **rows({"callers": "101 1X5", "when_open": "open", "destination_kind": "user",
                                              "destination_target": "103"})})  # fmt: skip
    assert made.status_code == 302
    with tenant_context(world.client_a1):
        rule_set = RuleSet.objects.get(name="Front")
    page = http.get(f"/routing/{rule_set.pk}/")
    assert page.status_code == 200 and b'value="101 1X5"' in page.content
    assert b"Front" in http.get("/routing/").content
    assert portal(world.client_a2_op).get(f"/routing/{rule_set.pk}/").status_code == 404
    assert portal(world.user_a1).get("/routing/").status_code in (403, 404)
    assert http.post(f"/routing/{rule_set.pk}/delete/").status_code == 302
    with tenant_context(world.client_a1):
        assert not RuleSet.objects.exists()
