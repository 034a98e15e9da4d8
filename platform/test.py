"""Run every check and test: `make test` (CI's `.ci/run` calls exactly that).

Same bootstrap as `make run` (project-local PostgreSQL and Redis unless DATABASE_URL / REDIS_URL
are set), on its own Redis database, key prefix and Celery queue so a running platform never
sees the tests. Each run names its own test database, key prefix, Celery queue and call-record
spool after a run id (the checkout and the process), so two checkouts can test at once on the same
servers; the run drops its test database and keys at the end, and leaves the servers up while
another run still uses them. pytest runs in OCX_TEST_WORKERS processes (pytest-xdist, default 2: the
tests mostly wait on phones, engines and browsers), each with names of its own (tests/workers.py).
Installs Debian's Chromium, SIPp and Kamailio (the tests' browser and reference SIP peers) when root
and missing.
Extra arguments go to pytest: `python platform/test.py -k isolation`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys

import locales
import services
import vendor

ROOT = services.ROOT


def step(title: str, *argv: str, env: dict | None = None) -> None:
    print(f"\n== {title}", flush=True)
    subprocess.run(argv, cwd=ROOT, check=True, env=env)


# Debian packages the tests drive: command -> package. Playwright cannot download its own browser
# here; SIPp and Kamailio are the reference SIP peers; espeak-ng speaks the engine's prompts.
DEBIAN_TOOLS = {"chromium": "chromium", "sipp": "sip-tester", "kamailio": "kamailio", "espeak-ng": "espeak-ng",
                "baresip": "baresip"}  # fmt: skip


def ensure_debian_tools() -> None:
    missing = [package for command, package in DEBIAN_TOOLS.items() if not shutil.which(command)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"The tests need Debian's {' '.join(missing)}: apt-get install {' '.join(missing)} (as root).")
    print(f"\n== installing Debian's {' '.join(missing)} for the tests", flush=True)
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=apt_env)


def run_id() -> str:
    """This run's own name: the checkout (short hash of its path) and the process."""
    return f"{hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]}_{os.getpid()}"


def drop_test_databases(database_url: str, names: list[str], *, stale_of: str | None = None) -> None:
    """Drop these databases and theirs (`<name>_...`: the workers' `<name>_gw0`, the end-to-end
    platform's `<name>_e2e`, `<name>_gw0_e2e`), and (stale_of = a checkout's hash) that checkout's
    test databases whose run died without dropping them."""
    import psycopg

    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with contextlib.suppress(psycopg.Error), psycopg.connect(admin, autocommit=True) as conn:
        for name in list(names):
            pattern = name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "\\_%"
            rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])
            names = [*names, *(found for (found,) in rows.fetchall())]
        if stale_of:
            rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [f"test_ocx_{stale_of}_%"])
            for (name,) in rows.fetchall():
                pid = name.removeprefix(f"test_ocx_{stale_of}_").split("_", 1)[0]
                if pid.isdigit() and not services.pid_alive(int(pid)):
                    names = [*names, name]
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def delete_keys(redis_url: str, prefix: str) -> None:
    """This run's keys only: other runs on the same Redis keep theirs. In its Redis database and the
    end-to-end platform's (2, tests/e2e): keys under the run's prefixes (its own, its workers'
    `<prefix>-gw0` and the end-to-end platforms' `<prefix>-e2e`, `<prefix>-gw0-e2e`), its Celery queues
    (named like the prefixes) and their bindings."""
    import redis

    names = (prefix, f"{prefix}-*")
    patterns = [f"{name}{tail}" for name in names for tail in (":*", "")]
    patterns += [f"_kombu.binding*.{name}" for name in names]
    for url in {redis_url, redis_url.rsplit("/", 1)[0] + "/2"}:
        with contextlib.suppress(redis.RedisError), redis.Redis.from_url(url) as client:
            keys = [key for pattern in patterns for key in client.scan_iter(match=pattern, count=1000)]
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])


def parallel(env: dict) -> list[str]:
    """pytest's arguments for OCX_TEST_WORKERS processes (default 2; 1: all in one process): xdist's
    workers, each with names of its own and whole modules (tests/workers.py). Most of the suite's time
    is waiting (timers, rings, tones, pages), so two workers on two cores finish in about 60 % of
    the time of one."""
    count = int(env.get("OCX_TEST_WORKERS") or 2)
    return ["-p", "tests.workers", "-n", str(count)] if count > 1 else []


def main(pytest_args: list[str]) -> int:
    os.chdir(ROOT)
    ensure_debian_tools()
    vendor.ensure_vendor()
    locales.ensure_messages()
    started = services.ensure_up()
    run = run_id()
    lease = services.lease_take()
    env = dict(os.environ)
    if env["REDIS_URL"] == services.local_redis_url():
        env["REDIS_URL"] = services.local_redis_url(db=1)
    env.setdefault("OCX_TEST_DB_NAME", f"test_ocx_{run}")
    env.setdefault("OCX_REDIS_PREFIX", f"ocx-test-{run}")
    env.setdefault("CELERY_QUEUE", f"ocx-test-{run}")
    # The test engines' call-record spools: never the running platform's nor another run's, and
    # emptied with the test database, so that no engine takes over writes meant for another database.
    env.setdefault("OCX_CDR_SPOOL_DIR", str(services.VAR / "test-cdr-spool" / run))
    shutil.rmtree(env["OCX_CDR_SPOOL_DIR"], ignore_errors=True)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    bin_dir = os.path.dirname(sys.executable)
    drop_test_databases(env["DATABASE_URL"], [], stale_of=run.split("_")[0])
    try:
        step("ruff check", os.path.join(bin_dir, "ruff"), "check", ".")
        step("ruff format --check", os.path.join(bin_dir, "ruff"), "format", "--check", ".")
        step("manage.py check", sys.executable, "manage.py", "check", "--fail-level", "WARNING", env=env)
        step("makemigrations --check", sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", env=env)
        step("pytest", sys.executable, "-m", "pytest", "--create-db", *parallel(env), *pytest_args, env=env)
    except subprocess.CalledProcessError as exc:
        print(f"\nFAILED: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}", flush=True)
        return exc.returncode or 1
    finally:
        test_db = env["OCX_TEST_DB_NAME"]
        drop_test_databases(env["DATABASE_URL"], [test_db, f"{test_db}_e2e"])
        delete_keys(env["REDIS_URL"], env["OCX_REDIS_PREFIX"])
        shutil.rmtree(env["OCX_CDR_SPOOL_DIR"], ignore_errors=True)
        if services.lease_give_back(lease):
            services.stop(started)
        elif started:
            print("\n== the servers stay up: another test run still uses them", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
