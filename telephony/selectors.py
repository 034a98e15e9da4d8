"""Reads on a client's telephony."""

from __future__ import annotations

from django.conf import settings

from telephony.models import Extension
from tenants.models import Client


def sip_credentials(*, client: Client, extension: Extension) -> dict:
    """What a phone needs to register: user name, domain (realm) and the edge's address."""
    return {
        "number": extension.number,
        "display_name": extension.display_name,
        "username": extension.sip_username,
        "domain": client.sip_domain,
        "proxy": settings.OCX_SIP_PROXY,
        "secret_changed_at": extension.secret_changed_at,
    }
