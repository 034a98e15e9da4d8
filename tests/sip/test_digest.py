"""Digest as a client (telephony/sip/digest.py): RFC 2617 and RFC 7616 example values, and round trips
through the edge's own verifier (telephony/edge/digest.py), which shares the hashing."""

from __future__ import annotations

import hashlib

import pytest

from telephony.edge.digest import Digest
from telephony.sip import Response, make_response, parse, parse_credentials
from telephony.sip.digest import (
    AuthenticatedRequest,
    Challenge,
    Credentials,
    authorization,
    authorize,
    challenges,
    ha1,
    response_value,
)

RFC7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
}


def register(cseq: int = 1) -> bytes:
    return (
        "REGISTER sip:pbx.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:101@pbx.example.com>;tag=f1\r\n"
        "To: <sip:101@pbx.example.com>\r\n"
        "Call-ID: digest-test@192.0.2.10\r\n"
        f"CSeq: {cseq} REGISTER\r\n"
        "Contact: <sip:101@192.0.2.10:5060>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_rfc_2617_example_with_qop_auth():
    """RFC 2617 section 3.5."""
    secret = ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life")
    value = response_value("MD5", secret, method="GET", uri="/dir/index.html", qop="auth", nc="00000001",
                           nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", cnonce="0a4f113b")  # fmt: skip
    assert value == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
     ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")],
)  # fmt: skip
def test_rfc_7616_examples_md5_and_sha256(algorithm, expected):
    """RFC 7616 section 3.9.1, through the whole client: the challenge parsed, the header built."""
    challenge = Challenge("WWW-Authenticate", RFC7616["realm"], RFC7616["nonce"], algorithm, ("auth",),
                          RFC7616["opaque"])  # fmt: skip
    credentials = Credentials("Mufasa", password="Circle of Life")
    value = authorization(challenge, credentials, "GET", "/dir/index.html", cnonce=RFC7616["cnonce"])
    scheme, params = parse_credentials(value)
    assert scheme == "Digest"
    assert params == {"username": "Mufasa", "realm": RFC7616["realm"], "nonce": RFC7616["nonce"],
                      "uri": "/dir/index.html", "response": expected, "algorithm": algorithm,
                      "cnonce": RFC7616["cnonce"], "qop": "auth", "nc": "00000001",
                      "opaque": RFC7616["opaque"]}  # fmt: skip


def test_without_qop_the_response_is_h_of_ha1_nonce_ha2():
    """RFC 2617 3.2.2.1 when the challenge names no qop (RFC 2069 compatibility): no cnonce or nc."""
    challenge = Challenge("WWW-Authenticate", "testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093")
    value = authorization(challenge, Credentials("Mufasa", password="CircleOfLife"), "GET", "/dir/index.html")
    params = parse_credentials(value)[1]
    md5 = hashlib.md5  # the protocol's hash, recomputed here independently
    secret = md5(b"Mufasa:testrealm@host.com:CircleOfLife").hexdigest()
    ha2 = md5(b"GET:/dir/index.html").hexdigest()
    assert params["response"] == md5(f"{secret}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}".encode()).hexdigest()
    assert "qop" not in params and "cnonce" not in params and "nc" not in params


def test_stored_ha1_hashes_answer_as_the_password_would():
    challenge = Challenge("WWW-Authenticate", "pbx.example.com", "abc", "SHA-256", ("auth",))
    stored = Credentials("101", ha1s={"md5": ha1("MD5", "101", "pbx.example.com", "s3cret"),
                                      "sha256": ha1("SHA-256", "101", "pbx.example.com", "s3cret")})  # fmt: skip
    by_password = Credentials("101", password="s3cret")
    assert authorization(challenge, stored, "INVITE", "sip:x", cnonce="c") == authorization(
        challenge, by_password, "INVITE", "sip:x", cnonce="c"
    )
    assert authorization(challenge, Credentials("101", password="s", realm="other.example"), "INVITE", "sip:x") is None
    assert authorization(Challenge("WWW-Authenticate", "r", "n", "SHA-512-256"), by_password, "INVITE", "sip:x") is None
    assert authorization(Challenge("WWW-Authenticate", "r", "n", "MD5", ("auth-int",)), by_password, "A", "u") is None


@pytest.mark.parametrize("algorithms", [("MD5",), ("SHA-256",), ("SHA-256", "MD5")])
def test_round_trip_the_edge_challenges_the_client_answers_the_edge_accepts(algorithms):
    edge = Digest(b"edge-secret", algorithms=algorithms)
    realm, password = "pbx.example.com", "s3cret"
    request = parse(register())
    challenge = make_response(request, 401, to_tag="e1")
    for value in edge.challenges(realm):
        challenge.headers.add("WWW-Authenticate", value)

    again = authorize(request, challenge, Credentials("101", password=password))

    assert again.cseq == (2, "REGISTER") and again.branch != request.branch and again.branch.startswith("z9hG4bK")
    assert again.call_id == request.call_id and again.headers.get("From") == request.headers.get("From")
    params = again.credentials("Authorization")[1]
    assert params["algorithm"] == algorithms[0]  # the edge's preferred offer, the first we know
    stored = {"md5": ha1("MD5", "101", realm, password), "sha256": ha1("SHA-256", "101", realm, password)}
    verdict = edge.verify(params, "REGISTER", realm, stored)
    assert verdict.ok and verdict.nc == 1
    wrong = authorize(request, challenge, Credentials("101", password="guess"))
    assert not edge.verify(wrong.credentials("Authorization")[1], "REGISTER", realm, stored).ok


def test_a_407_is_answered_in_proxy_authorization_and_other_schemes_are_skipped():
    request = parse(register())
    challenge = make_response(request, 407, to_tag="e1")
    challenge.headers.add("Proxy-Authenticate", 'Basic realm="x"')
    challenge.headers.add("Proxy-Authenticate", 'Digest realm="pbx.example.com", nonce="n1", qop="auth,auth-int"')
    assert [c.realm for c in challenges(challenge)] == ["pbx.example.com"]
    again = authorize(request, challenge, Credentials("101", password="p"))
    assert "Authorization" not in again.headers
    assert again.credentials("Proxy-Authorization")[1]["qop"] == "auth"
    assert authorize(request, make_response(request, 401), Credentials("101", password="p")) is None


def test_a_challenged_request_is_sent_once_more_with_credentials_and_only_once():
    sent, answers = [], []

    def start(request, on_response):
        sent.append((request, on_response))
        return request

    flow = AuthenticatedRequest(start, parse(register()), Credentials("101", password="p"), answers.append)
    first, answer_first = sent[0]
    challenge = make_response(first, 401, to_tag="e1")
    challenge.headers.add("WWW-Authenticate", 'Digest realm="pbx.example.com", nonce="n1", qop="auth"')
    answer_first(challenge)
    assert len(sent) == 2 and answers == []
    second, answer_second = sent[1]
    assert flow.request is second and second.cseq[0] == 2 and "Authorization" in second.headers
    again = make_response(second, 401, to_tag="e1")
    again.headers.add("WWW-Authenticate", 'Digest realm="pbx.example.com", nonce="n2", qop="auth"')
    answer_second(again)  # wrong credentials: the challenge goes to the owner, no third try
    assert len(sent) == 2 and [a.status for a in answers] == [401]
    answer_second(Response(200))
    assert [a.status for a in answers] == [401, 200]
