"""Rating call records: each billable call once, with price and cost; unrated calls flagged."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.core.management import call_command
from django.utils import timezone

from billing.models import Rating, RatingCursor
from billing.rating import CURSOR, SETTLE, rate_new, rate_period
from billing.services import plan_delete, rating_retry
from records.models import Cdr
from tests.billing.conftest import T0

NOV, DEC = dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_outbound_calls_get_price_and_cost(world, priced, cdr_factory):
    london = cdr_factory(world.client_a1, number="+44 20 7123 4567", seconds=61)
    mobile = cdr_factory(world.client_a1, number="00447700900123", seconds=61)
    run = rate_new()
    assert (run.rated, run.unrated) == (2, 0)
    r = Rating.objects.get(cdr=london)
    # 30/6: 61 s -> 66 s at 0.01/min = 0.011; carrier 60/60: 120 s at 0.005 = 0.01
    assert (r.status, r.number, r.prefix, r.description) == ("rated", "442071234567", "4420", "United Kingdom London")
    assert (r.billed_seconds, r.price, r.cost) == (66, Decimal("0.0110"), Decimal("0.0100"))
    assert (r.deck_id, r.carrier_id, r.carrier_prefix) == (priced["deck_a"].pk, priced["carrier"].pk, "44")
    m = Rating.objects.get(cdr=mobile)
    # before 15 Nov: 0.10/min per second + 0.05 connection = 0.05 + 0.1016.. = 0.1517
    assert (m.prefix, m.billed_seconds, m.price) == ("447", 61, Decimal("0.1517"))


def test_rating_is_idempotent(world, priced, cdr_factory):
    calls = [cdr_factory(world.client_a1, seconds=s) for s in (10, 70, 130)]
    first = rate_new()
    assert first.rated == 3
    before = list(Rating.objects.order_by("cdr_id").values_list("cdr_id", "price", "rated_at"))
    assert rate_new().calls == 0
    assert rate_period(since=NOV, until=DEC).calls == 0
    call_command("rate_calls", "--month", "2026-11")
    assert list(Rating.objects.order_by("cdr_id").values_list("cdr_id", "price", "rated_at")) == before
    # A new call is rated by the next run, once.
    calls.append(cdr_factory(world.client_a1, seconds=5))
    assert rate_new().rated == 1
    assert Rating.objects.filter(cdr_id__in=[c.pk for c in calls]).count() == 4


def test_what_is_not_billable_gets_no_rating(world, priced, cdr_factory):
    cdr_factory(world.client_a1, number="102", direction="internal", callee_account=world.user_a1b)
    cdr_factory(world.client_a1, number="442071234567", direction="inbound")
    cdr_factory(world.client_a1, disposition="busy", seconds=0)
    cdr_factory(world.client_a1, seconds=0)  # answered, hung up at once
    cdr_factory(world.client_a1, service="notification", number="102", callee_account=world.user_a1b)
    in_progress = cdr_factory(world.client_a1, ended=False)
    assert rate_new().calls == 0
    assert not Rating.objects.exists()
    # The call in progress is rated once it ends.
    in_progress.ended_at, in_progress.disposition, in_progress.billsec = T0 + dt.timedelta(minutes=2), "answered", 100
    in_progress.save()
    assert rate_new().rated == 1


def test_calls_without_a_rate_are_flagged_unrated_never_free(world, priced, cdr_factory):
    usa = cdr_factory(world.client_a1, number="12125550100")
    germany = cdr_factory(world.client_a1, number="4930123456")  # sold, but no carrier has a rate
    no_plan = cdr_factory(world.client_b1, number="442071234567")
    plan_delete(actor=world.god, plan=world.client_b1.pricing_plan)
    no_number = cdr_factory(world.client_a1, number="anonymous")
    run = rate_new()
    assert (run.rated, run.unrated) == (0, 4)
    reasons = dict(Rating.objects.values_list("cdr_id", "reason"))
    assert reasons[usa.pk] == "No rate for 12125550100 in the deck Standard."
    assert reasons[germany.pk] == "No carrier has a rate for 4930123456."
    assert reasons[no_plan.pk] == "The client has no pricing plan."
    assert reasons[no_number.pk] == "The call has no number to rate."
    assert set(Rating.objects.values_list("status", "price", "cost")) == {("unrated", None, None)}


def test_unrated_calls_are_rated_again_once_a_rate_exists(world, priced, cdr_factory, carrier_factory):
    germany = cdr_factory(world.client_a1, number="4930123456", seconds=60)
    rated = cdr_factory(world.client_a1, seconds=60)
    rate_new()
    price_before = Rating.objects.get(cdr=rated).price
    carrier_factory(name="Carrier Two", priority=20, csv="prefix,description,price_per_minute\n49,Germany,0.0200\n")
    run = rating_retry(actor=world.god, since=NOV, until=DEC)
    assert (run.rated, run.unrated) == (1, 0)
    g = Rating.objects.get(cdr=germany)
    assert (g.status, g.price, g.cost, g.carrier.name) == ("rated", Decimal("0.0400"), Decimal("0.0200"), "Carrier Two")
    assert Rating.objects.get(cdr=rated).price == price_before


def test_the_first_carrier_by_priority_gives_the_cost(world, priced, cdr_factory, carrier_factory):
    cheap = carrier_factory(name="Cheap", priority=1, csv="prefix,description,price_per_minute\n4420,London,0.0010\n")
    london = cdr_factory(world.client_a1, number="442071234567", seconds=60)
    paris = cdr_factory(world.client_a1, number="33123456789", seconds=60)
    rate_new()
    assert Rating.objects.get(cdr=london).carrier_id == cheap.pk
    assert Rating.objects.get(cdr=london).cost == Decimal("0.0010")
    assert Rating.objects.get(cdr=paris).carrier_id == priced["carrier"].pk


def test_the_carrier_a_call_took_gives_its_cost_whatever_the_priorities(world, priced, cdr_factory, carrier_factory):
    cheap = carrier_factory(name="Cheap", priority=1, csv="prefix,description,price_per_minute\n4420,London,0.0010\n")
    took = cdr_factory(world.client_a1, number="442071234567", seconds=60, carrier_id=priced["carrier"].pk)
    rateless = cdr_factory(world.client_a1, number="33123456789", seconds=60, carrier_id=cheap.pk)
    rate_new()
    assert (Rating.objects.get(cdr=took).carrier_id, Rating.objects.get(cdr=took).cost) == (
        priced["carrier"].pk,
        Decimal("0.0050"),
    )  # not the cheaper carrier's 0.0010: that is not where it went
    unrated = Rating.objects.get(cdr=rateless)
    assert (unrated.status, unrated.carrier_id) == ("unrated", None)
    assert unrated.reason == f"The carrier the call took ({cheap.pk}) has no rate for 33123456789."


def test_a_brands_own_carrier_never_gives_another_brands_cost(world, priced, cdr_factory):
    """Brand B's own carrier, cheapest and first by priority, gives the cost of brand B's calls only;
    brand A's calls take the platform's carrier (and never see B's rates)."""
    from billing.services import carrier_create, deck_import
    from tests.billing.conftest import COST

    own = carrier_create(actor=world.brand_b_op, name="B Own", priority=1)
    deck_import(actor=world.brand_b_op, deck=own.decks.get(), data=COST.replace("0.0050", "0.0001").encode())
    a_call = cdr_factory(world.client_a1, number="442071234567")
    b_call = cdr_factory(world.client_b1, number="442071234567")
    rate_new()
    assert Rating.objects.get(cdr=a_call).carrier_id == priced["carrier"].pk
    assert Rating.objects.get(cdr=b_call).carrier_id == own.pk


def test_conference_minutes_at_the_plan_conference_rate(world, priced, cdr_factory):
    join = cdr_factory(world.client_a1, service="conference", direction="inbound", number="4242", seconds=125)
    other = cdr_factory(world.client_b1, service="conference", direction="inbound", number="4242", seconds=60)
    rate_new()
    r = Rating.objects.get(cdr=join)
    assert (r.status, r.billed_seconds, r.price, r.cost, r.description) == (
        "rated",
        180,
        Decimal("0.0450"),
        Decimal("0.0000"),
        "Conference",
    )
    assert Rating.objects.get(cdr=other).reason == "The pricing plan has no conference rate."


def test_flat_plan_uses_the_included_minutes_first(world, priced, cdr_factory):
    a2 = world.client_a2  # 10 minutes included, then 0.02/min to 44 (60/60)
    calls = [cdr_factory(a2, number="441611234567", seconds=s) for s in (240, 300, 120, 60)]
    december = cdr_factory(a2, number="441611234567", seconds=60, started_at=DEC + dt.timedelta(hours=1))
    rate_new()
    rows = [Rating.objects.get(cdr=c) for c in calls]
    assert [(r.billed_seconds, r.included_seconds, r.price) for r in rows] == [
        (240, 240, Decimal("0.0000")),
        (300, 300, Decimal("0.0000")),
        (120, 60, Decimal("0.0200")),  # one minute left, one charged
        (60, 0, Decimal("0.0200")),
    ]
    assert Rating.objects.get(cdr=december).included_seconds == 60, "a new month, new included minutes"


def test_the_command_rates_a_period_only(world, priced, cdr_factory, capsys):
    october = cdr_factory(world.client_a1, started_at=NOV - dt.timedelta(days=3))
    november = cdr_factory(world.client_a1)
    call_command("rate_calls", "--month", "2026-10")
    assert list(Rating.objects.values_list("cdr_id", flat=True)) == [october.pk]
    assert "Rated 1 calls" in capsys.readouterr().out
    call_command("rate_calls", "--since", "2026-11-01", "--until", "2026-11-03")
    assert Rating.objects.filter(cdr=november).exists()


def _settle():
    """As if the cursor's candidate was chosen longer ago than SETTLE."""
    RatingCursor.objects.filter(name=CURSOR).update(candidate_at=timezone.now() - SETTLE - dt.timedelta(seconds=1))


def test_the_cursor_waits_for_calls_in_progress_and_late_commits(world, priced, cdr_factory):
    first = cdr_factory(world.client_a1)
    open_call = cdr_factory(world.client_a1, ended=False)
    after = cdr_factory(world.client_a1)
    # `last` leaves a gap in the ids: a record that took its id earlier but commits after the first run.
    late_id = after.pk + 1
    last = Cdr.objects.create(**{**Cdr.objects.values().get(pk=after.pk), "id": after.pk + 2,
                                 "call_uuid": uuid.uuid4()})  # fmt: skip
    assert rate_new().rated == 3  # first, after, last: the open call is not finished
    _settle()
    rate_new()
    cursor = RatingCursor.objects.get(name=CURSOR)
    assert cursor.last_id == open_call.pk - 1 == first.pk, "the call in progress holds the cursor"
    Cdr.objects.create(**{**Cdr.objects.values().get(pk=after.pk), "id": late_id, "call_uuid": uuid.uuid4()})
    open_call.ended_at, open_call.disposition, open_call.billsec = T0 + dt.timedelta(minutes=5), "answered", 240
    open_call.save()
    assert rate_new().rated == 2, "the late record and the finished call"
    _settle()
    rate_new()
    _settle()
    assert rate_new().calls == 0
    assert RatingCursor.objects.get(name=CURSOR).last_id == last.pk
    assert Rating.objects.count() == 5


def test_a_transferred_call_is_rated_for_the_seconds_the_number_was_in_it(world, priced, cdr_factory):
    """101 calls London; after 20 s London is transferred away and 101 talks on with 103: the London
    number is billed its 20 s (30/6: 30 s), not the call's 61."""
    call = cdr_factory(world.client_a1, number="442071234567", seconds=61)
    call.segments = [
        {"reason": "answer", "caller": "101", "caller_account": None, "callee": "442071234567",
         "callee_account": None, "began_at": "", "ended_at": "", "seconds": 20},
        {"reason": "transfer", "caller": "101", "caller_account": None, "callee": "103", "callee_account": None,
         "began_at": "", "ended_at": "", "seconds": 41},
    ]  # fmt: skip
    call.save()
    plain = cdr_factory(world.client_a1, number="442071234567", seconds=61)
    assert rate_new().rated == 2
    r = Rating.objects.get(cdr=call)
    assert (r.seconds, r.billed_seconds, r.price) == (20, 30, Decimal("0.0050"))
    assert Rating.objects.get(cdr=plain).seconds == 61, "a call without segments: answer to end"
