"""What menus and rule sets have in common: both are destinations that send the call on to other
destinations, other menus and rule sets among them. One graph of them answers, when one is saved,
whether callers could go round forever (`trapped`, `route_cycle`). What still leads to one that is
deleted is telephony.destinations.pointing_at's (menus/destinations.py lists menus and rule sets).

A node is `<kind>:<id>` ("menu:4", "route:2"; "<kind>:new" for one not saved yet). A menu leads out
when it offers direct dialing or one of its ways is a destination that is neither a menu nor a rule
set, or a node that leads out: the caller chooses among a menu's keys, so one way out is enough. A
rule set chooses by itself, by conditions that do not change while the call goes from rule set to
rule set: one that comes back to itself through rule sets only loops whenever those rules match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STEERING = ("menu", "route")
NEW = "new"  # a node's id while it is not saved


@dataclass
class Node:
    name: str
    leaves: bool = False  # a menu with direct dialing: callers can always dial their way out
    ways: list[tuple[str, str]] = field(default_factory=list)  # (kind, target) it may send the call to


def node_key(kind: str, pk) -> str:
    return f"{kind}:{pk if pk else NEW}"


def graph_without(me: str) -> dict[str, Node]:
    """Every menu and rule set of the client (client schema) but `me`."""
    from menus.models import Menu, RuleSet

    graph = {}
    for menu in Menu.objects.prefetch_related("options"):
        ways = [(o.destination_kind, o.destination_target) for o in menu.options.all()]
        ways += [(menu.timeout_kind, menu.timeout_target), (menu.invalid_kind, menu.invalid_target)]
        graph[node_key("menu", menu.pk)] = Node(menu.name, menu.direct_dial, ways)
    for rule_set in RuleSet.objects.prefetch_related("rules"):
        ways = [(r.destination_kind, r.destination_target) for r in rule_set.rules.all()]
        ways.append((rule_set.default_kind, rule_set.default_target))
        graph[node_key("route", rule_set.pk)] = Node(rule_set.name, False, ways)
    graph.pop(me, None)
    return graph


def _closure(graph: dict[str, Node], start: set[str], step) -> set[str]:
    found, changed = set(start), True
    while changed:
        changed = False
        for key, node in graph.items():
            if key not in found and step(key, node, found):
                found.add(key)
                changed = True
    return found


def trapped(graph: dict[str, Node], me: str) -> list[str]:
    """The names of the nodes, among those that lead to `me` (itself included), from which no path
    leads out of menus and rule sets."""

    def leads_out(_key, node, out):
        return node.leaves or any(k and (k not in STEERING or f"{k}:{t}" in out) for k, t in node.ways)

    out = _closure(graph, set(), leads_out)
    leading_in = _closure(graph, {me}, lambda _k, node, found: any(f"{k}:{t}" in found for k, t in node.ways))
    return sorted(graph[key].name for key in leading_in - out if key in graph)


def route_cycle(graph: dict[str, Node], me: str) -> list[str]:
    """The names of the rule sets on a way from `me` back to itself through rule sets only (empty: none)."""
    seen, stack, parents = {me}, [me], {}
    while stack:
        key = stack.pop()
        for kind, target in graph[key].ways:
            following = f"{kind}:{target}"
            if kind != "route" or following not in graph:
                continue
            if following == me:
                back = [key]  # (the way back, walked from its end)
                while back[-1] != me:
                    back.append(parents[back[-1]])
                return sorted({graph[k].name for k in back})
            if following not in seen:
                seen.add(following)
                parents[following] = key
                stack.append(following)
    return []
