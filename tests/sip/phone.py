"""Test helper: a real SIP phone (tests/sip/phone_agent.py, pjsua2) in a subprocess.

    with Phone() as phone:
        event = phone.register(username="101", domain="acme.example", secret="...", proxy="127.0.0.1:5060")
        assert event["code"] == 200 and event["active"]

Each Phone is one agent process with its own free SIP and RTP ports on 127.0.0.1 (the build
allows 4 calls and 8 accounts per process, so tests that need more identities start more
phones). Events are read by a background thread; `wait_for` takes the first not yet consumed
event that matches, so events that arrive before a test waits for them are not lost.

`phones` is a pytest fixture factory (import it into a conftest or test module) that closes
every phone it made when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

AGENT = Path(__file__).resolve().parent / "phone_agent.py"
DEFAULT_TIMEOUT = 10.0


class PhoneError(AssertionError):
    """A phone did not do what the test expected; the message carries the agent's side of it."""


def free_port(kind: str = "udp", *, pair: bool = False, tcp_too: bool = False) -> int:
    """A port on 127.0.0.1 free right now (bind-and-release).

    pair: an even port whose successor is free too (RTP + RTCP). tcp_too: also free for TCP,
    for an agent that listens on both transports at the same number.
    """
    for _ in range(200):
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if pair and port % 2:
                continue
            try:
                if pair:
                    stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)).bind(("127.0.0.1", port + 1))
                if tcp_too or kind == "tcp":
                    stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)).bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair found on 127.0.0.1")


def _tail(path: Path | None, lines: int = 40) -> str:
    if path is None or not path.exists():
        return "(no log file)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Phone:
    """One phone agent process; see the module docstring."""

    def __init__(
        self,
        *,
        name: str = "phone",
        transport: str = "udp",
        log_dir: Path | None = None,
        log_level: int = 3,
        start_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.transport = transport
        self.log_dir = Path(log_dir) if log_dir else Path(os.environ.get("TMPDIR", "/tmp"))
        self._events: list[dict] = []
        self._consumed = 0  # events[:_consumed] that are all consumed (fast path)
        self._taken: set[int] = set()
        self._cond = threading.Condition()
        self._stderr: deque[str] = deque(maxlen=200)
        self.proc: subprocess.Popen | None = None
        self.ready: dict = {}
        # A port found free can be taken by someone else before the agent binds it: retry then.
        last_error = ""
        for _attempt in range(3):
            self.sip_port = free_port(tcp_too=transport in ("tcp", "both"))
            self.rtp_port = free_port(pair=True)
            self.log_path = self.log_dir / f"{name}-{self.sip_port}.log"
            self._spawn(log_level)
            event = self.wait_for(predicate=lambda e: e["event"] in ("ready", "error"), timeout=start_timeout)
            if event["event"] == "ready":
                self.ready = event
                return
            last_error = event.get("message", "")
            self._reap()
        raise PhoneError(f"{name}: phone agent did not start: {last_error}\n{self.diagnostics()}")

    # -- process ---------------------------------------------------------------------------------

    def _spawn(self, log_level: int) -> None:
        with self._cond:
            self._events.clear()
            self._taken.clear()
            self._consumed = 0
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(AGENT),
                "--sip-port",
                str(self.sip_port),
                "--rtp-port",
                str(self.rtp_port),
                "--transport",
                self.transport,
                "--log",
                str(self.log_path),
                "--log-level",
                str(log_level),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read_events, args=(self.proc,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc,), daemon=True).start()

    def _read_events(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "garbage", "line": line.rstrip()}
            with self._cond:
                if proc is not self.proc:  # a failed start attempt's agent: not ours any more
                    return
                self._events.append(event)
                self._cond.notify_all()
        with self._cond:
            if proc is self.proc:
                self._events.append({"event": "exited"})
                self._cond.notify_all()

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self._stderr.append(line.rstrip())

    def _reap(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def send(self, cmd: str, **fields: Any) -> None:
        """Send one command to the agent."""
        if self.proc is None or self.proc.poll() is not None:
            raise PhoneError(f"{self.name}: agent is not running; cannot send {cmd}\n{self.diagnostics()}")
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()

    def close(self, timeout: float = 5.0) -> None:
        """Quit the agent (it un-REGISTERs what is still registered), kill it if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError, PhoneError):
                self.send("quit")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events ----------------------------------------------------------------------------------

    def wait_for(
        self,
        event: str | None = None,
        predicate: Callable[[dict], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        fail_on_error_for: str | None = None,
    ) -> dict:
        """The first unconsumed event matching `event` (its name) and `predicate`; marks it consumed.

        Raises PhoneError (an AssertionError) on timeout, when the agent exits, or, with
        fail_on_error_for=<account id>, when the agent reports an error about that account;
        the message holds the events seen, the agent's stderr and its log tail.
        """

        def matches(e: dict) -> bool:
            return (event is None or e.get("event") == event) and (predicate is None or predicate(e))

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(self._consumed, len(self._events)):
                    if index in self._taken:
                        continue
                    e = self._events[index]
                    if matches(e):
                        self._taken.add(index)
                        while self._consumed in self._taken:
                            self._consumed += 1
                        return e
                    if e.get("event") == "error" and fail_on_error_for and e.get("id") == fail_on_error_for:
                        self._taken.add(index)
                        raise PhoneError(f"{self.name}: agent error: {e.get('message')}\n{self.diagnostics()}")
                    if e.get("event") == "exited":
                        raise PhoneError(
                            f"{self.name}: agent exited (code {self.proc.poll()}) while waiting for "
                            f"{event or 'an event'}\n{self.diagnostics()}"
                        )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhoneError(
                        f"{self.name}: no {event or 'matching'} event within {timeout} s\n{self.diagnostics()}"
                    )
                self._cond.wait(left)

    def events(self) -> list[dict]:
        """Every event received so far, consumed or not (for assertions on history)."""
        with self._cond:
            return list(self._events)

    def diagnostics(self) -> str:
        with self._cond:
            recent = self._events[-15:]
        code = self.proc.poll() if self.proc else None
        return (
            f"--- agent pid {self.proc.pid if self.proc else '-'}, exit code {code}, "
            f"SIP 127.0.0.1:{self.sip_port} ({self.transport}), RTP {self.rtp_port}\n"
            f"--- last events:\n" + "\n".join(json.dumps(e) for e in recent) + "\n"
            "--- agent stderr (tail):\n" + "\n".join(list(self._stderr)[-20:]) + "\n"
            f"--- PJSIP log {self.log_path} (tail):\n{_tail(self.log_path)}"
        )

    # -- registration ----------------------------------------------------------------------------

    def register(
        self,
        *,
        username: str,
        domain: str,
        secret: str,
        proxy: str,
        id: str | None = None,
        expires: int = 300,
        transport: str | None = None,
        realm: str = "*",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict:
        """Create an account and register it; returns the final reg event (code >= 200)."""
        acc_id = id or username
        self.send(
            "register",
            id=acc_id,
            username=username,
            domain=domain,
            secret=secret,
            proxy=proxy,
            expires=expires,
            transport=transport or ("udp" if self.transport == "both" else self.transport),
            realm=realm,
        )
        return self.wait_reg(acc_id, timeout=timeout)

    def wait_reg(self, acc_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """The next final registration event (code >= 200) of an account."""
        return self.wait_for(
            "reg",
            lambda e: e.get("id") == acc_id and e.get("code", 0) >= 200,
            timeout,
            fail_on_error_for=acc_id,
        )

    def unregister(self, acc_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        self.send("unregister", id=acc_id)
        return self.wait_reg(acc_id, timeout)

    def reregister(self, acc_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        self.send("reregister", id=acc_id)
        return self.wait_reg(acc_id, timeout)

    def set_secret(self, acc_id: str, secret: str) -> None:
        """Change the account's secret; it takes effect at the next (re)registration."""
        self.send("set_secret", id=acc_id, secret=secret)


@pytest.fixture
def phones(tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """phones(name=..., transport=...) -> a started Phone; all are closed when the test ends."""
    made: list[Phone] = []

    def make(**kwargs: Any) -> Phone:
        kwargs.setdefault("name", f"phone{len(made) + 1}")
        kwargs.setdefault("log_dir", tmp_path)
        phone = Phone(**kwargs)
        made.append(phone)
        return phone

    yield make
    for phone in made:
        phone.close()
