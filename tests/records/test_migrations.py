"""The call record moved from billing to records (issue 13) as a change of the migrations' state only:
a database migrated before the move keeps its table, its rows and its ratings, and copies nothing."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from records.models import Cdr

BEFORE_THE_MOVE = [("billing", "0005_cdr_answered_by_segments_supervisions"), ("records", None)]


def table_oid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'billing_cdr'::regclass::oid")
        return cursor.fetchone()[0]


def test_a_database_of_before_the_move_keeps_its_records_table_rows_and_ratings(world):
    oid = table_oid()
    executor = MigrationExecutor(connection)
    before = executor.migrate(BEFORE_THE_MOVE)  # the migrations of the main branch before issue 13
    assert ("billing", "cdr") in before.models and ("records", "cdr") not in before.models
    old_cdr, old_rating = before.apps.get_model("billing", "Cdr"), before.apps.get_model("billing", "Rating")
    started = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    written = old_cdr.objects.create(
        brand_id=world.brand_a.pk, client_id=world.client_a1.pk, call_uuid=uuid.uuid4(), engine="e1",
        direction="outbound", disposition="answered", caller_number="101", callee_number="442071234567",
        started_at=started, answered_at=started, ended_at=started + dt.timedelta(seconds=61), duration=61, billsec=61,
    )  # fmt: skip
    old_rating.objects.create(cdr_id=written.pk, brand_id=world.brand_a.pk, client_id=world.client_a1.pk,
                              started_at=started, service="call", status="unrated", reason="no plan", seconds=61,
                              rated_at=started)  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert table_oid() == oid, "the records' table was replaced"
    moved = Cdr.objects.select_related("rating").get(call_uuid=written.call_uuid)
    assert (moved.pk, moved.callee_number, moved.billsec) == (written.pk, "442071234567", 61)
    assert moved.rating.reason == "no plan"
