"""Putting one file on a push destination: FTP, FTPS (explicit TLS, RFC 4217) or SFTP (asyncssh).

The file goes up as `<name>.part`, its size on the server is checked against the bytes sent, then it
is renamed to `<name>` (replacing a copy an earlier try left), and the size is checked again: a
receiver never sees a partial file under the real name, and a retry overwrites rather than adds.
Failures are TransferError subclasses with a stable code and a message an operator can act on;
`on_sending` is called just before the first byte leaves, so the caller knows whether anything may
have reached the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from django.conf import settings

from exports.crypto import decrypt
from exports.models import PushDestination
from tenants.errors import PlatformError


class TransferError(PlatformError):
    code = "push-failed"
    status = 502


class ConnectFailed(TransferError):
    code = "push-connect-failed"


class LoginFailed(TransferError):
    code = "push-login-failed"


class RemoteDirFailed(TransferError):
    code = "push-remote-dir"


class UploadFailed(TransferError):
    code = "push-upload-failed"


class VerifyFailed(TransferError):
    code = "push-verify-failed"


@dataclass
class Uploaded:
    size: int
    host_key: str = ""  # SFTP: the server's public key (kept on first use)


def reason(exc: BaseException) -> str:
    """What went wrong, never empty: many errors (EOFError, a reset socket) carry no message, only their type.
    Without a final period: the messages that quote it end with their own (a server's "530 Login failed." too)."""
    return str(exc).strip().rstrip(".").rstrip() or type(exc).__name__


def upload(destination: PushDestination, path: Path, name: str, *, on_sending: Callable[[], None]) -> Uploaded:
    """Put `path` at the destination's remote directory as `name`, verified by size."""
    if destination.protocol == PushDestination.Protocol.SFTP:
        return _sftp(destination, path, name, on_sending)
    return _ftp(destination, path, name, on_sending)


def _ftp(destination: PushDestination, path: Path, name: str, on_sending: Callable[[], None]) -> Uploaded:
    where, size, part = destination.address, path.stat().st_size, name + ".part"
    timeout = settings.OCX_EXPORTS["push_timeout"]
    if destination.protocol == PushDestination.Protocol.FTPS:
        context = ssl.create_default_context()
        if not destination.tls_verify:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        ftp: ftplib.FTP = ftplib.FTP_TLS(context=context, timeout=timeout)  # noqa: S321
    else:
        ftp = ftplib.FTP(timeout=timeout)  # noqa: S321  (plain FTP when the receiver offers nothing else)
    try:
        try:
            ftp.connect(destination.host, destination.port or 21)
        except (OSError, EOFError, ftplib.Error) as exc:
            raise ConnectFailed(f"Cannot reach {where}: {reason(exc)}.") from exc
        try:
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.auth()
            ftp.login(destination.username, decrypt(destination.secret))
            if isinstance(ftp, ftplib.FTP_TLS):
                ftp.prot_p()
        except ftplib.error_perm as exc:
            raise LoginFailed(f"{where} refused the login of {destination.username}: {reason(exc)}.") from exc
        except (OSError, EOFError, ftplib.Error) as exc:
            raise ConnectFailed(f"{where} closed the session before login: {reason(exc)}.") from exc
        try:
            if destination.remote_dir:
                ftp.cwd(destination.remote_dir)
            ftp.voidcmd("TYPE I")
        except (OSError, EOFError, ftplib.Error) as exc:
            raise RemoteDirFailed(f"{where}: cannot use the remote directory: {reason(exc)}.") from exc
        on_sending()
        try:
            with path.open("rb") as data:
                ftp.storbinary(f"STOR {part}", data)
            _check_size(where, part, ftp.size(part), size)
            try:
                ftp.rename(part, name)
            except ftplib.error_perm:  # servers that will not rename onto an existing file
                ftp.delete(name)
                ftp.rename(part, name)
            _check_size(where, name, ftp.size(name), size)
        except VerifyFailed:
            raise
        except (OSError, EOFError, ftplib.Error) as exc:
            raise UploadFailed(f"Sending {name} to {where} failed: {reason(exc)}.") from exc
        return Uploaded(size=size)
    finally:
        with contextlib.suppress(OSError):
            ftp.close()


def _check_size(where: str, name: str, remote: int | None, sent: int) -> None:
    if remote != sent:
        raise VerifyFailed(f"{where} holds {remote} bytes of {name}, {sent} were sent.")


def _sftp(destination: PushDestination, path: Path, name: str, on_sending: Callable[[], None]) -> Uploaded:
    """asyncssh on a private event loop, stage by stage, so `on_sending` (a database write) runs outside it."""
    loop = asyncio.new_event_loop()
    try:
        connection, sftp, host_key = loop.run_until_complete(_sftp_open(destination))
        try:
            on_sending()
            size = loop.run_until_complete(_sftp_put(destination, sftp, path, name))
        finally:
            sftp.exit()
            connection.close()
            loop.run_until_complete(connection.wait_closed())
        return Uploaded(size=size, host_key=host_key)
    finally:
        loop.close()


async def _sftp_open(destination: PushDestination):
    where, timeout = destination.address, settings.OCX_EXPORTS["push_timeout"]
    secret = decrypt(destination.secret)
    options: dict = {"username": destination.username, "known_hosts": None, "config": None, "agent_path": None,
                     "client_keys": None, "password": None, "connect_timeout": timeout}  # fmt: skip
    if destination.host_key:
        options["known_hosts"] = ([asyncssh.import_public_key(destination.host_key)], [], [])
    if destination.uses_key:
        options["client_keys"] = [asyncssh.import_private_key(secret)]
    else:
        options["password"] = secret
    try:
        connection = await asyncio.wait_for(asyncssh.connect(destination.host, destination.port or 22, **options),
                                            timeout)  # fmt: skip
    except asyncssh.PermissionDenied as exc:
        raise LoginFailed(f"{where} refused the login of {destination.username}: {reason(exc)}.") from exc
    except asyncssh.HostKeyNotVerifiable as exc:
        raise ConnectFailed(f"{where} did not show the server key on record (changed or impersonated).") from exc
    except (OSError, TimeoutError, asyncssh.Error) as exc:
        raise ConnectFailed(f"Cannot reach {where}: {reason(exc)}.") from exc
    try:
        sftp = await connection.start_sftp_client()
        if destination.remote_dir:
            await sftp.chdir(destination.remote_dir)
    except (OSError, asyncssh.Error) as exc:
        connection.close()
        raise RemoteDirFailed(f"{where}: cannot use the remote directory: {reason(exc)}.") from exc
    key = connection.get_server_host_key()
    return connection, sftp, key.export_public_key().decode().strip() if key else ""


async def _sftp_put(destination: PushDestination, sftp, path: Path, name: str) -> int:
    where, size, part = destination.address, path.stat().st_size, name + ".part"
    try:
        await sftp.put(str(path), part)
        _check_size(where, part, (await sftp.stat(part)).size, size)
        try:
            await sftp.posix_rename(part, name)
        except asyncssh.SFTPOpUnsupported:
            if await sftp.exists(name):
                await sftp.remove(name)
            await sftp.rename(part, name)
        _check_size(where, name, (await sftp.stat(name)).size, size)
    except VerifyFailed:
        raise
    except (OSError, asyncssh.Error) as exc:
        raise UploadFailed(f"Sending {name} to {where} failed: {reason(exc)}.") from exc
    return size
