"""The Celery app (not named celery.py, so `import celery` always means the library)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("opencentrex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {
    "platform-heartbeat": {"task": "tenants.tasks.platform_heartbeat", "schedule": 15.0},
    # CDR pushes: each destination's own schedule and retry backoff live in its row (next_run_at).
    "cdr-push-due": {"task": "exports.tasks.cdr_push_due", "schedule": 60.0},
    "exports-housekeeping": {"task": "exports.tasks.exports_housekeeping", "schedule": 3600.0},
    "billing-rate-new-calls": {"task": "billing.tasks.rate_new_calls", "schedule": 60.0},
    # The carrier pages' health charts: one sample a minute per carrier (pstn/carrier_health.py).
    "pstn-carrier-health-sample": {"task": "pstn.tasks.carrier_health_sample", "schedule": 60.0},
    # Recordings past their client's retention period; the recordings' disk watched (recordings/tasks.py).
    "recordings-expire": {"task": "recordings.tasks.recordings_expire", "schedule": 3600.0},
    "recordings-disk-watch": {"task": "recordings.tasks.disk_watch", "schedule": 60.0},
    # Webhooks' delivery logs past OCX_WEBHOOK_LOG_DAYS (webhooks/tasks.py).
    "webhooks-log-expire": {"task": "webhooks.tasks.webhook_log_expire", "schedule": 3600.0},
}
app.autodiscover_tasks()
