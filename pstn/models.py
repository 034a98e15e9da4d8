"""The platform's side of the phone network (public schema): the carriers' gateways, the brands'
numbers (DIDs) and where each one goes, the brands' outbound routes and carrier health thresholds,
and each client's outbound policy.

A carrier (billing.Carrier: the platform's when it has no brand, else that brand's own) has one or
more gateways. A number belongs to a brand's inventory, comes from a carrier, and is assigned to one
client or free; the client points it at a destination (telephony/destinations.py), with an
optional schedule that sends it to another destination when the client is closed.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models import MONEY, Carrier
from tenants.scoping import BrandScopedQuerySet, ProviderScopedQuerySet

e164 = RegexValidator(r"^\+[1-9][0-9]{5,14}$", _("Use the E.164 form: + and 6 to 15 digits, such as +493012345678."))


class CarrierScopedQuerySet(BrandScopedQuerySet):
    """Rows of a carrier: god sees every carrier's, a brand operator its own carriers' only."""

    brand_field = "carrier__brand_id"


class Gateway(models.Model):
    """Where a carrier takes and gives calls: an address (or a DNS name: SRV, then A), the transport,
    optional registration and digest credentials, and the networks its inbound calls come from."""

    class Transport(models.TextChoices):
        UDP = "udp", "UDP"
        TCP = "tcp", "TCP"
        TLS = "tls", "TLS"

    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="gateways")
    name = models.CharField(max_length=60)
    host = models.CharField(max_length=253, help_text=_("An IP address or a DNS name (looked up by SRV, then A)."))
    port = models.PositiveIntegerField(null=True, blank=True,
                                       validators=[MinValueValidator(1), MaxValueValidator(65535)],
                                       help_text=_("Empty: from DNS SRV, else 5060 (5061 for TLS)."))  # fmt: skip
    transport = models.CharField(max_length=3, choices=Transport.choices, default=Transport.UDP)
    register = models.BooleanField(default=False, help_text=_("Keep the platform registered at this gateway."))
    username = models.CharField(max_length=100, blank=True, help_text=_("For registration and challenged INVITEs."))
    password = models.CharField(max_length=100, blank=True)
    realm = models.CharField(max_length=100, blank=True, help_text=_("Empty: the realm the gateway challenges with."))
    inbound_networks = models.TextField(blank=True, help_text=_("Addresses or networks (CIDR) its calls come from, "
                                        "one per line; empty: the gateway's own address."))  # fmt: skip
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CarrierScopedQuerySet.as_manager()

    class Meta:
        ordering = ["carrier", "name"]
        constraints = [models.UniqueConstraint(fields=["carrier", "name"], name="gateway_name_per_carrier")]

    def __str__(self) -> str:
        return f"{self.carrier}: {self.name}"


class NumberQuerySet(ProviderScopedQuerySet):
    pass


class Number(models.Model):
    """A number of a brand's inventory (E.164), from a carrier, free or assigned to a client, which
    points it at a destination (and at another when its schedule says the client is closed)."""

    brand = models.ForeignKey("tenants.Brand", on_delete=models.CASCADE, related_name="numbers")
    e164 = models.CharField(max_length=16, unique=True, validators=[e164])
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="numbers")
    monthly_cost = models.DecimalField(**MONEY, default=0)
    monthly_price = models.DecimalField(**MONEY, default=0)
    client = models.ForeignKey("tenants.Client", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="numbers")  # fmt: skip
    destination_kind = models.CharField(max_length=20, blank=True)
    destination_target = models.CharField(max_length=100, blank=True)
    schedule = models.PositiveIntegerField(null=True, blank=True, help_text=_("The client's schedule (its id)."))
    closed_kind = models.CharField(max_length=20, blank=True)
    closed_target = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NumberQuerySet.as_manager()

    class Meta:
        ordering = ["e164"]

    def __str__(self) -> str:
        return self.e164


class OutboundRouteQuerySet(BrandScopedQuerySet):
    """A brand's routes: god sees all, a brand operator its own."""


class OutboundRoute(models.Model):
    """Numbers matching `pattern` (a prefix of the E.164 digits, or a regular expression over them)
    go to this route's carriers: in order (priority: the next on failure), shared by weight, or
    cheapest first by the carriers' decks (least cost). The brand's routes are tried by position."""

    class Kind(models.TextChoices):
        PREFIX = "prefix", _("Prefix")
        REGEX = "regex", _("Regular expression")

    class Mode(models.TextChoices):
        PRIORITY = "priority", _("In order")
        WEIGHT = "weight", _("Shared by weight")
        LEAST_COST = "lcr", _("Least cost")

    brand = models.ForeignKey("tenants.Brand", on_delete=models.CASCADE, related_name="outbound_routes")
    name = models.CharField(max_length=60)
    pattern_kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.PREFIX)
    pattern = models.CharField(max_length=200, blank=True, help_text=_("Digits of the E.164 number (empty: all)."))
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PRIORITY)
    position = models.PositiveIntegerField(default=10)
    enabled = models.BooleanField(default=True)

    objects = OutboundRouteQuerySet.as_manager()

    class Meta:
        ordering = ["brand", "position", "id"]

    def __str__(self) -> str:
        return self.name


class RouteCarrier(models.Model):
    route = models.ForeignKey(OutboundRoute, on_delete=models.CASCADE, related_name="members")
    carrier = models.ForeignKey(Carrier, on_delete=models.CASCADE, related_name="+")
    priority = models.PositiveSmallIntegerField(default=1)
    weight = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["route", "priority", "id"]
        constraints = [models.UniqueConstraint(fields=["route", "carrier"], name="carrier_once_per_route")]

    def __str__(self) -> str:
        return f"{self.route}: carrier {self.carrier_id}"


class RoutingPolicy(models.Model):
    """A brand's thresholds for carrier health: a carrier below them over its recent calls is tried
    last, then not at all, until it recovers (pstn/health.py)."""

    brand = models.OneToOneField("tenants.Brand", on_delete=models.CASCADE, related_name="routing_policy")
    min_asr = models.PositiveSmallIntegerField(default=20, validators=[MaxValueValidator(100)],
                                               help_text=_("Answer-seizure ratio, in percent."))  # fmt: skip
    max_server_errors = models.PositiveSmallIntegerField(
        default=30, validators=[MaxValueValidator(100)], help_text=_("5xx answers and timeouts, in percent.")
    )
    window = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(1000)],
        help_text=_("How many recent calls of a carrier are judged."),
    )

    def __str__(self) -> str:
        return f"routing policy of brand {self.brand_id}"


class PolicyQuerySet(ProviderScopedQuerySet):
    brand_field = "client__brand_id"


class OutboundPolicy(models.Model):
    """What a client's users may dial outside the platform and who they are shown as. Emergency
    numbers are always allowed."""

    class CallerId(models.TextChoices):
        MAIN = "main", _("The client's main number")
        USER = "user", _("The user's own number when they have one, else the main number")

    client = models.OneToOneField("tenants.Client", on_delete=models.CASCADE, related_name="outbound_policy")
    allow_national = models.BooleanField(default=True)
    allow_mobile = models.BooleanField(default=True)
    allow_international = models.BooleanField(default=False)
    allow_premium = models.BooleanField(default=False)
    blocked_prefixes = models.TextField(
        blank=True, help_text=_("E.164 prefixes never called, one per line (+4490...).")
    )
    caller_id = models.CharField(max_length=4, choices=CallerId.choices, default=CallerId.MAIN)
    main_number = models.ForeignKey(Number, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    international_calls_per_hour = models.PositiveIntegerField(default=30)
    international_minutes_per_hour = models.PositiveIntegerField(default=120)

    objects = PolicyQuerySet.as_manager()

    def __str__(self) -> str:
        return f"outbound policy of {self.client_id}"
