"""A real SIP phone (pjsua2) driven by JSON lines: one process, one Endpoint, one thread for PJSIP.

    python tests/sip/phone_agent.py --sip-port N --rtp-port M [--transport udp|tcp|both] --log FILE

Commands arrive on stdin, one JSON object a line; events leave on stdout, one JSON object a line,
flushed each time. The first event is {"event": "ready", ...} once the transports are up.

Commands (every command has "cmd"; account commands name the account with "id"):
  register    id, username, domain, secret, proxy ("127.0.0.1:5060"), expires=300,
              transport="udp"|"tcp", realm="*", retry_interval=0
              -> creates an account and registers it (registrar sip:<domain>, REGISTER sent via
                 the outbound proxy sip:<proxy>;lr, so the domain stays the realm and the request
                 goes to our edge's address)
  unregister  id            reregister  id            set_secret  id, secret
  quit
Events:
  {"event": "ready", "sip_port": N, "rtp_port": M, "transports": [...], "pjsip": "2.15.1"}
  {"event": "reg", "id", "code", "reason", "expires", "refresh_in", "active"}  on every
      registration change; expires is what the registrar granted, refresh_in pjsua's
      info.regExpiresSec (a few seconds less: when it will refresh)
  {"event": "error", "message", "cmd"?, "id"?}
  {"event": "bye"}  last line before a clean exit

Why this shape (see PITFALLS.md, pjsua2): PJSIP is owned by the main thread only (threadCnt=0,
mainThreadOnly=True) and polled with libHandleEvents(20); stdin is read by a plain Python thread
that only puts lines on a queue.Queue, so no PJSIP call ever happens off the main thread and the
main thread never blocks on stdin. pjsua2 callbacks run inside libHandleEvents on the main
thread and write events directly. New commands (calls: make_call, answer, hangup, tone, record,
DTMF) are new entries in Agent.handlers; the loop does not change.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

# The build's hard limit (PITFALLS.md): the 9th Account.create() is a C assertion that kills the
# process, so refuse it here with an error event instead.
MAX_ACCOUNTS = 8
# RTP ports per account (pjsua takes RTP+RTCP pairs from port upwards, 4 calls at most).
RTP_PORT_RANGE = 16


class EventWriter:
    """Writes JSON-line events on the real stdout, whatever C code may print.

    PJSIP and SWIG could write to file descriptor 1 (a banner, an assertion message); that would
    corrupt the event stream. So the original stdout is duplicated for events and fd 1 is pointed
    at stderr before PJSIP is loaded into action.
    """

    def __init__(self) -> None:
        sys.stdout.flush()
        self._out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def __call__(self, event: str, **fields: Any) -> None:
        self._out.write(json.dumps({"event": event, **fields}) + "\n")
        self._out.flush()


class PhoneAccount(pj.Account):
    """One registered identity; reports every registration state change as a "reg" event."""

    def __init__(self, agent: Agent, acc_id: str, config: pj.AccountConfig) -> None:
        super().__init__()
        self.agent = agent
        self.acc_id = acc_id
        self.config = config  # kept: set_secret modifies a copy of what was created
        self.registered = False

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        # An exception escaping a SWIG director callback aborts the process: report it instead.
        try:
            info = self.getInfo()
            self.registered = bool(info.regIsActive)
            self.agent.emit(
                "reg",
                id=self.acc_id,
                code=int(prm.code),
                reason=str(prm.reason),
                # What the registrar granted (its Expires / contact expires), 0 once inactive.
                # info.regExpiresSec is the time left before pjsua refreshes, a few seconds less.
                expires=int(prm.expiration) if info.regIsActive else 0,
                refresh_in=int(info.regExpiresSec) if info.regIsActive else 0,
                active=self.registered,
            )
        except Exception as exc:  # pragma: no cover - defensive
            self.agent.emit("error", message=f"onRegState: {exc!r}", id=self.acc_id)


class Agent:
    def __init__(self, args: argparse.Namespace, emit: EventWriter) -> None:
        self.args = args
        self.emit = emit
        self.commands: queue.Queue[str | None] = queue.Queue()
        self.accounts: dict[str, PhoneAccount] = {}
        self.transport_ids: dict[str, int] = {}
        self.running = True
        self.handlers: dict[str, Callable[[dict], None]] = {
            "register": self.cmd_register,
            "unregister": self.cmd_unregister,
            "reregister": self.cmd_reregister,
            "set_secret": self.cmd_set_secret,
            "quit": self.cmd_quit,
        }
        self.ep = pj.Endpoint()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.uaConfig.userAgent = "OpenCentrex test phone (pjsua2)"
        cfg.logConfig.level = self.args.log_level
        cfg.logConfig.consoleLevel = 0  # never on the console: stdout carries the events
        cfg.logConfig.filename = self.args.log
        # Level 4 and up adds every SIP message to the log file.
        cfg.logConfig.msgLogging = 1
        self.ep.libInit(cfg)
        wanted = ["udp", "tcp"] if self.args.transport == "both" else [self.args.transport]
        kinds = {"udp": pj.PJSIP_TRANSPORT_UDP, "tcp": pj.PJSIP_TRANSPORT_TCP}
        for name in wanted:
            tcfg = pj.TransportConfig()
            tcfg.port = self.args.sip_port
            tcfg.boundAddress = self.args.bind
            self.transport_ids[name] = self.ep.transportCreate(kinds[name], tcfg)
        self.ep.audDevManager().setNullDev()  # no sound card here; media still flows through the bridge
        self.ep.libStart()
        self.emit(
            "ready",
            sip_port=self.args.sip_port,
            rtp_port=self.args.rtp_port,
            transports=wanted,
            pjsip=self.ep.libVersion().full,
            pid=os.getpid(),
        )

    def run(self) -> None:
        threading.Thread(target=self._read_stdin, name="stdin-reader", daemon=True).start()
        while self.running:
            self.ep.libHandleEvents(20)
            self._drain_commands()

    def stop(self, unregister_wait: float = 2.0) -> None:
        # Polite first: un-REGISTER what is still registered and wait (bounded) for the answers,
        # so a registrar is not left with bindings of a phone that is gone.
        registered = [acc for acc in self.accounts.values() if acc.registered]
        for acc in registered:
            with contextlib.suppress(pj.Error):  # nothing to wait for on this one then
                acc.setRegistration(False)
        deadline = time.monotonic() + unregister_wait
        while any(acc.registered for acc in registered) and time.monotonic() < deadline:
            self.ep.libHandleEvents(20)
        # Every PJSIP object goes before libDestroy, or the process aborts at exit (PITFALLS.md).
        for acc in self.accounts.values():
            try:
                acc.shutdown()
            except pj.Error as exc:
                self.emit("error", message=f"shutdown {acc.acc_id}: {exc.info()}")
        self.accounts.clear()
        # NO_RX_MSG: registrations are already closed above; without it libDestroy always sleeps
        # about 1 s waiting for answers nobody needs, which every test would pay for.
        self.ep.libDestroy(pj.PJSUA_DESTROY_NO_RX_MSG)
        self.emit("bye")

    # -- command plumbing --------------------------------------------------------------------

    def _read_stdin(self) -> None:
        # Only a reader: never touches PJSIP. EOF (the test process died) means quit.
        for line in sys.stdin:
            self.commands.put(line)
        self.commands.put(None)

    def _drain_commands(self) -> None:
        while True:
            try:
                line = self.commands.get_nowait()
            except queue.Empty:
                return
            if line is None:
                self.running = False
                return
            if line.strip():
                self._dispatch(line)

    def _dispatch(self, line: str) -> None:
        try:
            command = json.loads(line)
            name = command["cmd"]
        except (ValueError, KeyError, TypeError):
            self.emit("error", message=f"not a command: {line.strip()[:200]}")
            return
        handler = self.handlers.get(name)
        if handler is None:
            self.emit("error", message=f"unknown command {name!r}", cmd=name, id=command.get("id"))
            return
        try:
            handler(command)
        except pj.Error as exc:
            self.emit("error", message=exc.info(), cmd=name, id=command.get("id"))
        except Exception as exc:
            self.emit("error", message=f"{exc!r}\n{traceback.format_exc()}", cmd=name, id=command.get("id"))

    def _account(self, command: dict) -> PhoneAccount:
        acc_id = command.get("id")
        if acc_id not in self.accounts:
            raise KeyError(f"no account {acc_id!r}")
        return self.accounts[acc_id]

    # -- commands ----------------------------------------------------------------------------

    def cmd_register(self, c: dict) -> None:
        acc_id = c["id"]
        if acc_id in self.accounts:
            raise ValueError(f"account {acc_id!r} exists; use reregister")
        if len(self.accounts) >= MAX_ACCOUNTS:
            raise ValueError(f"this pjsua2 build allows at most {MAX_ACCOUNTS} accounts per process")
        transport = c.get("transport", "udp")
        if transport not in self.transport_ids:
            raise ValueError(f"transport {transport!r} not started (agent has {sorted(self.transport_ids)})")
        suffix = ";transport=tcp" if transport == "tcp" else ""
        cfg = pj.AccountConfig()
        cfg.idUri = f"sip:{c['username']}@{c['domain']}"
        cfg.regConfig.registrarUri = f"sip:{c['domain']}{suffix}"
        cfg.regConfig.timeoutSec = int(c.get("expires", 300))
        # A failed registration is not retried behind the test's back; tests say reregister.
        cfg.regConfig.retryIntervalSec = int(c.get("retry_interval", 0))
        # set_secret changes credentials only; the test decides when to register again.
        cfg.regConfig.disableRegOnModify = True
        # The outbound proxy (a pre-loaded Route, ;lr) sends the REGISTER to the edge's address
        # while the Request-URI and To keep the SIP domain, which is also the digest realm.
        cfg.sipConfig.proxies.append(f"sip:{c['proxy']};lr{suffix}")
        cfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", c.get("realm", "*"), c["username"], 0, c["secret"]))
        cfg.sipConfig.transportId = self.transport_ids[transport]
        media = cfg.mediaConfig.transportConfig
        media.port = self.args.rtp_port
        media.portRange = RTP_PORT_RANGE
        media.boundAddress = self.args.bind
        acc = PhoneAccount(self, acc_id, cfg)
        # Referenced before create(): callbacks may fire during create and need the object alive.
        self.accounts[acc_id] = acc
        try:
            acc.create(cfg)
        except pj.Error:
            del self.accounts[acc_id]
            raise

    def cmd_unregister(self, c: dict) -> None:
        self._account(c).setRegistration(False)

    def cmd_reregister(self, c: dict) -> None:
        self._account(c).setRegistration(True)

    def cmd_set_secret(self, c: dict) -> None:
        acc = self._account(c)
        cfg = acc.config
        old = cfg.sipConfig.authCreds[0]
        creds = pj.AuthCredInfoVector()
        creds.append(pj.AuthCredInfo("digest", old.realm, old.username, 0, c["secret"]))
        cfg.sipConfig.authCreds = creds
        acc.modify(cfg)

    def cmd_quit(self, c: dict) -> None:
        self.running = False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--transport", choices=["udp", "tcp", "both"], default="udp")
    parser.add_argument("--bind", default="127.0.0.1", help="address for SIP and RTP sockets")
    parser.add_argument("--log", default=f"phone-agent-{os.getpid()}.log", help="PJSIP log file")
    parser.add_argument("--log-level", type=int, default=3, help="PJSIP log level; 4+ logs SIP messages")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emit = EventWriter()
    agent = Agent(args, emit)
    try:
        agent.start()
    except pj.Error as exc:
        emit("error", message=f"start failed: {exc.info()}", fatal=True)
        # libDestroy is safe after a partial start and releases the ports already bound.
        agent.accounts.clear()
        agent.ep.libDestroy()
        return 2
    try:
        agent.run()
    finally:
        started = time.monotonic()
        agent.stop()
        print(f"phone agent stopped in {time.monotonic() - started:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
