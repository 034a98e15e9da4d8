"""Start the reference Kamailio registrar (kamailio.cfg next to this file) on a loopback port.

Shared by bench/sip_register.py and tests/sip/test_phone_harness.py (which load this file by
path: bench/ is a folder of scripts, not a package). Kamailio runs in the foreground (-DD -E)
as a child of the caller, listens only on the 127.0.0.1 sockets given with -l, and reads the
users' HA1 hashes from a db_text table written here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

CONFIG = Path(__file__).resolve().parent / "kamailio.cfg"
NOT_INSTALLED = "kamailio (Debian) not installed"


def kamailio_binary() -> str | None:
    """Path of the kamailio binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("kamailio") or shutil.which("kamailio", path="/usr/sbin:/usr/local/sbin")


def ha1(username: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


def write_credentials(dbdir: Path, users: Iterable[tuple[str, str, str]]) -> int:
    """Write the db_text table `credentials` (user@domain -> HA1, realm = domain); returns the row count."""
    dbdir.mkdir(parents=True, exist_ok=True)
    rows = ["key_name(str) key_value(str)"]
    for username, domain, password in users:
        # db_text separates fields with ':'; user names, domains and hex HA1s never contain one.
        rows.append(f"{username}@{domain}:{ha1(username, domain, password)}")
    (dbdir / "credentials").write_text("\n".join(rows) + "\n")
    # Every db_text database must have a `version` table, even when no module checks it.
    (dbdir / "version").write_text("table_name(str) table_version(int)\ncredentials:1\n")
    return len(rows) - 1


def start(
    workdir: Path,
    port: int,
    users: Iterable[tuple[str, str, str]],
    *,
    children: int = 2,
    tcp: bool = False,
    shm_mb: int = 256,
    timeout: float = 10.0,
) -> subprocess.Popen:
    """Start Kamailio on 127.0.0.1:port (UDP, and TCP when asked) and wait until it answers SIP.

    Its stderr (the log) goes to workdir/kamailio.log. Raises RuntimeError with the log's tail
    when it does not come up.
    """
    binary = kamailio_binary()
    if binary is None:
        raise RuntimeError(NOT_INSTALLED)
    workdir.mkdir(parents=True, exist_ok=True)
    dbdir = workdir / "dbtext"
    write_credentials(dbdir, users)
    runtime = workdir / "run"
    runtime.mkdir(exist_ok=True)
    listen = ["-l", f"udp:127.0.0.1:{port}"]
    if tcp:
        listen += ["-l", f"tcp:127.0.0.1:{port}"]
    cmd = [
        binary,
        "-DD",  # foreground, no daemon: the caller owns the process and its children
        "-E",  # log to stderr (our log file), not syslog
        "-f",
        str(CONFIG),
        *listen,
        "-n",
        str(children),
        "-S",  # no SCTP
        "-Y",
        str(runtime),  # runtime dir (the default /run/kamailio may not exist)
        "-m",
        str(shm_mb),
        "-A",
        f'CRED_DB_URL="text://{dbdir}"',
        "-a",
        "no",
    ]
    if not tcp:
        cmd.append("-T")
    log = (workdir / "kamailio.log").open("wb")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"kamailio exited with {proc.returncode}:\n{log_tail(workdir)}")
        if sip_ping(port, timeout=0.2):
            return proc
    stop(proc)
    raise RuntimeError(f"kamailio did not answer on 127.0.0.1:{port} within {timeout} s:\n{log_tail(workdir)}")


def sip_ping(port: int, timeout: float = 0.5) -> bool:
    """True when something answers a SIP OPTIONS on 127.0.0.1:port (UDP) with any response."""
    branch = "z9hG4bK" + uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        msg = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:ping@127.0.0.1>;tag={uuid.uuid4().hex[:8]}\r\n"
            f"To: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: {uuid.uuid4().hex}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = sock.recv(4096)
        except (TimeoutError, ConnectionRefusedError):
            return False
        return data.startswith(b"SIP/2.0 ")


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Stop Kamailio and its worker processes (its own session), killing them if they linger."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def log_tail(workdir: Path, lines: int = 30) -> str:
    path = workdir / "kamailio.log"
    if not path.exists():
        return "(no kamailio.log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
