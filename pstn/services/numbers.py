"""A brand's numbers: added one at a time or many at once (a range, a list, CSV), assigned to its
clients, and pointed by each client at a destination (telephony/destinations.py)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext
from django_tenants.utils import schema_context

from billing.models import Carrier
from pstn.directory import pstn_carrier_changed
from pstn.models import Number, OutboundPolicy
from pstn.services.common import _brand_scope, _changes, _clean, _no_nul, _require, _usable
from telephony import destinations
from telephony.models import Schedule
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Brand, Client, Role, User

MAX_BULK = 1000
NUMBER_ROUTE_FIELDS = ("destination_kind", "destination_target", "schedule", "closed_kind", "closed_target")


def normalise_e164(text: str) -> str:
    """A number as stored (+ and digits), from +E.164 written with spaces, dots or dashes; ValueError
    with a message for people when it is not a valid number."""
    text = (text or "").strip()
    if "\x00" in text or len(text) > 40:
        raise ValueError(gettext("Not a phone number."))
    cleaned = re.sub(r"[\s.()\-]", "", text)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not re.fullmatch(r"\+[1-9][0-9]{5,14}", cleaned):
        raise ValueError(
            gettext("%(text)s is not in the E.164 form (+ and 6 to 15 digits).")
            % {"text": text[:40] or gettext("(empty)")}
        )
    try:
        parsed = phonenumbers.parse(cleaned, None)
    except phonenumbers.NumberParseException:
        raise ValueError(gettext("%(number)s is not a phone number.") % {"number": cleaned}) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(gettext("%(number)s is not a valid number.") % {"number": cleaned})
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
        raise ValidationError({field: gettext("Use an amount such as 1.50.")}) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
        raise ValidationError({field: gettext("Use an amount from 0 to 9999999999.")})
    return amount.quantize(Decimal("0.0001"))


def _number_client(number: Number, client: Client | None) -> None:
    if client is not None and client.brand_id != number.brand_id:
        raise ValidationError({"client": gettext("Choose one of the brand's clients.")})
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
    carrier: Carrier | None,
    monthly_cost=0,
    monthly_price=0,
    client: Client | None = None,
) -> Number:
    """A number into a brand's inventory, free or assigned to one of its clients."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, brand.pk)
    errors: dict[str, list[str]] = {}  # every refused field at once

    def collect(check, *args):
        try:
            return check(*args)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, messages)

    try:
        e164 = normalise_e164(e164)
    except ValueError as exc:
        errors["e164"] = [str(exc)]
    if carrier is not None:
        collect(_usable, carrier, brand.pk)
    if "e164" not in errors and Number.objects.filter(e164=e164).exists():
        errors["e164"] = [gettext("%(number)s is in an inventory already.") % {"number": e164}]
    number = Number(brand=brand, e164=e164, carrier=carrier, monthly_cost=collect(_money, monthly_cost, "monthly_cost"),
                    monthly_price=collect(_money, monthly_price, "monthly_price"))  # fmt: skip
    collect(_number_client, number, client)
    collect(_clean, number)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            number.save()
    except IntegrityError:  # added by someone else a moment ago
        raise ValidationError({"e164": gettext("%(number)s is in an inventory already.") % {"number": e164}}) from None
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
            raise ValueError(gettext("A range goes from a first to a last number of the same length."))
        if int(last[1:]) - int(first[1:]) >= MAX_BULK:
            raise ValueError(gettext("A range holds at most %(most)s numbers.") % {"most": MAX_BULK})
        width = len(first) - 1
        return [f"+{n:0{width}d}" for n in range(int(first[1:]), int(last[1:]) + 1)]
    return [normalise_e164(text)]


def parse_bulk(text: str, monthly_cost=0, monthly_price=0) -> list[BulkRow]:
    """Lines of `number[,monthly_cost[,monthly_price]]` (a number may be a range first-last; a first
    line naming the columns is skipped). Every bad line is a message under `numbers`."""
    if "\x00" in (text or ""):
        raise ValidationError({"numbers": gettext("Must not contain NUL characters.")})
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
                raise ValueError(gettext("Use number, monthly cost, monthly price."))
            row_cost = _money(cells[1], "monthly_cost") if len(cells) > 1 and cells[1] else cost
            row_price = _money(cells[2], "monthly_price") if len(cells) > 2 and cells[2] else price
            numbers = _expand(cells[0])
        except (ValueError, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            errors.append(gettext("Line %(line)s: %(problem)s") % {"line": line, "problem": message})
            continue
        for e164 in numbers:
            if e164 in seen:
                errors.append(
                    gettext("Line %(line)s: %(number)s is in the list twice.") % {"line": line, "number": e164}
                )
            seen.add(e164)
            rows.append(BulkRow(line, e164, row_cost, row_price))
        if len(rows) > MAX_BULK:
            raise ValidationError({"numbers": gettext("At most %(most)s numbers at once.") % {"most": MAX_BULK}})
        if len(errors) >= 50:
            break
    if not rows and not errors:
        errors.append(gettext("No numbers given."))
    taken = set(Number.objects.filter(e164__in=[r.e164 for r in rows]).values_list("e164", flat=True))
    already = gettext("Line %(line)s: %(number)s is in an inventory already.")
    errors += [already % {"line": r.line, "number": r.e164} for r in rows if r.e164 in taken][:50]
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
    errors: dict[str, list[str]] = {}  # every refused field at once
    try:
        _usable(carrier, brand.pk)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if client is not None and client.brand_id != brand.pk:
        errors["client"] = [gettext("Choose one of the brand's clients.")]
    try:
        rows = parse_bulk(numbers, monthly_cost, monthly_price)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            created = Number.objects.bulk_create(
                Number(brand=brand, e164=r.e164, carrier=carrier, monthly_cost=r.monthly_cost,
                       monthly_price=r.monthly_price, client=client)
                for r in rows
            )  # fmt: skip
    except IntegrityError:  # some were added by someone else a moment ago
        raise ValidationError(
            {"numbers": gettext("Some of these numbers were just added elsewhere; try again.")}
        ) from None
    if client is not None:  # (bulk_create sends no signal) routable at once: the carrier's did hash
        pstn_carrier_changed(carrier.pk)
    audit(actor, "number.bulk_add", f"{len(created)} numbers", brand=brand, client=client, carrier=carrier.pk,
          first=rows[0].e164, last=rows[-1].e164)  # fmt: skip
    return created


def _route_fields(number: Number, fields: dict) -> None:
    """Where a number goes, checked in its client's schema; every refused field at once."""
    client = number.client
    if client is None:
        raise ValidationError({"destination_kind": gettext("Assign the number to a client first.")})
    errors: dict[str, list[str]] = {}

    def destination(field: str) -> tuple[str, str]:
        try:
            return destinations.clean(client, fields.get(f"{field}_kind", getattr(number, f"{field}_kind")),
                                      fields.get(f"{field}_target", getattr(number, f"{field}_target")),
                                      field=field)  # fmt: skip
        except ValidationError as exc:
            errors.update(exc.message_dict)
            return "", ""

    kind, target = destination("destination")
    closed = destination("closed")
    schedule = fields.get("schedule", number.schedule)
    bad_id = gettext("Use a schedule's id (a whole number above 0), or nothing.")
    if schedule in ("", None):
        schedule = None
    else:
        try:
            schedule = int(schedule)
        except (TypeError, ValueError):
            schedule = None
            errors["schedule"] = [bad_id]
        if schedule is not None and not 0 < schedule < 2**31:
            schedule = None
            errors["schedule"] = [bad_id]
    if schedule and not closed[0] and "closed_kind" not in errors and "closed_target" not in errors:
        errors["closed_kind"] = [gettext("Say where calls go when the schedule says closed.")]
    if schedule:
        with schema_context(client.schema_name):
            if not Schedule.objects.filter(pk=schedule).exists():
                errors["schedule"] = [gettext("The company has no such schedule.")]
    if errors:
        raise ValidationError(errors)
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
            raise NotAllowed(gettext("Not your number."))
        refused = set(fields) - set(NUMBER_ROUTE_FIELDS)
        if refused:
            raise ValidationError({name: gettext("Only the brand changes this.") for name in refused})
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
