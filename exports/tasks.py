"""Celery tasks of the exports: export jobs, due pushes (beat, every minute), housekeeping (beat, hourly).

Retries of failed pushes are not Celery retries: the destination's `next_run_at` holds the backoff,
so a retry survives a worker restart and shows in the portal.
"""

from __future__ import annotations

from celery import shared_task

from exports import push, services


@shared_task
def cdr_export_run(job_id: int) -> str:
    return services.export_job_run(job_id).status


@shared_task
def cdr_push_due() -> int:
    """Start a run for every destination that is due; each runs in its own task (one slow server never
    holds the others back) and takes a lease, so overlapping beats do not run one twice."""
    due = push.push_destinations_due()
    for destination_id in due:
        cdr_push_run.delay(destination_id)
    return len(due)


@shared_task
def cdr_push_run(destination_id: int) -> str:
    file = push.push_destination_run(destination_id)
    return file.status if file is not None else "skipped"


@shared_task
def exports_housekeeping() -> int:
    return services.export_files_expire()
