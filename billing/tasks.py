"""Celery tasks of billing: rating the new call records (beat runs it every minute)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import connection

from billing.rating import rate_new

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def rate_new_calls() -> dict:
    """Rate what the call records gained since the last run; skipped while another rater runs."""
    connection.set_schema_to_public()
    run = rate_new()
    if run.calls:
        log.info("rated %d calls (%d unrated) in %.2f s", run.calls, run.unrated, run.seconds)
    return {"rated": run.rated, "unrated": run.unrated, "busy": run.busy}
