"""Busy-lamp fields (RFC 4235 dialog event package) through the edge: a receptionist's phone watches a
colleague's line while two real pjsua2 phones call each other, and sees it ring, go busy and go idle.

The watcher is a hand-written UDP user agent (tests/telephony/sipclient.py): pjsua2 2.15.1's Python
bindings subscribe buddies to presence only (BuddyConfig has no dialog-event switch, and the
PJSIP C API's pjsua_buddy_subscribe_dlg_event is not in the SWIG module), so no pjsua2 phone can
send SUBSCRIBE with Event: dialog.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from config.redis_store import get_redis, rkey
from tests.telephony import test_ringgroups as ringgroups
from tests.telephony.conftest import SECRET
from tests.telephony.sipclient import Answer, Call, SipClient, reply_to

group = ringgroups.group  # that module's fixture, here too


@pytest.fixture(autouse=True)
def _no_watchers_left():
    """Each test starts with no busy-lamp subscriptions or line states left by an earlier one."""
    r = get_redis()
    keys = list(r.scan_iter(rkey("blf:*")))
    if keys:
        r.delete(*keys)


def _subscribe(phone: SipClient, target: str, dialog: Call, *, expires: int, auth: str = "",
               event: str = "dialog") -> None:  # fmt: skip
    dialog.cseq += 1
    dialog.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    headers = [("Event", event), ("Accept", "application/dialog-info+xml"), ("Expires", str(expires))]
    if auth:
        headers.append(("Proxy-Authorization", auth))
    phone.send_raw(phone.request_message("SUBSCRIBE", target, dialog, headers=tuple(headers)))


def _watch(phone: SipClient, target: str, *, expires: int = 300, status: int = 200) -> tuple[Call, Answer | None]:
    """SUBSCRIBE to a line's dialogs, answering the edge's challenge: (the dialog, the first NOTIFY)."""
    dialog = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(phone, target, dialog, expires=expires)
    challenge = phone.expect(407).challenge("MD5", "Proxy-Authenticate")
    _subscribe(phone, target, dialog, expires=expires, auth=phone.authorization(
        challenge, SECRET, method="SUBSCRIBE", uri=target))  # fmt: skip
    answer = phone.expect(status)
    assert answer.cseq_method == "SUBSCRIBE", answer.raw
    if status != 200:
        return dialog, None
    dialog.established(answer)
    dialog.engine = answer.get("Contact").strip("<>")
    return dialog, _notifies(phone, count=1)[0]


def _notifies(phone: SipClient, *, count: int = 0, until=None, timeout: float = 10.0) -> list[Answer]:
    """NOTIFYs received (each answered 200): `count` of them, or until one satisfies `until`."""
    got: list[Answer] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = phone.receive(timeout=max(0.05, deadline - time.monotonic()))
        if message is None or message.method != "NOTIFY":
            continue
        phone.send_raw(reply_to(message, 200, "OK"))
        got.append(message)
        if (count and len(got) >= count) or (until is not None and until(message)):
            return got
    raise AssertionError(f"NOTIFYs seen: {[n.body for n in got]}")


def _dialogs(notify: Answer) -> list[tuple[str, str]]:
    """(direction, state) of each dialog in a dialog-info body."""
    return re.findall(r'<dialog id="[^"]+" direction="(\w+)">\s*<state>(\w+)</state>', notify.body)


def _version(notify: Answer) -> int:
    return int(re.search(r'version="(\d+)"', notify.body).group(1))


def test_the_watcher_sees_the_colleague_ring_go_busy_and_go_idle(world, lines, sip_lines, sip_client):
    caller, callee, domain = lines  # 101 calls 102, who answers after a short ring
    sip_lines(world.user_a1c, SECRET)
    desk = sip_client(world.user_a1c)  # the receptionist, 103
    _dialog, first = _watch(desk, f"sip:102@{domain}")
    assert first.get("Event") == "dialog" and first.get("Content-Type") == "application/dialog-info+xml"
    assert first.get("Subscription-State").startswith("active")
    assert f'entity="sip:102@{domain}"' in first.body and 'state="full"' in first.body
    assert _dialogs(first) == [] and _version(first) == 0  # idle

    caller.call("c1", f"sip:102@{domain}")
    label = callee.wait_incoming()["call"]
    busy = _notifies(desk, until=lambda n: ("recipient", "confirmed") in _dialogs(n))
    callee.wait_call_state(label, "confirmed")
    assert ("recipient", "early") in [d for n in busy for d in _dialogs(n)]  # it rang first
    caller.hangup("c1")
    idle = _notifies(desk, until=lambda n: ("recipient", "terminated") in _dialogs(n))
    versions = [_version(n) for n in [first, *busy, *idle]]
    assert versions == list(range(len(versions))), versions  # each NOTIFY one more (RFC 4235 4.1.2)
    assert idle[-1].body.count("<dialog ") == 1  # the ended call is told once, then left out


def test_the_callers_line_is_busy_too_and_a_refresh_is_told_the_full_state(world, lines, sip_lines, sip_client):
    caller, callee, domain = lines
    sip_lines(world.user_a1c, SECRET)
    desk = sip_client(world.user_a1c)
    dialog, _first = _watch(desk, f"sip:101@{domain}", expires=120)
    caller.call("c1", f"sip:102@{domain}")
    callee.wait_call_state(callee.wait_incoming()["call"], "confirmed")
    _notifies(desk, until=lambda n: ("initiator", "confirmed") in _dialogs(n))

    _subscribe(desk, dialog.engine, dialog, expires=90)  # a refresh in the dialog: the whole state again
    refreshed = _notifies(desk, count=1)[0]
    assert _dialogs(refreshed) == [("initiator", "confirmed")]
    assert refreshed.get("Subscription-State").startswith("active;expires=")

    _subscribe(desk, dialog.engine, dialog, expires=0)  # unsubscribe: a last NOTIFY, then nothing
    assert _notifies(desk, count=1)[0].get("Subscription-State").startswith("terminated")
    caller.hangup("c1")
    late = []
    while (message := desk.receive(timeout=1.5)) is not None:
        late += [message] if message.method == "NOTIFY" else []
    assert late == []


def test_another_clients_line_an_unknown_line_and_another_event_are_refused(world, sip_lines, sip_client, engine):
    sip_lines(world.user_a1c, SECRET)
    desk = sip_client(world.user_a1c)
    _watch(desk, f"sip:101@{world.client_b1.sip_domain}", status=404)  # never across clients
    _watch(desk, f"sip:199@{desk.domain}", status=404)
    target = f"sip:102@{desk.domain}"
    dialog = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(desk, target, dialog, expires=60, event="presence")
    challenge = desk.expect(407).challenge("MD5", "Proxy-Authenticate")
    _subscribe(desk, target, dialog, expires=60, event="presence",
               auth=desk.authorization(challenge, SECRET, method="SUBSCRIBE", uri=target))  # fmt: skip
    assert "dialog" in desk.expect(489).get("Allow-Events")


def test_a_ring_groups_member_lights_up_as_it_rings_and_as_it_answers(world, lines, sip_client, group):
    caller, callee, domain = lines
    callee.set_incoming("102", answer=180)  # 102 rings until told to answer
    group([("user", "102")], strategy="simultaneous", ring_time=10)
    desk = sip_client(world.user_a1)  # 101's credentials on a second device: any line may watch
    _watch(desk, f"sip:102@{domain}")
    ringgroups.call_group(caller, domain)
    ringing = callee.wait_incoming(timeout=15)["call"]
    _notifies(desk, until=lambda n: ("recipient", "early") in _dialogs(n))  # the member's line rings
    callee.answer(ringing)
    _notifies(desk, until=lambda n: ("recipient", "confirmed") in _dialogs(n))
    caller.hangup("c1")
    idle = _notifies(desk, until=lambda n: all(state == "terminated" for _, state in _dialogs(n)))
    assert _dialogs(idle[-1])
