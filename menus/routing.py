"""Call routing by conditions (menus.models.RuleSet): patterns, and the writes of a client's operators,
`route_save` (a rule set with its rules, every bad field at once: rows' errors are named
`rules.<row>.<field>`) and `route_delete` (refused, saying what, while something points at it).

A rule's conditions all hold for it to match; each one left empty holds always, and a rule has one at
least:
- `callers`: the caller's number matches one of the patterns;
- `dialled`: the number the call came in on (E.164) or the extension dialled matches one of them;
- `schedule`: a schedule of the client says open (`when_open`) or closed now, in the client's time
  zone, with its holidays (telephony/schedules.py).

A pattern is digits, `X` (any digit) and `N` (2 to 9), ending with `.` or `*` for "anything more" (one
character at least), with a leading `+` for E.164 numbers: `+4930.`, `1XX`, `+1NXXNXXXXXX`, `555`. A
pattern of digits alone is an exact number. Rule sets that send calls round through rule sets only
are refused, and those that leave callers nowhere but menus and rule sets that lead back
(menus/steering.py).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from menus.models import Rule, RuleSet
from menus.steering import Node, graph_without, node_key, route_cycle, trapped
from telephony.destinations import delete_unused
from telephony.directory import sip_directory_rooms_changed
from tenants.audit import audit
from tenants.fields import add as _add
from tenants.fields import take
from tenants.models import Client, User
from tenants.scoping import require_client_operator

FIELDS = ("name", "default_kind", "default_target")
MAX_RULES = 50
MAX_PATTERNS = 50
_PATTERN = re.compile(r"^\+?[0-9XN]{1,30}[.*]?$")


def split_patterns(value) -> list[str]:
    """Patterns as people write them (separated by spaces, commas or lines) or as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[\s,;]+", value)
    return [str(p).strip().upper() for p in value if str(p).strip()]


def pattern_errors(patterns: list[str]) -> list[str]:
    bad = [p for p in patterns if not _PATTERN.match(p)]
    errors = []
    if bad:
        errors.append(_("Not a pattern: %(patterns)s. Write digits, X (any digit), N (2-9), then . or * for "
                        "anything more; + first for international numbers.")
                      % {"patterns": ", ".join(p[:40] for p in bad[:5])})  # fmt: skip
    if len(patterns) > MAX_PATTERNS:
        errors.append(_("At most %(max)s patterns.") % {"max": MAX_PATTERNS})
    return errors


def compile_patterns(patterns: list[str] | tuple[str, ...]) -> re.Pattern | None:
    """One regular expression matching a whole number against any of the patterns (None: no patterns)."""
    parts = []
    for pattern in patterns:
        body = pattern.rstrip(".*")
        more = ".+" if body != pattern else ""
        parts.append("".join("[0-9]" if c == "X" else "[2-9]" if c == "N" else re.escape(c) for c in body) + more)
    return re.compile("(?:" + "|".join(parts) + ")") if parts else None


def _require_operator(actor: User, client: Client) -> None:
    require_client_operator(actor, client, _("Only the client's operators manage its call routing."))


@transaction.atomic
def route_save(*, actor: User, client: Client, rule_set: RuleSet | None = None, rules: list[dict] | None = None,
               **fields) -> RuleSet:  # fmt: skip
    """Create a rule set (rule_set None) or change one (the fields given; the others keep theirs).
    `rules`, when given, are all its rules from now on, in order: dicts of callers, dialled (patterns),
    schedule (an id or None), when_open, destination_kind and destination_target. Every bad field is a
    field error naming it."""
    from telephony.destinations import clean

    _require_operator(actor, client)
    with tenant_context(client):
        item = rule_set or RuleSet()
        errors: dict[str, list[str]] = {}
        take(item, fields, FIELDS, errors, none_as="")
        if "name" not in errors and RuleSet.objects.filter(name=item.name).exclude(pk=item.pk).exists():
            _add(errors, "name", _("A rule set named %(name)s exists already.") % {"name": item.name})
        try:
            item.default_kind, item.default_target = clean(client, item.default_kind, item.default_target,
                                                           field="default")  # fmt: skip
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, name, messages)
        rows = None if rules is None else _rows(client, rules, errors)
        try:
            item.full_clean(exclude=list(errors), validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, name, messages)
        if not errors:
            _check_loops(item, rows, errors)
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        if rows is not None:
            item.rules.all().delete()
            Rule.objects.bulk_create([Rule(rule_set=item, position=n, **row) for n, row in enumerate(rows, start=1)])
        audit(actor, "route.create" if created else "route.update", item, client=client,
              fields=sorted([*fields, *(["rules"] if rules is not None else [])]))  # fmt: skip
    sip_directory_rooms_changed(client)  # the engines read the rule sets with the dial plan
    return item


def _rows(client: Client, rules, errors: dict) -> list[dict]:
    """The rules as stored; each bad row's fields as `rules.<n>.<field>` errors."""
    from telephony.destinations import clean
    from telephony.models import Schedule

    rows = []
    if not isinstance(rules, list | tuple):
        _add(errors, "rules", _("The rules are a list of conditions and a destination."))
        return rows
    if len(rules) > MAX_RULES:
        _add(errors, "rules", _("At most %(max)s rules.") % {"max": MAX_RULES})
        return rows
    for n, rule in enumerate(rules):
        prefix, bad = f"rules.{n}.", False
        if not isinstance(rule, dict):
            _add(errors, f"rules.{n}", _("Conditions and a destination."))
            continue
        row = {}
        for name in ("callers", "dialled"):
            value = rule.get(name)
            if value is not None and not isinstance(value, str | list | tuple):
                _add(errors, prefix + name, _("Patterns, separated by spaces."))
                bad = True
                continue
            row[name] = split_patterns(value)
            found = pattern_errors(row[name])
            if found:
                _add(errors, prefix + name, found)
                bad = True
        schedule = rule.get("schedule")
        schedule = getattr(schedule, "pk", schedule)
        if schedule in (None, ""):
            row["schedule"] = None
        elif str(schedule).isdigit() and Schedule.objects.filter(pk=int(schedule)).exists():
            row["schedule"] = int(schedule)
        else:
            _add(errors, prefix + "schedule", _("No schedule of the company has the id %(id)s.") % {"id": schedule})
            bad = True
        when = rule.get("when_open", True)
        row["when_open"] = when if isinstance(when, bool) else str(when).lower() not in ("closed", "false", "0", "")
        if not bad and not (row["callers"] or row["dialled"] or row["schedule"]):
            _add(errors, f"rules.{n}", _("Give the rule a condition at least (callers, dialled number or schedule)."))
            bad = True
        kind, target = rule.get("destination_kind") or "", rule.get("destination_target") or ""
        if not str(kind).strip():
            _add(errors, prefix + "destination_kind", _("Choose where the rule sends the call."))
            continue
        try:
            kind, target = clean(client, str(kind), str(target), field="destination")
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                _add(errors, prefix + name, messages)
            continue
        if not bad:
            rows.append({**row, "destination_kind": kind, "destination_target": target})
    return rows


def _check_loops(item: RuleSet, rows: list[dict] | None, errors: dict) -> None:
    me = node_key("route", item.pk)
    graph = graph_without(me)
    if rows is None:
        rows = list(item.rules.values("destination_kind", "destination_target")) if item.pk else []
    ways = [(row["destination_kind"], row["destination_target"]) for row in rows]
    graph[me] = Node(item.name, False, [*ways, (item.default_kind, item.default_target)])
    cycle = route_cycle(graph, me)
    if cycle:
        _add(errors, "rules", _("Calls would go round these rule sets forever: %(names)s. Point a rule or a "
                                "default elsewhere.") % {"names": ", ".join(cycle)})  # fmt: skip
        return
    stuck = trapped(graph, me)
    if stuck and any(kind == "route" or kind == "menu" for kind, _t in graph[me].ways):
        _add(errors, "rules", _("Callers could go round these menus and rule sets forever: %(names)s. Give one a "
                                "destination that is neither a menu nor a rule set.")
             % {"names": ", ".join(stuck)})  # fmt: skip


def schedule_users(schedule_id: int) -> list[str]:
    """The rule sets whose rules follow the schedule (client schema), for people."""
    names = RuleSet.objects.filter(rules__schedule=schedule_id).values_list("name", flat=True)
    return [_("rule set %(name)s") % {"name": name} for name in sorted(set(names))]


@transaction.atomic
def route_delete(*, actor: User, client: Client, rule_set: RuleSet) -> None:
    """Remove a rule set nothing points at (else a field error saying what does)."""
    _require_operator(actor, client)
    delete_unused(actor=actor, client=client, kind_name="route", row=rule_set, field="rule_set", action="route.delete",
                  refusal=_("These lead to the rule set: %(users)s. Point them elsewhere first."))  # fmt: skip
