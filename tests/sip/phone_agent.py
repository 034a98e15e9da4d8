"""A real SIP phone (pjsua2) driven by JSON lines: one process, one Endpoint, one thread for PJSIP.

    python tests/sip/phone_agent.py --sip-port N --rtp-port M [--transport udp|tcp|both] --log FILE

Commands arrive on stdin, one JSON object a line; events leave on stdout, one JSON object a line,
flushed each time. The first event is {"event": "ready", ...} once the transports are up.

Commands (every command has "cmd"; account commands name the account with "id", call commands
name the call with "call": a label the test chooses for outgoing calls, "in-<n>" for incoming):
  register    id, username, domain, secret, proxy ("127.0.0.1:5060"), expires=300,
              transport="udp"|"tcp", realm="*", retry_interval=0, incoming={...}, default=false,
              mwi=false (subscribe to message-summary; "mwi" events), mwi_expires=3600
              -> creates an account and registers it (registrar sip:<domain>, REGISTER sent via
                 the outbound proxy sip:<proxy>;lr, so the domain stays the realm and the request
                 goes to our edge's address)
  account     id, username, domain="127.0.0.1", secret?, proxy?, transport, realm="*",
              display?, incoming={...}, default=false
              -> an account that never registers (identity sip:<username>@<domain>), to call and
                 be called by IP URI directly, or through an outbound proxy when proxy is given
                 (then secret answers digest challenges to INVITE). Answered by an "account" event.
  set_incoming id, answer, ring_ms=0, ring=180
              -> changes the account's incoming-call behaviour (answered by an "account" event):
                 answer 1xx (180, 183 = early media): send it and wait for an `answer` command;
                 answer 2xx: answer (after `ring` then ring_ms if ring_ms > 0);
                 answer 3xx-6xx: reject with that code (after ring_ms likewise);
                 answer 0: send nothing but pjsua's automatic 100 Trying.
                 Default for every account: {"answer": 180} (ring and wait).
  unregister  id            reregister  id            set_secret  id, secret
  message     id (account), uri, body, content_type="text/plain"
              -> SIP MESSAGE (RFC 3428) through the account (pjsua2 Buddy.sendInstantMessage; its
                 digest challenge answered with the account's credentials); "message_status" follows
  call        id (account), uri, call (label), headers={"X-Name": "value", ...}
              -> INVITE; refused with an error event (carrying "call") past MAX_CALLS live calls.
                 A call hung up a moment ago still holds its pjsua slot until its CANCEL/BYE
                 transaction ends (about 20 ms here): a call refused for that is retried for 2 s.
  answer      call, code=200            (1xx: provisional, 2xx: answer, 3xx-6xx: reject)
  hangup      call, code?               (unanswered incoming: the final code, default 603;
                                         early outgoing: CANCEL; confirmed: BYE)
  hold        call                      (re-INVITE a=sendonly; media event status "local_hold")
  unhold      call                      (re-INVITE a=sendrecv; media event status "active")
  transfer    call, uri                 (REFER; {"event": "transfer", "call", "code", "reason", "final"} per NOTIFY)
  transfer_replaces call, to            (attended: REFER with Replaces naming call `to`; events as transfer)
  dtmf        call, digits, method="rfc2833"|"info", duration_ms=160   -> "dtmf_sent"
  play_tone   call, freq=[Hz] or [Hz, Hz] (dual tone), ms, volume?, loop=false
              -> a pj.ToneGenerator transmits into the call (needs active media); "tone" events
  stop_tone   call
  record      call, path (.wav)
              -> a pj.AudioMediaRecorder records what the phone receives from the call (it
                 starts with the media, so it may be asked before the call is answered); the WAV
                 is complete once the "record" event with state "stopped" arrives (on stop_record,
                 on hangup, or on quit)
  stop_record call
  codecs      order=["PCMU", "PCMA/8000", ...]
              -> only these codecs, in this order (matched on the codec id prefix); "codecs" event
  stats       call  -> "stats" event: RTP counters of the call's audio stream
  quit
Events:
  {"event": "ready", "sip_port": N, "rtp_port": M, "transports": [...], "pjsip": "2.15.1",
   "max_calls": 4, "codecs": [...]}
  {"event": "reg", "id", "code", "reason", "expires", "refresh_in", "active"}  on every
      registration change; expires is what the registrar granted, refresh_in pjsua's
      info.regExpiresSec (a few seconds less: when it will refresh)
  {"event": "account", "id", "uri", "register": bool, "incoming": {...}}  account made / changed
  {"event": "mwi", "id", "waiting": "yes|no", "voice": "new/old (..)", "state"}  a message-summary
      NOTIFY (onMwiInfo: in the account's subscription, or unsolicited)
  {"event": "message", "id", "from", "to", "contact", "content_type", "body"}  a MESSAGE received
      (onInstantMessage)
  {"event": "message_status", "id", "to", "code", "reason", "body"}  the final answer to a MESSAGE
      this phone sent (onInstantMessageStatus)
  {"event": "incoming", "call": "in-1", "id", "request_uri", "from", "to", "sip_call_id",
   "source": "ip:port", "headers": {lowercase full name: value, repeated ones joined by ", "},
   "sdp"?}  a new incoming INVITE, before its first "call" event
  {"event": "call", "call", "id", "state": "calling|incoming|early|connecting|confirmed|
   disconnected", "code", "reason", "sip_call_id", "remote_uri", "remote_contact", "local_uri",
   "role": "caller|callee", "duration_ms" (disconnected only)}  every call state change, once per
      state (and per provisional code while early). A call this phone hangs up is "disconnected"
      at once (pjsua reports it so while its CANCEL/BYE is still under way); the call label is
      free again after that event.
  {"event": "media", "call", "active": bool, "status": "active|none|local_hold|remote_hold|error",
   "codec"?: "PCMU/8000", "remote_rtp"?: "ip:port"}  when the call's audio starts or stops
  {"event": "dtmf", "call", "digit", "method": "rfc2833|info", "duration_ms": null}  DTMF
      received, reported when the digit starts (so its length is not known yet)
  {"event": "dtmf_sent", "call", "digits", "method"}
  {"event": "tone", "call", "state": "playing|done|stopped", "freq"?, "ms"?}
  {"event": "record", "call", "state": "started|stopped", "path", "bytes"?, "complete"?,
   "finish_ms"?}  "stopped" comes once the WAV header is written (complete: false if that took
   over 2 s); the conference bridge removes the recorder asynchronously (measured: 20 ms)
  {"event": "rejected", "code", "reason", "request_uri", "sip_call_id", "from", "to", "source"}
      an incoming INVITE pjsua refused by itself (486 when all MAX_CALLS slots are taken, which
      includes calls hung up less than a transaction ago); no "incoming" event for it
  {"event": "codecs", "codecs": [enabled codec ids in priority order]}
  {"event": "stats", "call", "tx_packets", "tx_bytes", "rx_packets", "rx_bytes", "rx_lost",
   "rx_jitter_ms"}
  {"event": "error", "message", "cmd"?, "id"?, "call"?}
  {"event": "bye"}  last line before a clean exit

Why this shape (see PITFALLS.md, pjsua2): PJSIP is owned by the main thread only (threadCnt=0,
mainThreadOnly=True) and polled with libHandleEvents(20); stdin is read by a plain Python thread
that only puts lines on a queue.Queue, so no PJSIP call ever happens off the main thread and the
main thread never blocks on stdin. pjsua2 callbacks run inside libHandleEvents on the main
thread and write events directly. New commands are new entries in Agent.handlers. Delayed work
(ring_ms, call slot retries) is a small timer list run by the same loop, not a pj timer; the loop
also polls tone generators (isBusy) and closing recordings. Every Call, ToneGenerator and
AudioMediaRecorder is referenced from Python (Agent.calls and the call's attributes); a
disconnected call is dropped by the loop after its callback returned, and everything is destroyed
before libDestroy.

Media: the null sound device drives the conference bridge and is never auto-closed (pjsua's 1 s
default stops all RTP a second into every call here), VAD is off (RTP flows in silence too), and
the codecs are pjsua's defaults (speex/16000 first) unless the `codecs` command narrows them.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
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
# PJSUA_MAX_CALLS of this build: a 5th makeCall raises PJ_ETOOMANY; refused before that.
MAX_CALLS = 4
# A hung-up call keeps its pjsua slot until its CANCEL/BYE transaction ends: a call refused with
# PJ_ETOOMANY while fewer than MAX_CALLS calls are live is retried this often, this long.
PJ_ETOOMANY = 70010
CALL_SLOT_RETRY_MS = 20
CALL_SLOT_WAIT = 2.0
# RTP ports per account (pjsua takes RTP+RTCP pairs from port upwards, 4 calls at most).
RTP_PORT_RANGE = 16
# pjmedia_tone_desc.on_msec is a C short: longer tones are played as several pieces.
TONE_PIECE_MS = 30000
TONE_MAX_PIECES = 32  # PJMEDIA_TONEGEN_MAX_DIGITS
# How long a destroyed recorder may take to write its WAV header (measured: a few tens of ms).
WAV_FINISH_TIMEOUT = 2.0

CALL_STATES = {
    pj.PJSIP_INV_STATE_NULL: "null",
    pj.PJSIP_INV_STATE_CALLING: "calling",
    pj.PJSIP_INV_STATE_INCOMING: "incoming",
    pj.PJSIP_INV_STATE_EARLY: "early",
    pj.PJSIP_INV_STATE_CONNECTING: "connecting",
    pj.PJSIP_INV_STATE_CONFIRMED: "confirmed",
    pj.PJSIP_INV_STATE_DISCONNECTED: "disconnected",
}
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}
DTMF_METHODS = {"rfc2833": pj.PJSUA_DTMF_METHOD_RFC2833, "info": pj.PJSUA_DTMF_METHOD_SIP_INFO}
DTMF_UNKNOWN_DURATION = 0xFFFFFFFF  # PJSUA_UNKNOWN_DTMF_DURATION
DTMF_METHOD_NAMES = {value: name for name, value in DTMF_METHODS.items()}
# Compact header forms (RFC 3261 7.3.3 and extensions), reported under their full names.
COMPACT_HEADERS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}
DEFAULT_INCOMING = {"answer": 180, "ring_ms": 0, "ring": 180}


def parse_sip_message(text: str) -> tuple[str, dict[str, str], str]:
    """(start line, headers by lowercase full name, body) of a SIP message as pjsua received it."""
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines: list[str] = []
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and lines:  # folded continuation line
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        key = name.strip().lower()
        key = COMPACT_HEADERS.get(key, key)
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return (lines[0] if lines else ""), headers, body


def wav_is_complete(path: str) -> bool:
    """True once pjmedia's WAV writer closed the file: its RIFF size matches the file's size."""
    try:
        with open(path, "rb") as wav:
            header = wav.read(12)
            size = os.fstat(wav.fileno()).st_size
    except OSError:
        return False
    return (
        len(header) == 12
        and header[:4] == b"RIFF"
        and header[8:12] == b"WAVE"
        and int.from_bytes(header[4:8], "little") == size - 8
        and size >= 44
    )


def parse_incoming(spec: dict | None) -> dict:
    """An account's incoming-call behaviour, checked (see the module docstring)."""
    rule = dict(DEFAULT_INCOMING)
    rule.update(spec or {})
    answer, ring_ms, ring = int(rule["answer"] or 0), int(rule["ring_ms"] or 0), int(rule["ring"] or 0)
    if answer and not 100 < answer < 700:
        raise ValueError(f"incoming answer must be 101-699 or 0, not {answer}")
    if ring and not 100 < ring < 200:
        raise ValueError(f"incoming ring must be a provisional code (180, 183) or 0, not {ring}")
    if ring_ms < 0:
        raise ValueError("ring_ms must be >= 0")
    return {"answer": answer, "ring_ms": ring_ms, "ring": ring}


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
    """One identity, registered or not; reports registration changes and takes incoming calls."""

    def __init__(self, agent: Agent, acc_id: str, config: pj.AccountConfig, *, registers: bool = True) -> None:
        super().__init__()
        self.agent = agent
        self.acc_id = acc_id
        self.config = config  # kept: set_secret modifies a copy of what was created
        self.registers = registers
        self.registered = False
        self.incoming = dict(DEFAULT_INCOMING)

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

    def onMwiInfo(self, prm: pj.OnMwiInfoParam) -> None:
        # A message-summary NOTIFY, in the account's subscription or unsolicited: the phone's lamp.
        try:
            body = prm.rdata.wholeMsg.split("\r\n\r\n", 1)[-1]
            fields = dict(line.split(":", 1) for line in body.splitlines() if ":" in line)
            fields = {k.strip().lower(): v.strip() for k, v in fields.items()}
            self.agent.emit(
                "mwi",
                id=self.acc_id,
                waiting=fields.get("messages-waiting", ""),
                voice=fields.get("voice-message", ""),
                state=int(prm.state),
            )
        except Exception as exc:  # pragma: no cover - defensive
            self.agent.emit("error", message=f"onMwiInfo: {exc!r}", id=self.acc_id)

    def onInstantMessage(self, prm: pj.OnInstantMessageParam) -> None:
        # A MESSAGE outside any call: what the phone would show on its screen.
        try:
            self.agent.emit("message", id=self.acc_id, **{"from": str(prm.fromUri)}, to=str(prm.toUri),
                            contact=str(prm.contactUri), content_type=str(prm.contentType),
                            body=str(prm.msgBody))  # fmt: skip
        except Exception as exc:  # pragma: no cover - defensive
            self.agent.emit("error", message=f"onInstantMessage: {exc!r}", id=self.acc_id)

    def onInstantMessageStatus(self, prm: pj.OnInstantMessageStatusParam) -> None:
        try:
            self.agent.emit("message_status", id=self.acc_id, to=str(prm.toUri), code=int(prm.code),
                            reason=str(prm.reason), body=str(prm.msgBody))  # fmt: skip
        except Exception as exc:  # pragma: no cover - defensive
            self.agent.emit("error", message=f"onInstantMessageStatus: {exc!r}", id=self.acc_id)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        try:
            self.agent.incoming_call(self, prm)
        except Exception as exc:
            self.agent.emit("error", message=f"onIncomingCall: {exc!r}\n{traceback.format_exc()}", id=self.acc_id)


class PhoneCall(pj.Call):
    """One call and the media objects attached to it (tone generator, recorder)."""

    def __init__(self, agent: Agent, account: PhoneAccount, label: str, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.account = account
        self.label = label
        self.role = "caller" if call_id == pj.PJSUA_INVALID_ID else "callee"
        self.state = "null"
        self.last_reported: tuple[str, int] | None = None
        self.disconnected = False
        self.auto_answer: int | None = None  # final code due from a ring_ms timer, until answered
        self.audio: pj.AudioMedia | None = None
        self.audio_index = -1
        self.media_status = "none"
        self.tone: pj.ToneGenerator | None = None
        self.tone_busy = False
        self.recorder: pj.AudioMediaRecorder | None = None
        self.record_path: str | None = None

    @property
    def media_active(self) -> bool:
        return self.media_status == "active"

    def fields(self, info: pj.CallInfo) -> dict:
        return {
            "call": self.label,
            "id": self.account.acc_id,
            "state": CALL_STATES.get(info.state, str(info.state)),
            "code": int(info.lastStatusCode),
            "reason": str(info.lastReason),
            "sip_call_id": str(info.callIdString),
            "remote_uri": str(info.remoteUri),
            "remote_contact": str(info.remoteContact),
            "local_uri": str(info.localUri),
            "role": self.role,
        }

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        """The far end's NOTIFYs about a transfer this phone asked for (REFER)."""
        try:
            self.agent.emit("transfer", call=self.label, code=int(prm.statusCode), reason=str(prm.reason),
                            final=bool(prm.finalNotify))  # fmt: skip
        except Exception as exc:  # pragma: no cover - defensive
            self.agent.emit("error", message=f"onCallTransferStatus: {exc!r}", call=self.label)

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        try:
            info = self.getInfo()
            fields = self.fields(info)
            self.state = fields["state"]
            ending = info.state == pj.PJSIP_INV_STATE_DISCONNECTED and not self.disconnected
            if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                fields["duration_ms"] = int(info.connectDuration.sec) * 1000 + int(info.connectDuration.msec)
                self.disconnected = True
                self.auto_answer = None
            # pjsua reports some states twice (an incoming call's INCOMING again once 100 Trying
            # is sent): one event per state, except that early 180 -> 183 is news.
            key = (fields["state"], fields["code"] if fields["state"] == "early" else 0)
            if key != self.last_reported:
                self.last_reported = key
                self.agent.emit("call", **fields)
            if ending:
                # pjsua2 has let go of the call's media: its conference slot is not ours any more.
                self.audio = None
                if self.media_active:
                    self.media_status = "none"
                    self.agent.emit("media", call=self.label, active=False, status="none")
                # Dropped (and its recorder finished) by the loop once this callback returned.
                self.agent.reap_later(self)
        except Exception as exc:
            self.agent.emit("error", message=f"onCallState: {exc!r}\n{traceback.format_exc()}", call=self.label)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        try:
            info = self.getInfo()
            status, extra = "none", {}
            for media in info.media:
                if media.type != pj.PJMEDIA_TYPE_AUDIO:
                    continue
                status = MEDIA_STATUS.get(media.status, str(media.status))
                if media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    self.audio = self.getAudioMedia(media.index)
                    self.audio_index = media.index
                    with contextlib.suppress(pj.Error):
                        stream = self.getStreamInfo(media.index)
                        extra = {
                            "codec": f"{stream.codecName}/{stream.codecClockRate}",
                            "remote_rtp": stream.remoteRtpAddress,
                        }
                break
            if status != "active":
                self.audio = None
            changed = status != self.media_status
            self.media_status = status
            if self.media_active:
                self.agent.attach_media(self)
            if changed:
                self.agent.emit("media", call=self.label, active=self.media_active, status=status, **extra)
        except Exception as exc:
            self.agent.emit("error", message=f"onCallMediaState: {exc!r}\n{traceback.format_exc()}", call=self.label)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        try:
            self.agent.emit(
                "dtmf",
                call=self.label,
                digit=str(prm.digit),
                method=DTMF_METHOD_NAMES.get(prm.method, str(prm.method)),
                # The legacy digit callback fires when a digit starts: its length is unknown.
                duration_ms=None if prm.duration >= DTMF_UNKNOWN_DURATION else int(prm.duration),
            )
        except Exception as exc:
            self.agent.emit("error", message=f"onDtmfDigit: {exc!r}", call=self.label)


class PhoneEndpoint(pj.Endpoint):
    """The one Endpoint; reports the incoming calls pjsua turns away by itself (no free call slot,
    no account for the request, bad SDP), which never reach an account's onIncomingCall."""

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent

    def onRejectedIncomingCall(self, prm: pj.OnRejectedIncomingCallParam) -> None:
        try:
            start, headers, _ = parse_sip_message(str(prm.rdata.wholeMsg))
            parts = start.split(" ")
            self.agent.emit(
                "rejected",
                code=int(prm.statusCode),
                reason=str(prm.reason),
                request_uri=parts[1] if len(parts) > 2 else "",
                sip_call_id=headers.get("call-id", ""),
                source=str(prm.rdata.srcAddress),
                **{"from": headers.get("from", str(prm.remoteInfo)), "to": headers.get("to", str(prm.localInfo))},
            )
        except Exception as exc:  # pragma: no cover - defensive
            self.agent.emit("error", message=f"onRejectedIncomingCall: {exc!r}")


class Agent:
    def __init__(self, args: argparse.Namespace, emit: EventWriter) -> None:
        self.args = args
        self.emit = emit
        self.commands: queue.Queue[str | None] = queue.Queue()
        self.accounts: dict[str, PhoneAccount] = {}
        self.buddies: dict[tuple[str, str], pj.Buddy] = {}  # (account, uri) -> where MESSAGEs go
        self.calls: dict[str, PhoneCall] = {}
        self._dead_calls: list[PhoneCall] = []
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._finishing: list[tuple[str, str, float, float]] = []  # recordings being closed
        self._waiting_calls: dict[str, dict] = {}  # outgoing calls waiting for a pjsua slot
        self._incoming_numbers = itertools.count(1)
        self.transport_ids: dict[str, int] = {}
        self.running = True
        self.handlers: dict[str, Callable[[dict], None]] = {
            "register": self.cmd_register,
            "account": self.cmd_account,
            "set_incoming": self.cmd_set_incoming,
            "unregister": self.cmd_unregister,
            "reregister": self.cmd_reregister,
            "set_secret": self.cmd_set_secret,
            "call": self.cmd_call,
            "message": self.cmd_message,
            "answer": self.cmd_answer,
            "hangup": self.cmd_hangup,
            "hold": self.cmd_hold,
            "transfer": self.cmd_transfer,
            "transfer_replaces": self.cmd_transfer_replaces,
            "unhold": self.cmd_unhold,
            "dtmf": self.cmd_dtmf,
            "play_tone": self.cmd_play_tone,
            "stop_tone": self.cmd_stop_tone,
            "record": self.cmd_record,
            "stop_record": self.cmd_stop_record,
            "codecs": self.cmd_codecs,
            "stats": self.cmd_stats,
            "quit": self.cmd_quit,
        }
        self.ep = PhoneEndpoint(self)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = MAX_CALLS
        cfg.uaConfig.userAgent = "OpenCentrex test phone (pjsua2)"
        # Silence is sent as RTP too (no VAD): a relay under test sees a steady 50 packets/s.
        cfg.medConfig.noVad = True
        # The null sound device is the conference bridge's clock. Nothing is connected to it, so
        # with the default (close after 1 s idle) the clock stops and every call stops sending
        # RTP (and DTMF, tones) about 1 s after its media started. Never close it.
        cfg.medConfig.sndAutoCloseTime = -1
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
            max_calls=MAX_CALLS,
            codecs=self._enabled_codecs(),
        )

    def run(self) -> None:
        threading.Thread(target=self._read_stdin, name="stdin-reader", daemon=True).start()
        while self.running:
            self.ep.libHandleEvents(20)
            self._reap_calls()
            self._run_timers()
            self._drain_commands()
            self._reap_calls()
            self._poll_tones()
            self._poll_recordings()

    def stop(self, unregister_wait: float = 2.0, hangup_wait: float = 1.0) -> None:
        # Calls first: hang up what is still up and give the BYEs/CANCELs a moment, so the other
        # side sees the call end rather than an RTP timeout.
        if any(not call.disconnected for call in self.calls.values()):
            with contextlib.suppress(pj.Error):
                self.ep.hangupAllCalls()
            deadline = time.monotonic() + hangup_wait
            while any(not call.disconnected for call in self.calls.values()) and time.monotonic() < deadline:
                self.ep.libHandleEvents(20)
        self._reap_calls()
        for call in list(self.calls.values()):  # still not disconnected (e.g. INVITE unanswered)
            self._release_media(call)
        # Without its Python object, pjsua finds no Call for these; libDestroy ends them.
        self.calls.clear()
        while self._finishing:  # recordings stopped above: let their headers be written
            self.ep.libHandleEvents(20)
            self._poll_recordings()
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
        self.buddies.clear()
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
        about = {"id": command.get("id")}
        if "call" in command:
            about["call"] = command["call"]
        if handler is None:
            self.emit("error", message=f"unknown command {name!r}", cmd=name, **about)
            return
        try:
            handler(command)
        except pj.Error as exc:
            self.emit("error", message=exc.info(), cmd=name, **about)
        except Exception as exc:
            self.emit("error", message=f"{exc!r}\n{traceback.format_exc()}", cmd=name, **about)

    def _account(self, command: dict) -> PhoneAccount:
        acc_id = command.get("id")
        if acc_id not in self.accounts:
            raise KeyError(f"no account {acc_id!r}")
        return self.accounts[acc_id]

    def _call(self, command: dict) -> PhoneCall:
        label = command.get("call")
        call = self.calls.get(label)
        if call is None or call.disconnected:
            raise KeyError(f"no call {label!r} (live calls: {sorted(self.live_calls())})")
        return call

    def live_calls(self) -> dict[str, PhoneCall]:
        return {label: call for label, call in self.calls.items() if not call.disconnected}

    def _after(self, delay_ms: int, action: Callable[[], None]) -> None:
        self._timers.append((time.monotonic() + delay_ms / 1000, action))

    def _run_timers(self) -> None:
        if not self._timers:
            return
        now = time.monotonic()
        due = [timer for timer in self._timers if timer[0] <= now]
        self._timers = [timer for timer in self._timers if timer[0] > now]
        for _, action in due:
            try:
                action()
            except pj.Error as exc:
                self.emit("error", message=f"timer: {exc.info()}")
            except Exception as exc:
                self.emit("error", message=f"timer: {exc!r}\n{traceback.format_exc()}")

    # -- calls and media ---------------------------------------------------------------------

    def reap_later(self, call: PhoneCall) -> None:
        """Called from onCallState(DISCONNECTED): the call is dropped after the callback returned."""
        self._dead_calls.append(call)

    def _reap_calls(self) -> None:
        while self._dead_calls:
            call = self._dead_calls.pop(0)
            self._release_media(call)
            if self.calls.get(call.label) is call:
                del self.calls[call.label]

    def _release_media(self, call: PhoneCall) -> None:
        if call.tone is not None:
            with contextlib.suppress(pj.Error):
                call.tone.stop()
            call.tone = None  # the last reference: the generator's conference port goes with it
            call.tone_busy = False
        self._stop_record(call)
        call.audio = None

    def _stop_record(self, call: PhoneCall) -> bool:
        recorder, path = call.recorder, call.record_path
        if recorder is None:
            return False
        if call.audio is not None:
            with contextlib.suppress(pj.Error):
                call.audio.stopTransmit(recorder)
        call.recorder = None
        # Dropping the last reference destroys the recorder. PJSIP 2.15's conference bridge
        # removes ports asynchronously (in its clock thread), and only then is the file flushed
        # and its WAV header written: "stopped" is announced once the header is final.
        del recorder
        self._finishing.append((call.label, path, time.monotonic(), time.monotonic() + WAV_FINISH_TIMEOUT))
        return True

    def _poll_recordings(self) -> None:
        if not self._finishing:
            return
        now, pending = time.monotonic(), []
        for label, path, since, deadline in self._finishing:
            complete = wav_is_complete(path)
            if complete or now >= deadline:
                self.emit(
                    "record",
                    call=label,
                    state="stopped",
                    path=path,
                    bytes=os.path.getsize(path) if os.path.exists(path) else 0,
                    complete=complete,
                    finish_ms=round((now - since) * 1000),
                )
            else:
                pending.append((label, path, since, deadline))
        self._finishing = pending

    def attach_media(self, call: PhoneCall) -> None:
        """(Re)connect a call's recorder and tone to its audio once media is active."""
        if call.audio is None:
            return
        if call.recorder is not None:
            call.audio.startTransmit(call.recorder)
        if call.tone is not None:
            call.tone.startTransmit(call.audio)

    def _poll_tones(self) -> None:
        for call in list(self.calls.values()):
            if call.tone is not None and call.tone_busy and not call.tone.isBusy():
                call.tone_busy = False
                self.emit("tone", call=call.label, state="done")

    def incoming_call(self, acc: PhoneAccount, prm: pj.OnIncomingCallParam) -> None:
        label = f"in-{next(self._incoming_numbers)}"
        call = PhoneCall(self, acc, label, prm.callId)
        self.calls[label] = call  # referenced before anything can call back about it
        start, headers, body = parse_sip_message(str(prm.rdata.wholeMsg))
        parts = start.split(" ")
        details: dict[str, Any] = {
            "call": label,
            "id": acc.acc_id,
            "request_uri": parts[1] if len(parts) > 2 else "",
            "from": headers.get("from", ""),
            "to": headers.get("to", ""),
            "sip_call_id": headers.get("call-id", ""),
            "source": str(prm.rdata.srcAddress),
            "headers": headers,
        }
        if "application/sdp" in headers.get("content-type", ""):
            details["sdp"] = body
        self.emit("incoming", **details)
        fields = call.fields(call.getInfo())
        call.state, call.last_reported = fields["state"], (fields["state"], 0)
        self.emit("call", **fields)
        rule = acc.incoming
        answer, ring_ms, ring = rule["answer"], rule["ring_ms"], rule["ring"]
        if not answer:
            return
        if answer < 200:
            self._respond(call, answer)
        elif ring_ms > 0:
            if ring:
                self._respond(call, ring)
            call.auto_answer = answer
            self._after(ring_ms, lambda: self._auto_answer(call))
        else:
            self._respond(call, answer)

    def _auto_answer(self, call: PhoneCall) -> None:
        code, call.auto_answer = call.auto_answer, None
        if code is not None and not call.disconnected and self.calls.get(call.label) is call:
            self._respond(call, code)

    def _respond(self, call: PhoneCall, code: int) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = code
        if code >= 300:
            call.hangup(prm)
        else:
            call.answer(prm)

    # -- commands ----------------------------------------------------------------------------

    def _create_account(self, c: dict, *, registers: bool) -> PhoneAccount:
        acc_id = c["id"]
        if acc_id in self.accounts:
            raise ValueError(f"account {acc_id!r} exists; use reregister")
        if len(self.accounts) >= MAX_ACCOUNTS:
            raise ValueError(f"this pjsua2 build allows at most {MAX_ACCOUNTS} accounts per process")
        incoming = parse_incoming(c.get("incoming"))
        transport = c.get("transport", "udp")
        if transport not in self.transport_ids:
            raise ValueError(f"transport {transport!r} not started (agent has {sorted(self.transport_ids)})")
        suffix = ";transport=tcp" if transport == "tcp" else ""
        domain = c.get("domain") or self.args.bind
        cfg = pj.AccountConfig()
        uri = f"sip:{c['username']}@{domain}"
        cfg.idUri = f'"{c["display"]}" <{uri}>' if c.get("display") else uri
        if registers:
            cfg.regConfig.registrarUri = f"sip:{domain}{suffix}"
            cfg.regConfig.timeoutSec = int(c.get("expires", 300))
            # A failed registration is not retried behind the test's back; tests say reregister.
            cfg.regConfig.retryIntervalSec = int(c.get("retry_interval", 0))
            # set_secret changes credentials only; the test decides when to register again.
            cfg.regConfig.disableRegOnModify = True
        else:
            cfg.regConfig.registerOnAdd = False
        if c.get("mwi"):  # subscribe to the account's message summary (RFC 3842)
            cfg.mwiConfig.enabled = True
            cfg.mwiConfig.expirationSec = int(c.get("mwi_expires", 3600))
        # The outbound proxy (a pre-loaded Route, ;lr) sends the REGISTER to the edge's address
        # while the Request-URI and To keep the SIP domain, which is also the digest realm.
        if c.get("proxy"):
            cfg.sipConfig.proxies.append(f"sip:{c['proxy']};lr{suffix}")
        if c.get("secret") is not None:
            cfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", c.get("realm", "*"), c["username"], 0, c["secret"])
            )
        cfg.sipConfig.transportId = self.transport_ids[transport]
        media = cfg.mediaConfig.transportConfig
        media.port = self.args.rtp_port
        media.portRange = RTP_PORT_RANGE
        media.boundAddress = self.args.bind
        acc = PhoneAccount(self, acc_id, cfg, registers=registers)
        acc.incoming = incoming
        # Referenced before create(): callbacks may fire during create and need the object alive.
        self.accounts[acc_id] = acc
        try:
            acc.create(cfg, bool(c.get("default", False)))
        except pj.Error:
            del self.accounts[acc_id]
            raise
        return acc

    def _account_event(self, acc: PhoneAccount) -> None:
        self.emit("account", id=acc.acc_id, uri=acc.config.idUri, register=acc.registers, incoming=acc.incoming)

    def cmd_register(self, c: dict) -> None:
        self._create_account(c, registers=True)

    def cmd_account(self, c: dict) -> None:
        self._account_event(self._create_account(c, registers=False))

    def cmd_set_incoming(self, c: dict) -> None:
        acc = self._account(c)
        acc.incoming = parse_incoming({**acc.incoming, **{key: c[key] for key in DEFAULT_INCOMING if key in c}})
        self._account_event(acc)

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

    def cmd_message(self, c: dict) -> None:
        acc = self._account(c)
        key = (acc.acc_id, c["uri"])
        buddy = self.buddies.get(key)
        if buddy is None:
            cfg = pj.BuddyConfig()
            cfg.uri = c["uri"]
            cfg.subscribe = False  # a destination for MESSAGE only (no presence subscription)
            buddy = pj.Buddy()
            buddy.create(acc, cfg)
            self.buddies[key] = buddy  # kept: PJSIP objects live as long as their Python references
        prm = pj.SendInstantMessageParam()
        prm.content = c["body"]
        prm.contentType = c.get("content_type", "text/plain")
        buddy.sendInstantMessage(prm)

    def cmd_call(self, c: dict) -> None:
        acc = self._account(c)
        label = c.get("call")
        if not isinstance(label, str) or not label:
            raise ValueError("call needs a label: 'call': '<name>'")
        if label in self.calls or label in self._waiting_calls:
            raise ValueError(f"call label {label!r} is in use")
        live = sorted([*self.live_calls(), *self._waiting_calls])
        if len(live) >= MAX_CALLS:
            raise ValueError(f"this pjsua2 build allows at most {MAX_CALLS} calls per process (live: {live})")
        self._make_call(acc, label, c, time.monotonic() + CALL_SLOT_WAIT)

    def _make_call(self, acc: PhoneAccount, label: str, c: dict, deadline: float) -> None:
        prm = pj.CallOpParam(True)
        for name, value in (c.get("headers") or {}).items():
            header = pj.SipHeader()
            header.hName = str(name)
            header.hValue = str(value)
            prm.txOption.headers.append(header)
        call = PhoneCall(self, acc, label)
        self.calls[label] = call  # referenced before makeCall: it calls back at once ("calling")
        try:
            call.makeCall(c["uri"], prm)
        except pj.Error as exc:
            if self.calls.get(label) is call:
                del self.calls[label]
            if exc.status != PJ_ETOOMANY or time.monotonic() >= deadline:
                raise
            # A call that was hung up is reported disconnected at once, but pjsua frees its slot
            # only when the CANCEL/BYE transaction ends (about 20 ms here): try again shortly.
            self._waiting_calls[label] = c
            self._after(CALL_SLOT_RETRY_MS, lambda: self._retry_call(acc, label, c, deadline))

    def _retry_call(self, acc: PhoneAccount, label: str, c: dict, deadline: float) -> None:
        if self._waiting_calls.pop(label, None) is None:
            return
        try:
            self._make_call(acc, label, c, deadline)
        except pj.Error as exc:
            self.emit("error", message=exc.info(), cmd="call", id=acc.acc_id, call=label)

    def cmd_answer(self, c: dict) -> None:
        call = self._call(c)
        call.auto_answer = None  # the test answers: a pending ring_ms timer must not answer too
        self._respond(call, int(c.get("code", 200)))

    def cmd_hangup(self, c: dict) -> None:
        call = self._call(c)
        call.auto_answer = None
        prm = pj.CallOpParam()
        if c.get("code"):
            prm.statusCode = int(c["code"])
        call.hangup(prm)

    def cmd_hold(self, c: dict) -> None:
        """Put the call on hold (re-INVITE with a=sendonly); the media event says local_hold."""
        self._call(c).setHold(pj.CallOpParam(True))

    def cmd_unhold(self, c: dict) -> None:
        """Take it off hold (re-INVITE with a=sendrecv)."""
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self._call(c).reinvite(prm)

    def cmd_transfer(self, c: dict) -> None:
        """Blind transfer: REFER the far end to `uri`; "transfer" events follow the NOTIFYs."""
        self._call(c).xfer(str(c["uri"]), pj.CallOpParam(True))

    def cmd_transfer_replaces(self, c: dict) -> None:
        """Attended transfer: REFER the far end of `call` to the far end of `to` (Refer-To with
        Replaces naming the `to` call's dialog); "transfer" events follow the NOTIFYs."""
        self._call(c).xferReplaces(self._call({"call": c["to"]}), pj.CallOpParam(True))

    def cmd_dtmf(self, c: dict) -> None:
        call = self._call(c)
        method = c.get("method", "rfc2833")
        if method not in DTMF_METHODS:
            raise ValueError(f"dtmf method must be one of {sorted(DTMF_METHODS)}")
        prm = pj.CallSendDtmfParam()
        prm.digits = str(c["digits"])
        prm.method = DTMF_METHODS[method]
        prm.duration = int(c.get("duration_ms", 160))
        call.sendDtmf(prm)
        self.emit("dtmf_sent", call=call.label, digits=prm.digits, method=method)

    def cmd_play_tone(self, c: dict) -> None:
        call = self._call(c)
        if not call.media_active or call.audio is None:
            raise ValueError(f"call {call.label!r} has no active media (status {call.media_status})")
        freqs = c["freq"] if isinstance(c["freq"], list) else [c["freq"]]
        if not 1 <= len(freqs) <= 2:
            raise ValueError("freq: one frequency or two (dual tone)")
        ms = int(c["ms"])
        pieces = [TONE_PIECE_MS] * (ms // TONE_PIECE_MS) + ([ms % TONE_PIECE_MS] if ms % TONE_PIECE_MS else [])
        if not pieces or len(pieces) > TONE_MAX_PIECES:
            raise ValueError(f"ms must be 1..{TONE_PIECE_MS * TONE_MAX_PIECES}")
        tones = pj.ToneDescVector()
        for piece in pieces:
            tone = pj.ToneDesc()
            tone.freq1 = int(freqs[0])
            tone.freq2 = int(freqs[1]) if len(freqs) > 1 else 0
            tone.on_msec = piece
            tone.off_msec = 0
            tone.volume = int(c.get("volume", 0))  # 0: pjmedia's default level
            tones.append(tone)
        if call.tone is None:
            generator = pj.ToneGenerator()
            generator.createToneGenerator()  # the bridge's clock rate (16 kHz), mono
            call.tone = generator
        else:
            call.tone.stop()
        call.tone.play(tones, bool(c.get("loop", False)))
        call.tone.startTransmit(call.audio)
        call.tone_busy = True
        self.emit("tone", call=call.label, state="playing", freq=freqs, ms=ms)

    def cmd_stop_tone(self, c: dict) -> None:
        call = self._call(c)
        if call.tone is not None:
            call.tone.stop()
        call.tone_busy = False
        self.emit("tone", call=call.label, state="stopped")

    def cmd_record(self, c: dict) -> None:
        call = self._call(c)
        if call.recorder is not None:
            raise ValueError(f"call {call.label!r} is already recording to {call.record_path}")
        path = os.path.abspath(c["path"])
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(path)
        call.recorder, call.record_path = recorder, path
        if call.media_active:
            self.attach_media(call)
        self.emit("record", call=call.label, state="started", path=path)

    def cmd_stop_record(self, c: dict) -> None:
        label = c.get("call")
        call = self.calls.get(label)
        if call is None or not self._stop_record(call):
            raise KeyError(f"call {label!r} is not recording")

    def cmd_stats(self, c: dict) -> None:
        call = self._call(c)
        if call.audio is None:
            raise ValueError(f"call {call.label!r} has no active media (status {call.media_status})")
        stat = call.getStreamStat(call.audio_index)
        rtcp = stat.rtcp
        self.emit(
            "stats",
            call=call.label,
            tx_packets=int(rtcp.txStat.pkt),
            tx_bytes=int(rtcp.txStat.bytes),
            rx_packets=int(rtcp.rxStat.pkt),
            rx_bytes=int(rtcp.rxStat.bytes),
            rx_lost=int(rtcp.rxStat.loss),
            rx_jitter_ms=round(rtcp.rxStat.jitterUsec.last / 1000, 3),
        )

    def _enabled_codecs(self) -> list[str]:
        codecs = [(info.priority, info.codecId) for info in self.ep.codecEnum2() if info.priority > 0]
        return [codec_id for _, codec_id in sorted(codecs, key=lambda item: -item[0])]

    def cmd_codecs(self, c: dict) -> None:
        order = [str(name).lower() for name in c["order"]]
        available = [info.codecId for info in self.ep.codecEnum2()]
        chosen: dict[str, int] = {}
        for rank, wanted in enumerate(order):
            for codec_id in available:
                if codec_id.lower() == wanted or codec_id.lower().startswith(wanted + "/"):
                    chosen.setdefault(codec_id, 255 - rank)
        if not chosen:
            raise ValueError(f"none of {order} is available: {available}")
        for codec_id in available:
            self.ep.codecSetPriority(codec_id, chosen.get(codec_id, 0))
        self.emit("codecs", codecs=self._enabled_codecs())

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
