"""The outbound routing decision: for a number, which of the brand's carriers to try, in which order.

`Router.load(brand_id)` reads the brand's enabled routes, their carriers, the carriers' enabled
gateways and the rates of their cost decks in effect now (database work: the engine runs it in a
thread and loads again when the routes or decks change); `candidates()` then decides in memory:

1. the first enabled route, by position, whose pattern matches the E.164 digits (a prefix, or a
   regular expression matched from the first digit);
2. its carriers in the route's order: by priority (failover), a weighted random order (load share),
   or cheapest first by the longest prefix of the carriers' decks (least cost: a carrier with no
   rate for the number is left out);
3. health (pstn/health.py): "down" carriers move last, "out" ones and those at their concurrent
   call limit are left out.

An emergency call (`emergency=True`) is never refused for health or limits: "out" and busy carriers
stay, last; and when no route matches, every carrier of the brand's routes is tried. Disabled
carriers and carriers without an enabled gateway are never tried. `explain()` gives every carrier
considered with why it is where it is, for the route tester.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from decimal import Decimal

from pstn import health as carrier_health
from pstn.health import DOWN, IN, OUT, Health, Thresholds
from pstn.numbering import to_carrier

log = logging.getLogger(__name__)

PRIORITY, WEIGHT, LEAST_COST = "priority", "weight", "lcr"


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    id: int
    host: str
    port: int | None
    transport: str
    username: str
    password: str
    realm: str


@dataclass(frozen=True, slots=True)
class Choice:
    """One carrier to try: its gateways, the number as the carrier writes it, its price per minute
    for the number (None: its deck has none) and why it is in this place."""

    carrier_id: int
    carrier_name: str
    gateways: tuple[GatewayInfo, ...]
    number: str
    cost: Decimal | None
    reason: str
    codecs: tuple[str, ...] = ()  # the carrier's, in its order of preference


@dataclass(frozen=True, slots=True)
class CarrierInfo:
    id: int
    name: str
    enabled: bool
    max_calls: int
    number_format: str
    country: str
    gateways: tuple[GatewayInfo, ...]
    codecs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Member:
    carrier_id: int
    priority: int
    weight: int


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    name: str
    kind: str
    pattern: str
    regex: re.Pattern | None
    mode: str
    members: tuple[Member, ...]

    def matches(self, digits: str) -> bool:
        if self.regex is not None:
            return self.regex.match(digits) is not None
        return digits.startswith(self.pattern)


@dataclass(frozen=True, slots=True)
class Considered:
    """A carrier of the route as the route tester shows it: its place (None: not tried) and why."""

    carrier_id: int
    carrier_name: str
    place: int | None
    cost: Decimal | None
    state: str
    in_use: int | None
    max_calls: int
    reason: str


@dataclass(frozen=True, slots=True)
class Explanation:
    number: str
    route: str | None
    mode: str | None
    carriers: tuple[Considered, ...]


class Rates:
    """A carrier deck's prices per minute in effect when loaded, by prefix (longest prefix wins)."""

    __slots__ = ("by_prefix", "longest")

    def __init__(self, by_prefix: dict[str, Decimal]):
        self.by_prefix = by_prefix
        self.longest = max(map(len, by_prefix), default=0)

    def price(self, digits: str) -> Decimal | None:
        by_prefix = self.by_prefix
        for length in range(min(len(digits), self.longest), 0, -1):
            price = by_prefix.get(digits[:length])
            if price is not None:
                return price
        return None


NO_RATES = Rates({})


class Router:
    """A brand's outbound routes, carriers and carrier rates, held in memory."""

    def __init__(self, brand_id: int, routes: list[Route], carriers: dict[int, CarrierInfo],
                 rates: dict[int, Rates], *, rng: random.Random | None = None,
                 thresholds: Thresholds | None = None):  # fmt: skip
        self.brand_id, self.routes, self.carriers, self.rates = brand_id, routes, carriers, rates
        self.thresholds = thresholds or Thresholds()
        self.loaded_at = time.time()
        self.rng = rng or random.Random()

    @classmethod
    def load(cls, brand_id: int) -> Router:
        """The brand's routing as it is in the database now (run it in a thread from the engine)."""
        from django.db import connection
        from django.db.models import Q

        from billing.models import Carrier, Rate, RateDeck
        from pstn.models import Gateway, OutboundRoute

        routes, wanted = [], set()
        query = OutboundRoute.objects.filter(brand_id=brand_id, enabled=True).prefetch_related("members")
        for row in query.order_by("position", "id"):
            regex = None
            if row.pattern_kind == OutboundRoute.Kind.REGEX:
                try:
                    regex = re.compile(row.pattern)
                except re.error:
                    log.warning("route %s of brand %s has a bad regular expression: skipped", row.pk, brand_id)
                    continue
            members = tuple(Member(m.carrier_id, m.priority, m.weight) for m in row.members.all())
            routes.append(Route(row.pk, row.name, row.pattern_kind, row.pattern.strip(), regex, row.mode, members))
            wanted.update(m.carrier_id for m in members)
        own = Q(brand_id=brand_id) | Q(brand__isnull=True)  # a brand may use its own and the platform's carriers
        gateways: dict[int, list[GatewayInfo]] = {}
        for g in Gateway.objects.filter(carrier_id__in=wanted, enabled=True).order_by("carrier_id", "name", "id"):
            info = GatewayInfo(g.pk, g.host, g.port, g.transport, g.username, g.password, g.realm)
            gateways.setdefault(g.carrier_id, []).append(info)
        carriers = {
            c.pk: CarrierInfo(
                c.pk,
                c.name,
                c.enabled,
                c.max_calls,
                c.number_format,
                c.country,
                tuple(gateways.get(c.pk, ())),
                tuple(name.strip().upper() for name in c.codecs.split(",") if name.strip()),
            )
            for c in Carrier.objects.filter(own, pk__in=wanted)
        }
        rates = {}
        decks = dict(RateDeck.objects.filter(carrier_id__in=carriers).values_list("carrier_id", "id"))
        table = Rate._meta.db_table
        for carrier_id, deck_id in decks.items():
            with connection.cursor() as cursor:  # the newest row in effect per prefix
                cursor.execute(
                    f"SELECT DISTINCT ON (prefix) prefix, price_per_minute FROM {table} "  # noqa: S608
                    "WHERE deck_id = %s AND effective_from <= now() AND (effective_to IS NULL OR effective_to > now()) "
                    "ORDER BY prefix, effective_from DESC",
                    [deck_id],
                )
                rates[carrier_id] = Rates(dict(cursor.fetchall()))
        return cls(brand_id, routes, carriers, rates, thresholds=Thresholds.for_brand(brand_id))

    def route_for(self, digits: str) -> Route | None:
        for route in self.routes:
            if route.matches(digits):
                return route
        return None

    def limits(self) -> dict[int, int]:
        """Each carrier's concurrent-call limit (0: none), for pstn.health.busy()."""
        return {cid: carrier.max_calls for cid, carrier in self.carriers.items()}

    def _members(self, digits: str, emergency: bool) -> tuple[Route | None, list[Member]]:
        route = self.route_for(digits)
        if route is not None:
            return route, list(route.members)
        if not emergency:
            return None, []
        seen, members = set(), []  # an emergency number no route names: every carrier of the routes
        for other in self.routes:
            for member in other.members:
                if member.carrier_id not in seen:
                    seen.add(member.carrier_id)
                    members.append(member)
        return None, members

    def _ordered(self, route: Route | None, members: list[Member], digits: str, emergency: bool):
        """(member, cost, why) in the route's order, and the members it leaves out with why."""
        mode = route.mode if route is not None else PRIORITY
        priced = [(m, self.rates.get(m.carrier_id, NO_RATES).price(digits)) for m in members]
        left_out = []
        if mode == LEAST_COST:
            no_rate = [(m, c) for m, c in priced if c is None]
            priced = sorted(((m, c) for m, c in priced if c is not None), key=lambda mc: (mc[1], mc[0].priority))
            ordered = [(m, c, f"{c}/min, cheapest first") for m, c in priced]
            if emergency:
                ordered += [(m, c, "no rate for this number (emergency: tried anyway)") for m, c in no_rate]
            else:
                left_out = [(m, c, "no rate for this number in its deck") for m, c in no_rate]
        elif mode == WEIGHT:
            rng = self.rng
            keyed = [(rng.random() ** (1.0 / m.weight) if m.weight > 0 else -1.0, m, c) for m, c in priced]
            keyed.sort(key=lambda kmc: kmc[0], reverse=True)
            ordered = [(m, c, f"weight {m.weight}") for _, m, c in keyed]
        else:
            priced.sort(key=lambda mc: mc[0].priority)
            ordered = [(m, c, f"priority {m.priority}") for m, c in priced]
        return ordered, left_out

    def _decide(self, e164: str, health: dict[int, Health], busy: set[int], emergency: bool):
        """(route, tried [(carrier, cost, why, state)], not tried [(carrier, cost, why, state)])."""
        digits = e164[1:] if e164.startswith("+") else e164
        route, members = self._members(digits, emergency)
        ordered, left_out = self._ordered(route, members, digits, emergency)
        first, last, worst, skipped = [], [], [], []
        for member, cost, why in ordered:
            carrier = self.carriers.get(member.carrier_id)
            if carrier is None:
                continue  # another brand's carrier, or gone since the route was written
            state = health[carrier.id].state if carrier.id in health else IN
            if not carrier.enabled:
                skipped.append((carrier, cost, f"{why}; disabled", state))
            elif not carrier.gateways:
                skipped.append((carrier, cost, f"{why}; no enabled gateway", state))
            elif state == OUT or carrier.id in busy:
                if state == OUT:
                    why = f"{why}; out of service: {health[carrier.id].reason}"
                else:
                    why = f"{why}; at its limit of {carrier.max_calls} calls"
                if emergency:
                    worst.append((carrier, cost, f"{why} (emergency: tried anyway, last)", state))
                else:
                    skipped.append((carrier, cost, why, state))
            elif state == DOWN:
                last.append((carrier, cost, f"{why}; moved last: {health[carrier.id].reason}", state))
            else:
                first.append((carrier, cost, why, state))
        for member, cost, why in left_out:
            carrier = self.carriers.get(member.carrier_id)
            if carrier is not None:
                skipped.append((carrier, cost, why, health[carrier.id].state if carrier.id in health else IN))
        return route, first + last + worst, skipped

    def candidates(self, e164: str, health: dict[int, Health], busy: set[int], *,
                   emergency: bool = False) -> list[Choice]:  # fmt: skip
        """The carriers to try for a number (E.164, or an emergency number's short form), in order."""
        _, tried, _ = self._decide(e164, health, busy, emergency)
        return [
            Choice(c.id, c.name, c.gateways, to_carrier(e164, c.number_format, c.country), cost, why, c.codecs)
            for c, cost, why, _ in tried
        ]

    async def route(self, redis, prefix: str, e164: str, *, emergency: bool = False) -> list[Choice]:
        """candidates() with the carriers' health and call counts read from Redis now (two round
        trips; an "out" carrier whose quiet period is over may get this call as its trial)."""
        ids = list(self.carriers)
        health = await carrier_health.snapshot(redis, prefix, ids, thresholds=self.thresholds)
        busy = await carrier_health.busy(redis, prefix, self.limits())
        return self.candidates(e164, health, busy, emergency=emergency)

    def explain(self, e164: str, health: dict[int, Health], busy: set[int], *, emergency: bool = False,
                in_use: dict[int, int] | None = None) -> Explanation:  # fmt: skip
        """Every carrier the decision considered: those tried in order, then those left out, with why."""
        route, tried, skipped = self._decide(e164, health, busy, emergency)
        in_use = in_use or {}
        rows = [
            Considered(c.id, c.name, place, cost, state, in_use.get(c.id), c.max_calls, why)
            for place, (c, cost, why, state) in enumerate(tried, start=1)
        ]
        rows += [Considered(c.id, c.name, None, cost, state, in_use.get(c.id), c.max_calls, why)
                 for c, cost, why, state in skipped]  # fmt: skip
        name = route.name if route else ("(emergency: every route's carriers)" if emergency and tried else None)
        return Explanation(e164, name, route.mode if route else None, tuple(rows))
