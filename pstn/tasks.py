"""Celery tasks of the phone network: a gateway's DNS name looked up off the saving request, and a
sample of every carrier's health each minute (beat) for the carrier pages' charts."""

from __future__ import annotations

from celery import shared_task
from django.db import connection

from pstn.directory import pstn_gateway_write


@shared_task(ignore_result=True)
def gateway_resolve(gateway_id: int) -> None:
    """Write the gateway's entry with the address its name resolves to now."""
    connection.set_schema_to_public()
    pstn_gateway_write(gateway_id, resolve=True)


@shared_task(ignore_result=True)
def carrier_health_sample() -> int:
    """Append a sample of each enabled carrier's health to its history; returns how many."""
    from pstn.carrier_health import carrier_health_sample as sample

    connection.set_schema_to_public()
    return sample()
