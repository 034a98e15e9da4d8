"""Call routing by conditions (menus.models.RuleSet, menus/routing.py): the destination kind "route"
(target: the rule set's id), where numbers, forwarding, a schedule's closed branch and menus' keys
point.

The engine tries the rules in order against the caller's number, the number or extension the call
came in on and the client's schedules now (all read with the dial plan: no query per call), and sends
the call where the first rule whose conditions all hold says, else to the rule set's default (none:
the call is refused, 404). A rule set that leads to another is followed (at most MAX_ROUTES; the
services refuse loops). The call's record says which rule matched: a leg "route" per rule set with
its id and name, the rule's position (0: the default) and where it led.
"""

from __future__ import annotations

import datetime as dt
import logging

from menus.selectors import RuleSetView, routes_for_plan
from pstn import numbering
from telephony.engine import destinations
from telephony.engine.application import Incoming
from telephony.engine.applications.network import numbers_of
from telephony.engine.call import Call
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, section

log = logging.getLogger(__name__)
MAX_ROUTES = 10  # rule sets one call may go through


@section("routes")
def load_routes(client) -> dict[int, RuleSetView]:
    return routes_for_plan(client)


def _dialled(incoming: Incoming) -> set[str]:
    """The number the call came in on as dialled and as E.164 (a phone of the client may dial it nationally)."""
    found = {incoming.dialled}
    number = numbering.classify(incoming.dialled, incoming.plan.country) if incoming.dialled else None
    if number is not None and number.e164:
        found.add(number.e164)
    return found


def choose(plan: ClientPlan, rule_set: RuleSetView, caller: str, dialled: set[str], now: dt.datetime):
    """(the matching rule's position, 0 for the default; where it sends the call)."""
    numbers = numbers_of(plan)
    for rule in rule_set.rules:
        if rule.callers is not None and not rule.callers.fullmatch(caller):
            continue
        if rule.dialled is not None and not any(rule.dialled.fullmatch(d) for d in dialled):
            continue
        if rule.schedule is not None:
            hours = numbers.schedules.get(rule.schedule)  # (one written wrong, which the services refuse: open)
            if (hours is None or hours.is_open(now, numbers.zone)) != rule.when_open:
                continue
        return rule.position, rule.to
    return 0, rule_set.default


def follow(call: Call, incoming: Incoming, target: str) -> tuple[str, str]:
    """Where the rule set `target` (and those it leads to) sends the call: a destination that is not a
    rule set, ("", "") for none; each rule set's choice is logged on the call's record."""
    routes = incoming.plan.sections.get("routes") or {}
    caller = incoming.caller.number if incoming.caller is not None else ""
    dialled, now = _dialled(incoming), dt.datetime.now(dt.UTC)
    for _ in range(MAX_ROUTES):
        rule_set = routes.get(int(target)) if target.isdigit() else None
        if rule_set is None:
            return "", ""
        position, (kind, target) = choose(incoming.plan, rule_set, caller, dialled, now)
        call.log_leg("route", "", route=rule_set.id, route_name=rule_set.name, rule=position, to=f"{kind}:{target}")
        if kind != "route":
            return kind, target
    log.warning("call %s: %s rule sets in a row, refused", call.uuid, MAX_ROUTES)
    return "", ""


@runs("route")
async def to_route(call: Call, target: str, incoming: Incoming) -> None:
    kind, target = follow(call, incoming, target)
    await destinations.run(call, kind, target, incoming)
