"""The phone-network paths attacked from a carrier's network and by a careless carrier, through the
real edge and engine (a raw UDP SIP client stands in for the carrier's gateway). A docstring that
starts "Was:" says what a test found broken before it was fixed; the test keeps it fixed."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RouteCarrier
from records.models import Cdr
from tests.telephony.conftest import EDGE_ENV, SECRET, cdr_of, start_edge
from tests.telephony.sipclient import SipClient, reply_to
from tests.telephony.test_pstn_inbound import CALLER, SDP, final, invite, known_as_carrier
from tests.waiting import committed, wait_for

DID = "+4930901830"  # client A1's number at the attacked carrier
OTHER = "+4930901831"  # client B1's (another brand's) number


@pytest.fixture
def numbers(world, edge, engine, carrier_factory_pstn):
    """A carrier whose gateway is 127.0.0.1 with DID for client A1 and OTHER for client B1, both hanging up
    at once (480, a record each), so the test sees whose record a call leaves; removed afterwards."""

    return carrier_factory_pstn([(world.brand_a, DID, world.client_a1, "hangup", ""),
                                 (world.brand_b, OTHER, world.client_b1, "hangup", "")])  # fmt: skip


def final_of(agent: SipClient, call_id: str, timeout: float) -> int:
    """The status of the final answer to the INVITE of `call_id` (0: none within `timeout`); the edge
    repeats its earlier non-2xx answers (never ACKed here) meanwhile."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        answer = agent.receive(timeout=left)
        if answer is not None and answer.status >= 200 and answer.get("Call-ID") == call_id:
            return answer.status
    return 0


def records_since(started: float, **match) -> list[tuple]:
    since = Cdr.objects.filter(started_at__gte=dt.datetime.fromtimestamp(started, dt.UTC), **match)
    return list(since.values_list("client_id", "direction", "callee_number", "account_id"))


def test_a_carriers_from_user_cannot_rewrite_the_edges_identity_header(world, edge, numbers):
    """Was: the edge writes the carrier's From user, %-decoded, into X-Ocx-Auth as `from=...` and the
    engine reads that header into a dict where a later key wins: `;client=<B1>;did=<OTHER>` in the From
    user sends the call into another client's (another brand's) number, counted against A1's limit."""
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        started = time.time()
        agent.user = f"{CALLER}%3Bclient%3D{world.client_b1.pk}%3Bbrand%3D{world.brand_b.pk}%3Bdid%3D%2B{OTHER[1:]}"
        invite(agent, DID)
        assert final(agent, timeout=10) >= 400
        wait_for(lambda: records_since(started, ended_at__isnull=False), "the call's record", 10)
        assert not records_since(started, client_id=world.client_b1.pk), "the call reached client B1's number"
    finally:
        agent.close()


def test_a_carriers_from_user_cannot_make_its_call_a_users_outbound_call(world, edge, numbers):
    """Was: same injection, `;carrier=x;ext=101;client=<B1>`: with no carrier id left the engine takes
    the carrier's call for a call of extension 101 of client B1 (another brand) dialling the DID: a user's
    call, with that user's dial plan and outbound rights, on B1's bill (seen: an internal record of B1)."""
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        started = time.time()
        agent.user = f"{CALLER}%3Bcarrier%3Dx%3Bext%3D101%3Bclient%3D{world.client_b1.pk}"
        invite(agent, DID)
        assert final(agent, timeout=10) >= 400
        wait_for(lambda: records_since(started, ended_at__isnull=False), "the call's record", 10)
        assert not records_since(started, client_id=world.client_b1.pk), "the call was client B1's"
        assert not records_since(started, direction=Cdr.Direction.OUTBOUND), "a carrier's call went out as a user's"
    finally:
        agent.close()


FLOODED = "127.0.0.3"  # the carrier's gateway of the flood test (no other test sends from it)


def test_a_flood_with_a_carriers_source_address_does_not_cut_the_carrier_off(world, edge, engine):
    """Was: the edge's flood guard bans any source address past OCX_SIP_FLOOD_LIMIT packets a window, a
    carrier's gateway too (its networks are not trusted): anyone who sends UDP with the gateway's address
    as source (or a carrier busier than ~25 calls/s) bans it for OCX_SIP_FLOOD_BAN seconds, on every edge,
    and every call from it (and every answer it gives to outbound calls) is dropped meanwhile."""

    def create():
        made = Carrier.objects.create(name=f"flooded-{uuid.uuid4().hex[:6]}", country="DE")
        Gateway.objects.create(carrier=made, name="gw", host=FLOODED, inbound_networks=f"{FLOODED}/32")
        Number.objects.create(brand=world.brand_a, e164=DID, carrier=made, client=world.client_a1,
                              destination_kind="hangup", destination_target="")  # fmt: skip
        return made

    made = committed(create)
    agent = SipClient(edge.address, CALLER, "carrier.example", bind_ip=FLOODED)
    try:
        wait_for(lambda: invite(agent, "+4930000000") and final(agent) == 404, "the edge knows the carrier", 10)
        for _ in range(int(EDGE_ENV["OCX_SIP_FLOOD_LIMIT"]) + 1):  # a burst of junk with the gateway's address
            agent.send_raw(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        while agent.receive(timeout=0.3) is not None:  # (the edge's answers to the burst, if any)
            pass
        call = invite(agent, DID)  # the carrier's next real call
        assert final_of(agent, call.call_id, timeout=5) == 480, (
            "the carrier's call got no answer: its gateway is banned"
        )
    finally:
        agent.close()
        redis = get_redis()
        redis.delete(rkey("ban:ip", FLOODED))
        redis.publish(rkey("sip:bans"), f"release ip {FLOODED}")

        def remove():
            Number.objects.filter(carrier=made).delete()
            made.delete()

        committed(remove)


# A careless carrier on the way out ----------------------------------------------------------------------

NUMBER, E164 = "6502530000", "+16502530000"  # as a user in the US dials it, and in E.164


@pytest.fixture
def gateway(world):
    """Brand A's only route to one carrier whose gateway (with credentials, for a 401) is a raw UDP
    client of the test: it answers what each test scripts."""
    agent = SipClient(("127.0.0.1", 9), "gateway", "carrier.example")

    def create():
        carrier = Carrier.objects.create(name=f"careless-{uuid.uuid4().hex[:6]}", brand=world.brand_a, country="US")
        Gateway.objects.create(carrier=carrier, name="gw", host="127.0.0.1", port=agent.port, username="trunk",
                               password="secret", realm="carrier.example", inbound_networks="192.0.2.2/32")  # fmt: skip
        route = OutboundRoute.objects.create(brand=world.brand_a, name="careless", pattern="", position=1)
        RouteCarrier.objects.create(route=route, carrier=carrier, priority=1)
        OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_national": True})
        return carrier, route

    carrier, route = committed(create)
    yield agent
    agent.close()

    def remove():
        route.delete()
        OutboundPolicy.objects.filter(client=world.client_a1).delete()
        carrier.delete()

    committed(remove)


def answer(agent: SipClient, request, edge, status: int, reason: str, **more) -> None:
    agent.send_to(reply_to(request, status, reason, to_tag="gw1", **more), edge.address)


def closed_record(world):
    return cdr_of(world, timeout=15, callee_number=E164)


def test_a_carrier_answering_200_without_sdp_leaves_no_silent_call(world, lines, edge, gateway):
    """The carrier answers the engine's offer with a 200 that has no answer in it (RFC 3264 says it must):
    the caller must not be left connected to nothing; the call ends with a final answer and a closed record."""
    caller, _, domain = lines
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    invite_in = gateway.expect("INVITE", timeout=10)
    answer(gateway, invite_in, edge, 200, "OK", headers=(("Contact", f"<sip:gw@127.0.0.1:{gateway.port}>"),))
    ack = gateway.expect("ACK", timeout=5)
    assert ack is not None
    bye = gateway.expect("BYE", timeout=5)  # an answer without SDP is no answer: the engine hangs up
    gateway.send_to(reply_to(bye, 200, "OK"), edge.address)
    ended = caller.wait_call_state("c1", "disconnected", timeout=10)
    assert ended["code"] >= 400, ended
    assert closed_record(world).disposition != "answered"


def test_a_carrier_with_a_bad_challenge_still_gives_the_caller_a_final_answer(world, lines, edge, gateway):
    """A 401 whose challenge the engine cannot answer (no nonce, unknown algorithm): the caller gets a final
    answer at once and the record is closed."""
    caller, _, domain = lines
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    invite_in = gateway.expect("INVITE", timeout=10)
    answer(gateway, invite_in, edge, 401, "Unauthorized", headers=(("WWW-Authenticate", "Digest algorithm=ROT13"),))
    ended = caller.wait_call_state("c1", "disconnected", timeout=10)
    assert ended["code"] >= 400, ended
    assert closed_record(world).disposition != "answered"


def test_a_carrier_challenging_again_and_again_gets_one_answer(world, lines, edge, gateway):
    """A 407 to the answered challenge too (a 407 loop): the engine answers once, then gives up; the caller
    gets a final answer and the record is closed."""
    caller, _, domain = lines
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    challenge = (("Proxy-Authenticate", 'Digest realm="carrier.example", nonce="n1", algorithm=MD5'),)
    invites = 0
    while True:
        invite_in = gateway.receive(timeout=5)
        if invite_in is None:
            break
        if invite_in.method == "INVITE":
            invites += 1
            answer(gateway, invite_in, edge, 407, "Proxy Authentication Required", headers=challenge)
    assert invites == 2, f"{invites} INVITEs"
    ended = caller.wait_call_state("c1", "disconnected", timeout=10)
    assert ended["code"] >= 400, ended
    assert closed_record(world).disposition != "answered"


def test_a_carrier_ringing_then_failing_gives_the_caller_its_failure(world, lines, edge, gateway):
    """183 with early media, then 503: no carrier is left, so the caller gets a failure and a closed record."""
    caller, _, domain = lines
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    invite_in = gateway.expect("INVITE", timeout=10)
    answer(gateway, invite_in, edge, 183, "Session Progress")
    answer(gateway, invite_in, edge, 503, "Service Unavailable")
    ended = caller.wait_call_state("c1", "disconnected", timeout=10)
    assert ended["code"] >= 500, ended
    assert closed_record(world).disposition != "answered"


FORWARDED = "+4930901832"  # client A1's number pointed at an international number
ABROAD = "+442071234567"  # international for client A1 (US), which its policy does not allow


def test_a_number_pointed_abroad_does_not_get_round_the_brands_policy(world, edge, numbers, gateway):
    """Was: the brand's outbound policy for a client (no international, no premium, blocked prefixes,
    international calls and minutes per hour) binds its users' calls only: the client's own operator may
    point a number at any valid external number (telephony/destinations.py checks validity) and the
    engine sends calls to it with `forwarded=True`, which skips the policy and the spending guard. Anyone
    calling the number from the phone network then makes international (or premium) calls on the
    client's bill, as often as they like."""
    assert not OutboundPolicy.objects.get(client=world.client_a1).allow_international

    def create():
        Number.objects.create(brand=world.brand_a, e164=FORWARDED, carrier=numbers, client=world.client_a1,
                              destination_kind="external", destination_target=ABROAD)  # fmt: skip

    committed(create)
    agent = SipClient(edge.address, CALLER, "carrier.example")
    placed = None
    try:
        known_as_carrier(agent)
        call = invite(agent, FORWARDED)
        status = final_of(agent, call.call_id, timeout=4)
        while (message := gateway.receive(timeout=0.5)) is not None:
            if message.method == "INVITE":
                placed = message
                answer(gateway, message, edge, 486, "Busy Here")  # (so that the call ends)
        assert placed is None, f"the call went out to {placed.uri}"
        assert status == 403, status
    finally:
        agent.close()


def test_a_gateway_whose_name_does_not_resolve_is_passed_over_for_the_next(world, lines, edge, gateway):
    """Was: the carrier's first gateway (by name) is a DNS name that does not resolve; the call should go
    to its next gateway, which answers. Seen: network.py's next_carrier() calls itself again without
    `offer, first=first`, so the caller's media is never opened and place_callee() raises AttributeError
    ('NoneType' object has no attribute 'port'); no gateway gets the INVITE. (Only while the gateways are
    not kept, OCX_SIP_GATEWAY_PING=0, or before the keeper's first round; the keeper marks it silent.)"""
    caller, _, domain = lines

    def add():
        carrier = Gateway.objects.get(port=gateway.port).carrier
        Gateway.objects.create(carrier=carrier, name="a-unresolvable", host="no-such-gateway.invalid", port=5060)

    committed(add)
    caller.call("c1", f"sip:{NUMBER}@{domain}")
    invite_in = gateway.expect("INVITE", timeout=10)
    contact = ("Contact", f"<sip:gw@127.0.0.1:{gateway.port}>")
    answer(gateway, invite_in, edge, 200, "OK", body=SDP, headers=(contact, ("Content-Type", "application/sdp")))
    gateway.expect("ACK", timeout=5)
    caller.wait_call_state("c1", "confirmed", timeout=10)
    caller.hangup("c1")
    bye = gateway.expect("BYE", timeout=5)
    gateway.send_to(reply_to(bye, 200, "OK"), edge.address)
    caller.wait_call_state("c1", "disconnected", timeout=10)
    assert closed_record(world).disposition == "answered"


def test_a_brands_carrier_cannot_claim_every_address_on_the_internet(world, edge, engine):
    """Was: a brand's operator gives its own carrier's gateway the inbound network 0.0.0.0/0 (any CIDR
    is accepted, pstn/services/gateways.py): the edge then takes every INVITE from anywhere, every brand's
    phones' included, for that carrier's, asks no digest and answers 404 (no such number at that carrier).
    One brand cuts every phone of the platform off; the network should be refused, or a phone's INVITE
    still challenged."""
    from pstn.services.gateways import gateway_create

    own = committed(lambda: Carrier.objects.create(name=f"own-{uuid.uuid4().hex[:6]}", brand=world.brand_a))
    stranger = SipClient(edge.address, "101", world.client_b1.sip_domain, bind_ip="127.0.0.2")
    try:
        try:
            committed(gateway_create, actor=world.brand_a_op, carrier=own, name="gw", host="192.0.2.10",
                      inbound_networks="0.0.0.0/0")  # fmt: skip
        except ValidationError:
            return  # refused: fine
        deadline = time.monotonic() + 3  # the edge reads the carriers' table at once after the change
        while time.monotonic() < deadline:
            call = invite(stranger, "102")
            status = final_of(stranger, call.call_id, timeout=2)
            assert status == 407, f"a phone's INVITE from anywhere answered {status}, not challenged"
    finally:
        stranger.close()
        committed(own.delete)


def test_a_carriers_from_user_with_an_escaped_line_break_gets_a_clear_answer_and_holds_no_call(world, edge, numbers):
    """Was: a carrier's From user with %0D%0A: from_carrier() takes a call slot of the client, then its
    X-Ocx-Auth (with the decoded user) raises ValueError (CR or LF in a header value): the carrier gets
    500 and the slot stays counted against the client's concurrent-call limit after the answer (until the
    edge's call check drops it, OCX_SIP_CALL_CHECK); a flood of these fills the client's limit.
    Expected: a 4xx, no slot."""
    from telephony.edge.slots import calls_key

    agent = SipClient(edge.address, CALLER, "carrier.example")
    slots = calls_key(settings.OCX_REDIS_PREFIX, world.client_a1.pk)
    call = None
    try:
        known_as_carrier(agent)
        agent.user = f"{CALLER}%0D%0AX-Injected:%20yes"
        call = invite(agent, DID)
        status = final_of(agent, call.call_id, timeout=5)
        assert 400 <= status < 500, status
        # The slot goes with the call's answer (its release is written a moment later, not at the next check).
        wait_for(lambda: get_redis().zscore(slots, call.call_id) is None, "the call slot given back", 2)
    finally:
        agent.close()
        if call is not None:
            get_redis().zrem(slots, call.call_id)  # (not to count against the client in later tests)


def test_a_carrier_reaches_nothing_but_the_platforms_numbers_at_it(world, edge, numbers):
    """From a carrier's network, no digest: a feature code, a user's extension, an external number, another
    number form of the DID, a garbage or huge user and an over-long From each get a 4xx, never a ring or
    a 500 (pass today)."""
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        for dialled in ("*71", "*8", "101", "102", "+16502530000", "4930901830", "004930901830", "%2B4930901830x",
                        "a" * 2000, "%00"):  # fmt: skip
            call = invite(agent, dialled)
            status = final_of(agent, call.call_id, timeout=3)
            assert 400 <= status < 500, (dialled[:20], status)
        agent.user = "9" * 20000
        call = invite(agent, "+4930000000")
        assert 400 <= final_of(agent, call.call_id, timeout=3) < 500
    finally:
        agent.close()


# client (telephony/edge/fastredis.py) as a str with surrogates: encode() raises UnicodeEncodeError after
# _send() queued the reply's future, so no command went out but a waiter did: every later reply on that
# connection goes to the request before it (the carrier table, the engine registry, the SIP directory's
# domains and credentials all read someone else's answer) until the connection is lost. One datagram from
# a carrier's network breaks the edge. Its own edge process, so the suite's edge is not poisoned.
def test_a_carriers_request_uri_user_that_is_not_utf8_leaves_the_edge_sane(world, numbers):
    own = start_edge()
    agent = SipClient(own.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        call = invite(agent, "%FF%FE")
        first = final_of(agent, call.call_id, timeout=3)
        after = []
        for _ in range(3):  # the edge still reads the carriers' numbers right: no such number is 404
            call = invite(agent, "+4930000000")
            after.append(final_of(agent, call.call_id, timeout=3))
        assert (first, after) == (404, [404, 404, 404]), (first, after)
    finally:
        agent.close()
        own.stop()


TO_USER = "+4930901833"  # client A1's number pointed at user 102


def test_a_carriers_refer_does_not_transfer_its_call_out_to_the_phone_network(world, lines, edge, numbers, gateway):
    """A carrier's caller answered by user 102 sends an in-dialog REFER: to an external number (the call must
    not go out again on the client's bill) or to another extension: both refused (403)."""
    _, callee, _ = lines
    committed(lambda: Number.objects.create(brand=world.brand_a, e164=TO_USER, carrier=numbers,
                                            client=world.client_a1, destination_kind="user",
                                            destination_target="102"))  # fmt: skip
    agent = SipClient(edge.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        call = invite(agent, TO_USER)
        label = callee.wait_incoming(timeout=10)["call"]
        ok = agent.expect(200, timeout=10)
        call.established(ok)
        target = ok.get("Contact").strip().lstrip("<").split(">")[0]
        agent.send_raw(agent.request_message("ACK", target, call, branch="z9hG4bK" + uuid.uuid4().hex[:12]))
        callee.wait_call_state(label, "confirmed")
        call.cseq += 1
        for refer_to in (f"<sip:{NUMBER}@{world.client_a1.sip_domain}>", f"<sip:103@{world.client_a1.sip_domain}>"):
            agent.send_raw(agent.request_message("REFER", target, call, branch="z9hG4bK" + uuid.uuid4().hex[:12],
                                                 headers=(("Refer-To", refer_to),)))  # fmt: skip
            assert agent.expect(403, timeout=3).cseq_method == "REFER"  # not out, not to another extension
            call.cseq += 1
        message = gateway.receive(timeout=1)
        assert message is None or message.method != "INVITE", f"the carrier's REFER placed a call out: {message}"
        call.cseq += 1
        agent.send_raw(agent.request_message("BYE", target, call, branch="z9hG4bK" + uuid.uuid4().hex[:12]))
        callee.wait_call_state(label, "disconnected")
    finally:
        agent.close()


# reaches engines_for()'s HMGET with the surrogates (after digest, before the engine), and the edge is
# broken for everyone. Its own edge process, so the suite's edge is not poisoned.
def test_a_phone_dialling_a_user_that_is_not_utf8_leaves_the_edge_sane(world, lines, numbers):
    own = start_edge()
    phone = SipClient(own.address, "101", world.client_a1.sip_domain, bind_ip="127.0.0.4")  # (no carrier's)
    agent = SipClient(own.address, CALLER, "carrier.example")
    try:
        known_as_carrier(agent)
        phone.invite(f"sip:%FF%FE@{world.client_a1.sip_domain}", SECRET)
        phone.receive(timeout=3)
        after = []
        for _ in range(5):  # the edge still reads the carriers' numbers right: no such number is 404
            call = invite(agent, "+4930000000")
            after.append(final_of(agent, call.call_id, timeout=3))
        assert after == [404] * 5, after  # (seen: [404, 404, 500, 500, 500])
    finally:
        agent.close()
        phone.close()
        own.stop()
