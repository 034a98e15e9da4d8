"""Test helper: Debian's baresip (1.0.0, package `baresip`) as a real third-party phone, headless.

    with Baresip(tmp_path, user="101", domain="acme.example", secret="...", proxy=("127.0.0.1", 5060),
                 tone=1000) as phone:
        phone.wait_event("REGISTER_OK")
        phone.command("dial", "sip:102@acme.example")
        phone.wait_event("CALL_ESTABLISHED")
        phone.command("hangup")
        phone.wait_event("CALL_CLOSED")
        path = phone.heard()  # what it received in its last call, decoded (a WAV of 8 kHz samples)

The configuration is written to a folder of its own (`baresip -f <folder>`): no sound card (the
`ausine` source sends a sine of `tone` Hz, `aubridge` stands in for the player), G.711 only, the
`sndfile` filter writes each call's decoded audio to a WAV file, and `ctrl_tcp` carries commands
and events as JSON in netstrings. The account registers through `proxy` (its outbound proxy) and
answers incoming calls at once (answermode=auto).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.sip.phone import free_port

DEFAULT_TIMEOUT = 10.0


class BaresipError(AssertionError):
    """baresip did not do what the test expected; the message carries its log."""


def _sip_port() -> int:
    """A port free for UDP and TCP whose successor is free too (baresip listens for TLS there)."""
    for _ in range(50):
        port = free_port(tcp_too=True)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(socket.socket()).bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair for baresip")


class Baresip:
    def __init__(self, folder: Path, *, user: str, domain: str, secret: str, proxy: tuple[str, int],
                 tone: int = 1000, start_timeout: float = DEFAULT_TIMEOUT) -> None:  # fmt: skip
        self.folder = Path(folder) / f"baresip-{user}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.user, self.domain = user, domain
        self.sip_port, self.ctrl_port, rtp = _sip_port(), free_port(kind="tcp"), free_port(pair=True)
        (self.folder / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "call_max_calls 4",
            f"audio_source ausine,{tone}",
            "ausrc_srate 48000",  # ausine makes 48 kHz stereo only; baresip resamples for G.711
            "ausrc_channels 2",
            "audio_player aubridge,nil",
            "audio_alert aubridge,nil",
            f"rtp_ports {rtp}-{rtp + 1}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module ausine.so",
            "module aubridge.so",
            "module sndfile.so",
            "module_tmp account.so",
            "module_app menu.so",
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
            "statmode_default off",  # no status line in the log every 100 ms
            f"snd_path {self.folder}",
        ]) + "\n")  # fmt: skip
        outbound = f"sip:{proxy[0]}:{proxy[1]};transport=udp"
        (self.folder / "accounts").write_text(
            f'<sip:{user}@{domain};transport=udp>;auth_pass={secret};outbound="{outbound}";regint=600;'
            "answermode=auto;audio_codecs=PCMU/8000/1,PCMA/8000/1\n"
        )
        self.log = self.folder / "baresip.log"
        self._events: list[dict] = []
        self._taken = 0
        self._cond = threading.Condition()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(["baresip", "-f", str(self.folder)], cwd=self.folder, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        self.ctrl = self._connect(start_timeout)
        threading.Thread(target=self._read, daemon=True).start()

    def _connect(self, timeout: float) -> socket.socket:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise BaresipError(f"baresip exited ({self.proc.returncode})\n{self.log_tail()}")
            try:
                return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1)
            except OSError:
                if time.monotonic() > deadline:
                    raise BaresipError(f"baresip's control port did not open\n{self.log_tail()}") from None
                time.sleep(0.05)

    def _read(self) -> None:
        """Netstrings (`<length>:<json>,`) from ctrl_tcp: events and answers to commands, in order."""
        buffer = b""
        self.ctrl.settimeout(None)
        while True:
            try:
                data = self.ctrl.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            buffer += data
            while b":" in buffer:
                head, _, rest = buffer.partition(b":")
                if not head.isdigit() or len(rest) < int(head) + 1:
                    break
                message, buffer = json.loads(rest[: int(head)]), rest[int(head) + 1 :]
                with self._cond:
                    self._events.append(message)
                    self._cond.notify_all()
        with self._cond:
            self._events.append({"event": True, "type": "EXITED"})
            self._cond.notify_all()

    def command(self, name: str, params: str = "") -> None:
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        self.ctrl.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_event(self, kind: str, timeout: float = DEFAULT_TIMEOUT, *, fail_on: tuple[str, ...] = ()) -> dict:
        """The next event of type `kind` after those already taken; fail at once on a `fail_on` type."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._taken < len(self._events):
                    event = self._events[self._taken]
                    self._taken += 1
                    if event.get("event") and event.get("type") == kind:
                        return event
                    if event.get("type") in (*fail_on, "EXITED"):
                        raise BaresipError(f"{event} while waiting for {kind}\n{self.log_tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BaresipError(f"no {kind} within {timeout} s: {self._events[-10:]}\n{self.log_tail()}")
                self._cond.wait(left)

    def heard(self) -> Path:
        """The decoded audio of its most recent call (sndfile writes it until the call closes)."""
        dumps = sorted(self.folder.glob("dump-*-dec.wav"), key=lambda p: p.stat().st_mtime)
        if not dumps:
            raise BaresipError(f"no audio dump in {self.folder}\n{self.log_tail()}")
        return dumps[-1]

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.command("quit")
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.ctrl.close()

    def __enter__(self) -> Baresip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
