"""The rating of call records (records.Cdr): carriers, rate decks, clients' pricing plans and one
Rating per billable record (billing/rating.py), in the public schema beside the records."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from records.models import Cdr, StartedWithin
from tenants.models import Role
from tenants.scoping import BrandScopedQuerySet, ProviderScopedQuerySet, RestrictedQuerySet

# Rating (issue 6) --------------------------------------------------------------------------------
# Money is Decimal with 4 places everywhere; a deck's rows are matched by the longest prefix of the
# dialled number among the rows in effect when the call started (billing/rating.py).

MONEY = {"max_digits": 14, "decimal_places": 4}
digits = RegexValidator(r"^[0-9]{1,20}$", "Use 1 to 20 digits, such as 44 or 4420.")
currency_code = RegexValidator(r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code such as EUR.")


class CarrierQuerySet(BrandScopedQuerySet):
    """God: every carrier; a brand operator: its own carriers (the platform's are god's business)."""


class Carrier(models.Model):
    """A network that carries calls to and from numbers (a SIP trunk): the platform's (no brand) or a
    brand's own. Its deck is what a call costs; its gateways (pstn.Gateway) are where calls go."""

    class NumberFormat(models.TextChoices):
        PLUS = "plus", _("+E.164 (+493012345678)")
        DIGITS = "digits", _("E.164 digits (493012345678)")
        INTERNATIONAL = "00", _("International prefix 00 (00493012345678)")
        NATIONAL = "national", _("National, in the carrier's country (03012345678)")

    name = models.CharField(max_length=100, unique=True)
    brand = models.ForeignKey("tenants.Brand", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="carriers", help_text="Empty: the platform's carrier.")  # fmt: skip
    priority = models.PositiveSmallIntegerField(
        default=10,
        help_text="Lower first: a call's cost comes from the first carrier whose deck has a rate for the number.",
    )
    enabled = models.BooleanField(default=True)
    max_calls = models.PositiveIntegerField(default=0, help_text="Concurrent calls at most (0: no limit).")
    number_format = models.CharField(max_length=8, choices=NumberFormat.choices, default=NumberFormat.PLUS,
                                     help_text="How numbers are written to the carrier, and read from it.")  # fmt: skip
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166 code, for the national format.")
    codecs = models.CharField(max_length=100, default="PCMU,PCMA", help_text="In order of preference.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CarrierQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return self.name


class RateDeckQuerySet(RestrictedQuerySet):
    def restrict(self, actor):
        """God: every deck (brands' and carriers'); a brand: its own sell decks and its own carriers'
        cost decks; nobody else."""
        if actor.role == Role.GOD:
            return self.all()
        if actor.role == Role.BRAND:
            return self.filter(models.Q(brand_id=actor.brand_id) | models.Q(carrier__brand_id=actor.brand_id))
        return self.none()


class RateDeck(models.Model):
    """A price list by destination prefix: a brand's sell deck for its clients, or a carrier's cost deck."""

    brand = models.ForeignKey("tenants.Brand", null=True, blank=True, on_delete=models.CASCADE, related_name="decks")
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.CASCADE, related_name="decks")
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, default="EUR", validators=[currency_code])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RateDeckQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                name="rate_deck_one_owner",
                condition=models.Q(brand__isnull=False, carrier__isnull=True)
                | models.Q(brand__isnull=True, carrier__isnull=False),
            ),
            models.UniqueConstraint(fields=["brand", "name"], name="rate_deck_name_unique_per_brand"),
            models.UniqueConstraint(fields=["carrier"], name="rate_deck_one_per_carrier"),
        ]

    def __str__(self) -> str:
        return self.name


class Rate(models.Model):
    """One destination of a deck: prefix, price per minute, connection fee, billing increments, validity."""

    deck = models.ForeignKey(RateDeck, on_delete=models.CASCADE, related_name="rates")
    prefix = models.CharField(max_length=20, validators=[digits])
    description = models.CharField(max_length=100)
    price_per_minute = models.DecimalField(**MONEY)
    connection_fee = models.DecimalField(**MONEY, default=0)
    initial_seconds = models.PositiveIntegerField(default=60, help_text="Seconds charged at least (60/60, 30/6, 1/1).")
    increment_seconds = models.PositiveIntegerField(default=60, help_text="Then charged in steps of this many seconds.")
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True, help_text="Empty: until further notice.")

    class Meta:
        ordering = ["prefix", "effective_from"]
        indexes = [models.Index(fields=["deck", "prefix"], name="rate_deck_prefix")]

    def __str__(self) -> str:
        return f"{self.prefix} {self.description}"


class PricingPlanQuerySet(ProviderScopedQuerySet):
    brand_field = "client__brand_id"  # a plan knows its brand through its client


class PricingPlan(models.Model):
    """What a client pays: each call at its brand deck's price, or a flat monthly fee whose included
    minutes are used first, then the deck."""

    class Kind(models.TextChoices):
        DECK = "deck", _("Per call (rate deck)")
        FLAT = "flat", _("Flat monthly fee with included minutes, then the deck")

    client = models.OneToOneField("tenants.Client", on_delete=models.CASCADE, related_name="pricing_plan")
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.DECK)
    deck = models.ForeignKey(RateDeck, on_delete=models.PROTECT, related_name="plans")
    monthly_fee = models.DecimalField(**MONEY, default=0)
    included_minutes = models.PositiveIntegerField(default=0, help_text="Per calendar month (UTC).")
    conference_rate = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        help_text="Price per started minute of a conference join; empty: joins are listed as unrated.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = PricingPlanQuerySet.as_manager()

    class Meta:
        ordering = ["client__name"]

    def __str__(self) -> str:
        return f"{self.client} ({self.kind})"


class RatingQuerySet(StartedWithin):
    """Scoped as ProviderScopedQuerySet: users see no rating."""


class Rating(models.Model):
    """The price and the platform's cost of one finished billable call, written once; or, when it
    could not be priced (no plan, no rate), the reason, so that the call is listed and never free."""

    class Status(models.TextChoices):
        RATED = "rated", _("Rated")
        UNRATED = "unrated", _("Unrated")

    # Like the record's own references, no database constraint: nothing may stop a record's removal.
    cdr = models.OneToOneField(Cdr, primary_key=True, on_delete=models.CASCADE, db_constraint=False,
                               related_name="rating")  # fmt: skip
    # Copied from the record, so statements and lists read this table alone.
    brand = models.ForeignKey("tenants.Brand", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    client = models.ForeignKey("tenants.Client", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    started_at = models.DateTimeField()
    service = models.CharField(max_length=12, choices=Cdr.Service.choices)
    status = models.CharField(max_length=8, choices=Status.choices)
    reason = models.CharField(max_length=200, blank=True)
    number = models.CharField(max_length=64, blank=True, help_text="The destination as matched: digits only.")
    seconds = models.PositiveIntegerField(help_text="The call's billable seconds (answer to end).")
    billed_seconds = models.PositiveIntegerField(default=0, help_text="Seconds charged after the increments.")
    included_seconds = models.PositiveIntegerField(default=0, help_text="Of those, covered by included minutes.")
    price = models.DecimalField(**MONEY, null=True, blank=True)
    cost = models.DecimalField(**MONEY, null=True, blank=True)
    deck = models.ForeignKey(RateDeck, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    prefix = models.CharField(max_length=20, blank=True)
    description = models.CharField(max_length=100, blank=True)
    carrier = models.ForeignKey(Carrier, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    carrier_deck = models.ForeignKey(RateDeck, null=True, on_delete=models.DO_NOTHING, db_constraint=False,
                                     related_name="+")  # fmt: skip
    carrier_prefix = models.CharField(max_length=20, blank=True)
    rated_at = models.DateTimeField()

    objects = RatingQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-cdr_id"]
        indexes = [
            models.Index(fields=["client", "started_at"], name="rating_client_started"),
            models.Index(fields=["brand", "started_at"], name="rating_brand_started"),
            models.Index(fields=["brand", "started_at"], name="rating_unrated", condition=models.Q(status="unrated")),
        ]

    def __str__(self) -> str:
        return f"{self.cdr_id}: {self.status} {self.price}"


class RatingCursor(models.Model):
    """How far the rater has read the call records: every record up to `last_id` is finished and was
    rated (or is not billable). `candidate_id` becomes `last_id` once it has settled (billing/rating.py)."""

    name = models.CharField(max_length=20, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    candidate_id = models.BigIntegerField(default=0)
    candidate_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_id}"
