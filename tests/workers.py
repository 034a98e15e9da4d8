"""The suite in parallel (pytest-xdist, `-n N`; platform/test.py passes it): each worker its own names,
and whole modules per worker.

Loaded with `-p tests.workers` (platform/test.py passes it with -n; by hand: `python -m pytest -p
tests.workers -n 2 ...`, and tests/conftest.py refuses -n without it) before Django reads its
settings, so that in a worker (PYTEST_XDIST_WORKER=gw0, gw1, ...) the settings, and the edges,
engines, Celery workers and platform the tests start as subprocesses, get the worker's own Redis key
prefix (hence pub/sub channels and Channels groups), Celery queue and call-record spool, named after
the run's with the worker's id; pytest-django gives each worker its own test database
(`<name>_gw0`). Without -n nothing changes.

The controller hands out work by module (an edge or engine a module starts serves all its tests,
and module-scoped fixtures run once), tests/e2e as one unit (one running platform, one browser),
longest first by the seconds in DURATIONS, so that no long module starts last.
"""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from pathlib import Path

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")

if WORKER:
    for name in ("OCX_REDIS_PREFIX", "CELERY_QUEUE"):
        if os.environ.get(name):
            os.environ[name] = f"{os.environ[name]}-{WORKER}"
    if os.environ.get("OCX_CDR_SPOOL_DIR"):
        os.environ["OCX_CDR_SPOOL_DIR"] = str(Path(os.environ["OCX_CDR_SPOOL_DIR"]) / WORKER)

WHOLE = ("tests/e2e/",)  # directories handed to one worker as one unit

# Seconds per unit of one run in one process on the 2-core machine (pytest's junit times, December
# 2026; the units of 4 s and more); a unit not listed counts as DEFAULT. Only the order in which the
# units are handed out depends on them, never what runs: a stale figure costs time, not coverage.
DEFAULT = 2.0
DURATIONS: dict[str, float] = {
    "tests/e2e/": 222, "tests/telephony/test_voicemail.py": 207, "tests/tenants/test_api_schema.py": 121,
    "tests/telephony/test_voicemail_notices.py": 81, "tests/telephony/test_voicemail_mwi_faults.py": 70,
    "tests/telephony/test_queue_callback.py": 69, "tests/telephony/test_pstn_transports.py": 69,
    "tests/telephony/test_voicemail_faults.py": 66, "tests/telephony/test_forwarding.py": 60,
    "tests/telephony/test_redis_restart.py": 57, "tests/telephony/test_prompts.py": 53,
    "tests/telephony/test_menus.py": 50, "tests/telephony/test_conference.py": 50,
    "tests/webhooks/test_deliveries.py": 49, "tests/telephony/test_engine_faults.py": 47,
    "tests/telephony/test_edge_proxy.py": 46, "tests/telephony/test_recording_calls.py": 44,
    "tests/telephony/test_call_end.py": 41, "tests/telephony/test_queues.py": 38,
    "tests/telephony/test_pstn_attacks.py": 35, "tests/telephony/test_engine_features.py": 35,
    "tests/telephony/test_notifications.py": 33, "tests/telephony/test_webhooks.py": 29,
    "tests/telephony/test_ringgroups.py": 28, "tests/telephony/test_edge_restart.py": 26,
    "tests/telephony/test_pstn_kamailio.py": 26, "tests/telephony/test_routing.py": 25,
    "tests/telephony/test_engine_calls.py": 22, "tests/tenants/test_signin.py": 21,
    "tests/telephony/test_pstn_outbound.py": 21, "tests/telephony/test_edge_registrar.py": 19,
    "tests/telephony/test_pstn_inbound.py": 18, "tests/telephony/test_pstn_blocking.py": 17,
    "tests/telephony/test_pstn_gateways.py": 17, "tests/telephony/test_queue_stats_calls.py": 17,
    "tests/telephony/test_routing_webhooks.py": 17, "tests/tenants/test_schemas.py": 17,
    "tests/tenants/test_second_factor.py": 16, "tests/telephony/test_pstn_carrier_health.py": 15,
    "tests/media/test_mixer.py": 14, "tests/tenants/test_password_reset.py": 13,
    "tests/telephony/test_recording_disk.py": 12, "tests/telephony/test_voicemail_disk.py": 12,
    "tests/telephony/test_engine_records.py": 12, "tests/sip/test_phone_calls.py": 11,
    "tests/telephony/test_engine_codecs.py": 11, "tests/telephony/test_widgets.py": 11,
    "tests/media/test_prompts.py": 11, "tests/exports/test_push_worker.py": 11,
    "tests/telephony/test_portal_users.py": 10, "tests/telephony/test_queue_supervision.py": 10,
    "tests/telephony/test_edge_dashboards.py": 10, "tests/telephony/test_engine_dashboards.py": 10,
    "tests/sip/test_fuzz.py": 10, "tests/telephony/test_edge_baresip.py": 10, "tests/telephony/test_edge_sipp.py": 9,
    "tests/tenants/test_isolation_portal.py": 8, "tests/tenants/test_portal_operators.py": 8,
    "tests/tenants/test_events.py": 8, "tests/telephony/test_webhooks_broker_away.py": 8,
    "tests/tenants/test_portal_clients.py": 8, "tests/billing/test_api.py": 8,
    "tests/telephony/test_engine_commands.py": 7, "tests/tenants/test_api.py": 7,
    "tests/tenants/test_isolation_api.py": 7, "tests/voicemail/test_services.py": 7,
    "tests/tenants/test_portal_pages.py": 6, "tests/telephony/test_engine_applications.py": 6,
    "tests/telephony/test_edge_phones.py": 5, "tests/media/test_recorder.py": 5, "tests/sip/test_transaction.py": 5,
    "tests/pstn/test_portal.py": 4, "tests/exports/test_push.py": 4, "tests/tenants/test_dates.py": 4,
    "tests/voicemail/test_portal.py": 4,
}  # fmt: skip


def unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return next((whole for whole in WHOLE if path.startswith(whole)), path)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        """xdist's --dist loadfile, with tests/e2e as one unit and the longest units handed out first."""

        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def add_node_collection(self, node, collection) -> None:
            """Tests of one node id (schemathesis' one per API operation, under pytest 9) each run:
            xdist keys the work by node id, so the second and later ones are told apart (`#2`, ...)
            in the controller; the workers run and report them by their index, under their own id."""
            seen: Counter = Counter()
            unique = []
            for nodeid in collection:
                seen[nodeid] += 1
                unique.append(nodeid if seen[nodeid] == 1 else f"{nodeid}#{seen[nodeid]}")
            super().add_node_collection(node, unique)

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:
                self.ordered = True
                units = sorted(self.workqueue.items(), key=lambda item: -DURATIONS.get(item[0], DEFAULT))
                self.workqueue = OrderedDict(units)
            super()._assign_work_unit(node)

    return ModuleScheduling(config, log)
