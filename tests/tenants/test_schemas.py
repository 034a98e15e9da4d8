"""A new client's schema is a copy of the migrated template (tenants/schemas.py): the same tables,
columns, constraints and indexes under the same names as a schema migrated the ordinary way, the same
migrations recorded, and a template behind the code is migrated before it is copied."""

from __future__ import annotations

from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_tenants.utils import schema_context

from conferencing.models import Campaign, Room
from tenants.schemas import TEMPLATE_SCHEMA
from tenants.services import client_create

MIGRATED = "ocx_test_migrated"


def catalog(schema: str) -> dict[str, list[tuple]]:
    """Everything a migration or the application could notice about a schema, its own name left out."""
    queries = {
        "columns": "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, "
        "numeric_precision, is_nullable, column_default, is_identity, identity_generation, identity_start, "
        "is_generated FROM information_schema.columns WHERE table_schema = %(s)s",
        "constraints": "SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.condeferrable, "
        "k.condeferred FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
        "WHERE c.relnamespace = %(s)s::regnamespace",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s",
        "sequences": "SELECT sequence_name, data_type, start_value, increment FROM information_schema.sequences "
        "WHERE sequence_schema = %(s)s",
        "comments": "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "WHERE c.relnamespace = %(s)s::regnamespace",
        "migrations": "SELECT app, name FROM {schema}.django_migrations",
    }
    result = {}
    with connection.cursor() as cursor:
        for key, sql in queries.items():
            cursor.execute(sql.format(schema=f'"{schema}"'), {"s": schema})
            result[key] = sorted(tuple(str(v).replace(f"{schema}.", "S.") for v in row) for row in cursor.fetchall())
    return result


def migrated_reference() -> dict[str, list[tuple]]:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {MIGRATED}")
    call_command("migrate_schemas", tenant=True, schema_name=MIGRATED, interactive=False, verbosity=0)
    connection.set_schema_to_public()
    return catalog(MIGRATED)


def pending_migrations(schema: str) -> list:
    with schema_context(schema):
        executor = MigrationExecutor(connection)
        return executor.migration_plan(executor.loader.graph.leaf_nodes())


def test_a_new_client_schema_is_the_migrated_schema(world):
    client = client_create(actor=world.god, brand=world.brand_a, name="Copied", slug="copied")
    copied = catalog(client.schema_name)
    assert copied["constraints"] and copied["indexes"] and copied["migrations"]
    reference = migrated_reference()
    for key in reference:
        assert copied[key] == reference[key], key
    assert any(name == "target_once_per_campaign" for _, name, *_ in copied["constraints"]), "names kept"
    assert pending_migrations(client.schema_name) == [], "migrate_schemas --tenant has nothing to do"
    with schema_context(client.schema_name):
        room = Room.objects.create(
            name="R", conference_id="1", participant_pin="1", moderator_pin="2", moderator_id=world.user_a1.pk
        )
        assert room.pk == 1, "each schema numbers its rows from 1"
    with schema_context(world.client_a1.schema_name):
        assert Room.objects.filter(name="R").count() == 0, "and keeps them to itself"


def test_a_template_behind_the_code_is_migrated_before_it_is_copied(world):
    """A deploy brought a tenant migration the template lacks: the next client still gets it."""
    call_command("migrate_schemas", "conferencing", "0002", tenant=True, schema_name=TEMPLATE_SCHEMA,
                 interactive=False, verbosity=0)  # fmt: skip
    connection.set_schema_to_public()
    assert pending_migrations(TEMPLATE_SCHEMA) != []
    client = client_create(actor=world.god, brand=world.brand_a, name="After deploy", slug="after-deploy")
    assert pending_migrations(client.schema_name) == []
    assert pending_migrations(TEMPLATE_SCHEMA) == []
    with schema_context(client.schema_name):
        assert Campaign.objects.count() == 0, "the table of conferencing 0003 is there"


def test_a_template_the_copy_cannot_reproduce_is_not_copied(world):
    """A view (or function, trigger...) in the template: the new schema is migrated the ordinary way."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE VIEW {TEMPLATE_SCHEMA}.extra AS SELECT 1 AS one")
    client = client_create(actor=world.god, brand=world.brand_a, name="Migrated", slug="migrated")
    copied = catalog(client.schema_name)
    reference = migrated_reference()
    for key in reference:
        assert copied[key] == reference[key], key
