"""Monthly statements: usage, charges per destination, included minutes, fee, and totals that
equal the rated calls."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from django.db.models import Sum

from billing.csvio import csv_lines
from billing.models import Rating
from billing.rating import rate_new
from billing.statements import STATEMENT_COLUMNS, statement_for, statement_summaries
from billing.tasks import rate_new_calls
from config.celeryconf import app
from tests.billing.conftest import T0

NOVEMBER = dt.date(2026, 11, 1)


def month_total(client) -> Decimal:
    rated = Rating.objects.filter(client_id=client.pk, status="rated", started_at__gte=dt.datetime(2026, 11, 1,
                                  tzinfo=dt.UTC), started_at__lt=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))  # fmt: skip
    return rated.aggregate(total=Sum("price"))["total"] or Decimal(0)


def test_statement_totals_are_the_rated_calls(world, priced, cdr_factory):
    a1 = world.client_a1
    for seconds in (61, 125, 3):
        cdr_factory(a1, number="442071234567", seconds=seconds)
    cdr_factory(a1, number="441611234567", seconds=600)
    cdr_factory(a1, number="33123456789", seconds=60)
    cdr_factory(a1, service="conference", direction="inbound", number="4242", seconds=90)
    cdr_factory(a1, number="12125550100", seconds=60)  # unrated: no rate
    cdr_factory(a1, number="102", direction="internal", callee_account=world.user_a1b, seconds=300)
    cdr_factory(a1, number="442071234567", seconds=60, started_at=T0 + dt.timedelta(days=30))  # December
    rate_new()
    s = statement_for(client=a1, month=NOVEMBER)
    assert s.total == month_total(a1) > 0
    assert s.usage_total == sum(row["amount"] for row in s.charges)
    assert s.monthly_fee == Decimal("0.0000")
    assert s.unrated == 1
    assert s.currency == "EUR"
    charges = {(row["service"], row["description"]): (row["calls"], row["minutes"]) for row in s.charges}
    assert charges == {
        ("call", "France"): (1, Decimal("1.00")),
        ("call", "United Kingdom"): (1, Decimal("10.00")),
        ("call", "United Kingdom London"): (3, Decimal("3.70")),  # 66 + 126 + 30 s at 30/6
        ("conference", "Conference"): (1, Decimal("2.00")),
    }
    usage = {(row["service"], row["direction"]): (row["calls"], row["minutes"]) for row in s.usage}
    assert usage == {
        ("call", "internal"): (1, Decimal("5.00")),
        ("call", "outbound"): (6, Decimal("15.15")),  # 61+125+3+600+60+60 = 909 s
        ("conference", "inbound"): (1, Decimal("1.50")),
    }
    rows = list(csv.DictReader(io.StringIO("".join(csv_lines(STATEMENT_COLUMNS, s.csv_rows())))))
    assert rows[-1]["section"] == "total" and Decimal(rows[-1]["amount"]) == s.total
    assert sum(Decimal(r["amount"]) for r in rows if r["section"] == "charge") == s.total
    assert [r["calls"] for r in rows if r["section"] == "unrated"] == ["1"]


def test_flat_plan_statement_has_the_fee_and_the_included_minutes(world, priced, cdr_factory):
    a2 = world.client_a2  # 25.00 a month, 10 minutes included
    for seconds in (240, 300, 120, 60):
        cdr_factory(a2, number="441611234567", seconds=seconds)
    rate_new()
    s = statement_for(client=a2, month=NOVEMBER)
    assert (s.monthly_fee, s.included_minutes, s.included_minutes_used) == (Decimal("25.0000"), 10, Decimal("10.00"))
    assert s.usage_total == Decimal("0.0400") == month_total(a2)
    assert s.total == Decimal("25.0400")
    assert s.charges == [{"service": "call", "description": "United Kingdom", "calls": 4, "minutes": Decimal("12.00"),
                          "included_minutes": Decimal("10.00"), "amount": Decimal("0.0400")}]  # fmt: skip


def test_summaries_per_scope(world, priced, cdr_factory):
    cdr_factory(world.client_a1, seconds=60)
    cdr_factory(world.client_b1, seconds=60)
    rate_new()
    everyone = {line["company"]: line for line in statement_summaries(world.god, month=NOVEMBER)}
    assert set(everyone) == {"Client a1", "Client a2", "Client b1"}
    assert everyone["Client a2"]["total"] == Decimal("25.0000"), "the fee is due without calls"
    assert everyone["Client a1"]["total"] == statement_for(client=world.client_a1, month=NOVEMBER).total
    brand_a = statement_summaries(world.brand_a_op, month=NOVEMBER)
    assert [line["company"] for line in brand_a] == ["Client a1", "Client a2"]
    assert [line["company"] for line in statement_summaries(world.client_b1_op, month=NOVEMBER)] == ["Client b1"]
    assert statement_summaries(world.user_a1, month=NOVEMBER) == []


def test_the_beat_task_rates_new_calls(world, priced, cdr_factory):
    assert app.conf.beat_schedule["billing-rate-new-calls"]["task"] == "billing.tasks.rate_new_calls"
    cdr_factory(world.client_a1, seconds=60)
    assert rate_new_calls() == {"rated": 1, "unrated": 0, "busy": False}
    assert rate_new_calls()["rated"] == 0


def test_no_statement_for_months_before_the_client_existed(world, priced, cdr_factory, portal):
    from tenants.models import Client

    Client.objects.filter(pk=world.client_a2.pk).update(created_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    october = dt.date(2026, 10, 1)
    assert "Client a2" not in {line["company"] for line in statement_summaries(world.god, month=october)}
    assert "Client a2" in {line["company"] for line in statement_summaries(world.god, month=NOVEMBER)}, (
        "the month the client was created in is billed"
    )
    assert "Client a1" in {line["company"] for line in statement_summaries(world.god, month=october)}
    # A client's own list of its last twelve months starts with the month it was created in.
    listing = portal(world.client_a2_op).get("/statements/", {"month": "2026-12"}).content.decode()
    assert f"/statements/{world.client_a2.pk}/2026-11/" in listing
    assert f"/statements/{world.client_a2.pk}/2026-10/" not in listing
    assert f"/statements/{world.client_a2.pk}/2026-01/" not in listing
