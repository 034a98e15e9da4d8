"""Monthly statements per client, computed from the call records and their ratings (nothing is
stored): usage (calls and minutes per service and direction, every finished record), charges (per
destination description, the rated calls), the included minutes used, the flat fee and the totals.
Unrated calls are counted apart and are not in the totals. Months are calendar months in UTC, the
same months that included minutes are counted in. The fee is the client's plan's as it is now.

Who sees which: god every client's, a brand its clients', a client's operators their own; users none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from billing.models import PricingPlan, Rating
from billing.pricing import money, month_bounds
from records.models import Cdr
from tenants.models import Client, Role

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
ZERO = Decimal("0.0000")
STATEMENT_COLUMNS = [
    "section",
    "service",
    "direction",
    "description",
    "calls",
    "minutes",
    "included_minutes",
    "amount",
    "currency",
]
SUMMARY_COLUMNS = [
    "client_id",
    "company",
    "month",
    "plan",
    "rated_calls",
    "unrated_calls",
    "usage_total",
    "monthly_fee",
    "total",
    "currency",
]


def parse_month(text: str | None) -> dt.date:
    """`2026-11` as the month's first day; the current month (UTC) when empty."""
    if not text:
        return timezone.now().astimezone(dt.UTC).date().replace(day=1)
    found = MONTH.match(text.strip())
    if not found or not (1 <= int(found[2]) <= 12) or not (2000 <= int(found[1]) <= 2999):
        raise ValidationError({"month": gettext("Give a month as YYYY-MM, such as 2026-11.")})
    return dt.date(int(found[1]), int(found[2]), 1)


def minutes(seconds: int | None) -> Decimal:
    return (Decimal(seconds or 0) / 60).quantize(Decimal("0.01"))


def statement_clients(actor) -> QuerySet[Client]:
    """The clients whose statements the actor may see."""
    if actor.role == Role.USER:
        return Client.objects.none()
    return Client.objects.restrict(actor).select_related("brand", "pricing_plan__deck")


def _plan(client: Client) -> PricingPlan | None:
    try:
        return client.pricing_plan
    except PricingPlan.DoesNotExist:
        return None


@dataclass
class Statement:
    """One client's month."""

    client: Client
    month: dt.date
    plan: PricingPlan | None
    usage: list[dict] = field(default_factory=list)
    charges: list[dict] = field(default_factory=list)
    included_used_seconds: int = 0
    unrated: int = 0

    @property
    def currency(self) -> str:
        return self.plan.deck.currency if self.plan else ""

    @property
    def monthly_fee(self) -> Decimal:
        return self.plan.monthly_fee if self.plan and self.plan.kind == PricingPlan.Kind.FLAT else ZERO

    @property
    def included_minutes(self) -> int:
        return self.plan.included_minutes if self.plan and self.plan.kind == PricingPlan.Kind.FLAT else 0

    @property
    def included_minutes_used(self) -> Decimal:
        return minutes(self.included_used_seconds)

    @property
    def usage_total(self) -> Decimal:
        return money(sum((row["amount"] for row in self.charges), ZERO))

    @property
    def total(self) -> Decimal:
        return money(self.usage_total + self.monthly_fee)

    def csv_rows(self) -> Iterator[dict]:
        """The statement as CSV rows: usage, charges, the fee, unrated calls and the total."""
        for row in self.usage:
            yield {"section": "usage", **row}
        for row in self.charges:
            yield {"section": "charge", **row, "currency": self.currency}
        if self.plan and self.plan.kind == PricingPlan.Kind.FLAT:
            yield {
                "section": "fee",
                "description": f"Monthly fee ({self.included_minutes} minutes included; "
                f"{self.included_minutes_used} used)",
                "amount": self.monthly_fee,
                "currency": self.currency,
            }
        if self.unrated:
            yield {"section": "unrated", "description": "Calls not rated yet: not in the total", "calls": self.unrated}
        yield {"section": "total", "description": "Total", "amount": self.total, "currency": self.currency}


def statement_for(*, client: Client, month: dt.date) -> Statement:
    """The client's statement for a month (the caller has checked the client is in scope)."""
    start, end = month_bounds(month)
    statement = Statement(client=client, month=month, plan=_plan(client))
    records = Cdr.objects.filter(client_id=client.pk, started_at__gte=start, started_at__lt=end, ended_at__isnull=False)
    for row in (
        records.values("service", "direction")
        .annotate(
            calls=Count("id"),
            answered=Count("id", filter=Q(disposition=Cdr.Disposition.ANSWERED)),
            seconds=Sum("billsec"),
        )
        .order_by("service", "direction")
    ):
        statement.usage.append(
            {
                "service": row["service"],
                "direction": row["direction"],
                "calls": row["calls"],
                "answered": row["answered"],
                "minutes": minutes(row["seconds"]),
            }
        )
    ratings = Rating.objects.filter(client_id=client.pk, started_at__gte=start, started_at__lt=end)
    rated = ratings.filter(status=Rating.Status.RATED)
    for row in (
        rated.values("service", "description")
        .annotate(
            calls=Count("cdr_id"), billed=Sum("billed_seconds"), included=Sum("included_seconds"), amount=Sum("price")
        )
        .order_by("service", "description")
    ):
        statement.charges.append(
            {
                "service": row["service"],
                "description": row["description"],
                "calls": row["calls"],
                "minutes": minutes(row["billed"]),
                "included_minutes": minutes(row["included"]),
                "amount": money(row["amount"] or ZERO),
            }
        )
        statement.included_used_seconds += row["included"] or 0
    statement.unrated = ratings.filter(status=Rating.Status.UNRATED).count()
    return statement


def statement_summaries(actor, *, month: dt.date) -> list[dict]:
    """One line per client in scope for the month: rated and unrated calls, usage, fee, total."""
    start, end = month_bounds(month)
    totals = {
        row["client_id"]: row
        for row in Rating.objects.restrict(actor)
        .filter(started_at__gte=start, started_at__lt=end)
        .values("client_id")
        .annotate(
            rated=Count("cdr_id", filter=Q(status=Rating.Status.RATED)),
            unrated=Count("cdr_id", filter=Q(status=Rating.Status.UNRATED)),
            amount=Sum("price", filter=Q(status=Rating.Status.RATED)),
        )
        .order_by()
    }
    lines = []
    for client in statement_clients(actor).order_by("name", "pk"):
        plan, row = _plan(client), totals.get(client.pk, {})
        if plan is None and not row:
            continue
        if not row and client.created_at >= end:  # the month ended before the client existed
            continue
        statement = Statement(client=client, month=month, plan=plan)
        usage_total = money(row.get("amount") or ZERO)
        lines.append(
            {
                "client_id": client.pk,
                "company": client.name,
                "brand": client.brand.name,
                "month": f"{month:%Y-%m}",
                "plan": plan.get_kind_display() if plan else gettext("No plan"),
                "rated_calls": row.get("rated", 0),
                "unrated_calls": row.get("unrated", 0),
                "usage_total": usage_total,
                "monthly_fee": statement.monthly_fee,
                "total": money(usage_total + statement.monthly_fee),
                "currency": statement.currency,
            }
        )
    return lines
