"""Fixtures of the export tests: call records, and real FTP/FTPS (pyftpdlib) and SFTP (asyncssh) servers
on 127.0.0.1 in threads, which a test can stop, start again on the same port, or make cut an upload."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
from pathlib import Path

import asyncssh
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler, ThrottledDTPHandler, TLS_DTPHandler, TLS_FTPHandler
from pyftpdlib.servers import FTPServer

from exports.models import PushDestination
from exports.services import push_destination_create

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
FTP_USER, FTP_PASSWORD = "cdrs", "ftp-secret-1"


@pytest.fixture(autouse=True)
def exports_dir(settings, tmp_path, monkeypatch) -> Path:
    """Export files under the test's own folder."""
    folder = tmp_path / "exports"
    monkeypatch.setitem(settings.OCX_EXPORTS, "dir", folder)
    return folder


@pytest.fixture
def make_cdr(cdr_factory):
    """The root cdr_factory with the export tests' call: make_cdr(client, minutes=..., seconds=..., **fields)
    -> a call of that client started `minutes` after T0, answered after 5 s, talking `seconds` (60)."""

    def make(client, *, unfinished: bool = False, **fields):
        fields = {"answer_after": 5, "seconds": 60, "engine": "engine-1", "caller_name": "Caller",
                  "number": "0044201234567", **fields}  # fmt: skip
        return cdr_factory(client, ended=not unfinished, **fields)

    return make


@pytest.fixture
def make_destination(world):
    """make_destination(server, actor=..., protocol=..., **fields): a destination of brand A (or the
    actor's scope) on that server, sending the records finished from T0, due at T0."""

    def make(server, *, actor=None, protocol="ftp", secret=FTP_PASSWORD, **fields) -> PushDestination:
        destination = push_destination_create(
            actor=actor or world.brand_a_op, name="Billing", protocol=protocol, host="127.0.0.1", port=server.port,
            username=FTP_USER, secret=secret, schedule="every", every_minutes=5, starts_at=T0, **fields,
        )  # fmt: skip
        PushDestination.objects.filter(pk=destination.pk).update(next_run_at=T0)
        return destination

    return make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cutting:
    """A data channel that drops the connection after `cut_after` bytes of an upload (426), leaving a partial file."""

    cut_after: int | None = None

    def handle_read(self):
        if self.cut_after is None or not self.receive:
            return super().handle_read()
        chunk = self.recv(self.ac_in_buffer_size)
        self.file_obj.write(chunk[: max(0, self.cut_after - self.tot_bytes_received)])
        self.tot_bytes_received += len(chunk)
        if not chunk or self.tot_bytes_received >= self.cut_after:
            self._resp = ("426 Connection closed; transfer aborted.", lambda *a: None)
            self.close()
        return None

    def handle_read_event(self):  # pyftpdlib binds the event straight to DTPHandler.handle_read
        if self.cut_after is None or not self.receive:
            return super().handle_read_event()
        return self.handle_read()


class FtpServer:
    """pyftpdlib in a thread: `stop()` and `start()` again on the same port, `cut_after(n)` uploads,
    `throttle(bytes_per_second)` them (plain FTP)."""

    def __init__(self, root: Path, *, tls_cert: Path | None = None):
        self.root, self.tls_cert, self.port = root, tls_cert, free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        self.server: FTPServer | None = None
        self.thread: threading.Thread | None = None
        self.dtp = type("Dtp", (Cutting, TLS_DTPHandler if tls_cert else ThrottledDTPHandler), {})

    def start(self) -> None:
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(self.root), perm="elradfmwMT")
        base = TLS_FTPHandler if self.tls_cert else FTPHandler
        attrs = {"authorizer": authorizer, "dtp_handler": self.dtp, "passive_ports": None, "timeout": 30}
        if self.tls_cert:
            attrs.update(certfile=str(self.tls_cert), tls_control_required=True, tls_data_required=True)
        handler = type("Handler", (base,), attrs)
        self.server = FTPServer(("127.0.0.1", self.port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"timeout": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.close_all()
            self.thread.join(timeout=5)
            self.server = None

    def cut_after(self, size: int | None) -> None:
        self.dtp.cut_after = size

    def throttle(self, bytes_per_second: int) -> None:
        """Receive uploads at most this fast (0: no limit), from the next data connection on."""
        self.dtp.read_limit = bytes_per_second

    def files(self, folder: str = "") -> dict[str, bytes]:
        where = self.root / folder
        return {p.name: p.read_bytes() for p in sorted(where.iterdir()) if p.is_file()}


@pytest.fixture
def ftp_server(tmp_path):
    server = FtpServer(tmp_path / "ftp")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ftps_server(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    pem = tmp_path / "ftps.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    server = FtpServer(tmp_path / "ftps", tls_cert=pem)
    server.start()
    yield server
    server.stop()


class SftpServer:
    """asyncssh's SSH server with its SFTP subsystem chrooted to `root`, on its own loop in a thread;
    password login (FTP_USER / FTP_PASSWORD) and keys in `authorized`."""

    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.authorized: list[asyncssh.SSHKey] = []
        self.listener = None

    def start(self) -> None:
        """Listen (again) on the same port, on a fresh event loop in a fresh thread."""
        server = self
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        class Auth(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return username == FTP_USER and password == FTP_PASSWORD

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                wanted = key.export_public_key()
                return username == FTP_USER and any(k.export_public_key() == wanted for k in server.authorized)

        async def listen():
            return await asyncssh.create_server(
                Auth, "127.0.0.1", self.port, server_host_keys=[self.host_key],
                sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(self.root).encode()),
            )  # fmt: skip

        self.listener = asyncio.run_coroutine_threadsafe(listen(), self.loop).result(10)

    def stop(self) -> None:
        async def close():
            self.listener.close()
            await self.listener.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)

    def public_host_key(self) -> str:
        return self.host_key.export_public_key().decode().strip()

    def files(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.root.iterdir()) if p.is_file()}


@pytest.fixture
def sftp_server(tmp_path):
    server = SftpServer(tmp_path / "sftp")
    server.start()
    yield server
    if server.thread.is_alive():
        server.stop()
