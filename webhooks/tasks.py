"""Celery tasks of webhooks: an event's fan-out to the endpoints that want it, and each delivery's
POSTs. Both are acks_late (with reject_on_worker_lost): a worker killed in the middle leaves the
message on the broker and another worker runs it again; the fan-out makes each delivery once (by
event id and endpoint), and a POST sent twice carries the same event id, which receivers use to drop
duplicates. The task of a worker process that dies mid-task is given again at once
(reject_on_worker_lost); that of a whole worker killed, once OCX_CELERY_VISIBILITY_TIMEOUT has passed.
A failed POST is retried OCX_WEBHOOK_RETRIES times, OCX_WEBHOOK_BACKOFF seconds after the first
failure and twice as long each time (under the visibility timeout); a replay is one more POST,
logged as such."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from webhooks import services

log = logging.getLogger(__name__)


def backoff(tries: int) -> float:
    """Seconds before the next try: doubling from OCX_WEBHOOK_BACKOFF, and under the broker's visibility
    timeout (a task waiting longer for its time would be handed to a second worker meanwhile)."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    return min(settings.OCX_WEBHOOK_BACKOFF * 2**tries, visibility * 0.9)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def webhook_event(client_id: int, event: dict) -> int:
    pending = services.event_fanout(client_id, event)
    for delivery_id in pending:
        webhook_deliver.delay(client_id, delivery_id)
    return len(pending)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def webhook_deliver(self, client_id: int, delivery_id: int, replay: bool = False) -> bool | None:
    tries = self.request.retries
    last = replay or tries >= settings.OCX_WEBHOOK_RETRIES
    ok = services.delivery_attempt(client_id, delivery_id, replay=replay, last=last)
    if ok is False and not last:
        raise self.retry(countdown=backoff(tries))
    return ok


@shared_task
def webhook_log_expire() -> int:
    """Every client's delivery log past OCX_WEBHOOK_LOG_DAYS (beat, hourly)."""
    from tenants.models import Client

    removed = 0
    for client in Client.objects.exclude(schema_name="public").order_by("pk"):
        try:
            removed += services.deliveries_expire(client)
        except Exception:  # one client's trouble does not keep the others' logs
            log.exception("webhook deliveries of client %s not expired", client.pk)
    return removed


def webhook_event_queue(client_id: int, kind: str, data: dict) -> None:
    """An event made outside the engine's call events (a voicemail message, a recording: the engine's
    database thread, in the client's schema, after the row is committed), queued only when one of
    the client's endpoints wants it; the broker away loses it at once (said in the log), never the row."""
    try:
        if not services.event_wanted(kind):
            return
        webhook_event.apply_async((client_id, services.event_now(kind, data)), retry=False)
    except Exception:
        log.exception("could not queue the webhook event %s of client %s", kind, client_id)
