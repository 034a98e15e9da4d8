"""The one rule for a webhook's URL, used when it is saved and again before every POST (the name may
point elsewhere by then): https only (OCX_WEBHOOK_ALLOW_HTTP lets http in), and every address its host
resolves to must be public. Loopback, private, link-local, multicast, reserved and unspecified
addresses are refused unless OCX_WEBHOOK_ALLOW_PRIVATE: a client must not make the platform talk to
its own Redis, PostgreSQL or a cloud metadata service (SSRF).

The POST then connects to the very address checked here (`Target.address`), so a name that changes
its answer between the check and the connection (DNS rebinding) gains nothing."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (the Host header, TLS' server name)
    port: int
    path: str  # with its query
    address: str  # the checked address to connect to


def forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified)  # fmt: skip


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of a URL the rules accept by its form; ValidationError otherwise."""
    url = (url or "").strip()
    if not url:
        raise ValidationError(_("Enter the URL."))
    if len(url) > 500 or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValidationError(_("Enter a valid URL (at most 500 characters, no spaces)."))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValidationError(_("Enter a valid URL.")) from error
    allowed = ("https", "http") if settings.OCX_WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise ValidationError(_("The URL must start with https://."))
    if not parts.hostname or parts.username or parts.password:
        raise ValidationError(_("Enter a valid URL with a host name and no user name or password."))
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def check_addresses(host: str, addresses: list[str]) -> str:
    """The first address when all may be reached; ValidationError naming the host otherwise."""
    if not addresses:
        raise ValidationError(_("%(host)s could not be resolved.") % {"host": host})
    if not settings.OCX_WEBHOOK_ALLOW_PRIVATE and any(forbidden(a) for a in addresses):
        raise ValidationError(
            _("%(host)s is a loopback, private or link-local address: the platform only calls public addresses.")
            % {"host": host}
        )
    return addresses[0]


def resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def webhook_target(url: str) -> Target:
    """The URL checked by the rules (form, then every address its host has now); ValidationError with a
    message for people otherwise. Blocking (name resolution): not on an event loop."""
    scheme, host, port, path = parse(url)
    return Target(scheme, host, port, path, check_addresses(host, resolve(host, port)))


def webhook_url_clean(url: str) -> str:
    """The URL as stored, or ValidationError (the same rule as before every POST)."""
    webhook_target(url)
    return url.strip()
