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
from xml.etree import ElementTree

import pytest

from config.redis_store import get_redis, rkey
from tests.telephony import test_ringgroups as ringgroups
from tests.telephony.conftest import SECRET
from tests.telephony.sipclient import Answer, Call, SipClient, _tag, reply_to
from tests.telephony.test_call_end import RawCall

group = ringgroups.group  # that module's fixture, here too
MAX_PER_LINE = 3
ENGINE_SETTINGS = {"OCX_BLF_MAX_PER_LINE": str(MAX_PER_LINE)}  # (the module's engine: a limit a test can reach)


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


NS = {"d": "urn:ietf:params:xml:ns:dialog-info"}


def _dialog_elements(notify: Answer) -> list[dict[str, str]]:
    """Each <dialog> of a dialog-info body, parsed as XML: its attributes, with its state."""
    root = ElementTree.fromstring(notify.body.encode())
    assert root.tag == "{urn:ietf:params:xml:ns:dialog-info}dialog-info", notify.body
    return [{**d.attrib, "state": d.findtext("d:state", namespaces=NS)} for d in root.findall("d:dialog", NS)]


def _dialogs(notify: Answer) -> list[tuple[str, str]]:
    """(direction, state) of each dialog in a dialog-info body."""
    return [(d["direction"], d["state"]) for d in _dialog_elements(notify)]


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
    sip_lines(world.user_b1, SECRET)
    other = sip_client(world.user_b1)  # a phone of client B1
    _watch(other, f"sip:101@{other.domain}")  # (its own client's line: watched)
    _watch(other, f"sip:102@{desk.domain}", status=404)  # client A1's: not found, whatever its domain says
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


def test_each_dialog_names_the_watched_phones_own_sip_dialog(world, lines, sip_lines, sip_client):
    """RFC 4235 4.1.2: call-id, local-tag and remote-tag are the watched phone's dialog as that phone
    sees it; the caller here is a raw SIP phone whose tags the test knows, the callee a pjsua2 phone."""
    _caller, callee, domain = lines
    sip_lines(world.user_a1c, SECRET)
    watch_caller, watch_callee = sip_client(world.user_a1c), sip_client(world.user_a1c)
    _watch(watch_caller, f"sip:101@{domain}")
    _watch(watch_callee, f"sip:102@{domain}")
    raw = RawCall(sip_client(world.user_a1), domain)  # 101 calls 102 (who answers after a short ring)
    try:
        incoming = callee.wait_incoming()
        told = _notifies(watch_caller, until=lambda n: ("initiator", "confirmed") in _dialogs(n))
        [placed] = _dialog_elements(told[-1])
        assert placed["call-id"] == raw.call.call_id  # the caller's own INVITE
        assert (placed["local-tag"], placed["remote-tag"]) == (raw.call.from_tag, raw.call.to_tag)

        told = _notifies(watch_callee, until=lambda n: ("recipient", "confirmed") in _dialogs(n))
        early = [d for n in told for d in _dialog_elements(n) if d["state"] == "early"]
        [answered] = _dialog_elements(told[-1])
        assert answered["call-id"] == incoming["sip_call_id"]  # the engine's INVITE to the callee
        assert answered["remote-tag"] == _tag(incoming["from"])  # the engine's tag: the phone's remote one
        assert answered["local-tag"] and answered["local-tag"] != answered["remote-tag"]  # the phone's own (200)
        assert early and all("local-tag" not in d and d["call-id"] == answered["call-id"] for d in early)
        assert answered["id"] == placed["id"] == early[0]["id"]  # the engine's call, one name for its whole life
    finally:
        raw.request("BYE")
        raw.close()
    ended = _notifies(watch_callee, until=lambda n: ("recipient", "terminated") in _dialogs(n))
    [gone] = _dialog_elements(ended[-1])
    assert {k: gone[k] for k in ("id", "call-id", "local-tag", "remote-tag")} == {
        k: answered[k] for k in ("id", "call-id", "local-tag", "remote-tag")}  # fmt: skip


def test_a_line_watches_at_most_the_limit_and_keeps_refreshing_what_it_holds(world, lines, sip_lines, sip_client):
    _caller, _callee, domain = lines
    sip_lines(world.user_a1c, SECRET)
    desk = sip_client(world.user_a1c)
    held = [_watch(desk, f"sip:{number}@{domain}", expires=120)[0] for number in ("101", "102", "101")]
    assert len(held) == MAX_PER_LINE  # (the same line twice counts twice: each is a subscription)

    dialog = Call(to_uri=f"sip:102@{domain}", call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(desk, dialog.to_uri, dialog, expires=120)
    challenge = desk.expect(407).challenge("MD5", "Proxy-Authenticate")
    _subscribe(desk, dialog.to_uri, dialog, expires=120, auth=desk.authorization(
        challenge, SECRET, method="SUBSCRIBE", uri=dialog.to_uri))  # fmt: skip
    refused = desk.expect(403)
    assert refused.reason == "Too Many Subscriptions", refused.raw
    assert f"watches {MAX_PER_LINE} lines already" in refused.get("Warning"), refused.raw
    assert desk.receive(timeout=1.0) is None  # no NOTIFY: nothing was kept

    _subscribe(desk, held[0].engine, held[0], expires=120)  # a refresh of one it holds: always (its NOTIFY)
    assert _notifies(desk, count=1)[0].get("Subscription-State").startswith("active;expires=")
    _subscribe(desk, held[1].engine, held[1], expires=0)  # an unsubscribe: always, and it frees a place
    assert _notifies(desk, count=1)[0].get("Subscription-State").startswith("terminated")
    _watch(desk, f"sip:102@{domain}")  # a new one fits again

    other = sip_client(world.user_a1)  # the limit is the line's: another line watches as it likes
    _watch(other, f"sip:103@{domain}")
