"""Carriers' gateways: address, transport, registration and credentials, and the networks their
inbound calls may come from (each line an address or CIDR network, checked with `ipaddress`)."""

from __future__ import annotations

import ipaddress
import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from billing.models import Carrier
from pstn.directory import NARROWEST, too_broad
from pstn.models import Gateway
from pstn.services.common import _brand_scope, _changes, _clean, _no_nul, _require
from tenants.audit import audit
from tenants.models import Role, User

LABEL = r"[A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"^(?=.{{1,253}}$)({LABEL}\.)*{LABEL}$")
MAX_NETWORKS = 100
GATEWAY_FIELDS = ("name", "host", "port", "transport", "register", "username", "password", "realm",
                  "inbound_networks", "enabled")  # fmt: skip


def parse_networks(text: str) -> str:
    """Each line an address or a network (CIDR), as stored (one per line, normalised)."""
    lines = [line.strip() for line in (text or "").replace("\r", "\n").split("\n") if line.strip()]
    if len(lines) > MAX_NETWORKS:
        raise ValidationError({"inbound_networks": gettext("At most %(most)s networks.") % {"most": MAX_NETWORKS}})
    networks, errors = [], []
    for number, line in enumerate(lines, start=1):
        try:
            network = ipaddress.ip_network(line, strict=False)
        except ValueError:
            errors.append(
                gettext("Line %(number)s: %(line)s is not an IP address or network (such as 192.0.2.0/24).")
                % {"number": number, "line": line[:60]}
            )
            continue
        if too_broad(network):
            errors.append(gettext("Line %(number)s: %(network)s is too broad: a carrier's network is at most a "
                                  "/%(bits)s.") % {"number": number, "network": network,
                                                   "bits": NARROWEST[network.version]})  # fmt: skip
            continue
        networks.append(str(network))
    if errors:
        raise ValidationError({"inbound_networks": errors})
    return "\n".join(networks)


def _gateway_check(gateway: Gateway) -> None:
    """Field errors for the whole gateway at once."""
    errors: dict[str, list[str]] = {}
    gateway.host = gateway.host.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(gateway.host)
    except ValueError:
        if not HOSTNAME.match(gateway.host) or gateway.host.replace(".", "").isdigit():
            errors["host"] = [gettext("Use an IP address or a DNS name such as sip.carrier.example.")]
    try:
        gateway.inbound_networks = parse_networks(gateway.inbound_networks)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if gateway.register and not (gateway.username and gateway.password):
        errors["username"] = [gettext("Registration needs a username and a password.")]
    try:
        _clean(gateway, exclude=["carrier", *errors])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    taken = Gateway.objects.filter(carrier_id=gateway.carrier_id, name__iexact=gateway.name).exclude(pk=gateway.pk)
    if "name" not in errors and taken.exists():
        errors["name"] = [gettext("The carrier has a gateway named %(name)s already.") % {"name": gateway.name}]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def gateway_create(*, actor: User, carrier: Carrier, **fields) -> Gateway:
    """A gateway of a carrier the actor manages (god: any; a brand: its own carriers)."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, carrier.brand_id)
    _no_nul(fields)
    unknown = set(fields) - set(GATEWAY_FIELDS)
    if unknown:
        raise ValidationError({name: gettext("Unknown field.") for name in unknown})
    gateway = Gateway(carrier=carrier, **fields)
    _gateway_check(gateway)
    gateway.save()
    audit(actor, "gateway.create", gateway, brand=carrier.brand, carrier=carrier.pk, changed=_changes(fields))
    return gateway


@transaction.atomic
def gateway_update(*, actor: User, gateway: Gateway, **fields) -> Gateway:
    """Change a gateway; a password left out keeps the current one."""
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, gateway.carrier.brand_id)
    _no_nul(fields)
    for name in GATEWAY_FIELDS:
        if name in fields:
            setattr(gateway, name, fields[name])
    _gateway_check(gateway)
    gateway.save()
    audit(actor, "gateway.update", gateway, brand=gateway.carrier.brand, changed=_changes(fields))
    return gateway


@transaction.atomic
def gateway_delete(*, actor: User, gateway: Gateway) -> None:
    _require(actor, Role.GOD, Role.BRAND)
    _brand_scope(actor, gateway.carrier.brand_id)
    audit(actor, "gateway.delete", gateway, brand=gateway.carrier.brand)
    gateway.delete()
