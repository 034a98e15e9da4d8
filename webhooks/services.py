"""Writes on webhooks. The client's operators (portal and API): `endpoint_save` (every bad field at
once), `endpoint_delete`, `endpoint_secret_rotate`, `delivery_replay`, `routing_webhook_save`,
`routing_webhook_delete`. The Celery worker: `event_fanout` (an event from an engine becomes one
delivery per endpoint that wants it) and `delivery_attempt` (one signed POST, logged).

A change to a client's endpoints or routing webhooks tells the engines to drop the client's cached
dial plan: they read which events the client wants, and its routing webhooks, with it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django_tenants.utils import schema_context, tenant_context

from telephony.directory import sip_directory_rooms_changed
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User
from webhooks.addresses import webhook_target, webhook_url_clean
from webhooks.models import (
    EVENTS,
    MAX_TIMEOUT_MS,
    MIN_TIMEOUT_MS,
    Attempt,
    Delivery,
    Endpoint,
    RoutingWebhook,
    new_secret,
)
from webhooks.signing import post, signed_headers

log = logging.getLogger(__name__)
ENDPOINT_FIELDS = ("url", "description", "events", "enabled")
ROUTING_FIELDS = ("name", "url", "timeout_ms", "fallback_kind", "fallback_target")


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed(_("Only the client's operators manage its webhooks."))


def _add(errors: dict, name: str, messages) -> None:
    errors.setdefault(name, []).extend([messages] if isinstance(messages, str) else messages)


def _text(errors: dict, name: str, value, max_length: int) -> str:
    if not isinstance(value, str):
        _add(errors, name, _("Enter text."))
        return ""
    if "\x00" in value:
        _add(errors, name, _("Must not contain NUL characters."))
        return ""
    value = value.strip()
    if len(value) > max_length:
        _add(errors, name, _("At most %(n)s characters.") % {"n": max_length})
    return value


def _url(errors: dict, value) -> str:
    value = _text(errors, "url", value, 500)
    if "url" not in errors:
        try:
            return webhook_url_clean(value)
        except ValidationError as error:
            _add(errors, "url", error.messages)
    return value


@transaction.atomic
def endpoint_save(*, actor: User, client: Client, endpoint: Endpoint | None = None, **fields) -> Endpoint:
    """Create an endpoint (endpoint None) or change one (the fields given); its secret is made here."""
    _require_operator(actor, client)
    with tenant_context(client):
        refused = set(fields) - set(ENDPOINT_FIELDS)
        if refused:
            raise ValidationError({name: _("You may not change this field.") for name in sorted(refused)})
        item = endpoint or Endpoint()
        errors: dict[str, list[str]] = {}
        if "url" in fields or endpoint is None:
            item.url = _url(errors, fields.get("url", ""))
        if "description" in fields:
            item.description = _text(errors, "description", fields["description"], 100)
        if "enabled" in fields:
            if not isinstance(fields["enabled"], bool):
                _add(errors, "enabled", _("Enter true or false."))
            else:
                item.enabled = fields["enabled"]
        if "events" in fields or endpoint is None:
            events = fields.get("events", [])
            if not isinstance(events, list | tuple) or not all(isinstance(e, str) for e in events):
                _add(errors, "events", _("Choose events from the list."))
            else:
                unknown = sorted(set(events) - set(EVENTS))
                if unknown:
                    _add(errors, "events", _("No such event: %(names)s. Choose from: %(choices)s.")
                         % {"names": ", ".join(unknown), "choices": ", ".join(EVENTS)})  # fmt: skip
                elif not events:
                    _add(errors, "events", _("Choose at least one event."))
                else:
                    item.events = [e for e in EVENTS if e in events]
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        audit(actor, "webhook.create" if created else "webhook.update", item, client=client, fields=sorted(fields))
    sip_directory_rooms_changed(client)  # the engines read which events are wanted with the dial plan
    return item


@transaction.atomic
def endpoint_delete(*, actor: User, client: Client, endpoint: Endpoint) -> None:
    _require_operator(actor, client)
    with tenant_context(client):
        audit(actor, "webhook.delete", endpoint, client=client)
        endpoint.delete()
    sip_directory_rooms_changed(client)


@transaction.atomic
def endpoint_secret_rotate(*, actor: User, client: Client, endpoint: Endpoint) -> Endpoint:
    """A new signing secret; the old one signs nothing from now on."""
    _require_operator(actor, client)
    with tenant_context(client):
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret", "updated_at"])
        audit(actor, "webhook.secret_rotate", endpoint, client=client)
    return endpoint


def delivery_replay(*, actor: User, client: Client, delivery: Delivery) -> None:
    """Send a delivery again, as it was (the same event id and body), once, logged as a replay."""
    from webhooks.tasks import webhook_deliver

    _require_operator(actor, client)
    with tenant_context(client):
        audit(actor, "webhook.replay", delivery, client=client)
    try:  # (nothing to commit first: the delivery and its body are there already)
        webhook_deliver.delay(client.pk, delivery.pk, replay=True)
    except Exception as error:  # the broker away
        log.exception("could not queue the replay of delivery %s", delivery.pk)
        raise ValidationError(_("The delivery could not be queued; try again in a moment.")) from error


@transaction.atomic
def routing_webhook_save(*, actor: User, client: Client, webhook: RoutingWebhook | None = None,
                         **fields) -> RoutingWebhook:  # fmt: skip
    """Create a routing webhook (webhook None) or change one (the fields given), every bad field at once."""
    from telephony.destinations import clean

    _require_operator(actor, client)
    with tenant_context(client):
        refused = set(fields) - set(ROUTING_FIELDS)
        if refused:
            raise ValidationError({name: _("You may not change this field.") for name in sorted(refused)})
        item = webhook or RoutingWebhook()
        errors: dict[str, list[str]] = {}
        if "name" in fields or webhook is None:
            item.name = _text(errors, "name", fields.get("name", ""), 60)
            if "name" not in errors and not item.name:
                _add(errors, "name", _("Enter a name."))
            elif "name" not in errors and RoutingWebhook.objects.filter(name=item.name).exclude(pk=item.pk).exists():
                _add(errors, "name", _("A routing webhook named %(name)s exists already.") % {"name": item.name})
        if "url" in fields or webhook is None:
            item.url = _url(errors, fields.get("url", ""))
        if "timeout_ms" in fields:
            value = fields["timeout_ms"]
            if not isinstance(value, int) or isinstance(value, bool) or not MIN_TIMEOUT_MS <= value <= MAX_TIMEOUT_MS:
                _add(errors, "timeout_ms", _("Enter a whole number of milliseconds from %(low)s to %(high)s.")
                     % {"low": MIN_TIMEOUT_MS, "high": MAX_TIMEOUT_MS})  # fmt: skip
            else:
                item.timeout_ms = value
        for name in ("fallback_kind", "fallback_target"):
            if name in fields:
                setattr(item, name, _text(errors, name, fields[name], 100))
        if not {"fallback_kind", "fallback_target"} & set(errors):  # judged with the other fields' errors too
            try:
                kind, target = clean(client, item.fallback_kind, item.fallback_target, field="fallback")
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    _add(errors, name, messages)
            else:
                if kind == "webhook":
                    _add(errors, "fallback_kind", _("A fallback must not be another routing webhook."))
                item.fallback_kind, item.fallback_target = kind, target
        if errors:
            raise ValidationError(errors)
        created = item.pk is None
        item.save()
        audit(actor, "routing_webhook.create" if created else "routing_webhook.update", item, client=client,
              fields=sorted(fields))  # fmt: skip
    sip_directory_rooms_changed(client)
    return item


def routing_webhook_users(client: Client, webhook: RoutingWebhook) -> list[str]:
    """What points at the routing webhook, for people: numbers, users' forwarding, menus; client schema."""
    from django.db.models import Q

    from menus.models import Menu
    from pstn.models import Number
    from telephony.models import Forwarding

    target, found = str(webhook.pk), []
    here = Q(destination_kind="webhook", destination_target=target) | Q(closed_kind="webhook", closed_target=target)
    for e164 in Number.objects.filter(here, client=client).values_list("e164", flat=True):
        found.append(_("number %(number)s") % {"number": e164})
    for when in ("always", "busy", "no_answer", "unreachable"):
        lines = Forwarding.objects.filter(**{f"{when}_kind": "webhook", f"{when}_target": target})
        for number in lines.values_list("extension__number", flat=True):
            found.append(_("the forwarding of extension %(number)s") % {"number": number})
    menus = Menu.objects.filter(options__destination_kind="webhook", options__destination_target=target)
    menus = menus | Menu.objects.filter(timeout_kind="webhook", timeout_target=target)
    menus = menus | Menu.objects.filter(invalid_kind="webhook", invalid_target=target)
    for name in sorted(set(menus.values_list("name", flat=True))):
        found.append(_("menu %(name)s") % {"name": name})
    return sorted(set(found), key=found.index)


@transaction.atomic
def routing_webhook_delete(*, actor: User, client: Client, webhook: RoutingWebhook) -> None:
    """Remove a routing webhook nothing points at (else a field error saying what does)."""
    _require_operator(actor, client)
    with tenant_context(client):
        users = routing_webhook_users(client, webhook)
        if users:
            raise ValidationError({"webhook": _("These lead to the routing webhook: %(users)s. Point them elsewhere "
                                                "first.") % {"users": "; ".join(users)}})  # fmt: skip
        audit(actor, "routing_webhook.delete", webhook, client=client)
        webhook.delete()
    sip_directory_rooms_changed(client)


# The Celery worker's side ---------------------------------------------------------------------------


def event_body(*, event_id: str, kind: str, created: str, client_id: int, data: dict) -> dict:
    return {"id": event_id, "type": kind, "created": created, "client": client_id, "data": data}


def event_fanout(client_id: int, event: dict) -> list[int]:
    """The deliveries of an event (from an engine: id, type, created, data) to the client's endpoints
    that want it, made once per endpoint whatever runs this again (a worker killed after it); the ids
    of those still to send."""
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        return []
    payload = event_body(event_id=event["id"], kind=event["type"], created=event["created"], client_id=client_id,
                         data=event["data"])  # fmt: skip
    pending = []
    with schema_context(client.schema_name):
        for endpoint in Endpoint.objects.filter(enabled=True):
            if event["type"] not in endpoint.events:
                continue
            delivery, _created = Delivery.objects.get_or_create(
                endpoint=endpoint, event_id=uuid.UUID(event["id"]),
                defaults={"event_type": event["type"], "payload": payload},
            )  # fmt: skip
            if delivery.status == Delivery.Status.PENDING and delivery.attempts == 0:
                pending.append(delivery.pk)
    return pending


def deliveries_expire(client: Client, *, now: dt.datetime | None = None) -> int:
    """The client's deliveries (and their attempts) older than OCX_WEBHOOK_LOG_DAYS removed; how many."""
    since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=settings.OCX_WEBHOOK_LOG_DAYS)
    with schema_context(client.schema_name):
        old = Delivery.objects.filter(created_at__lt=since).exclude(status=Delivery.Status.PENDING)
        return old.delete()[1].get(Delivery._meta.label, 0)


def event_wanted(kind: str) -> bool:
    """Whether an enabled endpoint of the current schema's client wants `kind`."""
    return Endpoint.objects.filter(enabled=True, events__contains=[kind]).exists()


def event_now(kind: str, data: dict) -> dict:
    """An event made outside the engine (voicemail, recordings): a new id, now."""
    return {"id": str(uuid.uuid4()), "type": kind, "created": dt.datetime.now(dt.UTC).isoformat(), "data": data}


def delivery_attempt(client_id: int, delivery_id: int, *, replay: bool = False, last: bool = True) -> bool | None:
    """POST the delivery once (signed now, the URL rules checked again first) and log the attempt;
    whether the endpoint took it (None: nothing to send, the delivery or its endpoint is gone, or
    it is delivered already and this is no replay). `last`: a failure now marks the delivery failed."""
    client = Client.objects.filter(pk=client_id).first()
    if client is None:
        return None
    with schema_context(client.schema_name):
        delivery = Delivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
        if delivery is None or (delivery.status == Delivery.Status.DELIVERED and not replay):
            return None
        endpoint = delivery.endpoint
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        try:
            target = webhook_target(endpoint.url)
        except ValidationError as error:
            outcome = None
            error_text = " ".join(error.messages)[:300]
        else:
            headers = signed_headers(endpoint.secret, str(delivery.event_id), body)
            outcome = post(target, body, headers, settings.OCX_WEBHOOK_TIMEOUT)
            error_text = outcome.error or ("" if outcome.ok else f"HTTP {outcome.status_code}")
        ok = outcome is not None and outcome.ok
        Attempt.objects.create(delivery=delivery, status_code=outcome.status_code if outcome else None,
                               duration_ms=outcome.duration_ms if outcome else 0, error=error_text,
                               replay=replay)  # fmt: skip
        delivery.attempts += 1
        if ok:
            delivery.status = Delivery.Status.DELIVERED
        elif last and delivery.status != Delivery.Status.DELIVERED:
            delivery.status = Delivery.Status.FAILED
        delivery.save(update_fields=["attempts", "status", "updated_at"])
    return ok
