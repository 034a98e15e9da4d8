"""A brand's outbound routes (a prefix or a regular expression to carriers) and its routing policy
(the carrier health thresholds)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from billing.models import Carrier
from pstn.models import OutboundRoute, RouteCarrier, RoutingPolicy
from pstn.services.common import _brand_scope, _changes, _clean, _no_nul, _require, _usable
from tenants.audit import audit
from tenants.models import Brand, Role, User

ROUTE_FIELDS = ("name", "pattern_kind", "pattern", "mode", "position", "enabled")
ROUTING_POLICY_FIELDS = ("min_asr", "max_server_errors", "window")


WHOLE = {
    "priority": lambda: gettext("The priority is a whole number from 0 to 32767."),
    "weight": lambda: gettext("The weight is a whole number from 0 to 32767."),
}


def _pattern_check(route: OutboundRoute) -> None:
    if len(route.pattern) > 200:
        raise ValidationError({"pattern": gettext("At most 200 characters.")})
    if route.pattern_kind == OutboundRoute.Kind.PREFIX:
        route.pattern = route.pattern.lstrip("+")
        if route.pattern and not re.fullmatch(r"[0-9]{1,15}", route.pattern):
            raise ValidationError({"pattern": gettext("A prefix is 1 to 15 digits of the E.164 number, such as 4420.")})
    elif route.pattern_kind == OutboundRoute.Kind.REGEX:
        if not route.pattern:
            raise ValidationError(
                {"pattern": gettext("Give a regular expression over the E.164 digits, such as ^44(20|7).")}
            )
        try:
            re.compile(route.pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            raise ValidationError(
                {"pattern": (gettext("Not a regular expression: %(problem)s.") % {"problem": exc})[:300]}
            ) from None


def _route_check(route: OutboundRoute) -> None:
    """Field errors for the whole route at once: its pattern's and full_clean's."""
    route.name = (route.name or "").strip()
    route.pattern = (route.pattern or "").strip()
    errors: dict[str, list[str]] = {}
    try:
        _pattern_check(route)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        _clean(route, exclude=["brand", *errors])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


@dataclass
class Member:
    carrier: Carrier
    priority: int = 1
    weight: int = 1


def _members_set(route: OutboundRoute, members: list) -> None:
    members = [m if isinstance(m, Member) else Member(**m) for m in members]
    seen = set()
    for member in members:
        _usable(member.carrier, route.brand_id, field="carriers")
        if member.carrier.pk in seen:
            raise ValidationError(
                {"carriers": gettext("%(carrier)s is in the route twice.") % {"carrier": member.carrier.name}}
            )
        seen.add(member.carrier.pk)
        for name in ("priority", "weight"):
            if not 0 <= int(getattr(member, name)) <= 32767:
                raise ValidationError({"carriers": WHOLE[name]()})
    route.members.all().delete()
    RouteCarrier.objects.bulk_create(
        RouteCarrier(route=route, carrier=m.carrier, priority=m.priority, weight=m.weight) for m in members
    )


@transaction.atomic
def outbound_route_create(*, actor: User, brand: Brand, carriers: list | None = None, **fields) -> OutboundRoute:
    """A brand's outbound route: a pattern to carriers (the platform's or the brand's own)."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, brand.pk)
    _no_nul(fields)
    unknown = set(fields) - set(ROUTE_FIELDS)
    if unknown:
        raise ValidationError({name: gettext("Unknown field.") for name in unknown})
    route = OutboundRoute(brand=brand, **fields)
    _route_check(route)
    route.save()
    _members_set(route, carriers or [])
    audit(actor, "route.create", route, brand=brand, changed=_changes(fields))
    return route


@transaction.atomic
def outbound_route_update(
    *, actor: User, route: OutboundRoute, carriers: list | None = None, **fields
) -> OutboundRoute:
    """Change a route; `carriers`, when given, replaces its carriers."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, route.brand_id)
    _no_nul(fields)
    for name in ROUTE_FIELDS:
        if name in fields:
            setattr(route, name, fields[name])
    _route_check(route)
    route.save()
    if carriers is not None:
        _members_set(route, carriers)
    audit(actor, "route.update", route, brand=route.brand, changed=_changes(fields),
          **({"carriers": [str(m) for m in carriers]} if carriers is not None else {}))  # fmt: skip
    return route


@transaction.atomic
def outbound_route_delete(*, actor: User, route: OutboundRoute) -> None:
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, route.brand_id)
    audit(actor, "route.delete", route, brand=route.brand)
    route.delete()


def routing_policy_of(brand: Brand) -> RoutingPolicy:
    """A brand's carrier health thresholds, created with the defaults when missing."""
    return RoutingPolicy.objects.get_or_create(brand=brand)[0]


@transaction.atomic
def routing_policy_update(*, actor: User, brand: Brand, **fields) -> RoutingPolicy:
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, brand.pk)
    policy = routing_policy_of(brand)
    for name in ROUTING_POLICY_FIELDS:
        if name in fields:
            setattr(policy, name, fields[name])
    _clean(policy, exclude=["brand"])
    policy.save()
    audit(actor, "routing_policy.update", policy, brand=brand, changed=_changes(fields))
    return policy
