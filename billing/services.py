"""Writes of the rating part of billing: carriers (god: the platform's; brands: their own), rate decks
and their CSV import (god and brands), clients' pricing plans, and rating unrated calls again. Each
takes the acting account first, checks its right, writes atomically and leaves an audit row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from billing.decks import deck_replace_rates, parse_deck
from billing.models import Carrier, PricingPlan, RateDeck, Rating
from billing.rating import RatingRun, rate_again
from tenants.audit import audit
from tenants.errors import PlatformError
from tenants.models import Brand, Client, Role, User
from tenants.scoping import require_brand as _in_scope
from tenants.scoping import require_role as _require


class DeckInUse(PlatformError):
    code = "deck-in-use"
    status = 409


class CarrierInUse(PlatformError):
    code = "carrier-in-use"
    status = 409


def _deck_brand(deck: RateDeck) -> int | None:
    """The brand a deck belongs to: its own, or its carrier's (None: a platform carrier's deck)."""
    return deck.brand_id or (deck.carrier.brand_id if deck.carrier_id else None)


def _clean(obj, exclude=None) -> None:
    obj.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


# Carriers --------------------------------------------------------------------------------------

CARRIER_FIELDS = ("name", "priority", "enabled", "max_calls", "number_format", "country", "codecs")
CODECS = {"PCMU", "PCMA", "G722", "GSM", "OPUS", "SPEEX", "ILBC", "L16", "TELEPHONE-EVENT"}


def _carrier_check(carrier: Carrier, errors: dict | None = None) -> None:
    """Field errors for the whole carrier at once: full_clean's, and what it does not know (the country,
    the codecs list, a name in use). `errors` may hold refusals found before."""
    errors = dict(errors or {})
    try:
        _clean(carrier)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    carrier.country = (carrier.country or "").strip().upper()
    if carrier.country not in phonenumbers.SUPPORTED_REGIONS:
        errors.setdefault("country", [_("Use a two-letter ISO 3166 country code, such as DE or US.")])
    codecs = [c.strip().upper() for c in (carrier.codecs or "").split(",") if c.strip()]
    unknown = [c for c in codecs if c not in CODECS]
    if not codecs or unknown:
        errors["codecs"] = [
            (_("List codecs separated by commas, among %(codecs)s.") % {"codecs": ", ".join(sorted(CODECS))})[:300]
        ]
    carrier.codecs = ",".join(dict.fromkeys(codecs))
    if Carrier.objects.filter(name__iexact=carrier.name).exclude(pk=carrier.pk).exists():
        errors.setdefault("name", [_("A carrier named %(name)s exists already.") % {"name": carrier.name}])
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def carrier_create(
    *, actor: User, name: str, priority: int = 10, currency: str = "EUR", brand: Brand | None = None, **fields
) -> Carrier:
    """A carrier and its (empty) cost deck, named after it: god's are the platform's (or a brand's it
    names), a brand operator's are its brand's own."""
    _require(actor, Role.GOD, Role.BRAND)
    errors = {}
    if actor.role == Role.BRAND:
        if brand is not None and brand.pk != actor.brand_id:
            errors["brand"] = [_("Choose your own brand.")]
        brand = actor.brand
    unknown = set(fields) - set(CARRIER_FIELDS)
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in unknown})
    carrier = Carrier(name=name.strip(), priority=priority, brand=brand, **fields)
    _carrier_check(carrier, errors)
    carrier.save()
    deck = RateDeck(carrier=carrier, name=carrier.name, currency=currency)
    _clean(deck)
    deck.save()
    audit(actor, "carrier.create", carrier, brand=brand)
    return carrier


@transaction.atomic
def carrier_update(*, actor: User, carrier: Carrier, **fields) -> Carrier:
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, carrier.brand_id)
    for name in CARRIER_FIELDS:
        if name in fields:
            setattr(carrier, name, fields[name].strip() if name == "name" else fields[name])
    _carrier_check(carrier)
    carrier.save()
    RateDeck.objects.filter(carrier=carrier).update(name=carrier.name)
    audit(actor, "carrier.update", carrier, brand=carrier.brand, **{k: str(v) for k, v in fields.items()})
    return carrier


@transaction.atomic
def carrier_delete(*, actor: User, carrier: Carrier) -> None:
    """Its deck and gateways go with it; calls already rated keep their cost. A carrier that numbers
    come from stays until they move to another carrier."""
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, carrier.brand_id)
    if carrier.numbers.exists():
        raise CarrierInUse(
            _("%(count)s numbers come from %(name)s; move them first.")
            % {"count": carrier.numbers.count(), "name": carrier.name}
        )
    audit(actor, "carrier.delete", carrier, brand=carrier.brand)
    carrier.delete()


# Rate decks ------------------------------------------------------------------------------------


def _name_free(brand: Brand, name: str, deck: RateDeck | None = None) -> None:
    taken = RateDeck.objects.filter(brand=brand, name__iexact=name)
    if deck is not None:
        taken = taken.exclude(pk=deck.pk)
    if taken.exists():
        raise ValidationError({"name": _("The brand has a deck named %(name)s already.") % {"name": name}})


@transaction.atomic
def deck_create(*, actor: User, brand: Brand, name: str, currency: str = "EUR") -> RateDeck:
    """An empty sell deck of a brand (god: any brand; a brand operator: their own)."""
    _require(actor, Role.GOD, Role.BRAND)
    if actor.role == Role.BRAND and brand.pk != actor.brand_id:
        raise ValidationError({"brand": _("Choose your own brand.")})
    deck = RateDeck(brand=brand, name=name.strip(), currency=currency.strip().upper())
    errors = {}
    for check in (lambda: _clean(deck), lambda: _name_free(brand, deck.name)):
        try:
            check()
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, messages)
    if errors:
        raise ValidationError(errors)
    deck.save()
    audit(actor, "deck.create", deck, brand=brand)
    return deck


@transaction.atomic
def deck_update(*, actor: User, deck: RateDeck, **fields) -> RateDeck:
    """Rename a deck or change its currency (a carrier's deck is named after its carrier)."""
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, _deck_brand(deck))
    if "name" in fields:
        if deck.carrier_id:
            raise ValidationError({"name": _("A carrier's deck has the carrier's name; rename the carrier.")})
        deck.name = fields["name"].strip()
    if "currency" in fields:
        deck.currency = fields["currency"].strip().upper()
    errors = {}
    try:
        _clean(deck, exclude=["brand", "carrier"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if deck.brand_id and "name" not in errors:
        try:
            _name_free(deck.brand, deck.name, deck)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    deck.save()
    audit(actor, "deck.update", deck, brand=deck.brand, **{k: str(v) for k, v in fields.items()})
    return deck


@transaction.atomic
def deck_delete(*, actor: User, deck: RateDeck) -> None:
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, _deck_brand(deck))
    if deck.carrier_id:
        raise ValidationError(_("A carrier's deck goes with its carrier."))
    users = list(deck.plans.select_related("client").values_list("client__name", flat=True)[:5])
    if users:
        raise DeckInUse(
            _("The deck prices the calls of %(clients)s; give them another deck first.") % {"clients": ", ".join(users)}
        )
    audit(actor, "deck.delete", deck, brand=deck.brand)
    deck.delete()


def deck_import(*, actor: User, deck: RateDeck, data: bytes) -> int:
    """Replace a deck's rates with a CSV file's, all or nothing (billing.decks.DeckInvalid names every
    bad row). The number of rates imported."""
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, _deck_brand(deck))
    rows = parse_deck(data)
    with transaction.atomic():
        RateDeck.objects.select_for_update().get(pk=deck.pk)  # two imports of one deck queue up
        count = deck_replace_rates(deck, rows)
        deck.save(update_fields=["updated_at"])
        audit(actor, "deck.import", deck, brand=deck.brand, rates=count)
    return count


# Pricing plans ---------------------------------------------------------------------------------


@transaction.atomic
def plan_set(
    *,
    actor: User,
    client: Client,
    deck: RateDeck,
    kind: str = PricingPlan.Kind.DECK,
    monthly_fee: Decimal = Decimal(0),
    included_minutes: int = 0,
    conference_rate: Decimal | None = None,
) -> PricingPlan:
    """Give a client its pricing plan, or change it; the deck is one of the client's brand's. Calls
    already rated keep their price."""
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, client.brand_id)
    if deck.brand_id != client.brand_id:
        raise ValidationError({"deck": _("Choose one of the client's brand's decks.")})
    plan = PricingPlan.objects.filter(client=client).first() or PricingPlan(client=client)
    plan.kind, plan.deck = kind, deck
    flat = kind == PricingPlan.Kind.FLAT
    plan.monthly_fee = monthly_fee if flat else Decimal(0)
    plan.included_minutes = included_minutes if flat else 0
    plan.conference_rate = conference_rate
    _clean(plan, exclude=["client"])
    for name in ("monthly_fee", "conference_rate"):
        if (getattr(plan, name) or 0) < 0:
            raise ValidationError({name: _("Must not be negative.")})
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise ValidationError({"client": _("The client has a plan already.")}) from None
    audit(
        actor,
        "plan.set",
        plan,
        client=client,
        kind=kind,
        deck=deck.pk,
        monthly_fee=str(plan.monthly_fee),
        included_minutes=plan.included_minutes,
        conference_rate=str(conference_rate),
    )
    return plan


@transaction.atomic
def plan_delete(*, actor: User, plan: PricingPlan) -> None:
    """The client's next calls are unrated until it has a plan again."""
    _require(actor, Role.GOD, Role.BRAND)
    _in_scope(actor, plan.client.brand_id)
    audit(actor, "plan.delete", plan, client=plan.client)
    plan.delete()


# Rating ----------------------------------------------------------------------------------------


def rating_retry(*, actor: User, since: dt.datetime | None = None, until: dt.datetime | None = None) -> RatingRun:
    """Rate the unrated calls in the actor's scope again (after a plan or a rate was added)."""
    _require(actor, Role.GOD, Role.BRAND)
    ratings = Rating.objects.restrict(actor).filter(status=Rating.Status.UNRATED).started_within(since, until)
    run = rate_again(ratings)
    audit(actor, "rating.retry", "unrated calls", brand=actor.brand, rated=run.rated, unrated=run.unrated)
    return run
