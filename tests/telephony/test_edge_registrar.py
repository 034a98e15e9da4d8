"""The SIP edge's registrar, spoken to on the wire by a hand-written UDP client."""

from __future__ import annotations

import socket
import time
import uuid

from config.redis_store import get_redis, rkey
from tests.telephony.conftest import start_edge
from tests.telephony.sipclient import Call
from tests.waiting import wait_for

SECRET = "right-secret-123"


def offered(answer, header: str = "WWW-Authenticate") -> list[str]:
    """The digest algorithms of a challenge, in the order offered."""
    return [v.split("algorithm=")[1].split(",")[0] for v in answer.get_all(header)]


def test_register_challenges_with_md5_only_by_default_then_accepts_the_right_secret(world, sip_lines, sip_client):
    """MD5 alone by default: SIPp and Debian's baresip give up on any challenge naming SHA-256."""
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    phone.send_raw(phone.register_message())
    challenge = phone.receive()
    assert challenge.status == 401
    assert offered(challenge) == ["MD5"]
    assert challenge.challenge("MD5")["realm"] == world.client_a1.sip_domain

    ok = phone.register(SECRET)
    assert ok.status == 200
    assert ok.get("Contact") == f"<sip:101@127.0.0.1:{phone.port}>;expires=300"


def first_challenge(phone, algorithms: list[str], timeout: float = 5.0):
    """REGISTER without credentials until the challenge offers `algorithms` (a directory change reaches
    the edge by pub/sub, a moment after it is written)."""
    deadline = time.monotonic() + timeout
    while True:
        phone.send_raw(phone.register_message())
        challenge = phone.receive()
        if offered(challenge) == algorithms or time.monotonic() > deadline:
            assert offered(challenge) == algorithms
            return challenge
        time.sleep(0.05)


def test_a_client_chooses_sha256_and_its_phones_are_offered_it_from_the_first_challenge(world, sip_lines, sip_client):
    from telephony.directory import sip_directory_sync
    from tenants.services import client_update

    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    assert phone.register(SECRET).status == 200  # the session edge now holds the client's entry
    try:
        client_update(actor=world.brand_a_op, client=world.client_a1, sip_digest="sha256+md5")
        sip_directory_sync()
        first_challenge(phone, ["SHA-256", "MD5"])
        assert phone.register(SECRET, algorithm="SHA-256").status == 200
        assert phone.register(SECRET).status == 200  # MD5 still answers

        client_update(actor=world.brand_a_op, client=world.client_a1, sip_digest="sha256")
        sip_directory_sync()
        challenge = first_challenge(phone, ["SHA-256"]).challenge("SHA-256")
        assert phone.register(SECRET, algorithm="SHA-256").status == 200
        # An MD5 answer (to an offer made before the change) is challenged again, not counted as a failure.
        phone.send_raw(phone.register_message(authorization=phone.authorization(challenge, SECRET)))
        again = phone.receive()
        assert again.status == 401 and offered(again) == ["SHA-256"]

        fresh = start_edge()  # nothing cached: the first challenge waits for the directory
        try:
            cold = sip_client(world.user_a1, target=fresh)
            cold.send_raw(cold.register_message())
            assert offered(cold.receive()) == ["SHA-256"]
            stranger = sip_client(user="101", domain="nowhere.example", target=fresh)
            stranger.send_raw(stranger.register_message())
            assert offered(stranger.receive()) == ["MD5"]  # an unknown domain: the platform's default
            caller = sip_client(world.user_a1, target=fresh)
            call = Call(f"sip:102@{world.client_a1.sip_domain}", uuid.uuid4().hex, "ft", branch="z9hG4bKcold1")
            caller.send_raw(caller.request_message("INVITE", call.to_uri, call))
            assert offered(caller.expect(407), "Proxy-Authenticate") == ["SHA-256"]
        finally:
            fresh.stop()
    finally:
        client_update(actor=world.brand_a_op, client=world.client_a1, sip_digest="")
        sip_directory_sync()


def test_credentials_for_another_uri_than_the_request_uri_are_refused(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    domain = world.client_a1.sip_domain
    phone.send_raw(phone.register_message())
    challenge = phone.receive().challenge("MD5")
    elsewhere = phone.authorization(challenge, SECRET, uri="sip:elsewhere.example")
    phone.send_raw(phone.register_message(authorization=elsewhere))
    refused = phone.receive()
    assert (refused.status, refused.reason) == (400, "Digest uri differs from the Request-URI")
    same = phone.authorization(challenge, SECRET, nc=2, uri=f"SIP:{domain.upper()}")  # the same URI, spelt otherwise
    phone.send_raw(phone.register_message(authorization=same))
    assert phone.receive().status == 200

    call = Call(f"sip:102@{domain}", uuid.uuid4().hex, "tag1", branch="z9hG4bKuri1")
    phone.send_raw(phone.request_message("INVITE", call.to_uri, call))
    proxy_challenge = phone.expect(407).challenge("MD5", "Proxy-Authenticate")
    credentials = phone.authorization(proxy_challenge, SECRET, method="INVITE", uri=f"sip:103@{domain}")
    call.cseq, call.branch = 2, "z9hG4bKuri2"
    phone.send_raw(phone.request_message("INVITE", call.to_uri, call, headers=(("Proxy-Authorization", credentials),)))
    assert phone.expect(400).reason == "Digest uri differs from the Request-URI"


def test_wrong_secret_unknown_user_and_unknown_domain_all_answer_alike(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    answers = [
        sip_client(world.user_a1).register("wrong-secret"),
        sip_client(user="999", domain=world.client_a1.sip_domain).register(SECRET),
        sip_client(user="101", domain="nowhere.example").register(SECRET),
    ]
    assert [a.status for a in answers] == [403, 403, 403]
    assert len({a.reason for a in answers}) == 1


def test_bindings_are_kept_queried_and_removed(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    desk, mobile = sip_client(world.user_a1), sip_client(world.user_a1)
    assert desk.register(SECRET, expires=600).status == 200
    both = mobile.register(SECRET, expires=120)
    assert sorted(both.get_all("Contact")) == sorted(
        [f"<sip:101@127.0.0.1:{desk.port}>;expires=600", f"<sip:101@127.0.0.1:{mobile.port}>;expires=120"]
    )
    query = desk.register(SECRET, contact=None, expires=None)
    assert query.status == 200 and len(query.get_all("Contact")) == 2

    gone = mobile.register(SECRET, expires=0)
    assert gone.get_all("Contact") == [f"<sip:101@127.0.0.1:{desk.port}>;expires=600"]
    cleared = desk.register(SECRET, contact="*", expires=0)
    assert cleared.status == 200 and cleared.get_all("Contact") == []


def test_too_brief_expiry_gets_423_with_min_expires(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    answer = sip_client(world.user_a1).register(SECRET, expires=10)
    assert answer.status == 423 and answer.get("Min-Expires") == "60"


def test_a_replayed_authorization_is_refused(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    phone.send_raw(phone.register_message())
    challenge = phone.receive().challenge("MD5")
    authorization = phone.authorization(challenge, SECRET, nc=1)
    phone.send_raw(phone.register_message(authorization=authorization))
    assert phone.receive().status == 200
    phone.send_raw(phone.register_message(authorization=authorization))  # same nonce, same nc, new CSeq
    assert phone.receive().status == 401
    phone.send_raw(phone.register_message(authorization=phone.authorization(challenge, SECRET, nc=2)))
    assert phone.receive().status == 200


def test_retransmissions_get_the_same_answer_without_reprocessing(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    phone.send_raw(phone.register_message())
    challenge = phone.receive().challenge("MD5")
    message = phone.register_message(authorization=phone.authorization(challenge, SECRET), branch="z9hG4bKretrans1")
    phone.send_raw(message)
    first = phone.receive()
    phone.send_raw(message)  # a retransmission: same branch; reprocessing would be a replay (401)
    again = phone.receive()
    assert first.status == again.status == 200
    assert first.raw == again.raw


def test_nat_contact_keeps_the_received_address_and_via_gets_rport(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    answer = phone.register(SECRET, contact="<sip:101@192.0.2.10:5060>")
    assert answer.status == 200
    assert f"rport={phone.port}" in answer.get("Via") and "received=127.0.0.1" in answer.get("Via")
    stored = get_redis().hgetall(rkey("loc", world.client_a1.pk, "101"))
    (binding,) = stored.values()
    assert f'"received": "udp:127.0.0.1:{phone.port}"' in binding.decode()


def test_suspended_client_and_deactivated_user_cannot_register(world, sip_lines, sip_client):
    from telephony.directory import sip_directory_sync
    from tenants.services import account_update, client_suspend

    sip_lines(world.user_a1, SECRET)
    account_update(actor=world.client_a1_op, account=world.user_a1, is_active=False)
    sip_directory_sync()
    assert sip_client(world.user_a1).register(SECRET).status == 403
    account_update(actor=world.client_a1_op, account=world.user_a1, is_active=True)
    client_suspend(actor=world.brand_a_op, client=world.client_a1)
    sip_directory_sync()
    assert sip_client(world.user_a1).register(SECRET).status == 403


def test_repeated_failures_ban_the_user_from_that_address_only(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    attacker = sip_client(world.user_a1, bind_ip="127.0.0.7")
    for _ in range(5):
        assert attacker.register("guess").status == 403
    assert attacker.register(SECRET).status == 403  # banned: even the right secret is refused
    key = rkey(f"ban:auth:{world.client_a1.sip_domain}:101:127.0.0.7")
    assert get_redis().exists(key)
    assert sip_client(world.user_a1).register(SECRET).status == 200  # the real phone keeps working

    from telephony.services import sip_ban_release

    sip_ban_release(actor=world.brand_a_op, key=key)  # the brand lifts it from its portal
    # The release travels to the edge by pub/sub: the attacker's address gets in once it arrives.
    wait_for(lambda: attacker.register(SECRET).status == 200, "the edge lifts the ban it was told of")


def test_a_flooding_address_is_ignored_while_others_register(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    flooder = sip_client(world.user_a1, bind_ip="127.0.0.9")
    for _ in range(400):
        flooder.send_raw(flooder.register_message())
    wait_for(lambda: get_redis().exists(rkey("ban:ip:127.0.0.9")), "the edge bans the flooding address")
    while flooder.receive(timeout=0.2) is not None:  # drain what was answered before the ban
        pass
    flooder.send_raw(flooder.register_message())
    assert flooder.receive(timeout=1.0) is None
    assert get_redis().exists(rkey("ban:ip:127.0.0.9"))
    assert sip_client(world.user_a1).register(SECRET).status == 200


def test_malformed_requests_get_400_or_are_dropped_and_the_edge_survives(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    bad_cseq = phone.register_message().replace(b"REGISTER\r\nUser-Agent", b"INVITE\r\nUser-Agent")
    phone.send_raw(bad_cseq)
    assert phone.receive().status == 400
    phone.send_raw(b"\x00\xff garbage that is not SIP at all \r\n\r\n")
    phone.send_raw(b"REGISTER sip:x SIP/2.0\r\n" + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n")
    assert phone.receive(timeout=0.5) is None
    assert phone.register(SECRET).status == 200


def test_two_edge_processes_share_bindings(world, sip_lines, sip_client, edge):
    sip_lines(world.user_a1, SECRET)
    second = start_edge()
    try:
        assert sip_client(world.user_a1).register(SECRET, expires=900).status == 200
        query = sip_client(world.user_a1, target=second).register(SECRET, contact=None, expires=None)
        assert query.status == 200
        assert [c.split(";")[1] for c in query.get_all("Contact")] == ["expires=900"]
    finally:
        second.stop()


def test_bad_addresses_and_values_are_refused_with_the_right_status(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1)
    tel_to = phone.register_message().replace(
        f"To: <sip:101@{world.client_a1.sip_domain}>".encode(), b"To: <tel:+15551234567>"
    )
    phone.send_raw(tel_to)
    assert phone.receive().status == 416
    assert phone.register(SECRET, contact=f"<sip:101@127.0.0.1:{phone.port}>;expires=-5").status == 400
    assert phone.register(SECRET, contact="<mailto:someone@example.com>").status == 400
    no_hops = phone.register_message().replace(b"Max-Forwards: 70", b"Max-Forwards: 00")
    phone.send_raw(no_hops)
    assert phone.receive().status == 483


def test_tcp_register_and_keepalive_pong(world, sip_lines, edge):
    from tests.telephony.sipclient import SipClient, parse_answer

    sip_lines(world.user_a1, SECRET)
    helper = SipClient(edge.address, "101", world.client_a1.sip_domain)  # builds the messages
    with socket.create_connection(edge.address, timeout=3) as tcp:
        tcp.sendall(b"\r\n\r\n")
        assert tcp.recv(16) == b"\r\n"
        register = helper.register_message().replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
        tcp.sendall(register)
        challenge = parse_answer(tcp.recv(65535))
        assert challenge.status == 401
        auth = helper.authorization(challenge.challenge("MD5"), SECRET)
        tcp.sendall(helper.register_message(authorization=auth).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        assert parse_answer(tcp.recv(65535)).status == 200
    helper.close()


def test_tls_register_with_a_configured_certificate(world, sip_lines, tmp_path):
    """With OCX_SIP_TLS_CERT/KEY the edge also speaks TLS on OCX_SIP_TLS_PORT."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.telephony.conftest import free_port
    from tests.telephony.sipclient import SipClient, parse_answer

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sip.test.invalid")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    sip_lines(world.user_a1, SECRET)
    tls_port = free_port()
    edge = start_edge(OCX_SIP_TLS_PORT=str(tls_port), OCX_SIP_TLS_CERT=str(tmp_path / "cert.pem"),
                      OCX_SIP_TLS_KEY=str(tmp_path / "key.pem"))  # fmt: skip
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # a self-signed test certificate
    helper = SipClient(edge.address, "101", world.client_a1.sip_domain)
    try:
        with socket.create_connection(("127.0.0.1", tls_port), timeout=3) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(helper.register_message().replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"))
            challenge = parse_answer(tls.recv(65535))
            assert challenge.status == 401
            auth = helper.authorization(challenge.challenge("MD5"), SECRET)
            tls.sendall(helper.register_message(authorization=auth).replace(b"SIP/2.0/UDP", b"SIP/2.0/TLS"))
            assert parse_answer(tls.recv(65535)).status == 200
        stored = get_redis().hgetall(rkey("loc", world.client_a1.pk, "101"))
        assert any(b'"source": "tls:127.0.0.1:' in value for value in stored.values())
    finally:
        helper.close()
        edge.stop()


def test_natted_phones_are_pinged_and_removed_when_they_stop_answering(world, sip_lines, sip_client):
    from telephony.selectors import registrations_of

    extension = sip_lines(world.user_a1, SECRET)
    edge = start_edge(OCX_SIP_KEEPALIVE="0.4", OCX_SIP_KEEPALIVE_MISSES="2")
    try:
        phone = sip_client(world.user_a1, target=edge)
        assert phone.register(SECRET, contact="<sip:101@192.0.2.10:5060>").status == 200  # behind NAT
        for _ in range(4):  # answered pings keep the binding
            ping = phone.receive_raw(timeout=3)
            assert ping is not None and ping.startswith(b"OPTIONS sip:101@192.0.2.10:5060 SIP/2.0")
            phone.answer_ok(ping)
        assert len(registrations_of(client=world.client_a1, extension=extension)) == 1
        deadline = time.monotonic() + 5  # now silence: after two missed pings the binding goes
        while registrations_of(client=world.client_a1, extension=extension) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert registrations_of(client=world.client_a1, extension=extension) == []
    finally:
        edge.stop()


def test_phones_not_behind_nat_are_not_pinged(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    edge = start_edge(OCX_SIP_KEEPALIVE="0.3", OCX_SIP_KEEPALIVE_MISSES="2")
    try:
        phone = sip_client(world.user_a1, target=edge)
        assert phone.register(SECRET).status == 200  # the contact is the address it sends from
        assert phone.receive_raw(timeout=1.2) is None
    finally:
        edge.stop()
