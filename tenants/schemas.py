"""A new client's schema is a copy of a template schema, not a run of every migration.

Migrating a fresh schema costs Django's migration state (every app's models rendered again for each of
the ~30 migrations, the shared apps' included) and grew with each migration: 0.5-1.2 s per client on
this machine. The template `ocx_template` is a schema migrated like any client's; copying its tables,
constraints, indexes and `django_migrations` rows takes a few tens of milliseconds.

- The template follows the code by itself: before a copy, its `django_migrations` must hold every leaf
  migration on disk; when it does not (a deploy brought a migration), the template is migrated first,
  under an advisory lock. So `migrate_schemas --tenant` keeps migrating the existing clients as before,
  and a client made afterwards has the new migration too.
- The copy keeps every name (constraints and indexes are recreated from the template's own
  definitions), so later migrations that drop or rename one by name work on copied schemas.
  django-tenants' own template clone (TENANT_BASE_SCHEMA) was not used: its clone_schema() renamed
  the unique constraint `target_once_per_campaign`, and it runs `migrate --fake` after each copy.
- A template holding anything the copy does not reproduce (views, functions, triggers, sequences
  other than identity columns', partitions, row security) is not copied: the new schema is then
  migrated the ordinary way, slower but exact.
"""

from __future__ import annotations

import functools
import re
import zlib

from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists

TEMPLATE_SCHEMA = "ocx_template"
LOCK_KEY = zlib.crc32(b"ocx-tenant-template")

# Objects of the template that the copy does not reproduce; any of them and the schema is migrated instead.
UNSUPPORTED = """
SELECT 'relation ' || relname FROM pg_class
 WHERE relnamespace = %(ns)s::regnamespace AND (relkind NOT IN ('r', 'i', 'S') OR relrowsecurity)
UNION ALL
SELECT 'sequence ' || c.relname FROM pg_class c
 WHERE c.relnamespace = %(ns)s::regnamespace AND c.relkind = 'S'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.deptype = 'i')
UNION ALL
SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = %(ns)s::regnamespace
UNION ALL
SELECT 'type ' || typname FROM pg_type t WHERE typnamespace = %(ns)s::regnamespace
   AND typtype <> 'c' AND NOT (typcategory = 'A' AND EXISTS (
       SELECT 1 FROM pg_type e WHERE e.oid = t.typelem AND e.typtype = 'c'))
UNION ALL
SELECT 'trigger ' || tgname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
 WHERE c.relnamespace = %(ns)s::regnamespace AND NOT g.tgisinternal
UNION ALL
SELECT 'default ' || a.attname FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
  JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
 WHERE c.relnamespace = %(ns)s::regnamespace AND pg_get_expr(d.adbin, d.adrelid) ILIKE '%%nextval(%%'
"""


@functools.cache
def _leaf_migrations() -> frozenset[tuple[str, str]]:
    """The newest migration of every app on disk (the code does not change while a process runs)."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())


def _template_current(cursor) -> bool:
    if not schema_exists(TEMPLATE_SCHEMA):
        return False
    cursor.execute("SELECT to_regclass(%s)", [f"{TEMPLATE_SCHEMA}.django_migrations"])
    if cursor.fetchone()[0] is None:
        return False
    cursor.execute(f"SELECT app, name FROM {TEMPLATE_SCHEMA}.django_migrations")  # noqa: S608 - our constant
    return _leaf_migrations() <= set(cursor.fetchall())


def template_ensure(verbosity: int = 0) -> None:
    """Bring the template schema up to the code's migrations (inside the caller's transaction).

    Copies take the advisory lock shared and an update takes it exclusive, so no copy reads a template
    half migrated; both hold it until the caller's transaction ends."""
    with connection.cursor() as cursor:
        if _template_current(cursor):
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_KEY])
            return
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        if _template_current(cursor):  # another process brought it up to date meanwhile
            return
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {TEMPLATE_SCHEMA}")
    call_command("migrate_schemas", tenant=True, schema_name=TEMPLATE_SCHEMA, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()


def schema_copy(target: str, *, source: str = TEMPLATE_SCHEMA) -> bool:
    """Create schema `target` as a copy of `source`: tables with their rows, constraints and indexes
    under the same names. False (and nothing created) when `source` holds what the copy cannot reproduce."""
    with connection.cursor() as cursor:
        cursor.execute(UNSUPPORTED, {"ns": source})
        if cursor.fetchall():
            return False
        # Definitions read with an empty search_path name every table with its schema; the template's
        # are then renamed to the target's, the public schema's stay as they are.
        cursor.execute("SELECT current_setting('search_path'), set_config('search_path', '', false)")
        search_path = cursor.fetchone()[0]
        try:
            statements = _copy_statements(cursor, source, target)
        finally:
            cursor.execute("SELECT set_config('search_path', %s, false)", [search_path])
        for statement in statements:
            cursor.execute(statement)
    return True


def _copy_statements(cursor, source: str, target: str) -> list[str]:
    src, dst = _quote(source), _quote(target)
    # PostgreSQL prints a plain lower-case name unquoted, any other quoted.
    printed = re.compile(rf'(?<![\w"]){re.escape(source)}\.' if _plain(source) else rf"{re.escape(src)}\.")

    def retarget(definition: str) -> str:
        return printed.sub(lambda _: f"{dst}.", definition)

    cursor.execute(
        "SELECT c.oid, c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' ORDER BY c.relname",
        [source],
    )
    tables = cursor.fetchall()
    statements = [f"CREATE SCHEMA {dst}"]
    for _, name, comment in tables:
        statements.append(
            f"CREATE TABLE {dst}.{_quote(name)} (LIKE {src}.{_quote(name)} INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING COMPRESSION)"
        )
        if comment:
            statements.append(f"COMMENT ON TABLE {dst}.{_quote(name)} IS {_literal(comment)}")
    # Primary keys, unique and exclusion constraints first, foreign keys (which need them) after.
    cursor.execute(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k "
        "JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = %s::regnamespace "
        "AND k.contype IN ('p', 'u', 'x', 'f') ORDER BY k.contype = 'f', c.relname, k.conname",
        [source],
    )
    for table, name, definition in cursor.fetchall():
        statements.append(f"ALTER TABLE {dst}.{_quote(table)} ADD CONSTRAINT {_quote(name)} {retarget(definition)}")
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE c.relnamespace = %s::regnamespace AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) "
        "ORDER BY i.indexrelid",
        [source],
    )
    statements += [retarget(definition) for (definition,) in cursor.fetchall()]
    # Rows (the template's django_migrations, any data a migration wrote), then identity counters past them.
    for oid, name, _ in tables:
        cursor.execute(
            "SELECT attname, attidentity <> '' FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            [oid],
        )
        columns = cursor.fetchall()
        names = ", ".join(_quote(column) for column, _ in columns)
        statements.append(
            f"INSERT INTO {dst}.{_quote(name)} ({names}) OVERRIDING SYSTEM VALUE "  # noqa: S608 - catalog names, quoted
            f"SELECT {names} FROM {src}.{_quote(name)}"
        )
        for column, identity in columns:
            if identity:
                qualified = _literal(f"{dst}.{_quote(name)}")
                statements.append(
                    f"SELECT setval(pg_get_serial_sequence({qualified}, {_literal(column)}), "  # noqa: S608
                    f"COALESCE(MAX({_quote(column)}), 0) + 1, false) FROM {dst}.{_quote(name)}"
                )
    return statements


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _plain(identifier: str) -> bool:
    return re.fullmatch(r"[a-z_][a-z0-9_$]*", identifier) is not None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def client_schema_create(schema_name: str, *, verbosity: int = 0) -> None:
    """The schema of a new client: a copy of the up-to-date template, or migrated when it cannot be copied."""
    template_ensure(verbosity=verbosity)
    if not schema_copy(schema_name):
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {_quote(schema_name)}")
        call_command("migrate_schemas", tenant=True, schema_name=schema_name, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()
