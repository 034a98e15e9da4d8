"""SIP MESSAGE between the phones of one client, through the edge and an engine (RFC 3428): real pjsua2
phones send and receive (Buddy.sendInstantMessage / Account.onInstantMessage); the refusals and
malformed requests are written by hand (tests/telephony/sipclient.py) where pjsua2 would not send them.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as aioredis
from django.conf import settings

from config.redis_store import get_redis, rkey
from telephony.control import phone_text_send
from telephony.edge.config import EdgeConfig
from telephony.edge.guard import Guard
from tenants.errors import NotPossible
from tests.telephony.conftest import SECRET
from tests.telephony.sipclient import Call, SipClient, _tag


@pytest.fixture(autouse=True)
def _message_counters_cleared():
    """The edge counts MESSAGEs per line and client for a minute: each test starts with none counted."""
    r = get_redis()
    keys = list(r.scan_iter(rkey("msgrate:*")))
    if keys:
        r.delete(*keys)


def _no_message(phone, since: int, wait: float = 1.0) -> None:
    with pytest.raises(AssertionError):
        phone.wait_for("message", None, wait, since=since)


def test_a_message_reaches_every_phone_of_the_colleague_and_a_reply_comes_back(world, lines, phones, edge):
    caller, callee, domain = lines
    second = phones(name="callee-desk")  # 102's second device
    assert second.register(username="102", domain=domain, secret=SECRET, proxy=f"127.0.0.1:{edge.port}")["code"] == 200
    marks = callee.mark(), second.mark()

    status = caller.message(f"sip:102@{domain}", "Lunch at 1? Café downstairs")
    assert status["code"] == 200, status
    for phone, since in zip((callee, second), marks, strict=True):
        got = phone.wait_for("message", None, 5, since=since)
        assert got["body"] == "Lunch at 1? Café downstairs"
        assert got["content_type"].startswith("text/plain")
        assert f"sip:101@{domain}" in got["from"]  # written as the sender's extension: a reply finds its way
        assert f"sip:102@{domain}" in got["to"]

    since = caller.mark()
    status = callee.message(f"sip:101@{domain}", "Yes")  # the reply, to the extension the message came from
    assert status["code"] == 200, status
    assert caller.wait_for("message", None, 5, since=since)["body"] == "Yes"


def test_refusals_unknown_colleague_nobody_registered_not_text_and_another_client(world, lines, sip_lines, phones,
                                                                                   edge):  # fmt: skip
    caller, _callee, domain = lines
    assert caller.message(f"sip:199@{domain}", "anyone?")["code"] == 404
    assert caller.message(f"sip:103@{domain}", "are you there?")["code"] == 480  # 103 has no phone registered
    assert caller.message(f"sip:102@{domain}", "<b>x</b>", content_type="application/octet-stream")["code"] == 415

    sip_lines(world.user_b1, SECRET)  # another client's 101, registered
    other_domain = world.client_b1.sip_domain
    stranger = phones(name="stranger")
    assert stranger.register(username="101", domain=other_domain, secret=SECRET,
                             proxy=f"127.0.0.1:{edge.port}")["code"] == 200  # fmt: skip
    since = stranger.mark()
    assert caller.message(f"sip:101@{other_domain}", "hello other company")["code"] == 404
    _no_message(stranger, since)


def test_the_portal_sends_a_users_text_to_a_colleagues_phones(world, lines):
    """The way in for the portal's instant messages: a command to an engine, which sends the MESSAGE."""
    _caller, callee, _domain = lines
    since, sender = callee.mark(), world.extension_of(world.user_a1)
    sent = phone_text_send(client=world.client_a1, extension=sender, to="102", text="From the portal")
    assert sent == {"status": 200, "delivered": True}
    got = callee.wait_for("message", None, 5, since=since)
    assert got["body"] == "From the portal" and "sip:101@" in got["from"]
    assert phone_text_send(client=world.client_a1, extension=sender, to="103", text="x")["status"] == 480
    with pytest.raises(NotPossible):
        phone_text_send(client=world.client_a1, extension=sender, to="199", text="x")


def _authorized_message(client: SipClient, target: str, secret: str, body: bytes, *, content_type: str = "text/plain",
                        nc: int = 1, challenge: dict | None = None) -> tuple[bytes, dict]:  # fmt: skip
    """A MESSAGE with digest credentials (a challenge fetched first unless given); (request, challenge)."""
    call = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8], branch=_branch())
    headers = [("Content-Type", content_type)]
    if challenge is None:
        client.send_raw(client.request_message("MESSAGE", target, call, headers=tuple(headers), body="x"))
        challenge = client.expect(407).challenge("MD5", "Proxy-Authenticate")
        call.cseq, call.branch = 2, _branch()
    headers.append(("Proxy-Authorization", client.authorization(challenge, secret, method="MESSAGE", uri=target,
                                                                nc=nc)))  # fmt: skip
    text = client.request_message("MESSAGE", target, call, headers=tuple(headers), body="")
    head = text.rsplit(b"Content-Length: 0\r\n\r\n", 1)[0]
    return head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body, challenge


def _branch() -> str:
    return "z9hG4bK" + uuid.uuid4().hex[:16]


def test_a_message_too_large_or_not_utf8_is_refused_and_the_rate_is_limited(world, sip_lines, sip_client, engine):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    target = f"sip:103@{phone.domain}"  # nobody registered: each accepted message is answered 480 at once
    request, challenge = _authorized_message(phone, target, SECRET, b"x" * 1025)
    phone.send_raw(request)
    assert phone.expect(413).reason == "Message Too Large"
    request, _ = _authorized_message(phone, target, SECRET, b"caf\xe9", nc=2, challenge=challenge)
    phone.send_raw(request)
    assert phone.expect(400).status == 400

    limit = settings.OCX_SIP["message_rate"]
    get_redis().delete(rkey("msgrate", world.client_a1.pk, phone.user), rkey("msgrate", world.client_a1.pk))
    for n in range(limit):
        request, _ = _authorized_message(phone, target, SECRET, b"ping", nc=3 + n, challenge=challenge)
        phone.send_raw(request)
        assert phone.expect(480).status == 480
    request, _ = _authorized_message(phone, target, SECRET, b"ping", nc=3 + limit, challenge=challenge)
    phone.send_raw(request)
    refused = phone.expect(503)
    assert refused.reason == "Message Rate Exceeded" and refused.get("Retry-After") == "60"


def test_the_guard_counts_messages_per_line_and_per_client():
    config = EdgeConfig(message_rate=2, message_client_rate=3, message_window=60,
                        redis_prefix=settings.OCX_REDIS_PREFIX)  # fmt: skip

    async def run() -> list[bool]:
        client = aioredis.from_url(settings.REDIS_URL)
        guard = Guard(client, config)
        try:
            return [await guard.message_allowed(99999, user) for user in ("a", "a", "a", "b", "c")]
        finally:
            await client.aclose()

    # a: 1, 2 pass and 3 is over its own limit; b is the client's 4th: over the client's limit
    assert asyncio.run(run()) == [True, True, False, False, False]


def test_malformed_messages_never_take_the_edge_down(world, sip_lines, sip_client, engine, edge):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    target = f"sip:102@{phone.domain}"
    domain = phone.domain.encode()
    via = b"Via: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKq\r\nFrom: <sip:101@" + domain + b">;tag=1\r\n"
    garbage = [
        b"MESSAGE sip:102@x SIP/2.0\r\n\r\n",  # no headers at all
        b"MESSAGE sip:102@" + domain + b" SIP/2.0\r\n" + via + b"To: <sip:102@x>\r\nCall-ID: c\r\n"
        b"CSeq: 1 MESSAGE\r\nContent-Length: 99\r\n\r\nshort",  # the body shorter than announced
        b"MESSAGE \x00\xff SIP/2.0\r\n\r\n",
        b"SUBSCRIBE sip:102@" + domain + b" SIP/2.0\r\n" + via + b"To: <sip:102@x>\r\nCall-ID: s\r\n"
        b"CSeq: x SUBSCRIBE\r\nEvent: dialog\r\nExpires: soon\r\nContent-Length: 0\r\n\r\n",
    ]
    for data in garbage:
        phone.send_raw(data)
    # an authenticated MESSAGE to a colleague with a tag in To but no route: not a dialog of ours
    call = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag="a1", to_tag="b2", branch=_branch())
    phone.send_raw(phone.request_message("MESSAGE", target, call, headers=(("Content-Type", "text/plain"),), body="x"))
    assert phone.expect(403).status == 403
    # a SUBSCRIBE with a nonsense Expires: the edge refuses it before asking for credentials
    dialog = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8], branch=_branch())
    headers = (("Event", "dialog"), ("Expires", "soon"))
    phone.send_raw(phone.request_message("SUBSCRIBE", target, dialog, headers=headers))
    assert phone.expect(400).cseq_method == "SUBSCRIBE"
    # the edge still serves: a real message goes through
    request, _ = _authorized_message(phone, f"sip:199@{phone.domain}", SECRET, b"still there?")
    phone.send_raw(request)
    assert phone.expect(404).status == 404
    assert edge.process.poll() is None and engine.poll() is None


def test_a_message_answer_carries_the_senders_transaction(world, sip_lines, sip_client, engine):
    """The 2xx/4xx a sender gets belongs to its MESSAGE (same Call-ID, CSeq), with a To tag (RFC 3428 7)."""
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    request, _ = _authorized_message(phone, f"sip:199@{phone.domain}", SECRET, b"hi")
    phone.send_raw(request)
    answer = phone.expect(404)
    assert answer.cseq_method == "MESSAGE" and _tag(answer.get("To"))
