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


def test_pinned_pjsua2_loads_and_creates_an_endpoint():
    """The SIP phone of later tests and benchmarks (PyPI pjsua2-python, PJSIP 2.15): in a subprocess,
    since a PJSIP endpoint belongs to one process."""
    import subprocess
    import sys

    script = (
        "import pjsua2 as pj\n"
        "ep = pj.Endpoint(); cfg = pj.EpConfig(); cfg.logConfig.level = 0; cfg.logConfig.consoleLevel = 0\n"
        "ep.libCreate(); ep.libInit(cfg); print(ep.libVersion().full); ep.libDestroy()\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("2.15")
