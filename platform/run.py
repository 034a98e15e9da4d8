"""Run the whole platform in the foreground: `make run` (or `python platform/run.py`).

Starts project-local PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL point elsewhere),
migrates the public and client schemas, loads the demo data, then starts every process of
platform/Procfile and keeps them running: a process that exits is started again, after a delay that
grows while it keeps dying (supervise()). Ctrl-C (or SIGTERM) stops them all, then the servers this
run started. Running it again reuses the data under var/.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import locales
import services
import vendor

ROOT = services.ROOT
PROCFILE = Path(__file__).with_name("Procfile")


def procfile(path: Path = PROCFILE) -> list[tuple[str, list[str]]]:
    """The (name, command) lines of a Procfile; `$VAR` and `${VAR}` come from the environment."""
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, command = line.split(":", 1)
            argv = shlex.split(os.path.expandvars(command.strip()))
            if argv and argv[0] == "python":  # the interpreter of this venv
                argv[0] = sys.executable
            entries.append((name.strip(), argv))
    return entries


def manage(*args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, check=True)


def prepare() -> list:
    """Servers up, schemas migrated, demo data loaded; returns the servers this call started."""
    vendor.ensure_vendor()
    locales.ensure_messages()
    started = services.ensure_up()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    manage("migrate_schemas", "--shared", "-v", "0")
    manage("migrate_schemas", "--tenant", "-v", "0")
    manage("demo")
    return started


RESTART_FIRST = 1.0  # seconds before a process that died is started again; doubled at each quick death
RESTART_MAX = 30.0
STABLE_AFTER = 60.0  # a process that ran this long before it died is restarted after RESTART_FIRST again


SERVERS_CHECK = 2.0  # seconds between looks at the PostgreSQL and Redis this run started


def supervise(entries: list[tuple[str, list[str]]], *, first: float = RESTART_FIRST,
              longest: float = RESTART_MAX, servers: list = ()) -> int:  # fmt: skip
    """Start each process and keep it running, as systemd would: one that exits is started again
    after a delay that doubles while it keeps dying quickly (first, 2 x first... up to `longest`).
    The servers this run started (PostgreSQL, Redis: platform/services.py) are started again when
    found down. Only Ctrl-C (SIGINT) or SIGTERM stops them all; then 0."""
    procs: dict[str, subprocess.Popen] = {}
    started: dict[str, float] = {}
    delays: dict[str, float] = {}
    restart_at: dict[str, float] = {}
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True

    def start(name: str, command: list[str]) -> None:
        print(f"[run] starting {name}: {shlex.join(command)}", flush=True)
        procs[name] = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
        started[name] = time.monotonic()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    commands = dict(entries)
    for name, command in entries:
        start(name, command)
    servers_checked = time.monotonic()
    while not stopping:
        now = time.monotonic()
        if servers and now - servers_checked >= SERVERS_CHECK:
            servers_checked = now
            revive(servers)
        for name, proc in procs.items():
            if name in restart_at:
                if now >= restart_at[name]:
                    del restart_at[name]
                    start(name, commands[name])
                continue
            if proc.poll() is None:
                continue
            ran = now - started[name]
            delay = first if ran >= STABLE_AFTER else min(delays.get(name, first / 2) * 2, longest)
            delays[name] = delay
            restart_at[name] = now + delay
            with contextlib.suppress(ProcessLookupError):  # what it started and left behind goes too
                os.killpg(proc.pid, signal.SIGKILL)
            print(f"[run] {name} exited with {proc.returncode} after {ran:.1f} s; restarting it in {delay:g} s",
                  flush=True)  # fmt: skip
        time.sleep(0.2)
    running = [proc for name, proc in procs.items() if name not in restart_at]
    for proc in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in running:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return 0


def revive(servers: list) -> None:
    """Start again each server that is down (killed, crashed); a failure is logged and tried again later."""
    for server in servers:
        if server.running():
            continue
        print(f"[run] {type(server).__name__} is down; starting it again", flush=True)
        try:
            server.start()
        except (OSError, subprocess.SubprocessError, SystemExit) as exc:
            print(f"[run] {type(server).__name__} did not start: {exc}", flush=True)


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("OCX_WEB_BIND", "127.0.0.1")
    os.environ.setdefault("OCX_WEB_PORT", "8000")
    os.environ.setdefault("OCX_WEB_URL_PORT", os.environ["OCX_WEB_PORT"])
    os.environ.setdefault("OCX_VAR_DIR", str(services.VAR))
    os.environ.setdefault("CELERY_QUEUE", "ocx")
    started = prepare()
    try:
        print(
            f"[run] web on http://{os.environ['OCX_WEB_BIND']}:{os.environ['OCX_WEB_PORT']} "
            "(portals on localhost and *.localhost names); Ctrl-C stops everything",
            flush=True,
        )
        return supervise(procfile(), servers=started)
    finally:
        services.stop(started)
        print("[run] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
