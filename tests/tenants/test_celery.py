"""A real Celery worker (subprocess, on the tests' own queue and Redis database) runs our tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from django.conf import settings
from django.core.cache import cache

from tenants.tasks import HEARTBEAT_KEY, platform_heartbeat


def test_worker_runs_the_heartbeat_task():
    cache.delete(HEARTBEAT_KEY)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--queues",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=settings.BASE_DIR,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        before = time.time()
        result = platform_heartbeat.apply_async(queue=settings.CELERY_TASK_DEFAULT_QUEUE)
        ran_at = result.get(timeout=60)
        assert ran_at >= before
        assert cache.get(HEARTBEAT_KEY) == ran_at
    finally:
        worker.terminate()
        worker.wait(timeout=20)
