"""Writes of the phone-network side: carriers' gateways, brands' numbers (one, a range or a list at
once) and where each goes, outbound routes and their carriers, the brands' routing policies and the
clients' outbound policies. Each takes the acting account first, checks its right and scope, writes
atomically and leaves an audit row; bad input is a ValidationError that names the field.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from billing.models import Carrier
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier, RoutingPolicy
from telephony import destinations
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Brand, Client, Role, User

LABEL = r"[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)({LABEL}\.)*{LABEL}$")
MAX_BULK = 1000
MAX_NETWORKS = 100
GATEWAY_FIELDS = ("name", "host", "port", "transport", "register", "username", "password", "realm",
                  "inbound_networks", "enabled")  # fmt: skip
NUMBER_ROUTE_FIELDS = ("destination_kind", "destination_target", "schedule", "closed_kind", "closed_target")
ROUTE_FIELDS = ("name", "pattern_kind", "pattern", "mode", "position", "enabled")
POLICY_FIELDS = ("allow_national", "allow_mobile", "allow_international", "allow_premium", "blocked_prefixes",
                 "caller_id", "main_number", "international_calls_per_hour",
                 "international_minutes_per_hour")  # fmt: skip
CLIENT_POLICY_FIELDS = ("caller_id", "main_number")
ROUTING_POLICY_FIELDS = ("min_asr", "max_server_errors", "window")


def _require(actor: User, *roles: str) -> None:
    if actor.role not in roles:
        raise NotAllowed("Your role may not do this.")


def _brand_scope(actor: User, brand_id: int | None) -> None:
    """Defence in depth: the views already reach rows through restrict()."""
    if actor.role == Role.BRAND and brand_id != actor.brand_id:
        raise NotAllowed("Not in your brand.")


def _no_nul(fields: dict) -> None:
    """PostgreSQL text holds no NUL: a field error rather than a database error."""
    bad = {name: "Must not contain NUL characters." for name, v in fields.items() if isinstance(v, str) and "\x00" in v}
    if bad:
        raise ValidationError(bad)


def _clean(obj, exclude=None) -> None:
    obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


def _changes(fields: dict) -> dict:
    return {k: str(v) for k, v in fields.items() if k != "password"}


def carriers_usable(brand_id: int | None) -> QuerySet[Carrier]:
    """The carriers a brand may send numbers and routes to: the platform's and its own."""
    return Carrier.objects.filter(Q(brand__isnull=True) | Q(brand_id=brand_id)).order_by("priority", "name")


def _usable(carrier: Carrier, brand_id: int, field: str = "carrier") -> None:
    if carrier.brand_id not in (None, brand_id):
        raise ValidationError({field: "Choose one of the platform's carriers or one of the brand's own."})


# Gateways --------------------------------------------------------------------------------------


def parse_networks(text: str) -> str:
    """Each line an address or a network (CIDR), as stored (one per line, normalised)."""
    lines = [line.strip() for line in (text or "").replace("\r", "\n").split("\n") if line.strip()]
    if len(lines) > MAX_NETWORKS:
        raise ValidationError({"inbound_networks": f"At most {MAX_NETWORKS} networks."})
    networks, errors = [], []
    for number, line in enumerate(lines, start=1):
        try:
            networks.append(str(ipaddress.ip_network(line, strict=False)))
        except ValueError:
            errors.append(f"Line {number}: {line[:60]} is not an IP address or network (such as 192.0.2.0/24).")
    if errors:
        raise ValidationError({"inbound_networks": errors})
    return "\n".join(networks)


def _gateway_check(gateway: Gateway) -> None:
    gateway.host = gateway.host.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(gateway.host)
    except ValueError:
        if not HOSTNAME.match(gateway.host) or gateway.host.replace(".", "").isdigit():
            raise ValidationError({"host": "Use an IP address or a DNS name such as sip.carrier.example."}) from None
    gateway.inbound_networks = parse_networks(gateway.inbound_networks)
    if gateway.register and not (gateway.username and gateway.password):
        raise ValidationError({"username": "Registration needs a username and a password."})
    _clean(gateway, exclude=["carrier"])
    taken = Gateway.objects.filter(carrier_id=gateway.carrier_id, name__iexact=gateway.name).exclude(pk=gateway.pk)
    if taken.exists():
        raise ValidationError({"name": f"The carrier has a gateway named {gateway.name} already."})


@transaction.atomic
def gateway_create(*, actor: User, carrier: Carrier, **fields) -> Gateway:
    """A gateway of a carrier the actor manages (god: any; a brand: its own carriers)."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, carrier.brand_id)
    _no_nul(fields)
    unknown = set(fields) - set(GATEWAY_FIELDS)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    gateway = Gateway(carrier=carrier, **fields)
    _gateway_check(gateway)
    gateway.save()
    audit(actor, "gateway.create", gateway, brand=carrier.brand, carrier=carrier.pk, changed=_changes(fields))
    return gateway


@transaction.atomic
def gateway_update(*, actor: User, gateway: Gateway, **fields) -> Gateway:
    """Change a gateway; a password left out keeps the current one."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, gateway.carrier.brand_id)
    _no_nul(fields)
    for name in GATEWAY_FIELDS:
        if name in fields:
            setattr(gateway, name, fields[name])
    _gateway_check(gateway)
    gateway.save()
    audit(actor, "gateway.update", gateway, brand=gateway.carrier.brand, changed=_changes(fields))
    return gateway


@transaction.atomic
def gateway_delete(*, actor: User, gateway: Gateway) -> None:
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, gateway.carrier.brand_id)
    audit(actor, "gateway.delete", gateway, brand=gateway.carrier.brand)
    gateway.delete()


# Numbers ---------------------------------------------------------------------------------------


def normalise_e164(text: str) -> str:
    """A number as stored (+ and digits), from +E.164 written with spaces, dots or dashes; ValueError
    with a message for people when it is not a valid number."""
    text = (text or "").strip()
    if "\x00" in text or len(text) > 40:
        raise ValueError("Not a phone number.")
    cleaned = re.sub(r"[\s.()\-]", "", text)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not re.fullmatch(r"\+[1-9][0-9]{5,14}", cleaned):
        raise ValueError(f"{text[:40] or '(empty)'} is not in the E.164 form (+ and 6 to 15 digits).")
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{cleaned} is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{cleaned} is not a valid number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national(e164: str, country: str) -> str:
    """A number as people in `country` dial it: national within the country, else with its
    international prefix."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(parsed) == country:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_out_of_country_calling_number(parsed, country)


def _money(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip() or "0")
    except (InvalidOperation, ValueError):
        raise ValidationError({field: "Use an amount such as 1.50."}) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise ValidationError({field: "Use an amount from 0 to 9999999999."})
    return amount.quantize(Decimal("0.0001"))


def _number_client(number: Number, client: Client | None) -> None:
    if client is not None and client.brand_id != number.brand_id:
        raise ValidationError({"client": "Choose one of the brand's clients."})
    if (client.pk if client else None) != number.client_id:
        # A number that changes hands goes nowhere until its new client points it somewhere.
        for name in NUMBER_ROUTE_FIELDS:
            setattr(number, name, None if name == "schedule" else "")
        if number.pk:
            OutboundPolicy.objects.filter(main_number=number).update(main_number=None)
    number.client = client


@transaction.atomic
def number_create(
    *,
    actor: User,
    brand: Brand,
    e164: str,
    carrier: Carrier,
    monthly_cost=0,
    monthly_price=0,
    client: Client | None = None,
) -> Number:
    """A number into a brand's inventory, free or assigned to one of its clients."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, brand.pk)
    try:
        e164 = normalise_e164(e164)
    except ValueError as exc:
        raise ValidationError({"e164": str(exc)}) from None
    _usable(carrier, brand.pk)
    if Number.objects.filter(e164=e164).exists():
        raise ValidationError({"e164": f"{e164} is in an inventory already."})
    number = Number(brand=brand, e164=e164, carrier=carrier, monthly_cost=_money(monthly_cost, "monthly_cost"),
                    monthly_price=_money(monthly_price, "monthly_price"))  # fmt: skip
    _number_client(number, client)
    _clean(number)
    try:
        with transaction.atomic():
            number.save()
    except IntegrityError:  # added by someone else a moment ago
        raise ValidationError({"e164": f"{e164} is in an inventory already."}) from None
    audit(actor, "number.create", number, brand=brand, client=client, carrier=carrier.pk)
    return number


@dataclass
class BulkRow:
    line: int
    e164: str
    monthly_cost: Decimal
    monthly_price: Decimal


def _expand(text: str) -> list[str]:
    """A line's numbers: one (written with spaces or dashes too), or a range +first-+last (same
    length, at most MAX_BULK)."""
    if re.fullmatch(r"\s*\+[0-9 ]+\s*-\s*\+[0-9 ]+\s*", text):
        first, last = (normalise_e164(part) for part in text.split("-", 1))
        if len(first) != len(last) or int(last[1:]) < int(first[1:]):
            raise ValueError("A range goes from a first to a last number of the same length.")
        if int(last[1:]) - int(first[1:]) >= MAX_BULK:
            raise ValueError(f"A range holds at most {MAX_BULK} numbers.")
        width = len(first) - 1
        return [f"+{n:0{width}d}" for n in range(int(first[1:]), int(last[1:]) + 1)]
    return [normalise_e164(text)]


def parse_bulk(text: str, monthly_cost=0, monthly_price=0) -> list[BulkRow]:
    """Lines of `number[,monthly_cost[,monthly_price]]` (a number may be a range first-last; a first
    line naming the columns is skipped). Every bad line is a message under `numbers`."""
    if "\x00" in (text or ""):
        raise ValidationError({"numbers": "Must not contain NUL characters."})
    cost, price = _money(monthly_cost, "monthly_cost"), _money(monthly_price, "monthly_price")
    rows: list[BulkRow] = []
    errors: list[str] = []
    seen: set[str] = set()
    for line, cells in enumerate(csv.reader(io.StringIO(text or "")), start=1):
        cells = [cell.strip() for cell in cells]
        if not cells or not cells[0] or (line == 1 and cells[0].lower() in ("e164", "number")):
            continue
        try:
            if len(cells) > 3:
                raise ValueError("Use number, monthly cost, monthly price.")
            row_cost = _money(cells[1], "monthly_cost") if len(cells) > 1 and cells[1] else cost
            row_price = _money(cells[2], "monthly_price") if len(cells) > 2 and cells[2] else price
            numbers = _expand(cells[0])
        except (ValueError, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            errors.append(f"Line {line}: {message}")
            continue
        for e164 in numbers:
            if e164 in seen:
                errors.append(f"Line {line}: {e164} is in the list twice.")
            seen.add(e164)
            rows.append(BulkRow(line, e164, row_cost, row_price))
        if len(rows) > MAX_BULK:
            raise ValidationError({"numbers": f"At most {MAX_BULK} numbers at once."})
        if len(errors) >= 50:
            break
    if not rows and not errors:
        errors.append("No numbers given.")
    taken = set(Number.objects.filter(e164__in=[r.e164 for r in rows]).values_list("e164", flat=True))
    errors += [f"Line {r.line}: {r.e164} is in an inventory already." for r in rows if r.e164 in taken][:50]
    if errors:
        raise ValidationError({"numbers": errors[:50]})
    return rows


@transaction.atomic
def number_bulk_add(
    *, actor: User, brand: Brand, carrier: Carrier, numbers: str, monthly_cost=0, monthly_price=0,
    client: Client | None = None,
) -> list[Number]:  # fmt: skip
    """Many numbers at once, all or nothing: every bad line is named and nothing is added."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, brand.pk)
    _usable(carrier, brand.pk)
    if client is not None and client.brand_id != brand.pk:
        raise ValidationError({"client": "Choose one of the brand's clients."})
    rows = parse_bulk(numbers, monthly_cost, monthly_price)
    try:
        with transaction.atomic():
            created = Number.objects.bulk_create(
                Number(brand=brand, e164=r.e164, carrier=carrier, monthly_cost=r.monthly_cost,
                       monthly_price=r.monthly_price, client=client)
                for r in rows
            )  # fmt: skip
    except IntegrityError:  # some were added by someone else a moment ago
        raise ValidationError({"numbers": "Some of these numbers were just added elsewhere; try again."}) from None
    audit(actor, "number.bulk_add", f"{len(created)} numbers", brand=brand, client=client, carrier=carrier.pk,
          first=rows[0].e164, last=rows[-1].e164)  # fmt: skip
    return created


def _route_fields(number: Number, fields: dict) -> None:
    """Where a number goes, checked in its client's schema."""
    client = number.client
    if client is None:
        raise ValidationError({"destination_kind": "Assign the number to a client first."})
    kind, target = destinations.clean(client, fields.get("destination_kind", number.destination_kind),
                                      fields.get("destination_target", number.destination_target))  # fmt: skip
    closed = destinations.clean(client, fields.get("closed_kind", number.closed_kind),
                                fields.get("closed_target", number.closed_target), field="closed")  # fmt: skip
    schedule = fields.get("schedule", number.schedule)
    if schedule in ("", None):
        schedule = None
    else:
        try:
            schedule = int(schedule)
        except (TypeError, ValueError):
            raise ValidationError({"schedule": "Use a schedule's id (a whole number above 0), or nothing."}) from None
        if not 0 < schedule < 2**31:
            raise ValidationError({"schedule": "Use a schedule's id (a whole number above 0), or nothing."})
    if schedule and not closed[0]:
        raise ValidationError({"closed_kind": "Say where calls go when the schedule says closed."})
    number.destination_kind, number.destination_target = kind, target
    number.closed_kind, number.closed_target = closed
    number.schedule = schedule


@transaction.atomic
def number_update(*, actor: User, number: Number, **fields) -> Number:
    """The brand changes a number's carrier, costs and client (and where it goes); the client's
    operators change only where it goes."""
    _no_nul(fields)
    if actor.role == Role.CLIENT:
        if number.client_id != actor.client_id:
            raise NotAllowed("Not your number.")
        refused = set(fields) - set(NUMBER_ROUTE_FIELDS)
        if refused:
            raise ValidationError({name: "Only the brand changes this." for name in refused})
    else:
        _require(actor, Role.GOD, Role.BRAND)
        _brand_scope(actor, number.brand_id)
        if "carrier" in fields:
            _usable(fields["carrier"], number.brand_id)
            number.carrier = fields["carrier"]
        for name in ("monthly_cost", "monthly_price"):
            if name in fields:
                setattr(number, name, _money(fields[name], name))
        if "client" in fields:
            _number_client(number, fields["client"])
    if any(name in fields for name in NUMBER_ROUTE_FIELDS):
        _route_fields(number, fields)
    _clean(number, exclude=["e164"])
    number.save()
    audit(actor, "number.update", number, brand=number.brand, client=number.client, changed=_changes(fields))
    return number


@transaction.atomic
def number_delete(*, actor: User, number: Number) -> None:
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, number.brand_id)
    audit(actor, "number.delete", number, brand=number.brand, client=number.client)
    number.delete()


# Outbound routes -------------------------------------------------------------------------------


def _route_check(route: OutboundRoute) -> None:
    route.name = (route.name or "").strip()
    route.pattern = (route.pattern or "").strip()
    if len(route.pattern) > 200:
        raise ValidationError({"pattern": "At most 200 characters."})
    if route.pattern_kind == OutboundRoute.Kind.PREFIX:
        route.pattern = route.pattern.lstrip("+")
        if route.pattern and not re.fullmatch(r"[0-9]{1,15}", route.pattern):
            raise ValidationError({"pattern": "A prefix is 1 to 15 digits of the E.164 number, such as 4420."})
    elif route.pattern_kind == OutboundRoute.Kind.REGEX:
        if not route.pattern:
            raise ValidationError({"pattern": "Give a regular expression over the E.164 digits, such as ^44(20|7)."})
        try:
            re.compile(route.pattern)
        except (re.error, RecursionError, OverflowError, ValueError) as exc:
            raise ValidationError({"pattern": f"Not a regular expression: {exc}."[:300]}) from None
    _clean(route, exclude=["brand"])


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
            raise ValidationError({"carriers": f"{member.carrier.name} is in the route twice."})
        seen.add(member.carrier.pk)
        for name in ("priority", "weight"):
            if not 0 <= int(getattr(member, name)) <= 32767:
                raise ValidationError({"carriers": f"The {name} is a whole number from 0 to 32767."})
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
        raise ValidationError({name: "Unknown field." for name in unknown})
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


# Policies --------------------------------------------------------------------------------------


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


def outbound_policy_of(client: Client) -> OutboundPolicy:
    """A client's outbound policy, created with the defaults when missing."""
    return OutboundPolicy.objects.get_or_create(client=client)[0]


def _prefixes(text: str) -> str:
    lines = [line.strip().replace(" ", "") for line in (text or "").replace("\r", "\n").split("\n") if line.strip()]
    bad = [line[:30] for line in lines if not re.fullmatch(r"\+?[0-9]{1,15}", line)]
    if bad:
        raise ValidationError({"blocked_prefixes": [f"{line} is not a prefix such as +4490." for line in bad[:20]]})
    if len(lines) > 500:
        raise ValidationError({"blocked_prefixes": "At most 500 prefixes."})
    return "\n".join("+" + line.lstrip("+") for line in dict.fromkeys(lines))


@transaction.atomic
def outbound_policy_update(*, actor: User, client: Client, **fields) -> OutboundPolicy:
    """The brand (or god) edits all of a client's policy; its own operators the caller ID and the main
    number, which must be one of the client's numbers."""
    _no_nul(fields)
    if actor.role == Role.CLIENT:
        if actor.client_id != client.pk:
            raise NotAllowed("Not your company.")
        refused = set(fields) - set(CLIENT_POLICY_FIELDS)
        if refused:
            raise ValidationError({name: "Only the brand changes this." for name in refused})
    else:
        _require(actor, Role.GOD, Role.BRAND)
        _brand_scope(actor, client.brand_id)
    policy = outbound_policy_of(client)
    for name in POLICY_FIELDS:
        if name in fields:
            setattr(policy, name, fields[name])
    if "blocked_prefixes" in fields:
        policy.blocked_prefixes = _prefixes(policy.blocked_prefixes)
    if policy.main_number is not None and policy.main_number.client_id != client.pk:
        raise ValidationError({"main_number": "Choose one of the company's own numbers."})
    _clean(policy, exclude=["client"])
    policy.save()
    audit(actor, "outbound_policy.update", policy, client=client, changed=_changes(fields))
    return policy
