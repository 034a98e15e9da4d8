"""Run every check and test: `make test` (CI's `.ci/run` calls exactly that).

Same bootstrap as `make run` (project-local PostgreSQL and Redis unless DATABASE_URL / REDIS_URL
are set), on its own Redis database, key prefix and Celery queue so a running platform never
sees the tests. Installs Debian's Chromium, SIPp and Kamailio (the tests' browser and reference SIP
peers) when root and missing.
Extra arguments go to pytest: `python platform/test.py -k isolation`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import services

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


def main(pytest_args: list[str]) -> int:
    os.chdir(ROOT)
    ensure_debian_tools()
    started = services.ensure_up()
    env = dict(os.environ)
    if env["REDIS_URL"] == services.local_redis_url():
        env["REDIS_URL"] = services.local_redis_url(db=1)
    env.setdefault("OCX_REDIS_PREFIX", "ocx-test")
    env.setdefault("CELERY_QUEUE", "ocx-test")
    # The test engines' call-record spools: never the running platform's, and emptied with the test
    # database (--create-db), so that no engine takes over writes meant for another database.
    env.setdefault("OCX_CDR_SPOOL_DIR", str(services.VAR / "test-cdr-spool"))
    shutil.rmtree(env["OCX_CDR_SPOOL_DIR"], ignore_errors=True)
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    bin_dir = os.path.dirname(sys.executable)
    try:
        step("ruff check", os.path.join(bin_dir, "ruff"), "check", ".")
        step("ruff format --check", os.path.join(bin_dir, "ruff"), "format", "--check", ".")
        step("manage.py check", sys.executable, "manage.py", "check", "--fail-level", "WARNING", env=env)
        step("makemigrations --check", sys.executable, "manage.py", "makemigrations", "--check", "--dry-run", env=env)
        step("pytest", sys.executable, "-m", "pytest", "--create-db", *pytest_args, env=env)
    except subprocess.CalledProcessError as exc:
        print(f"\nFAILED: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}", flush=True)
        return exc.returncode or 1
    finally:
        services.stop(started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
