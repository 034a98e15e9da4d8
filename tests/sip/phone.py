"""Test helper: a real SIP phone (tests/sip/phone_agent.py, pjsua2) in a subprocess.

    with Phone() as phone:
        event = phone.register(username="101", domain="acme.example", secret="...", proxy="127.0.0.1:5060")
        assert event["code"] == 200 and event["active"]

Each Phone is one agent process with its own free SIP and RTP ports on 127.0.0.1 (the build
allows 4 calls and 8 accounts per process, so tests that need more identities start more
phones). Events are read by a background thread; `wait_for` takes the first not yet consumed
event that matches, so events that arrive before a test waits for them are not lost.

Calls (the agent's commands and events are documented in phone_agent.py):

    alice, bob = phones(name="alice"), phones(name="bob")
    alice.account("alice")                                    # no registration: call by IP URI
    bob.account("bob", incoming={"answer": 200, "ring_ms": 300})
    alice.call("c1", bob.uri("bob"), headers={"X-Test": "1"})  # "c1": a label the test chooses
    incoming = bob.wait_incoming()                            # incoming["call"] == "in-1"
    alice.wait_call_state("c1", "confirmed")
    alice.wait_media("c1")
    alice.dtmf("c1", "123#");  assert bob.wait_dtmf("in-1", 4) == "123#"
    bob.record("in-1", tmp_path / "bob.wav");  alice.play_tone("c1", [1000], 500)
    alice.hangup("c1");  bob.wait_call_state("in-1", "disconnected");  bob.wait_recorded("in-1")

Incoming behaviour per account (account/register `incoming=` or set_incoming): {"answer": 180}
(the default: ring, then `phone.answer(label)`), {"answer": 200, "ring_ms": 300} (auto answer),
{"answer": 486} (reject), {"answer": 183} (early media, then answer). At most MAX_CALLS (4) calls
per phone: a 5th `call` is refused with an error event (carrying call=<label>), a 5th incoming
INVITE is answered 486 by pjsua itself (a "rejected" event on that phone). DTMF arrives about
200 ms a digit; a tone needs active media; a recording's WAV is complete once wait_recorded()
returned. RTP counters: phone.stats(label). Codecs: phone.set_codecs("PCMU", "PCMA") before
calling (pjsua's default order puts speex/16000 first).

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
MAX_CALLS = 4  # of this pjsua2 build, per phone (agent) process
CALL_STATES = ("calling", "incoming", "early", "connecting", "confirmed", "disconnected")


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
        fail_on: Callable[[dict], bool] | None = None,
        since: int = 0,
    ) -> dict:
        """The first unconsumed event matching `event` (its name) and `predicate`; marks it consumed.
        since=mark(): only events that arrived after that mark.

        Raises PhoneError (an AssertionError) on timeout, when the agent exits, with
        fail_on_error_for=<account id or call label> when the agent reports an error about that
        account or call, or when an unconsumed event matches `fail_on` (e.g. the call ended while
        waiting for it to be answered); the message holds the events seen, the agent's stderr and
        its log tail.
        """

        def matches(e: dict) -> bool:
            return (event is None or e.get("event") == event) and (predicate is None or predicate(e))

        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(max(self._consumed, since), len(self._events)):
                    if index in self._taken:
                        continue
                    e = self._events[index]
                    if matches(e):
                        self._taken.add(index)
                        while self._consumed in self._taken:
                            self._consumed += 1
                        return e
                    if (
                        e.get("event") == "error"
                        and fail_on_error_for
                        and fail_on_error_for in (e.get("id"), e.get("call"))
                    ):
                        self._taken.add(index)
                        raise PhoneError(f"{self.name}: agent error: {e.get('message')}\n{self.diagnostics()}")
                    if fail_on is not None and fail_on(e):
                        raise PhoneError(
                            f"{self.name}: {json.dumps(e)} while waiting for {event or 'an event'}\n"
                            + self.diagnostics()
                        )
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
        incoming: dict | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        mwi: bool = False,
    ) -> dict:
        """Create an account and register it; returns the final reg event (code >= 200).
        mwi: the account subscribes to its message summary ("mwi" events, RFC 3842).

        incoming: what the account does with incoming calls (see set_incoming); default ring.
        """
        acc_id = id or username
        extra = {"incoming": incoming} if incoming is not None else {}
        if mwi:
            extra["mwi"] = True
        self.send(
            "register",
            id=acc_id,
            username=username,
            domain=domain,
            secret=secret,
            proxy=proxy,
            expires=expires,
            transport=transport or self._default_transport(),
            realm=realm,
            **extra,
        )
        return self.wait_reg(acc_id, timeout=timeout)

    def _default_transport(self) -> str:
        return "udp" if self.transport == "both" else self.transport

    def account(
        self,
        username: str,
        *,
        id: str | None = None,
        domain: str = "127.0.0.1",
        secret: str | None = None,
        proxy: str | None = None,
        transport: str | None = None,
        realm: str = "*",
        display: str | None = None,
        incoming: dict | None = None,
        default: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict:
        """Create an account that does not register (sip:<username>@<domain>); returns its event.

        Without proxy, calls go straight to the URI dialled (e.g. another phone's uri()); with
        proxy ("127.0.0.1:5060"), through it, and secret answers its digest challenges.
        """
        acc_id = id or username
        fields: dict[str, Any] = {
            "id": acc_id,
            "username": username,
            "domain": domain,
            "transport": transport or self._default_transport(),
            "realm": realm,
            "default": default,
        }
        for key, value in (("secret", secret), ("proxy", proxy), ("display", display), ("incoming", incoming)):
            if value is not None:
                fields[key] = value
        self.send("account", **fields)
        return self.wait_for("account", lambda e: e.get("id") == acc_id, timeout, fail_on_error_for=acc_id)

    def set_incoming(
        self, acc_id: str, *, answer: int, ring_ms: int = 0, ring: int = 180, timeout: float = DEFAULT_TIMEOUT
    ) -> dict:
        """How the account treats incoming calls from now on; returns the account event.

        answer 1xx: send it (180 ringing, 183 early media) and wait for answer(); 2xx: answer,
        after `ring` for ring_ms when ring_ms > 0; 3xx-6xx: reject likewise; 0: only 100 Trying.
        """
        self.send("set_incoming", id=acc_id, answer=answer, ring_ms=ring_ms, ring=ring)
        return self.wait_for("account", lambda e: e.get("id") == acc_id, timeout, fail_on_error_for=acc_id)

    def uri(self, user: str, *, transport: str | None = None) -> str:
        """This phone's SIP URI for `user` by IP (what another phone dials to reach it directly)."""
        transport = transport or self._default_transport()
        suffix = ";transport=tcp" if transport == "tcp" else ""
        return f"sip:{user}@127.0.0.1:{self.sip_port}{suffix}"

    # -- calls -----------------------------------------------------------------------------------

    def call(
        self,
        label: str,
        uri: str,
        *,
        id: str | None = None,
        headers: dict[str, str] | None = None,
        wait: bool = True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict | None:
        """INVITE `uri` from account `id` (default: the phone's only or first account).

        Returns the call's first event ("calling"), or None with wait=False (then a refusal is an
        error event carrying call=label). Raises PhoneError if the agent refuses the call.
        """
        self.send("call", id=id or self._first_account(), call=label, uri=uri, headers=headers or {})
        if not wait:
            return None
        return self.wait_for("call", lambda e: e.get("call") == label, timeout, fail_on_error_for=label)

    def message(self, uri: str, body: str, *, id: str | None = None, content_type: str = "text/plain",
                timeout: float = DEFAULT_TIMEOUT) -> dict:  # fmt: skip
        """Send a SIP MESSAGE to `uri` from account `id`; returns the final "message_status" event."""
        since, account = self.mark(), id or self._first_account()
        self.send("message", id=account, uri=uri, body=body, content_type=content_type)
        return self.wait_for("message_status", None, timeout, since=since, fail_on_error_for=account)

    def _first_account(self) -> str:
        for e in self.events():
            if e.get("event") == "account" or (e.get("event") == "reg" and e.get("id")):
                return e["id"]
        raise PhoneError(f"{self.name}: no account yet; call account() or register() first")

    def wait_incoming(self, timeout: float = DEFAULT_TIMEOUT, *, id: str | None = None) -> dict:
        """The next incoming-call event (its "call" is the label to use: "in-1", ...)."""
        return self.wait_for("incoming", (lambda e: e.get("id") == id) if id else None, timeout)

    def wait_call_state(self, label: str, state: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """The next call event of `label` in `state`; fails at once if the call ends instead."""
        if state not in CALL_STATES:
            raise ValueError(f"state must be one of {CALL_STATES}")
        ended = None
        if state != "disconnected":

            def ended(e: dict) -> bool:
                return e.get("event") == "call" and e.get("call") == label and e.get("state") == "disconnected"

        return self.wait_for(
            "call",
            lambda e: e.get("call") == label and e.get("state") == state,
            timeout,
            fail_on_error_for=label,
            fail_on=ended,
        )

    def call_states(self, label: str) -> list[str]:
        """Every state reported so far for `label` (consumed or not), in order."""
        return [e["state"] for e in self.events() if e.get("event") == "call" and e.get("call") == label]

    def answer(self, label: str, code: int = 200) -> None:
        self.send("answer", call=label, code=code)

    def hangup(self, label: str, code: int | None = None) -> None:
        self.send("hangup", call=label, **({"code": code} if code else {}))

    def transfer(self, label: str, uri: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Blind transfer by REFER; returns the final NOTIFY's "transfer" event (its code: 200 done)."""
        since = self.mark()
        self.send("transfer", call=label, uri=uri)
        return self.wait_for("transfer", lambda e: e.get("call") == label and e.get("final"), timeout,
                             fail_on_error_for=label, since=since)  # fmt: skip

    def transfer_replaces(self, label: str, to: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Attended transfer: REFER `label`'s far end to `to`'s (Replaces); the final "transfer" event."""
        since = self.mark()
        self.send("transfer_replaces", call=label, to=to)
        return self.wait_for("transfer", lambda e: e.get("call") == label and e.get("final"), timeout,
                             fail_on_error_for=label, since=since)  # fmt: skip

    def mark(self) -> int:
        """A point in the event stream, for wait_for(since=...)."""
        with self._cond:
            return len(self._events)

    def hold(self, label: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Put the call on hold; returns the media event once the far end agreed (local_hold)."""
        since = self.mark()
        self.send("hold", call=label)
        return self.wait_for("media", lambda e: e.get("call") == label and e.get("status") == "local_hold", timeout,
                             fail_on_error_for=label, since=since)  # fmt: skip

    def unhold(self, label: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Resume a held call; returns the media event once it is active again."""
        since = self.mark()
        self.send("unhold", call=label)
        return self.wait_for("media", lambda e: e.get("call") == label and e.get("status") == "active", timeout,
                             fail_on_error_for=label, since=since)  # fmt: skip

    def wait_media(self, label: str, active: bool = True, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """The next media event of `label` with active=`active`."""
        return self.wait_for(
            "media", lambda e: e.get("call") == label and e.get("active") is active, timeout, fail_on_error_for=label
        )

    def dtmf(
        self, label: str, digits: str, *, method: str = "rfc2833", duration_ms: int = 160, timeout: float = 5.0
    ) -> dict:
        """Send DTMF (RFC 4733 events, or SIP INFO); returns once the agent queued them."""
        self.send("dtmf", call=label, digits=digits, method=method, duration_ms=duration_ms)
        return self.wait_for("dtmf_sent", lambda e: e.get("call") == label, timeout, fail_on_error_for=label)

    def wait_dtmf(self, label: str, count: int, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next `count` DTMF digits received on `label`, as a string (about 200 ms a digit)."""
        deadline = time.monotonic() + timeout
        digits = ""
        for _ in range(count):
            left = max(deadline - time.monotonic(), 0.01)
            digits += self.wait_for("dtmf", lambda e: e.get("call") == label, left)["digit"]
        return digits

    def play_tone(
        self,
        label: str,
        freq: list[int] | int,
        ms: int,
        *,
        volume: int | None = None,
        loop: bool = False,
        timeout: float = 5.0,
    ) -> dict:
        """Play a tone (one frequency or two) into the call; returns the "playing" event."""
        fields: dict[str, Any] = {"call": label, "freq": freq if isinstance(freq, list) else [freq], "ms": ms}
        if volume is not None:
            fields["volume"] = volume
        if loop:
            fields["loop"] = True
        self.send("play_tone", **fields)
        return self.wait_for(
            "tone", lambda e: e.get("call") == label and e.get("state") == "playing", timeout, fail_on_error_for=label
        )

    def wait_tone_done(self, label: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        return self.wait_for("tone", lambda e: e.get("call") == label and e.get("state") == "done", timeout)

    def stop_tone(self, label: str, timeout: float = 5.0) -> dict:
        self.send("stop_tone", call=label)
        return self.wait_for(
            "tone", lambda e: e.get("call") == label and e.get("state") == "stopped", timeout, fail_on_error_for=label
        )

    def record(self, label: str, path: str | Path, timeout: float = 5.0) -> dict:
        """Record what this phone receives on the call into a WAV file (complete once stopped)."""
        self.send("record", call=label, path=str(path))
        return self.wait_for(
            "record", lambda e: e.get("call") == label and e.get("state") == "started", timeout, fail_on_error_for=label
        )

    def stop_record(self, label: str, timeout: float = 5.0) -> dict:
        self.send("stop_record", call=label)
        return self.wait_recorded(label, timeout)

    def wait_recorded(self, label: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """The "record stopped" event of `label` (after hangup or stop_record): the WAV is complete."""
        return self.wait_for(
            "record", lambda e: e.get("call") == label and e.get("state") == "stopped", timeout, fail_on_error_for=label
        )

    def stats(self, label: str, timeout: float = 5.0) -> dict:
        """RTP counters of the call's audio stream (tx/rx packets and bytes, loss, jitter)."""
        self.send("stats", call=label)
        return self.wait_for("stats", lambda e: e.get("call") == label, timeout, fail_on_error_for=label)

    def set_codecs(self, *order: str, timeout: float = 5.0) -> list[str]:
        """Offer/accept only these codecs, in this order ("PCMU", "PCMA/8000", ...); returns them."""
        self.send("codecs", order=list(order))
        refused = lambda e: e.get("event") == "error" and e.get("cmd") == "codecs"  # noqa: E731
        return self.wait_for("codecs", timeout=timeout, fail_on=refused)["codecs"]

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
