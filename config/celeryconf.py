"""The Celery app (not named celery.py, so `import celery` always means the library)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("opencentrex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {
    "platform-heartbeat": {"task": "tenants.tasks.platform_heartbeat", "schedule": 15.0},
}
app.autodiscover_tasks()
