"""The SIP edge as a proxy: phones' calls to call engines, engines' calls to phones, in-dialog routing.

Until the call engine exists (the next issue), a hand-written UDP user agent stands in for one: it
announces itself in the engine registry in Redis, as an engine does, and answers what it gets.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.conf import settings

from config.redis_store import get_redis
from telephony.callindex import dialogs_key, ringing_key, where_key
from telephony.directory import sip_directory_sync
from tests.telephony.conftest import FakeEngine, start_edge
from tests.telephony.sipclient import Call, SipClient, reply_to

SECRET = "proxy-secret-123"
FAST_TIMERS = {"OCX_SIP_T1": "0.05", "OCX_SIP_ENGINE_TIMEOUT": "0.5", "OCX_SIP_TIMER_C": "1.5"}


@pytest.fixture(scope="module")
def proxy_edge():
    edge = start_edge(**FAST_TIMERS)
    yield edge
    edge.stop()


def quiet(client: SipClient, seconds: float = 0.4) -> list:
    """Everything a client receives in the next moments."""
    received, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        message = client.receive(timeout=left)
        if message is not None:
            received.append(message)
    return received


def place_call(phone: SipClient, engine: FakeEngine, edge, target: str):
    """A phone's call answered by the engine: (call, the INVITE the engine got, its Record-Route)."""
    call = phone.invite(target, SECRET)
    invite = engine.expect("INVITE")
    contact = (("Contact", f"<sip:engine@127.0.0.1:{engine.port}>"),)
    engine.send_to_edge(reply_to(invite, 200, "OK", to_tag="e1", headers=contact), edge)
    call.established(phone.expect(200))
    return call, invite


def test_a_phones_call_is_challenged_then_reaches_an_engine_that_knows_the_caller(world, sip_lines, sip_client,
                                                                                 proxy_edge, engines):  # fmt: skip
    extension = sip_lines(world.user_a1, SECRET)
    domain = world.client_a1.sip_domain
    [engine] = engines()
    phone = sip_client(world.user_a1, target=proxy_edge)

    call = phone.invite(f"sip:102@{domain}", SECRET, headers=(("X-Ocx-Auth", "client=1;user=forged"),))
    assert phone.expect(100).status == 100
    invite = engine.expect("INVITE")
    assert invite.uri == f"sip:102@{domain}"
    assert invite.get("Proxy-Authorization") is None
    assert invite.get_all("X-Ocx-Auth") == [
        f"client={world.client_a1.pk};brand={world.client_a1.brand_id};account={world.user_a1.pk};"
        f"ext={extension.pk};user=101"
    ]
    record_route = invite.get("Record-Route")
    assert f"127.0.0.1:{proxy_edge.port};lr;ocxf=udp-127.0.0.1-{phone.port}" in record_route
    assert len(invite.get_all("Via")) == 2 and f":{proxy_edge.port};" in invite.get_all("Via")[0]
    assert invite.get("Max-Forwards") == "69"

    engine.send_to_edge(reply_to(invite, 180, "Ringing", to_tag="e1"), proxy_edge)
    ringing = phone.expect(180)
    assert len(ringing.get_all("Via")) == 1, "the edge's own Via is removed on the way back"
    contact = (("Contact", f"<sip:engine@127.0.0.1:{engine.port}>"),)
    engine.send_to_edge(reply_to(invite, 200, "OK", to_tag="e1", headers=contact), proxy_edge)
    ok = phone.expect(200)
    call.established(ok)
    assert call.route == [record_route]

    # ACK and BYE follow the recorded route: the phone's to the engine, the engine's to the phone.
    engine_uri = f"sip:engine@127.0.0.1:{engine.port}"
    phone.send_raw(phone.request_message("ACK", engine_uri, call, branch="z9hG4bKack" + uuid.uuid4().hex[:8]))
    assert engine.expect("ACK").uri == engine_uri
    back = Call(to_uri=f"sip:101@{domain}", call_id=call.call_id, from_tag="e1", to_tag=call.from_tag,
                branch="z9hG4bKbye" + uuid.uuid4().hex[:8], route=[record_route])  # fmt: skip
    engine.send_to_edge(engine.request_message("BYE", f"sip:101@127.0.0.1:{phone.port}", back), proxy_edge)
    bye = phone.expect("BYE")
    assert bye.uri == f"sip:101@127.0.0.1:{phone.port}" and bye.get("Route") is None
    phone.send_raw(reply_to(bye, 200, "OK"))
    assert engine.expect(200).cseq_method == "BYE"


def test_a_wrong_secret_is_refused_and_without_engines_calls_get_503(world, sip_lines, sip_client, proxy_edge,
                                                                     engines):  # fmt: skip
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1, target=proxy_edge)
    domain = world.client_a1.sip_domain
    phone.invite(f"sip:102@{domain}", "not-the-secret")
    assert phone.expect(403).status == 403
    phone.invite(f"sip:102@{domain}", SECRET)
    refused = phone.expect(503)
    assert refused.reason == "No Call Engine Available" and refused.get("Retry-After")


def test_the_least_busy_engine_gets_the_call_and_the_next_one_when_it_fails(world, sip_lines, sip_client,
                                                                           proxy_edge, engines):  # fmt: skip
    sip_lines(world.user_a1, SECRET)
    silent, overloaded, spare = engines(3, calls=(0, 10, 20))
    phone = sip_client(world.user_a1, target=proxy_edge)
    phone.invite(f"sip:102@{world.client_a1.sip_domain}", SECRET)

    assert silent.expect("INVITE").method == "INVITE"  # least busy: first, but it never answers
    started = time.monotonic()
    invite = overloaded.expect("INVITE", timeout=2)
    assert time.monotonic() - started >= 0.3, "the next engine is tried after the engine timeout"
    overloaded.send_to_edge(reply_to(invite, 503, "Service Unavailable", to_tag="o1"), proxy_edge)
    assert overloaded.expect("ACK").cseq_method == "ACK"  # the edge acknowledges the 503 hop by hop
    invite = spare.expect("INVITE")
    spare.send_to_edge(reply_to(invite, 486, "Busy Here", to_tag="s1"), proxy_edge)
    assert phone.expect(486).status == 486
    assert not [m for m in quiet(phone) if m.status == 503], "a failed engine's 503 never reaches the phone"


def test_an_engine_that_answers_500_is_passed_over_like_one_that_answers_503(world, sip_lines, sip_client,
                                                                              proxy_edge, engines):  # fmt: skip
    """An engine in trouble (its database away, a bug) answers 500: the next engine gets the call."""
    sip_lines(world.user_a1, SECRET)
    broken, spare = engines(2, calls=(0, 10))
    phone = sip_client(world.user_a1, target=proxy_edge)
    phone.invite(f"sip:102@{world.client_a1.sip_domain}", SECRET)
    invite = broken.expect("INVITE")
    broken.send_to_edge(reply_to(invite, 500, "Engine Error", to_tag="b1"), proxy_edge)
    assert broken.expect("ACK").cseq_method == "ACK"
    invite = spare.expect("INVITE")
    spare.send_to_edge(reply_to(invite, 486, "Busy Here", to_tag="s1"), proxy_edge)
    assert phone.expect(486).status == 486
    assert not [m for m in quiet(phone) if m.status == 500], "the broken engine's 500 never reaches the phone"


def test_cancel_reaches_the_engine_and_the_phone_gets_487(world, sip_lines, sip_client, proxy_edge, engines):
    sip_lines(world.user_a1, SECRET)
    [engine] = engines()
    phone = sip_client(world.user_a1, target=proxy_edge)
    call = phone.invite(f"sip:102@{world.client_a1.sip_domain}", SECRET)
    invite = engine.expect("INVITE")
    engine.send_to_edge(reply_to(invite, 180, "Ringing", to_tag="e1"), proxy_edge)
    phone.expect(180)

    phone.send_raw(phone.request_message("CANCEL", call.to_uri, call))
    assert phone.expect(200).cseq_method == "CANCEL"
    cancel = engine.expect("CANCEL")
    assert cancel.get_all("Via")[0] == invite.get_all("Via")[0], "CANCEL takes the branch of the INVITE it cancels"
    engine.send_to_edge(reply_to(cancel, 200, "OK", to_tag="e1"), proxy_edge)
    engine.send_to_edge(reply_to(invite, 487, "Request Terminated", to_tag="e1"), proxy_edge)
    terminated = phone.expect(487)
    assert engine.expect("ACK").get_all("Via")[0] == invite.get_all("Via")[0]

    ack = Call(call.to_uri, call.call_id, call.from_tag, to_tag="e1", branch=call.branch)
    phone.send_raw(phone.request_message("ACK", call.to_uri, ack))
    assert terminated.get("To").endswith("tag=e1")
    assert not [m for m in quiet(engine) if m.method == "ACK"], "the phone's ACK for 487 stops at the edge"


def test_retransmissions_are_absorbed_and_the_edge_retransmits_until_the_engine_answers(world, sip_lines,
                                                                                     sip_client, proxy_edge,
                                                                                     engines):  # fmt: skip
    sip_lines(world.user_a1, SECRET)
    [engine] = engines()
    phone = sip_client(world.user_a1, target=proxy_edge)
    call = phone.invite(f"sip:102@{world.client_a1.sip_domain}", SECRET)
    phone.expect(100)
    phone.send_raw(call.sent)  # the phone did not hear the 100 Trying: it sends the INVITE again
    assert phone.expect(100).status == 100

    invites = [m for m in quiet(engine, 0.3) if m.method == "INVITE"]
    assert len(invites) >= 2, "over UDP the edge retransmits an unanswered INVITE (timer A)"
    assert len({m.get_all("Via")[0] for m in invites}) == 1, "one transaction for the phone's two copies"
    engine.send_to_edge(reply_to(invites[0], 100, "Trying"), proxy_edge)
    time.sleep(0.1)  # the provisional reaches the edge before the quiet period is measured
    assert not [m for m in quiet(engine, 0.4) if m.method == "INVITE"], "a provisional stops the retransmissions"


def test_an_engines_call_forks_to_every_device_and_the_first_answer_wins(world, sip_lines, sip_client,
                                                                        proxy_edge, engines):  # fmt: skip
    sip_lines(world.user_a1b, SECRET)
    domain = world.client_a1.sip_domain
    [engine] = engines()
    desk, mobile = sip_client(world.user_a1b, target=proxy_edge), sip_client(world.user_a1b, target=proxy_edge)
    assert desk.register(SECRET).status == 200 and mobile.register(SECRET).status == 200

    call = engine.invite(f"sip:102@{domain}")
    engine.send_to_edge(engine.request_message("INVITE", call.to_uri, call), proxy_edge)
    assert engine.expect(100).status == 100
    at_desk, at_mobile = desk.expect("INVITE"), mobile.expect("INVITE")
    assert at_desk.uri == f"sip:102@127.0.0.1:{desk.port}" and at_mobile.uri == f"sip:102@127.0.0.1:{mobile.port}"
    assert f"ocxf=udp-127.0.0.1-{desk.port}" in at_desk.get("Record-Route")

    desk.send_raw(reply_to(at_desk, 180, "Ringing", to_tag="d1"))
    assert engine.expect(180).get("To").endswith("tag=d1")
    mobile.send_raw(reply_to(at_mobile, 200, "OK", to_tag="m1"))
    answered = engine.expect(200)
    assert answered.get("To").endswith("tag=m1") and len(answered.get_all("Via")) == 1

    cancel = desk.expect("CANCEL")
    desk.send_raw(reply_to(cancel, 200, "OK", to_tag="d1"))
    desk.send_raw(reply_to(at_desk, 487, "Request Terminated", to_tag="d1"))
    assert desk.expect("ACK").cseq_method == "ACK"
    assert not [m for m in quiet(engine) if m.status == 487], "the losing branch's 487 stays at the edge"


def test_calls_to_users_without_devices_or_to_unknown_domains_are_answered_at_once(world, sip_lines, proxy_edge,
                                                                                   engines):  # fmt: skip
    sip_lines(world.user_a1b, SECRET)
    [engine] = engines()
    for target, status in ((f"sip:102@{world.client_a1.sip_domain}", 480), ("sip:102@nowhere.example", 404)):
        call = engine.invite(target)
        engine.send_to_edge(engine.request_message("INVITE", target, call), proxy_edge)
        assert engine.expect(status).status == status


def test_a_device_that_rings_too_long_is_cancelled_and_a_silent_one_times_out(world, sip_lines, sip_client,
                                                                             proxy_edge, engines):  # fmt: skip
    sip_lines(world.user_a1b, SECRET)
    [engine] = engines()
    phone = sip_client(world.user_a1b, target=proxy_edge)
    assert phone.register(SECRET).status == 200
    target = f"sip:102@{world.client_a1.sip_domain}"

    call = engine.invite(target)
    engine.send_to_edge(engine.request_message("INVITE", target, call), proxy_edge)
    invite = phone.expect("INVITE")
    phone.send_raw(reply_to(invite, 180, "Ringing", to_tag="p1"))
    cancel = phone.expect("CANCEL", timeout=3)  # timer C (1.5 s here)
    phone.send_raw(reply_to(cancel, 200, "OK", to_tag="p1"))
    phone.send_raw(reply_to(invite, 487, "Request Terminated", to_tag="p1"))
    assert engine.expect(487).status == 487

    call = engine.invite(target)
    engine.send_to_edge(engine.request_message("INVITE", target, call), proxy_edge)
    phone.expect("INVITE")  # and never a word back
    assert engine.expect(480, timeout=5).reason == "Temporarily Unavailable"  # timer B: 64*T1


def test_the_clients_concurrent_call_limit_refuses_the_call_too_many(world, sip_lines, sip_client, proxy_edge,
                                                                     engines):  # fmt: skip
    sip_lines(world.user_a1, SECRET)
    client = world.client_a1
    limit = client.max_calls
    client.max_calls = 1
    client.save(update_fields=["max_calls"])
    sip_directory_sync()
    try:
        [engine] = engines()
        phone = sip_client(world.user_a1, target=proxy_edge)
        target = f"sip:102@{client.sip_domain}"
        first, _ = place_call(phone, engine, proxy_edge, target)

        phone.invite(target, SECRET)
        refused = phone.expect(403)
        assert refused.reason == "Concurrent Call Limit Reached" and "limit of 1 call" in refused.get("Reason")

        engine_uri = f"sip:engine@127.0.0.1:{engine.port}"
        first.cseq += 1
        phone.send_raw(phone.request_message("BYE", engine_uri, first, branch="z9hG4bKb" + uuid.uuid4().hex[:8]))
        bye = engine.expect("BYE")
        engine.send_to_edge(reply_to(bye, 200, "OK"), proxy_edge)
        assert phone.expect(200).cseq_method == "BYE"
        place_call(phone, engine, proxy_edge, target)  # the ended call no longer counts
    finally:
        client.max_calls = limit
        client.save(update_fields=["max_calls"])
        sip_directory_sync()


def test_a_bye_frees_the_call_slot_whatever_its_answer_even_none(world, sip_lines, sip_client, proxy_edge,
                                                                  engines):  # fmt: skip
    """A BYE ends the dialog whatever comes back (RFC 3261 15.1.1): refused with 481, or sent by the
    engine to a phone that vanished and never answers, the call's slot is free once it is over."""
    sip_lines(world.user_a1, SECRET)
    client = world.client_a1
    limit = client.max_calls
    client.max_calls = 1
    client.save(update_fields=["max_calls"])
    sip_directory_sync()
    try:
        [engine] = engines()
        phone = sip_client(world.user_a1, target=proxy_edge)
        target = f"sip:102@{client.sip_domain}"
        first, _ = place_call(phone, engine, proxy_edge, target)
        engine_uri = f"sip:engine@127.0.0.1:{engine.port}"
        first.cseq += 1
        phone.send_raw(phone.request_message("BYE", engine_uri, first, branch="z9hG4bKb" + uuid.uuid4().hex[:8]))
        bye = engine.expect("BYE")
        engine.send_to_edge(reply_to(bye, 481, "Call Does Not Exist"), proxy_edge)  # the engine has no such call
        assert phone.expect(481).cseq_method == "BYE"

        second, invite = place_call(phone, engine, proxy_edge, target)  # the slot was freed by the refused BYE
        phone.invite(target, SECRET)
        assert phone.expect(403).reason == "Concurrent Call Limit Reached"
        # The engine hangs up (say, no RTP any more) on a phone that has vanished: nobody answers the BYE.
        gone = Call(to_uri=f"sip:101@{client.sip_domain}", call_id=second.call_id, from_tag="e1",
                    to_tag=second.from_tag, branch="z9hG4bKg" + uuid.uuid4().hex[:8],
                    route=[invite.get("Record-Route")])  # fmt: skip
        engine.send_to_edge(engine.request_message("BYE", f"sip:101@127.0.0.1:{phone.port}", gone, cseq=2), proxy_edge)
        assert phone.expect("BYE").method == "BYE"  # and not a word back
        assert engine.expect(408, timeout=6).cseq_method == "BYE"  # timer F, 64*T1
        place_call(phone, engine, proxy_edge, target)
    finally:
        client.max_calls = limit
        client.save(update_fields=["max_calls"])
        sip_directory_sync()


def test_phones_reach_engines_only_and_in_dialog_requests_need_the_edges_route(world, sip_lines, sip_client,
                                                                              proxy_edge, engines):  # fmt: skip
    sip_lines(world.user_a1, SECRET)
    [engine] = engines()
    phone, other = sip_client(world.user_a1, target=proxy_edge), sip_client(world.user_a1, target=proxy_edge)
    call, _ = place_call(phone, engine, proxy_edge, f"sip:102@{world.client_a1.sip_domain}")

    call.cseq += 1
    relay_attempt = phone.request_message("MESSAGE", f"sip:x@127.0.0.1:{other.port}", call, branch="z9hG4bKr1")
    phone.send_raw(relay_attempt)
    assert phone.expect(403).reason == "Not Routable"
    unrouted = Call(call.to_uri, call.call_id, call.from_tag, to_tag=call.to_tag, branch="z9hG4bKr2")
    phone.send_raw(phone.request_message("BYE", f"sip:engine@127.0.0.1:{engine.port}", unrouted, cseq=9))
    assert phone.expect(403).reason == "Not Routed Through This Proxy"
    assert other.receive(timeout=0.3) is None and not [m for m in quiet(engine) if m.method in ("BYE", "MESSAGE")]

    # A flow token the edge did not sign (say, forged by a callee in its 200's Record-Route) is ignored.
    forged = Call(to_uri=call.to_uri, call_id=call.call_id, from_tag="e1", to_tag=call.from_tag, branch="z9hG4bKf1",
                  route=[f"<sip:127.0.0.1:{proxy_edge.port};lr;ocxf=udp-127.0.0.1-{other.port}>"])  # fmt: skip
    engine.send_to_edge(engine.request_message("BYE", f"sip:101@127.0.0.1:{phone.port}", forged), proxy_edge)
    assert phone.expect("BYE").uri == f"sip:101@127.0.0.1:{phone.port}"
    assert other.receive(timeout=0.3) is None


def test_two_edge_processes_relay_answers_to_the_one_that_forked(world, sip_lines, sip_client, proxy_edge, engines):
    """The kernel spreads datagrams over the edges sharing a port by source address: a phone's answer
    may reach the edge that did not send the INVITE, which must hand it over."""
    sip_lines(world.user_a1b, SECRET)
    second = start_edge(port=proxy_edge.port, **FAST_TIMERS)
    try:
        [engine] = engines()
        target = f"sip:102@{world.client_a1.sip_domain}"
        for attempt in range(6):  # new source ports each time, so both edges take part
            phone = sip_client(world.user_a1b, target=proxy_edge)
            assert phone.register(SECRET).status == 200
            call = engine.invite(target)
            engine.send_to_edge(engine.request_message("INVITE", target, call), proxy_edge)
            invite = phone.expect("INVITE")
            phone.send_raw(reply_to(invite, 200, "OK", to_tag=f"p{attempt}"))
            assert engine.expect(200).get("To").endswith(f"tag=p{attempt}"), f"attempt {attempt}"
            assert phone.register(SECRET, expires=0).status == 200
    finally:
        second.stop()


def test_codes_and_a_lines_next_call_go_to_the_engine_the_call_index_names(world, sip_lines, sip_client,
                                                                         proxy_edge, engines):  # fmt: skip
    """Pickup, retrieve and supervision codes go where the call is (telephony/callindex.py), even to a
    busier or draining engine; a line's new call goes to its current call's engine; without an entry,
    or when the named engine is gone, the least busy one gets the call."""
    sip_lines(world.user_a1, SECRET)
    idle, busy = engines(2, calls=(0, 30))
    redis, prefix, client = get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk
    where = where_key(prefix, client)
    redis.delete(where, ringing_key(prefix, client))
    redis.hset(where, mapping={"park:3": f"{busy.heartbeat.info.id} some-call", "ring:102": busy.heartbeat.info.id,
                               "line:103": busy.heartbeat.info.id})  # fmt: skip
    redis.zadd(ringing_key(prefix, client), {f"102 {busy.heartbeat.info.id}": 1.0})
    phone = sip_client(world.user_a1, target=proxy_edge)
    domain = world.client_a1.sip_domain
    try:
        for dialled, expected in (("*713", busy), ("**102", busy), ("*8", busy), ("*83103", busy),
                                  ("*714", idle), ("102", idle)):  # fmt: skip
            phone.invite(f"sip:{dialled}@{domain}", SECRET)
            invite = expected.expect("INVITE", timeout=2)
            assert invite.uri.startswith(f"sip:{dialled}@"), (dialled, invite.uri)
            expected.send_to_edge(reply_to(invite, 486, "Busy Here", to_tag="x1"), proxy_edge)
            assert phone.expect(486).status == 486

        redis.hset(where, "line:101", busy.heartbeat.info.id)  # 101 has a call on the busy engine
        phone.invite(f"sip:102@{domain}", SECRET)
        invite = busy.expect("INVITE", timeout=2)
        busy.send_to_edge(reply_to(invite, 486, "Busy Here", to_tag="x2"), proxy_edge)
        assert phone.expect(486).status == 486

        redis.hset(where, "line:101", "engine-that-is-gone")
        phone.invite(f"sip:102@{domain}", SECRET)
        invite = idle.expect("INVITE", timeout=2)
        idle.send_to_edge(reply_to(invite, 486, "Busy Here", to_tag="x3"), proxy_edge)
        assert phone.expect(486).status == 486
    finally:
        redis.delete(where, ringing_key(prefix, client))


def test_slots_of_calls_no_engine_holds_are_freed_and_held_ones_stay(world, sip_lines, sip_client, engines):
    """The edge checks the counted calls against the engines' dialogs in the call index: a call
    whose end it never saw (its engine died, the BYE went through another edge) stops counting."""
    sip_lines(world.user_a1, SECRET)
    client = world.client_a1
    limit = client.max_calls
    client.max_calls = 1
    client.save(update_fields=["max_calls"])
    sip_directory_sync()
    edge = start_edge(**FAST_TIMERS, OCX_SIP_CALL_CHECK="0.3")
    redis = get_redis()
    [engine] = engines()
    dialogs = dialogs_key(settings.OCX_REDIS_PREFIX, engine.heartbeat.info.id)
    try:
        phone = sip_client(world.user_a1, target=edge)
        target = f"sip:102@{client.sip_domain}"
        held, _ = place_call(phone, engine, edge, target)
        redis.hset(dialogs, "some-call", json.dumps({"client": client.pk, "legs": [{"call_id": held.call_id}]}))
        deadline = time.monotonic() + 1.5  # five checks: the engine holds the call, it keeps its slot
        while time.monotonic() < deadline:
            phone.invite(target, SECRET)
            assert not [m for m in quiet(engine, 0.3) if m.method == "INVITE"], "a call over the limit went through"

        redis.hdel(dialogs, "some-call")  # the engine no longer has it
        deadline = time.monotonic() + 3
        while True:
            phone.invite(target, SECRET)
            if [m for m in quiet(engine, 0.3) if m.method == "INVITE"]:
                break
            assert time.monotonic() < deadline, "the slot of a call no engine holds was not freed"
    finally:
        edge.stop()
        redis.delete(dialogs)
        client.max_calls = limit
        client.save(update_fields=["max_calls"])
        sip_directory_sync()


def test_a_call_that_goes_on_after_a_refused_bye_is_counted_again(world, sip_lines, sip_client, engines):
    """A BYE frees the slot whatever its answer; a phone that sends one the engine refuses (481) while
    its call goes on gets the slot back at the next checks: the engine still lists the dialog."""
    sip_lines(world.user_a1, SECRET)
    client = world.client_a1
    limit = client.max_calls
    client.max_calls = 1
    client.save(update_fields=["max_calls"])
    sip_directory_sync()
    edge = start_edge(**FAST_TIMERS, OCX_SIP_CALL_CHECK="1")
    redis, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    [engine] = engines()
    dialogs = dialogs_key(prefix, engine.heartbeat.info.id)
    try:
        phone = sip_client(world.user_a1, target=edge)
        target = f"sip:102@{client.sip_domain}"
        call, invite = place_call(phone, engine, edge, target)
        leg = {"call_id": call.call_id, "route": [invite.get("Record-Route")], "confirmed": True}
        redis.hset(dialogs, "the-call", json.dumps({"client": client.pk, "legs": [leg]}))
        call.cseq += 1
        forged = Call(call.to_uri, call.call_id, call.from_tag, to_tag="not-the-engines", route=call.route)
        engine_uri = f"sip:engine@127.0.0.1:{engine.port}"
        phone.send_raw(phone.request_message("BYE", engine_uri, forged, cseq=call.cseq, branch="z9hG4bKfb1"))
        engine.send_to_edge(reply_to(engine.expect("BYE"), 481, "Call Does Not Exist"), edge)
        assert phone.expect(481).cseq_method == "BYE"
        slots = f"{prefix}:calls:{client.pk}"
        deadline = time.monotonic() + 0.8
        while redis.zscore(slots, call.call_id) is not None:
            assert time.monotonic() < deadline, "the BYE's answer did not free the slot"
            time.sleep(0.05)
        deadline = time.monotonic() + 4
        while redis.zscore(slots, call.call_id) is None:
            assert time.monotonic() < deadline, "the call that goes on was not counted again"
            time.sleep(0.1)
        phone.invite(target, SECRET)
        assert not [m for m in quiet(engine, 0.5) if m.method == "INVITE"], "a call over the limit went through"
    finally:
        edge.stop()
        redis.delete(dialogs)
        client.max_calls = limit
        client.save(update_fields=["max_calls"])
        sip_directory_sync()


def test_a_repeated_refusal_of_a_bye_is_not_acked(world, sip_lines, sip_client, proxy_edge, engines):
    """Only an INVITE's non-2xx answer gets an ACK (RFC 3261 17.1.1.3): a BYE's 481 that the far side
    repeats (it missed nothing: UDP duplicated it) is absorbed, no ACK goes back."""
    sip_lines(world.user_a1, SECRET)
    [engine] = engines()
    phone = sip_client(world.user_a1, target=proxy_edge)
    call, _ = place_call(phone, engine, proxy_edge, f"sip:102@{world.client_a1.sip_domain}")
    call.cseq += 1
    engine_uri = f"sip:engine@127.0.0.1:{engine.port}"
    phone.send_raw(phone.request_message("BYE", engine_uri, call, branch="z9hG4bKb" + uuid.uuid4().hex[:8]))
    bye = engine.expect("BYE")
    refusal = reply_to(bye, 481, "Call Does Not Exist")
    engine.send_to_edge(refusal, proxy_edge)
    assert phone.expect(481).cseq_method == "BYE"
    engine.send_to_edge(refusal, proxy_edge)
    assert not [m for m in quiet(engine) if m.method == "ACK"]
