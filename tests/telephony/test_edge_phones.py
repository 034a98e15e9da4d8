"""Real SIP phones (pjsua2, PJSIP 2.15, in subprocesses) registering with our edge."""

from __future__ import annotations

import pytest

from telephony.directory import sip_directory_sync
from telephony.selectors import registrations_of
from telephony.services import extension_reset_secret
from tests.sip import phone as phone_helpers
from tests.telephony.sipclient import reply_to

phones = phone_helpers.phones  # the phone fixture factory, for this module

SECRET = "phone-secret-123"


@pytest.fixture
def proxy(edge) -> str:
    return f"127.0.0.1:{edge.port}"


def test_a_phone_registers_reregisters_and_unregisters(world, sip_lines, phones, proxy):
    extension = sip_lines(world.user_a1, SECRET)
    phone = phones()
    event = phone.register(username="101", domain=world.client_a1.sip_domain, secret=SECRET, proxy=proxy)
    assert (event["code"], event["active"], event["expires"]) == (200, True, 300)
    (binding,) = registrations_of(client=world.client_a1, extension=extension)
    assert binding["contact"].startswith("sip:101@127.0.0.1:")
    assert "PJSUA" in binding["user_agent"] or binding["user_agent"]

    assert phone.reregister("101")["code"] == 200
    assert len(registrations_of(client=world.client_a1, extension=extension)) == 1
    gone = phone.unregister("101")
    assert gone["active"] is False
    assert registrations_of(client=world.client_a1, extension=extension) == []


def test_a_wrong_secret_is_refused_and_a_reset_secret_takes_effect(world, sip_lines, phones, proxy):
    sip_lines(world.user_a1, SECRET)
    phone = phones()
    domain = world.client_a1.sip_domain
    wrong = phone.register(username="101", domain=domain, secret="not-it", proxy=proxy)
    assert wrong["code"] == 403 and wrong["active"] is False

    new_secret = extension_reset_secret(
        actor=world.client_a1_op, client=world.client_a1, extension=world.extension_of(world.user_a1)
    )
    sip_directory_sync()  # in the test's transaction the on-commit publication does not run
    old = phones().register(username="101", domain=domain, secret=SECRET, proxy=proxy)
    assert old["code"] == 403
    fresh = phones().register(username="101", domain=domain, secret=new_secret, proxy=proxy)
    assert fresh["code"] == 200


def test_two_devices_over_udp_and_tcp_are_both_bound(world, sip_lines, phones, proxy):
    extension = sip_lines(world.user_a1, SECRET)
    domain = world.client_a1.sip_domain
    desk, softphone = phones(), phones(transport="tcp")
    assert desk.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    assert softphone.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    sources = sorted(b["source"].split(":")[0] for b in registrations_of(client=world.client_a1, extension=extension))
    assert sources == ["tcp", "udp"]


def test_users_of_different_clients_with_the_same_number_stay_apart(world, sip_lines, phones, proxy):
    sip_lines(world.user_a1, SECRET)
    sip_lines(world.user_b1, "other-secret-456")
    phone = phones()
    # Client b1's 101 with a1's secret, and the other way round: the realm decides whose line it is.
    assert phone.register(username="101", domain=world.client_b1.sip_domain, secret=SECRET, proxy=proxy)["code"] == 403
    assert phones().register(username="101", domain=world.client_b1.sip_domain, secret="other-secret-456",
                             proxy=proxy)["code"] == 200  # fmt: skip


def test_registration_changes_reach_the_portals_live(world, sip_lines, sip_client):
    """A new device announces itself to the client's, the brand's and the owner's sockets."""
    import asyncio

    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from tenants.events import group_for_brand, group_for_client, group_for_user

    sip_lines(world.user_a1, SECRET)
    layer = get_channel_layer()
    phone = sip_client(world.user_a1)

    async def scenario():
        channel = await layer.new_channel()
        for group in (group_for_client(world.client_a1.pk), group_for_brand(world.brand_a.pk),
                      group_for_user(world.user_a1.pk)):  # fmt: skip
            await layer.group_add(group, channel)
        answer = await asyncio.get_running_loop().run_in_executor(None, phone.register, SECRET)
        assert answer.status == 200
        events = [await asyncio.wait_for(layer.receive(channel), timeout=5) for _ in range(3)]
        assert {e["event"]["type"] for e in events} == {"registration.changed"}
        assert [e["event"]["lines"] for e in events if "lines" in e["event"]] == [{"101": 1}] * 2  # client, user
        assert [e["event"]["clients"] for e in events if "clients" in e["event"]] == [[world.client_a1.pk]]  # brand
        refresh = await asyncio.get_running_loop().run_in_executor(None, phone.register, SECRET)
        assert refresh.status == 200
        try:  # a refresh of the same device is not a change: nothing more arrives
            extra = await asyncio.wait_for(layer.receive(channel), timeout=1)
        except TimeoutError:
            extra = None
        assert extra is None

    async_to_sync(scenario)()


def engine_sdp(port: int) -> str:
    return (f"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")  # fmt: skip


def test_a_real_phone_calls_an_engine_through_the_edge_and_takes_its_call(world, sip_lines, phones, proxy, edge,
                                                                         engines):  # fmt: skip
    """pjsua2 answers the edge's 407 itself, keeps the edge in its route set, and is reached back
    through the edge: the proxy speaks SIP the way a real phone expects."""
    sip_lines(world.user_a1, SECRET)
    domain = world.client_a1.sip_domain
    [engine] = engines()
    phone = phones()
    phone.register(username="101", domain=domain, secret=SECRET, proxy=proxy, incoming={"answer": 200})
    sdp = (("Content-Type", "application/sdp"), ("Contact", f"<sip:engine@127.0.0.1:{engine.port}>"))

    phone.call("out", f"sip:102@{domain}")
    invite = engine.expect("INVITE", timeout=5)
    assert invite.get("X-Ocx-Auth").endswith(";user=101") and "m=audio" in invite.body
    engine.send_to_edge(reply_to(invite, 200, "OK", to_tag="e1", headers=sdp, body=engine_sdp(40000)), edge)
    phone.wait_call_state("out", "confirmed")
    assert engine.expect("ACK").uri == f"sip:engine@127.0.0.1:{engine.port}"
    phone.hangup("out")
    bye = engine.expect("BYE")
    engine.send_to_edge(reply_to(bye, 200, "OK"), edge)
    phone.wait_call_state("out", "disconnected")

    call = engine.invite(f"sip:101@{domain}")
    engine.send_to_edge(engine.request_message("INVITE", call.to_uri, call, headers=sdp[:1], body=engine_sdp(40002)),
                        edge)  # fmt: skip
    incoming = phone.wait_incoming()
    answered = engine.expect(200, timeout=5)
    assert "m=audio" in answered.body
    call.established(answered)
    contact = answered.get("Contact").strip("<>").split(">")[0]
    call.branch = "z9hG4bKack" + call.call_id[:8]
    engine.send_to_edge(engine.request_message("ACK", contact, call), edge)
    phone.wait_call_state(incoming["call"], "confirmed")
    call.cseq, call.branch = 2, "z9hG4bKbye" + call.call_id[:8]
    engine.send_to_edge(engine.request_message("BYE", contact, call), edge)
    assert engine.expect(200).cseq_method == "BYE"
    phone.wait_call_state(incoming["call"], "disconnected")


def test_a_call_forks_to_udp_and_tcp_devices_over_the_phones_own_connection(world, sip_lines, phones, proxy, edge,
                                                                             engines):  # fmt: skip
    sip_lines(world.user_a1, SECRET)
    domain = world.client_a1.sip_domain
    [engine] = engines()
    desk, softphone = phones(), phones(transport="tcp")
    assert desk.register(username="101", domain=domain, secret=SECRET, proxy=proxy)["code"] == 200
    assert softphone.register(username="101", domain=domain, secret=SECRET, proxy=proxy,
                              incoming={"answer": 200, "ring_ms": 200})["code"] == 200  # fmt: skip
    sdp = (("Content-Type", "application/sdp"),)
    call = engine.invite(f"sip:101@{domain}")
    engine.send_to_edge(engine.request_message("INVITE", call.to_uri, call, headers=sdp, body=engine_sdp(40004)),
                        edge)  # fmt: skip
    desk.wait_incoming()
    softphone.wait_incoming()
    answered = engine.expect(200, timeout=5)
    assert "transport=tcp" in answered.get("Record-Route") and "ocxf=tcp-127.0.0.1-" in answered.get("Record-Route")
    desk_label = desk.wait_for("call", lambda e: e.get("state") == "disconnected", timeout=5)["call"]
    assert desk_label, "the desk phone's ringing stops: the edge cancelled it"


def test_the_users_list_and_page_show_whether_the_phone_is_registered(world, sip_lines, phones, proxy, portal):
    import html
    import re

    extension = sip_lines(world.user_a1, SECRET)
    http = portal(world.client_a1_op)

    def row_of(number: str) -> str:
        page = html.unescape(http.get("/users/").content.decode())
        (row,) = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.S) if f">{number}</a>" in r]
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))

    assert "not registered" in row_of("101")
    phone = phones()
    assert phone.register(username="101", domain=world.client_a1.sip_domain, secret=SECRET, proxy=proxy)["code"] == 200
    assert "not registered" not in row_of("101") and "registered" in row_of("101")
    assert "not registered" in row_of("102"), "only the line whose phone registered"
    detail = http.get(f"/users/{extension.pk}/").content.decode()
    assert "registered (1 device)" in detail
    phone.unregister("101")
    assert "not registered" in row_of("101")
