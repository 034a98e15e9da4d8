"""Celery tasks of the conferencing service: running mass-notification campaigns."""

from __future__ import annotations

import logging
from collections import Counter

from celery import shared_task
from django.utils import timezone
from django_tenants.utils import tenant_context

from conferencing.models import Campaign, Target
from conferencing.notifications import campaign_maybe_done, message_path, targets_due
from telephony.commands import Notify
from telephony.control import EngineUnavailable, ask_engine, live_engines
from telephony.engine_registry import least_busy
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
        engines, sent = live_engines(), Counter()  # the calls sent to each engine in this round
        handed = 0
        for target in due:
            engine = least_busy(engines.values(), sent)
            if engine is None:
                next_in = NO_ENGINE_RETRY
                break
            command = Notify(client=client.pk, target=target.pk, number=target.number,
                             message=str(message_path(client.pk, campaign.message_id)),
                             digit=campaign.confirm_digit)  # fmt: skip
            Target.objects.filter(pk=target.pk).update(state=Target.State.CALLING, attempts=target.attempts + 1,
                                                       last_called_at=now, cause="")  # fmt: skip
            try:
                answer = ask_engine(engine.id, command)
            except EngineUnavailable:
                answer = None
            if answer is None or not answer.ok:
                log.warning("engine %s did not take a notification call (%s); trying another", engine.id,
                            answer.detail if answer else "no answer")  # fmt: skip
                Target.objects.filter(pk=target.pk).update(state=target.state, attempts=target.attempts)
                engines.pop(engine.id)
                next_in = NO_ENGINE_RETRY
                continue
            sent[engine.id] += 1
            handed += 1
        if due and next_in is None:
            next_in = campaign.retry_seconds
        if next_in is None:
            campaign_maybe_done(campaign)
        else:
            campaign_dispatch.apply_async((client_id, campaign_id), countdown=max(1.0, next_in))
    return handed
