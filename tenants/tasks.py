"""Periodic platform housekeeping run by Celery beat and worker."""

import time

from celery import shared_task
from django.core.cache import cache

HEARTBEAT_KEY = "heartbeat:celery"


@shared_task
def platform_heartbeat() -> float:
    """Beat schedules it, a worker runs it: the status page reads the time it last ran."""
    now = time.time()
    cache.set(HEARTBEAT_KEY, now, timeout=600)
    return now
