"""Every call ends (telephony/engine/liveness.py, sessiontimer.py): a party that falls silent, a
session nobody refreshes and an engine that dies all end the call at the phones, with a record
that says why, and the caller's concurrent-call slot is given back."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid

from django.conf import settings

from config.redis_store import get_redis
from telephony.callindex import dialogs_key, where_key
from telephony.engine_registry import EngineInfo, registry_key
from tests.telephony.conftest import SECRET, cdr_of, start_engine
from tests.telephony.sipclient import Answer, Call, SipClient, reply_to

RTP_TIMEOUT = 2.5
ENGINE_SETTINGS = {"OCX_ENGINE_RTP_TIMEOUT": str(RTP_TIMEOUT), "OCX_ENGINE_SESSION_EXPIRES": "4",
                   "OCX_ENGINE_MIN_SE": "2", "OCX_ENGINE_LOST_AFTER": "3"}  # fmt: skip


def offer(port: int, direction: str = "sendrecv", version: int = 1, *, events: bool = False) -> str:
    """PCMU (events: and RFC 4733 keys, type 101)."""
    formats = "0 101\r\na=rtpmap:101 telephone-event/8000" if events else "0"
    return (f"v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {formats}\r\na={direction}\r\n")  # fmt: skip


def send_rtp(sock: socket.socket, sdp: str, stop: threading.Event) -> None:
    """Send G.711 packets from `sock` to the media address of `sdp` every 20 ms, in a thread, until `stop`."""
    host = next(line.split()[-1] for line in sdp.splitlines() if line.startswith("c="))
    port = int(next(line.split()[1] for line in sdp.splitlines() if line.startswith("m=audio")))

    def run() -> None:
        seq = 0
        while not stop.wait(0.02):
            header = bytes([0x80, 0]) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big") + bytes(4)
            sock.sendto(header + b"\xff" * 160, (host, port))
            seq = (seq + 1) % 65536

    threading.Thread(target=run, daemon=True).start()


class RawCall:
    """A call placed by the raw SIP client to 102, answered and ACKed, with an RTP socket of its own."""

    def __init__(self, phone: SipClient, domain: str, *, timer: tuple[tuple[str, str], ...] = (),
                 events: bool = False):  # fmt: skip
        self.phone = phone
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.port = self.rtp.getsockname()[1]
        headers = (("Content-Type", "application/sdp"), *timer)
        self.call: Call = phone.invite(
            f"sip:102@{domain}", SECRET, headers=headers, body=offer(self.port, events=events)
        )
        self.ok = phone.expect(200, timeout=8)
        self.call.established(self.ok)
        self.contact = self.ok.get("Contact").strip().lstrip("<").split(">", 1)[0]
        self.ack()
        self._sending = threading.Event()

    def ack(self) -> None:
        branch = "z9hG4bKa" + uuid.uuid4().hex[:12]
        self.phone.send_raw(self.phone.request_message("ACK", self.contact, self.call, branch=branch))

    def request(self, method: str, *, headers: tuple[tuple[str, str], ...] = (), body: str = "") -> Answer:
        """An in-dialog request and its final answer (2xx to a re-INVITE ACKed)."""
        self.call.cseq += 1
        branch = "z9hG4bKr" + uuid.uuid4().hex[:12]
        if body:
            headers = (("Content-Type", "application/sdp"), *headers)
        self.phone.send_raw(self.phone.request_message(method, self.contact, self.call, branch=branch,
                                                       headers=headers, body=body))  # fmt: skip
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            answer = self.phone.receive(timeout=deadline - time.monotonic())
            if answer is not None and answer.status >= 200 and answer.cseq_method == method:
                if method == "INVITE" and answer.status < 300:
                    self.ack()
                return answer
        raise AssertionError(f"no answer to {method}")

    def send_rtp(self) -> None:
        """Send G.711 packets to the engine every 20 ms until stop_rtp()."""
        send_rtp(self.rtp, self.ok.body, self._sending)

    def stop_rtp(self) -> None:
        self._sending.set()

    def close(self) -> None:
        self.stop_rtp()
        self.rtp.close()


def answered_by(callee) -> str:
    """The label of the callee's call once answered. The engine offers this module's short session
    interval, below the phone's Min-SE of 90 s: the phone refuses it (422), and the engine INVITEs
    again with 90 (RFC 4028 7.4)."""
    refused = callee.wait_incoming()
    callee.wait_call_state(refused["call"], "disconnected")
    retried = callee.wait_incoming()
    assert (refused["headers"]["session-expires"], retried["headers"]["session-expires"]) == ("4", "90")
    callee.wait_call_state(retried["call"], "confirmed")
    return retried["call"]


def no_bye_for(phone: SipClient, seconds: float) -> None:
    """Nothing ends the call for `seconds`: requests other than BYE (refreshes) are answered 200."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        message = phone.receive(timeout=left)
        if message is None or not message.method:
            continue
        assert message.method != "BYE", f"the call ended early: {message.raw}"
        phone.send_raw(reply_to(message, 200, "OK"))


def bye_within(phone: SipClient, seconds: float) -> Answer:
    bye = phone.expect("BYE", timeout=seconds)
    phone.send_raw(reply_to(bye, 200, "OK"))
    return bye


def test_a_caller_that_falls_silent_is_hung_up_but_not_while_it_holds_the_call(world, lines, sip_client, edge):
    _, callee, domain = lines
    phone = sip_client(world.user_a1, target=edge)
    raw = RawCall(phone, domain, timer=(("Supported", "timer"), ("Session-Expires", "600;refresher=uac")))
    try:
        label = answered_by(callee)
        assert raw.request("INVITE", body=offer(raw.port, "sendonly", 2)).status == 200  # the caller holds
        no_bye_for(phone, RTP_TIMEOUT + 1.5)  # a phone holding a call may send nothing

        assert raw.request("INVITE", body=offer(raw.port, "sendrecv", 3)).status == 200  # and resumes, silent
        resumed = time.monotonic()
        bye = bye_within(phone, RTP_TIMEOUT + 2)
        assert time.monotonic() - resumed >= RTP_TIMEOUT - 0.6, "silence is counted from the resume"
        assert bye.get("CSeq").endswith("BYE")
        callee.wait_call_state(label, "disconnected")
        cdr = cdr_of(world)
        assert (cdr.disposition, cdr.hangup_cause, cdr.hangup_side) == ("answered", "rtp-timeout", "caller")
    finally:
        raw.close()


def test_a_session_interval_too_small_gets_422_and_one_nobody_refreshes_expires(world, lines, sip_client, edge):
    _, callee, domain = lines
    small = sip_client(world.user_a1, target=edge)
    small.invite(f"sip:102@{domain}", SECRET, headers=(("Supported", "timer"), ("Session-Expires", "1")),
                 body=offer(40000))  # fmt: skip
    refused = small.expect(422, timeout=5)
    assert refused.get("Min-SE") == "2"

    phone = sip_client(world.user_a1, target=edge)
    raw = RawCall(phone, domain, timer=(("Supported", "timer"), ("Session-Expires", "4;refresher=uac")))
    answered = time.monotonic()
    try:
        assert raw.ok.get("Session-Expires") == "4;refresher=uac" and raw.ok.get("Require") == "timer"
        raw.send_rtp()
        label = answered_by(callee)
        no_bye_for(phone, 1.5 - (time.monotonic() - answered))
        refreshed = raw.request("UPDATE", headers=(("Supported", "timer"), ("Session-Expires", "4;refresher=uac")))
        assert refreshed.status == 200 and refreshed.get("Session-Expires") == "4;refresher=uac"
        refreshed_at = time.monotonic()
        no_bye_for(phone, 3.0 - (time.monotonic() - answered))  # unrefreshed it would have ended at 2.7 s
        bye_within(phone, 3)  # the refresh due by 4 - 4/3 s after the last one never came
        assert time.monotonic() - refreshed_at >= 2.2
        callee.wait_call_state(label, "disconnected")
        cdr = cdr_of(world)
        assert (cdr.disposition, cdr.hangup_cause, cdr.hangup_side) == ("answered", "session-expired", "caller")
    finally:
        raw.close()


def test_the_engine_refreshes_when_it_is_the_refresher_and_ends_the_session_when_nobody_answers(
    world, lines, sip_client, edge
):
    _, callee, domain = lines
    phone = sip_client(world.user_a1, target=edge)
    raw = RawCall(phone, domain, timer=(("Supported", "timer"), ("Session-Expires", "4;refresher=uas")))
    try:
        assert raw.ok.get("Session-Expires") == "4;refresher=uas" and raw.ok.get("Require") is None
        raw.send_rtp()
        label = answered_by(callee)
        for _ in range(2):  # at half the interval, answered
            update = phone.expect("UPDATE", timeout=3.5)
            assert update.get("Session-Expires") == "4;refresher=uac", "the engine, the UPDATE's UAC, refreshes"
            phone.send_raw(reply_to(update, 200, "OK", headers=(("Session-Expires", "4;refresher=uac"),)))
        phone.expect("UPDATE", timeout=3.5)  # and now the phone is gone
        bye_within(phone, 4)
        callee.wait_call_state(label, "disconnected")
        cdr = cdr_of(world)
        assert (cdr.hangup_cause, cdr.hangup_side) == ("session-expired", "caller")
    finally:
        raw.close()


def test_a_phone_that_does_not_allow_update_is_refreshed_by_re_invite(world, lines, sip_client, edge):
    _, callee, domain = lines
    phone = sip_client(world.user_a1, target=edge)
    timer = (("Supported", "timer"), ("Session-Expires", "4;refresher=uas"), ("Allow", "INVITE, ACK, BYE, CANCEL"))
    raw = RawCall(phone, domain, timer=timer)
    try:
        raw.send_rtp()
        label = answered_by(callee)
        reinvite = phone.expect("INVITE", timeout=3.5)
        assert reinvite.get("Session-Expires") == "4;refresher=uac" and "m=audio" in reinvite.body
        assert reinvite.body.split("o=", 1)[1].split()[2] == raw.ok.body.split("o=", 1)[1].split()[2], "same version"
        phone.send_raw(reply_to(reinvite, 200, "OK", headers=(("Content-Type", "application/sdp"),),
                                body=offer(raw.port)))  # fmt: skip
        assert phone.expect("ACK", timeout=3).method == "ACK"
        assert raw.request("BYE").status == 200
        callee.wait_call_state(label, "disconnected")
        assert cdr_of(world).hangup_cause == "bye"
    finally:
        raw.close()


def test_a_callee_that_stops_refreshing_its_session_is_hung_up(world, lines, sip_lines, sip_client, edge):
    """The engine's INVITE to a callee offers a session timer; a callee that takes the refresher's role
    (refresher=uas in its 200) and then falls silent on SIP is hung up, cause session-expired."""
    caller, _, domain = lines
    sip_lines(world.user_a1c, SECRET)
    phone = sip_client(world.user_a1c, target=edge)
    assert phone.register(SECRET).status == 200
    rtp, stop = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), threading.Event()
    rtp.bind(("127.0.0.1", 0))
    try:
        caller.call("c1", f"sip:103@{domain}")
        invite = phone.expect("INVITE", timeout=5)
        assert (invite.get("Supported"), invite.get("Session-Expires"), invite.get("Min-SE")) == ("timer", "4", "2")
        ok = reply_to(invite, 200, "OK", to_tag="callee1", body=offer(rtp.getsockname()[1]), headers=(
            ("Contact", f"<sip:103@127.0.0.1:{phone.port}>"), ("Content-Type", "application/sdp"),
            ("Session-Expires", "4;refresher=uas"), ("Require", "timer")))  # fmt: skip
        phone.send_raw(ok)
        assert phone.expect("ACK", timeout=3).method == "ACK"
        answered = time.monotonic()
        send_rtp(rtp, invite.body, stop)
        caller.wait_call_state("c1", "confirmed")
        no_bye_for(phone, 2.0)
        bye_within(phone, 3)  # due by 4 - 4/3 s: the callee never refreshed
        assert time.monotonic() - answered >= 2.4
        caller.wait_call_state("c1", "disconnected")
        cdr = cdr_of(world)
        assert (cdr.disposition, cdr.hangup_cause, cdr.hangup_side) == ("answered", "session-expired", "callee")
    finally:
        stop.set()
        rtp.close()


def test_a_dead_engines_calls_are_hung_up_at_both_phones_by_a_survivor(world, lines, edge, engine):
    """kill -9 of the engine holding a call: the survivor (this module's engine) sends both phones a
    BYE from the dialogs the dead engine left in the call index; the caller's slot is free again."""
    caller, callee, domain = lines
    victim = start_engine(edge, **ENGINE_SETTINGS)
    redis, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk
    try:
        records = [EngineInfo.from_json(v) for v in redis.hvals(registry_key(prefix))]
        victim_id = next(e.id for e in records if e.port == victim.port)
        redis.hset(where_key(prefix, client), "line:101", victim_id)  # the edge sends 101's next call there
        caller.call("c1", f"sip:102@{domain}")
        label = answered_by(callee)
        caller.wait_call_state("c1", "confirmed")
        assert redis.zcard(f"{prefix}:calls:{client}") == 1
        deadline = time.monotonic() + 3  # the engine writes its calls' dialogs within a tick
        while not [leg for entry in redis.hvals(dialogs_key(prefix, victim_id)) for leg in json.loads(entry)["legs"]
                   if leg["confirmed"]] and time.monotonic() < deadline:  # fmt: skip
            time.sleep(0.1)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(5)
        caller.wait_call_state("c1", "disconnected", timeout=12)
        callee.wait_call_state(label, "disconnected", timeout=5)
        cdr = cdr_of(world, engine=victim_id)
        assert (cdr.disposition, cdr.hangup_cause, cdr.hangup_side) == ("answered", "engine-lost", "engine")
        deadline = time.monotonic() + 3
        while redis.zcard(f"{prefix}:calls:{client}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert redis.zcard(f"{prefix}:calls:{client}") == 0, "the BYE of the caller's leg frees its slot"
    finally:
        if victim.poll() is None:
            victim.kill()
        redis.hdel(where_key(prefix, client), "line:101")
