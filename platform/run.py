"""Run the whole platform in the foreground: `make run` (or `python platform/run.py`).

Starts project-local PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL point elsewhere),
migrates the public and client schemas, loads the demo data, then starts every process of
platform/Procfile as one process group. Ctrl-C (or SIGTERM) stops them all, then the servers this
run started. Running it again reuses the data under var/.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import services

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
    started = services.ensure_up()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    manage("migrate_schemas", "--shared", "-v", "0")
    manage("migrate_schemas", "--tenant", "-v", "0")
    manage("demo")
    return started


def supervise(entries: list[tuple[str, list[str]]]) -> int:
    """Start each process; when one exits or we are told to stop, stop the others."""
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum=None, frame=None):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, command in entries:
        print(f"[run] starting {name}: {shlex.join(command)}", flush=True)
        procs[name] = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"[run] {name} exited with {proc.returncode}; stopping the platform", flush=True)
                code, stopping = proc.returncode or 1, True
                break
        time.sleep(0.2)
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return code


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
        return supervise(procfile())
    finally:
        services.stop(started)
        print("[run] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
