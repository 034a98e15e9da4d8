"""What the edges need of the phone network, in Redis beside the SIP directory (telephony/directory.py,
whose rebuild writes this too): the carriers' gateways with the networks their calls come from, and
per carrier the numbers the platform has, as that carrier writes them, with the client each is for.

    pstn:gateways          JSON list: {"carrier", "gateway", "networks": [CIDR...], "format", "country",
                           "host", "port", "srv", "transport", "register", "username", "password",
                           "realm"} (the edge that keeps the gateways pings them and registers:
                           telephony/edge/trunks.py); "srv": the gateway has no port of its own, so the
                           edges look its host up by DNS SRV (telephony/sip/locate.py)
    pstn:gw:<gateway>      its state, written by that edge: {"alive", "rtt_ms", "checked_at", "missed",
                           "registered", "registration", "expires_at", "error"}
    pstn:did:<carrier>     hash: the number as the carrier writes it -> JSON {"client", "brand",
                           "domain", "e164", "number"}
    pstn:carriers          set: the carriers that have a did hash (so a rebuild removes stale ones)

A change to a carrier, a gateway or a number writes only its own part after the transaction commits
(the gateway's entry in the list, the number in its carriers' did hashes, a carrier's entries and its
did hash), in one Redis transaction announced with "pstn" on the SIP directory's invalidation
channel; the whole part is written again with the SIP directory (`pstn_directory_write`, from
`sip_directory_sync`). Nothing here looks a name up in DNS (a saving request never waits for it):
the edges and engines look gateways' names up themselves (telephony/sip/locate.py), and a gateway
given by name with no networks of its own is trusted from the addresses its name has there.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable

from django.db import transaction
from redis.exceptions import WatchError

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn.models import Gateway, Number
from pstn.numbering import to_carrier

log = logging.getLogger(__name__)
GATEWAYS, CARRIERS = "pstn:gateways", "pstn:carriers"


def did_key(carrier_id: int) -> str:
    return rkey("pstn:did", carrier_id)


NARROWEST = {4: 16, 6: 48}  # a carrier's network is at most a /16 (IPv4) or a /48 (IPv6): never the internet


def too_broad(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    return network.prefixlen < NARROWEST[network.version]


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def networks_of(gateway: Gateway) -> list[str]:
    """The networks a gateway's calls may come from: its own lines, else its host when that is an
    address (a name's addresses are the edges' to find)."""
    found = []
    for line in gateway.inbound_networks.splitlines():
        line = line.strip()
        if line:
            try:
                network = ipaddress.ip_network(line, strict=False)
            except ValueError:
                log.warning("gateway %s: %r is not a network", gateway.pk, line)
                continue
            if too_broad(network):  # (the services refuse it; rows written otherwise are not trusted)
                log.warning("gateway %s: %s is too broad to trust", gateway.pk, network)
                continue
            found.append(str(network))
    if not found and is_address(gateway.host):
        found.append(str(ipaddress.ip_network(gateway.host)))
    return found


def gateway_states(gateway_ids) -> dict[int, dict]:
    """What the edge that keeps the gateways last found of each (alive, registered...): for the
    carrier pages and the routing."""
    ids = list(gateway_ids)
    raw = get_redis().mget([rkey("pstn:gw", i) for i in ids]) if ids else []
    return {i: json.loads(value) for i, value in zip(ids, raw, strict=True) if value}


def gateway_entry(gateway: Gateway, carrier: Carrier) -> dict:
    """A gateway's entry in `pstn:gateways`."""
    return {
        "carrier": gateway.carrier_id, "gateway": gateway.pk, "networks": networks_of(gateway),
        "format": carrier.number_format, "country": carrier.country, "host": gateway.host,
        "port": gateway.port or (5061 if gateway.transport == "tls" else 5060), "srv": gateway.port is None,
        "transport": gateway.transport, "register": gateway.register, "username": gateway.username,
        "password": gateway.password, "realm": gateway.realm,
    }  # fmt: skip


def number_entry(number: Number, carrier: Carrier) -> tuple[str, str]:
    """(the number as the carrier writes it, its record in the carrier's did hash)."""
    written = to_carrier(number.e164, carrier.number_format, carrier.country)
    return written, json.dumps({
        "client": number.client_id, "brand": number.brand_id, "domain": number.client.sip_domain,
        "e164": number.e164, "number": number.pk,
    })  # fmt: skip


def _routable_numbers():
    return Number.objects.filter(client__isnull=False).exclude(client__status="deleted").select_related("client")


def pstn_records() -> tuple[list[dict], dict[int, dict[str, str]]]:
    carriers = {c.pk: c for c in Carrier.objects.filter(enabled=True)}
    gateways = [gateway_entry(g, carriers[g.carrier_id])
                for g in Gateway.objects.filter(enabled=True, carrier_id__in=carriers)]  # fmt: skip
    dids: dict[int, dict[str, str]] = {}
    for number in _routable_numbers().filter(carrier_id__in=carriers):
        written, record = number_entry(number, carriers[number.carrier_id])
        dids.setdefault(number.carrier_id, {})[written] = record
    return gateways, dids


def pstn_directory_write(pipe) -> dict:
    """Queue the whole phone-network part of the directory on a Redis pipeline; returns counts."""
    gateways, dids = pstn_records()
    old = {int(c) for c in get_redis().smembers(rkey(CARRIERS))}
    for carrier_id in old - set(dids):
        pipe.delete(did_key(carrier_id))
    for carrier_id, records in dids.items():
        pipe.delete(did_key(carrier_id))
        pipe.hset(did_key(carrier_id), mapping=records)
    pipe.delete(rkey(CARRIERS))
    if dids:
        pipe.sadd(rkey(CARRIERS), *dids)
    pipe.set(rkey(GATEWAYS), json.dumps(gateways))
    return {"gateways": len(gateways), "numbers": sum(len(r) for r in dids.values())}


# A change writes its own part only ---------------------------------------------------------------

Edit = Callable[[list[dict]], list[dict]]


def _write(edit: Edit | None = None, dids: Callable | None = None) -> None:
    """One Redis transaction: the gateways' list edited by `edit` (under WATCH: a concurrent edit
    makes it start again, so none is lost), what `dids(pipe)` queues, and the announcement."""
    with get_redis().pipeline() as pipe:
        while True:
            try:
                if edit is not None:
                    pipe.watch(rkey(GATEWAYS))
                    raw = pipe.get(rkey(GATEWAYS))
                    entries = edit(json.loads(raw) if raw else [])
                pipe.multi()
                if edit is not None:
                    pipe.set(rkey(GATEWAYS), json.dumps(entries))
                if dids is not None:
                    dids(pipe)
                pipe.publish(rkey("sip:invalidate"), "pstn")
                pipe.execute()
                return
            except WatchError:
                continue


def pstn_gateway_write(gateway_id: int) -> None:
    """Write one gateway's entry as the database has it now (or drop it: deleted, disabled, or its
    carrier disabled); the other entries stay as they are."""
    gateway = Gateway.objects.select_related("carrier").filter(pk=gateway_id).first()
    live = gateway is not None and gateway.enabled and gateway.carrier.enabled
    new = [gateway_entry(gateway, gateway.carrier)] if live else []

    def edit(entries: list[dict]) -> list[dict]:
        index = next((i for i, e in enumerate(entries) if e.get("gateway") == gateway_id), None)
        if index is None:
            return [*entries, *new]
        return [*entries[:index], *new, *entries[index + 1 :]]

    _write(edit)


def pstn_gateway_changed(gateway_id: int) -> None:
    """A gateway changed: after the commit, its entry is written."""
    transaction.on_commit(lambda: pstn_gateway_write(gateway_id))


def pstn_carrier_write(carrier_id: int) -> None:
    """Write one carrier's part as the database has it now: its gateways' entries and its did hash
    (or drop them: deleted or disabled)."""
    carrier = Carrier.objects.filter(pk=carrier_id, enabled=True).first()
    gateways = list(Gateway.objects.filter(carrier_id=carrier_id, enabled=True)) if carrier else []
    records = {}
    if carrier is not None:
        records = dict(number_entry(n, carrier) for n in _routable_numbers().filter(carrier_id=carrier_id))
    written = [gateway_entry(g, carrier) for g in gateways]

    def edit(entries: list[dict]) -> list[dict]:
        return [*(e for e in entries if e.get("carrier") != carrier_id), *written]

    def dids(pipe) -> None:
        pipe.delete(did_key(carrier_id))
        if records:
            pipe.hset(did_key(carrier_id), mapping=records)
            pipe.sadd(rkey(CARRIERS), carrier_id)
        else:
            pipe.srem(rkey(CARRIERS), carrier_id)

    _write(edit, dids)


def pstn_carrier_changed(carrier_id: int) -> None:
    """A carrier changed (or numbers of it were added in bulk): after the commit its part is written."""
    transaction.on_commit(lambda: pstn_carrier_write(carrier_id))


def pstn_number_write(number_id: int | None, before: tuple[int, str] | None) -> None:
    """Move one number in the did hashes: out of where it was (`before`: its carrier and E.164 then),
    into its carrier's as the database has it now (when assigned to a client and the carrier enabled)."""
    number = _routable_numbers().filter(pk=number_id).first() if number_id is not None else None
    ids = {before[0]} if before else set()
    if number is not None:
        ids.add(number.carrier_id)
    carriers = Carrier.objects.in_bulk(ids)

    def dids(pipe) -> None:
        old = carriers.get(before[0]) if before else None
        if old is not None:
            pipe.hdel(did_key(old.pk), to_carrier(before[1], old.number_format, old.country))
        new = carriers.get(number.carrier_id) if number is not None else None
        if new is not None and new.enabled:
            written, record = number_entry(number, new)
            pipe.hset(did_key(new.pk), written, record)
            pipe.sadd(rkey(CARRIERS), new.pk)

    _write(dids=dids)


def pstn_number_changed(number_id: int | None, before: tuple[int, str] | None) -> None:
    """A number changed (`number_id` None: deleted): after the commit it is moved in the did hashes."""
    transaction.on_commit(lambda: pstn_number_write(number_id, before))


def pstn_announce() -> None:
    """Routes or policies changed: after the commit, the engines drop what they cached of them."""
    transaction.on_commit(lambda: get_redis().publish(rkey("sip:invalidate"), "pstn"))
