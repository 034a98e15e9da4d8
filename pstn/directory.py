"""What the edges need of the phone network, in Redis beside the SIP directory (telephony/directory.py,
whose rebuild writes this too): the carriers' gateways with the networks their calls come from, and
per carrier the numbers the platform has, as that carrier writes them, with the client each is for.

    pstn:gateways          JSON list: {"carrier", "gateway", "networks": [CIDR...], "format", "country",
                           "host", "ip", "port", "srv", "transport", "register", "username", "password",
                           "realm"} (the edge that keeps the gateways pings them and registers:
                           telephony/edge/trunks.py); "srv": the gateway has no port of its own, so the
                           edges look its host up by DNS SRV (telephony/sip/locate.py)
    pstn:gw:<gateway>      its state, written by that edge: {"alive", "rtt_ms", "checked_at", "missed",
                           "registered", "registration", "expires_at", "error"}
    pstn:did:<carrier>     hash: the number as the carrier writes it -> JSON {"client", "brand",
                           "domain", "e164", "number"}
    pstn:carriers          set: the carriers that have a did hash (so a rebuild removes stale ones)

Written again as a whole after every change to a carrier, a gateway or a number (after the
transaction commits), and announced with "pstn" on the SIP directory's invalidation channel.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket

from django.db import transaction

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


def networks_of(gateway: Gateway) -> list[str]:
    """The networks a gateway's calls may come from: its own lines, else its host's address."""
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
    if not found:
        try:
            found.append(str(ipaddress.ip_network(socket.gethostbyname(gateway.host))))
        except (OSError, ValueError):
            log.warning("gateway %s: %s cannot be resolved", gateway.pk, gateway.host)
    return found


def address_of(host: str) -> str:
    """The gateway's IP address (its host, or what its name resolves to when the directory is written)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return socket.gethostbyname(host)
    except OSError:
        return ""


def gateway_states(gateway_ids) -> dict[int, dict]:
    """What the edge that keeps the gateways last found of each (alive, registered...): for the
    carrier pages and the routing."""
    ids = list(gateway_ids)
    raw = get_redis().mget([rkey("pstn:gw", i) for i in ids]) if ids else []
    return {i: json.loads(value) for i, value in zip(ids, raw, strict=True) if value}


def pstn_records() -> tuple[list[dict], dict[int, dict[str, str]]]:
    carriers = {c.pk: c for c in Carrier.objects.filter(enabled=True)}
    gateways = [
        {"carrier": g.carrier_id, "gateway": g.pk, "networks": networks_of(g),
         "format": carriers[g.carrier_id].number_format, "country": carriers[g.carrier_id].country,
         "host": g.host, "ip": address_of(g.host), "port": g.port or (5061 if g.transport == "tls" else 5060),
         "srv": g.port is None, "transport": g.transport, "register": g.register, "username": g.username,
         "password": g.password, "realm": g.realm}
        for g in Gateway.objects.filter(enabled=True, carrier_id__in=carriers)
    ]  # fmt: skip
    dids: dict[int, dict[str, str]] = {}
    numbers = Number.objects.filter(client__isnull=False, carrier_id__in=carriers).select_related("client")
    for number in numbers.exclude(client__status="deleted"):
        carrier = carriers[number.carrier_id]
        written = to_carrier(number.e164, carrier.number_format, carrier.country)
        dids.setdefault(carrier.pk, {})[written] = json.dumps({
            "client": number.client_id, "brand": number.brand_id, "domain": number.client.sip_domain,
            "e164": number.e164, "number": number.pk,
        })  # fmt: skip
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


def pstn_directory_changed() -> None:
    """A carrier, gateway or number changed: rewrite after the commit and tell the edges and engines."""

    def write() -> None:
        with get_redis().pipeline() as pipe:
            pstn_directory_write(pipe)
            pipe.publish(rkey("sip:invalidate"), "pstn")
            pipe.execute()

    transaction.on_commit(write)


def pstn_announce() -> None:
    """Routes or policies changed: after the commit, the engines drop what they cached of them."""
    transaction.on_commit(lambda: get_redis().publish(rkey("sip:invalidate"), "pstn"))
