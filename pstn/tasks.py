"""Celery tasks of the phone network: a sample of every carrier's health each minute (beat), for the
carrier pages' charts."""

from __future__ import annotations

from celery import shared_task
from django.db import connection


@shared_task(ignore_result=True)
def carrier_health_sample() -> int:
    """Append a sample of each enabled carrier's health to its history; returns how many."""
    from pstn.carrier_health import carrier_health_sample as sample

    connection.set_schema_to_public()
    return sample()
