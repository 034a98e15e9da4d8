"""The database backend (tenants/postgresql) sends `SET search_path` only when the session's path must
change, and never trusts a path PostgreSQL undid (rollback, rollback to a savepoint): each query below
reads the schema it really ran in. On a connection of its own, in autocommit as the platform's are
(the test's own connection is inside the test's transaction)."""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from tenants.models import Client


@pytest.fixture
def probe(world):
    conn = connections.create_connection("default")
    connections["probe"] = conn
    sent: list[str] = []

    def count(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with conn.execute_wrapper(count):
        yield conn, sent
    conn.close()
    del connections["probe"]


def _schema(conn) -> str:
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return cursor.fetchone()[0]


def _sets(sent: list[str]) -> int:
    return sum(1 for sql in sent if sql.startswith("SET search_path"))


def test_the_path_is_set_once_per_change(world, probe):
    conn, sent = probe
    a1, b1 = world.client_a1, world.client_b1
    conn.set_tenant(a1)
    assert [_schema(conn), _schema(conn), _schema(conn)] == [a1.schema_name] * 3
    assert _sets(sent) == 1
    conn.set_schema_to_public()  # (as tenant_context does on the way out)
    conn.set_tenant(a1)
    assert _schema(conn) == a1.schema_name and _sets(sent) == 1  # the session has it already
    conn.set_tenant(b1)
    assert _schema(conn) == b1.schema_name and _sets(sent) == 2
    conn.set_schema_to_public()
    assert _schema(conn) == "public" and _sets(sent) == 3
    assert Client.objects.using("probe").filter(pk=a1.pk).exists() and _sets(sent) == 3


def test_a_path_undone_by_a_rollback_is_set_again(world, probe):
    conn, sent = probe
    a1, b1 = world.client_a1, world.client_b1
    conn.set_tenant(a1)
    assert _schema(conn) == a1.schema_name
    with pytest.raises(RuntimeError), transaction.atomic(using="probe"):
        conn.set_tenant(b1)
        assert _schema(conn) == b1.schema_name
        raise RuntimeError  # ROLLBACK: PostgreSQL's path is a1's again
    assert _schema(conn) == b1.schema_name  # set again, not trusted
    with transaction.atomic(using="probe"):
        conn.set_tenant(a1)
        assert _schema(conn) == a1.schema_name
        with pytest.raises(RuntimeError), transaction.atomic(using="probe"):
            conn.set_tenant(b1)
            assert _schema(conn) == b1.schema_name
            raise RuntimeError  # ROLLBACK TO SAVEPOINT: back to a1's
        conn.set_tenant(b1)
        assert _schema(conn) == b1.schema_name
    conn.set_tenant(b1)
    assert _schema(conn) == b1.schema_name  # (kept by the COMMIT: no SET needed)
    assert _sets(sent) == 6  # a1, b1, b1 again, a1, b1, b1 again
