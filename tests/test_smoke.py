import platform as stdlib_platform


def test_platform_folder_is_not_a_package():
    """`platform/` holds run files; a package there would shadow the standard library."""
    assert hasattr(stdlib_platform, "python_version")
    assert stdlib_platform.__file__.endswith("platform.py")


def test_world_has_schemas(world):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT schema_name FROM information_schema.schemata")
        schemas = {row[0] for row in cursor.fetchall()}
    assert {world.client_a1.schema_name, world.client_b1.schema_name} <= schemas
