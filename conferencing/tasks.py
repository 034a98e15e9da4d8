"""Celery tasks of the conferencing service: running mass-notification campaigns."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import tenant_context

from conferencing.models import Campaign, Target
from conferencing.notifications import campaign_maybe_done, message_path, targets_due
from telephony.calls import EngineUnavailable, ask_engine, live_engines
from tenants.models import Client

log = logging.getLogger(__name__)
NO_ENGINE_RETRY = 30  # seconds before trying again when no engine runs


@shared_task
def campaign_dispatch(client_id: int, campaign_id: int) -> int:
    """Hand the campaign's due numbers to the call engines, then come back when the next retry is
    due; the number of calls handed out."""
    client = Client.objects.get(pk=client_id)
    with tenant_context(client):
        campaign = Campaign.objects.select_related("message").filter(pk=campaign_id).first()
        if campaign is None or campaign.status != Campaign.Status.RUNNING:
            return 0
        now = timezone.now()
        due, next_in = targets_due(campaign, now)
        engines = {e.id: e.calls for e in live_engines().values() if not e.draining and e.calls < e.capacity}
        handed = 0
        for target in due:
            if not engines:
                next_in = NO_ENGINE_RETRY
                break
            engine = min(engines, key=engines.get)
            message = {"type": "engine.notify", "client": client.pk, "target": target.pk, "number": target.number,
                       "message": str(message_path(client.pk, campaign.message_id)),
                       "digit": campaign.confirm_digit}  # fmt: skip
            Target.objects.filter(pk=target.pk).update(state=Target.State.CALLING, attempts=target.attempts + 1,
                                                       last_called_at=now, cause="")  # fmt: skip
            try:
                ask_engine(engine, message)
            except EngineUnavailable:
                log.warning("engine %s did not take a notification call; trying another", engine)
                Target.objects.filter(pk=target.pk).update(state=target.state, attempts=target.attempts)
                engines.pop(engine)
                next_in = NO_ENGINE_RETRY
                continue
            engines[engine] += 1
            handed += 1
        if due and next_in is None:
            next_in = campaign.retry_seconds
        if next_in is None:
            campaign_maybe_done(campaign)
        else:
            campaign_dispatch.apply_async((client_id, campaign_id), countdown=max(1.0, next_in))
    return handed
