"""The edge's side of bench/sip_register.py: users through the platform, edges as subprocesses.

Users are made the platform's way (a brand, a client with its schema, lines with HA1 hashes in the
client's schema, the SIP directory published to Redis by sip_directory_sync) in a scratch database
that is dropped at exit; the edges are `manage.py sip_edge` processes sharing one port.
"""

from __future__ import annotations

import atexit
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
import services  # noqa: E402  (platform/services.py, a script folder)

BENCH_DB = "ocx_bench_sip"
DOMAIN = "bench.example"
_env: dict[str, str] = {}


def _sql(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def provision(
    n: int, *, database: str = BENCH_DB, redis_db: int = 4, prefix: str = "ocx-bench"
) -> list[tuple[str, str, str]]:
    """n (at most 10,000: extensions have 4 digits) lines in a fresh client of a fresh brand; user i
    has extension number f"{i:04d}". `database`, `redis_db` and `prefix` are the scratch database, the
    Redis database (flushed) and the key prefix: a bench that may run next to another takes its own."""
    started = services.ensure_up()
    atexit.register(services.stop, started)
    admin = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    _sql(admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _sql(admin, f'CREATE DATABASE "{database}"')
    atexit.register(_sql, admin, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    _env.update({
        "DATABASE_URL": admin.rsplit("/", 1)[0] + f"/{database}",
        "REDIS_URL": services.local_redis_url(db=redis_db) if "REDIS_URL" not in os.environ or
        os.environ["REDIS_URL"] == services.local_redis_url() else os.environ["REDIS_URL"],
        "OCX_REDIS_PREFIX": prefix,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    })  # fmt: skip
    os.environ.update(_env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from config.redis_store import get_redis
    from telephony.directory import sip_directory_sync
    from telephony.models import Extension
    from telephony.services import sip_ha1
    from tenants.models import Role, User
    from tenants.services import brand_create, client_create

    call_command("migrate_schemas", "--shared", verbosity=0)
    get_redis().flushdb()
    god = User.objects.create_user("bench@bench.example", "bench-password-1", name="Bench", role=Role.GOD)
    brand = brand_create(actor=god, name="Bench", domain="example")
    client = client_create(actor=god, brand=brand, name="Bench Co", slug="bench", sip_domain=DOMAIN)
    users = [(f"u{i:05d}", DOMAIN, secrets.token_hex(8)) for i in range(n)]
    accounts = User.objects.bulk_create(
        [User(email=f"{u}@bench.example", name=u, role=Role.USER, client=client, password="!") for u, _, _ in users]
    )
    now = timezone.now()
    with tenant_context(client):
        Extension.objects.bulk_create([
            Extension(account=account, number=f"{i:04d}", display_name=u,
                      sip_username=u, ha1_md5=sip_ha1(u, DOMAIN, secret)[0], ha1_sha256=sip_ha1(u, DOMAIN, secret)[1],
                      secret_changed_at=now)
            for i, (account, (u, _, secret)) in enumerate(zip(accounts, users, strict=True))
        ], batch_size=2000)  # fmt: skip
    connection.set_schema_to_public()
    sip_directory_sync()
    return users


def start(processes: int, port: int) -> list[subprocess.Popen]:
    env = {
        **os.environ, **_env,
        "OCX_SIP_TRUSTED": "127.0.0.0/8",  # SIPp is one address sending thousands a second
        "OCX_SIP_KEEPALIVE": "0",  # no NAT pings, as the Kamailio reference (SIPp's port-less contacts look NATed)
        "OCX_LOG_LEVEL": "WARNING",
    }  # fmt: skip
    command = [sys.executable, "manage.py", "sip_edge", "--no-sync", "--port", str(port)]
    return [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(processes)]  # fmt: skip
