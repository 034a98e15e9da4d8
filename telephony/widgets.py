"""Click-to-call widgets: a button a client puts on its own web site. A visitor types their number; the
platform rings the widget's destination (a user of the client) first, then, once answered, calls the
visitor the way that user's own call out goes (the engine's network.place_out: the client's outbound
policy, blocked destinations and spending guard, the brand's carriers) and joins them
(telephony/engine/applications/clicktocall.py, OriginatedCall).

The client's operators keep widgets (`widget_save`, `widget_delete`): a name, the destination, the
web sites allowed to use it (exact origins, `https://shop.example.com`), on or off, and a public key
the embed snippet carries. The public endpoint (`widget_call`, on the client's own portal host) is
for anybody: a request whose Origin is not one of the widget's gets 403 and nothing else; each
visitor address (across the client's widgets; an IPv6 address by its /64) and each widget may ask for
so many calls a window (settings.OCX_CLICK_TO_CALL,
Redis counters shared by every web process), 429 past that; a number that is none, an emergency
number, one the policy or the client's blocked destinations refuse, is a 4xx that says so.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets

import redis
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from pstn import numbering, policy
from telephony.models import Extension, Widget
from tenants.audit import audit
from tenants.errors import NotAllowed, PlatformError
from tenants.models import Client, Role, User

log = logging.getLogger(__name__)
FIELDS = ("name", "destination_kind", "destination_target", "origins", "enabled")
MAX_ORIGINS = 20
_ORIGIN = re.compile(r"^https?://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$")


class WidgetNotFound(PlatformError):
    code = "not-found"
    status = 404


class OriginRefused(PlatformError):
    """The page asking is not on a web site the widget allows."""

    code = "origin-refused"
    status = 403


class TooManyCalls(PlatformError):
    code = "too-many-calls"
    status = 429


class NumberRefused(PlatformError):
    """The visitor's number may not be called (emergency, the client's policy or blocked destinations)."""

    code = "number-refused"
    status = 403


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators manage its click-to-call widgets."))


@transaction.atomic
def widget_save(*, actor: User, client: Client, widget: Widget | None = None, **fields) -> Widget:
    """Create a widget (widget None; it gets its public key) or change one (the fields given); every bad
    field is a field error naming it."""
    from telephony.destinations import clean

    _require_operator(actor, client)
    with tenant_context(client):
        refused = set(fields) - set(FIELDS)
        if refused:
            raise ValidationError({name: _("You may not change this field.") for name in sorted(refused)})
        item = widget or Widget(key=secrets.token_urlsafe(24))
        errors: dict[str, list[str]] = {}
        for name, value in fields.items():
            if isinstance(value, str) and "\x00" in value:
                errors[name] = [_("Must not contain NUL characters.")]
                continue
            setattr(item, name, value.strip() if isinstance(value, str) else value)
        if "name" not in errors and Widget.objects.filter(name=item.name).exclude(pk=item.pk).exists():
            errors["name"] = [_("A widget named %(name)s exists already.") % {"name": item.name}]
        if item.destination_kind != "user":
            errors["destination_kind"] = [_("A widget rings a user first: choose user.")]
        else:
            try:
                item.destination_kind, item.destination_target = clean(client, "user", item.destination_target)
            except ValidationError as error:
                errors.update(error.message_dict)
        if "origins" not in errors:
            origins, problems = clean_origins(item.origins or "")
            if problems:
                errors["origins"] = problems
            else:
                item.origins = origins
        try:
            item.full_clean(exclude=list(errors), validate_unique=False)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        audit(actor, "widget.create" if created else "widget.update", item, client=client, fields=sorted(fields))
    return item


@transaction.atomic
def widget_delete(*, actor: User, client: Client, widget: Widget) -> None:
    _require_operator(actor, client)
    with tenant_context(client):
        audit(actor, "widget.delete", widget, client=client, name=widget.name)
        widget.delete()


def clean_origins(text) -> tuple[str, list[str]]:
    """Web sites a widget allows, one a line: lower-case, without a trailing slash, each once; and the
    errors (the click-to-call and the chat widgets say the same)."""
    if not isinstance(text, str):
        return "", [_("Write one origin a line, such as https://shop.example.com.")]
    origins = [line.strip().lower().rstrip("/") for line in text.splitlines() if line.strip()]
    bad = [origin for origin in origins if not _ORIGIN.match(origin)]
    if bad:
        return "", [_("Not an origin: %(origins)s. Write one a line, such as https://shop.example.com.")
                    % {"origins": ", ".join(o[:60] for o in bad[:5])}]  # fmt: skip
    if len(origins) > MAX_ORIGINS:
        return "", [_("At most %(max)s origins.") % {"max": MAX_ORIGINS}]
    return "\n".join(dict.fromkeys(origins)), []


def embed_tag(base_url: str, script: str, attribute: str, key: str) -> str:
    """The one tag a client puts on its web site: the platform's script on the client's portal host,
    with the widget's public key (plain text, never marked safe: the portal shows it as code to copy)."""
    from html import escape

    from django.templatetags.static import static

    src = base_url.rstrip("/") + static(script)
    return f'<script src="{escape(src)}" {attribute}="{escape(key)}" async></script>'


def embed_snippet(widget: Widget, base_url: str) -> str:
    """The tag a client puts on its web site for a click-to-call widget."""
    return embed_tag(base_url, "clicktocall.js", "data-ocx-widget", widget.key)


def widget_allows(*, client: Client, key: str, origin: str) -> Widget:
    """The enabled widget with `key` when `origin` is one of its web sites; WidgetNotFound, OriginRefused."""
    with tenant_context(client):
        widget = Widget.objects.filter(key=key, enabled=True).first() if key else None
    if widget is None:
        raise WidgetNotFound(_("No such widget."))
    if not origin or origin.lower().rstrip("/") not in widget.origin_list():
        raise OriginRefused(_("This web site may not use the widget."))
    return widget


# One step: count the request against both limits, refused when either is past (KEYS: address, widget;
# ARGV: window, per address, per widget). Returns 1 when it may go ahead.
RESERVE = """
local address = redis.call('INCR', KEYS[1])
if address == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if address > tonumber(ARGV[2]) then return 0 end
local widget = redis.call('INCR', KEYS[2])
if widget == 1 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
if widget > tonumber(ARGV[3]) then return 0 end
return 1
"""


def visitor(address: str) -> str:
    """Who a visitor address is, for the limits: an IPv6 address by its /64 (a subscriber's network, any
    address of which its owner may use), anything else as it is."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if parsed.version == 6:
        mapped = parsed.ipv4_mapped  # (::ffff:a.b.c.d is an IPv4 visitor)
        return str(mapped) if mapped else str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _admit(client: Client, widget: Widget, address: str) -> None:
    limits = settings.OCX_CLICK_TO_CALL
    # (a visitor counts across the client's widgets: more widgets on its pages do not multiply their limit)
    keys = [rkey("c2c", "address", client.pk, visitor(address)), rkey("c2c", "widget", client.pk, widget.pk)]
    try:
        admitted = get_redis().eval(RESERVE, 2, *keys, limits["window"], limits["per_address"], limits["per_widget"])
    except redis.RedisError:  # without Redis no call is placed either (the engines need it): refuse
        log.exception("click-to-call limits unavailable")
        raise TooManyCalls(_("Calls cannot be placed now: try again later.")) from None
    if not admitted:
        raise TooManyCalls(_("Too many calls asked for: try again later."))


def widget_call(*, client: Client, key: str, origin: str, number: str, address: str) -> str:
    """A visitor asks to be called at `number` through the widget `key` from a page of `origin`: the
    call's id once an engine took it."""
    from telephony.blocking import blocklists_load
    from telephony.control import place_originate

    widget = widget_allows(client=client, key=key, origin=origin)
    _admit(client, widget, address)
    dialled = numbering.classify(str(number or "")[:40], client.country) if isinstance(number, str) else None
    if dialled is None or (not dialled.e164 and dialled.kind != numbering.EMERGENCY):
        raise ValidationError({"number": _("This is not a phone number: write it as on a business card.")})
    if dialled.kind == numbering.EMERGENCY:
        raise NumberRefused(_("Emergency numbers are never called back."))
    refusal = policy.refusal(policy.load_policy(client.pk), dialled)
    if refusal is not None:
        raise NumberRefused(_("The company does not call such numbers."))
    with tenant_context(client):
        if blocklists_load().destination_block(dialled.e164) is not None:
            raise NumberRefused(_("The company does not call such numbers."))
        extension = Extension.objects.filter(number=widget.destination_target).first()
    if extension is None:
        raise NumberRefused(_("The company does not call such numbers."))
    return place_originate(client=client, extension=extension, to=dialled.e164, widget=widget.pk)
