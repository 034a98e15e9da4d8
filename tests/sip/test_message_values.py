"""Header values: URIs, name-addrs, Contact lists, Via, digest credentials and challenges, request checks."""

from __future__ import annotations

import pytest

from telephony.sip import (
    NameAddr,
    SipError,
    SipUri,
    Via,
    format_challenge,
    parse,
    parse_contacts,
    parse_credentials,
    parse_name_addr,
    parse_uri,
    parse_via,
    validate_request,
)
from tests.sip.test_message import HEAD, raw, replaced

# URIs -----------------------------------------------------------------------------------------------------


def test_sip_uri_parts():
    uri = parse_uri("sips:Alice%20B:secret@Example.COM:5061;Transport=TLS;lr;maddr=10.0.0.1?Subject=hi&X-Y=%20z")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips",
        "Alice%20B",
        "secret",
        "example.com",
        5061,
    )
    assert uri.params == {"transport": "TLS", "lr": None, "maddr": "10.0.0.1"}
    assert uri.headers == {"Subject": "hi", "X-Y": "%20z"}
    assert uri.user_unescaped == "Alice B" and uri.host_port == "example.com:5061" and uri.is_sip
    assert str(uri) == "sips:Alice%20B:secret@example.com:5061;transport=TLS;lr;maddr=10.0.0.1?Subject=hi&X-Y=%20z"


def test_ipv6_hosts_keep_their_brackets():
    uri = parse_uri("sip:[2001:DB8::1]:5080;transport=tcp")
    assert (uri.host, uri.port, uri.host_port) == ("[2001:db8::1]", 5080, "[2001:db8::1]:5080")
    assert parse_uri("sip:[::1]").port is None


def test_with_returns_a_modified_copy_sharing_nothing():
    uri = parse_uri("sip:bob@example.com;transport=udp")
    moved = uri.with_(host="192.0.2.7", port=5070)
    moved.params["lr"] = None
    assert str(moved) == "sip:bob@192.0.2.7:5070;transport=udp;lr"
    assert str(uri) == "sip:bob@example.com;transport=udp"
    assert uri.with_(params={}).params == {}


@pytest.mark.parametrize("text", ["tel:+15551234567", "http://example.com", "urn:uuid:1", "mailto:a@b"])
def test_other_schemes_are_416_unless_asked_for(text):
    with pytest.raises(SipError) as info:
        parse_uri(text)
    assert info.value.status == 416
    uri = parse_uri(text, sip_only=False)
    assert not uri.is_sip and str(uri) == text and uri.opaque == text.split(":", 1)[1]


@pytest.mark.parametrize(
    "text",
    ["", "sip", "sip:", ":x", "<sip:a@b>", "sip:a b@c", "sip:@host", "sip:a@", "sip:a@ho st", "sip:a@host:",
     "sip:a@host:99999", "sip:a@host:5o60", "sip:a@host;", "sip:a@host;x=", "sip:a@host;x;x", "sip:a@host?x",
     "sip:%zz@host", "sip:[::1", "sip:[::1]x", "sip:a@h<o>st", "1sip:a@b", "tel: +1"],
)  # fmt: skip
def test_malformed_uris_are_400(text):
    with pytest.raises(SipError) as info:
        parse_uri(text, sip_only=False)
    assert info.value.status == 400


# Name-addr and Contact ------------------------------------------------------------------------------------


def test_name_addr_forms():
    quoted = parse_name_addr(' "Bob \\"B\\" \\\\ Smith"  <sip:bob@example.com;transport=tcp> ; tag = 9x ;expires=60 ')
    assert quoted.display == 'Bob "B" \\ Smith'
    assert quoted.uri.params == {"transport": "tcp"}
    assert quoted.params == {"tag": "9x", "expires": "60"} and quoted.tag == "9x"
    assert str(quoted) == '"Bob \\"B\\" \\\\ Smith" <sip:bob@example.com;transport=tcp>;tag=9x;expires=60'
    tokens = parse_name_addr("Bob  Smith<sip:bob@example.com>")
    assert tokens.display == "Bob Smith" and tokens.params == {}
    # In the bare form a parameter after the URI belongs to the header (RFC 3261 20.10).
    bare = parse_name_addr("sip:bob@example.com;user=phone;tag=1")
    assert bare.display is None and bare.uri.params == {} and bare.params == {"user": "phone", "tag": "1"}
    instance = parse_name_addr('<sip:a@192.0.2.1>;+sip.instance="<urn:uuid:1-2>";reg-id=1')
    assert instance.params["+sip.instance"] == '"<urn:uuid:1-2>"' and instance.params["reg-id"] == "1"
    assert parse_name_addr("<tel:+155512>;tag=x").uri.opaque == "+155512"
    assert parse_name_addr(str(quoted)) == quoted


@pytest.mark.parametrize(
    "value",
    ["", "   ", '"unterminated <sip:a@b>', '"Name" sip:a@b', "<sip:a@b", "<sip:a@b> junk", "<sip:a@b>;;",
     "<sip:a@b>;tag=1;tag=2", "Bell, Alexander <sip:a@b>", "< sip:a@b >", "sip:a@b?subject=x", "sip:a b@c",
     "<sip:a@b>;tag=", '<sip:a@b>;x="open'],
)  # fmt: skip
def test_malformed_name_addrs_are_400(value):
    with pytest.raises(SipError) as info:
        parse_name_addr(value)
    assert info.value.status == 400


def test_parse_name_addr_can_insist_on_sip():
    with pytest.raises(SipError) as info:
        parse_name_addr("<tel:+1555>", sip_only=True)
    assert info.value.status == 416


def test_contacts():
    contacts = parse_contacts(['"A, B" <sip:a@x>;q=0.5', "sip:b@y;expires=30"])
    assert [(c.display, str(c.uri), c.params) for c in contacts] == [
        ("A, B", "sip:a@x", {"q": "0.5"}),
        (None, "sip:b@y", {"expires": "30"}),
    ]
    assert parse_contacts(["*"]) == "*" and parse_contacts([" * "]) == "*"
    with pytest.raises(SipError):
        parse_contacts(["*", "<sip:a@x>"])
    assert str(NameAddr(None, SipUri(user="a", host="x"), {"q": "1"})) == "<sip:a@x>;q=1"


# Via ------------------------------------------------------------------------------------------------------


def test_via_parts_and_rport():
    via = parse_via("SIP / 2.0 / udp  PC33.Example.COM : 5066 ;branch=z9hG4bK776;rport;received=192.0.2.1")
    assert (via.transport, via.host, via.port, via.protocol) == ("UDP", "pc33.example.com", 5066, "SIP/2.0")
    assert (via.branch, via.rport, via.received, via.sent_by) == (
        "z9hG4bK776",
        "",
        "192.0.2.1",
        "pc33.example.com:5066",
    )
    assert str(via) == "SIP/2.0/UDP pc33.example.com:5066;branch=z9hG4bK776;rport;received=192.0.2.1"
    assert parse_via("SIP/2.0/TCP h;rport=5070").rport == "5070"
    assert parse_via("SIP/2.0/WSS h").rport is None and parse_via("SIP/2.0/WSS h").branch is None
    v6 = parse_via("SIP/2.0/TLS [2001:db8::9]:5061;received=2001:db8::10")
    assert (v6.host, v6.port, v6.received) == ("[2001:db8::9]", 5061, "2001:db8::10")
    via.params["rport"] = "4000"
    assert str(via).endswith(";rport=4000;received=192.0.2.1")
    assert parse_via(str(via)) == via
    assert (
        str(Via("TCP", "h", 5060, {"branch": "z9hG4bKx", "alias": None})) == "SIP/2.0/TCP h:5060;branch=z9hG4bKx;alias"
    )


@pytest.mark.parametrize(
    "value",
    ["", "SIP/2.0/UDP", "SIP/2.0 host", "SIP/2.0/UDP host;;", "SIP/2.0/UDP 192.0.2.15;;", "SIP/2.0/UDP h;branch=",
     "SIP/2.0/UDP h junk", "SIP/2.0/UDP h:99999", "SIP/2.0/UDP 2001:db8::1", "SIP/2.0/UDP h;branch=a;branch=b"],
)  # fmt: skip
def test_malformed_vias_are_400(value):
    with pytest.raises(SipError):
        parse_via(value)


# Digest ---------------------------------------------------------------------------------------------------


def test_parse_credentials():
    scheme, params = parse_credentials(
        'digest USERNAME="bob",realm="acme.example", nonce="n\\"1",uri="sip:acme.example",'
        'response="0a1b",  qop=auth ,nc=00000001,cnonce="c,1",algorithm=MD5, opaque=""'
    )
    assert scheme == "Digest"
    assert params == {"username": "bob", "realm": "acme.example", "nonce": 'n"1', "uri": "sip:acme.example",
                      "response": "0a1b", "qop": "auth", "nc": "00000001", "cnonce": "c,1", "algorithm": "MD5",
                      "opaque": ""}  # fmt: skip
    assert parse_credentials("NoOneKnowsThisScheme opaque-data=here") == (
        "NoOneKnowsThisScheme",
        {"opaque-data": "here"},
    )


@pytest.mark.parametrize(
    "value",
    ["", "Digest", "Digest ", 'Digest username="bob', "Digest username=", "Digest =x", 'Digest a="1",',
     'Digest a="1" b="2"', 'Digest response="1", response="2"', "Digest,a=1"],
)  # fmt: skip
def test_malformed_credentials_are_400(value):
    with pytest.raises(SipError) as info:
        parse_credentials(value)
    assert info.value.status == 400


def test_format_challenge():
    challenge = format_challenge(
        {"realm": 'acme "r"', "nonce": "abc", "algorithm": "MD5", "qop": "auth", "stale": "true"},
        quoted={"realm", "nonce", "qop"},
    )
    assert challenge == 'Digest realm="acme \\"r\\"", nonce="abc", algorithm=MD5, qop="auth", stale=true'
    assert parse_credentials(challenge)[1]["realm"] == 'acme "r"'
    with pytest.raises(ValueError):
        format_challenge({"realm": "two words"}, quoted=set())


# Request checks -------------------------------------------------------------------------------------------


def test_a_well_formed_request_validates():
    validate_request(parse(raw(*HEAD, "Contact: <sip:alice@192.0.2.10>", "Route: <sip:p1;lr>, <sip:p2;lr>")))


@pytest.mark.parametrize(
    ("lines", "start", "status"),
    [
        (replaced("Max-Forwards", "Max-Forwards: 256"), None, 400),
        (replaced("Max-Forwards", "Max-Forwards: ten"), None, 400),
        ([*HEAD, "Call-ID: other"], None, 400),
        ([*HEAD, "To: <sip:carol@example.com>"], None, 400),
        ([*HEAD, "Contact: *"], None, 400),
        ([*HEAD, "Route: <sip:p1;lr"], None, 400),
        ([*HEAD, "Date: Sat, 13 Nov 2010 23:29:00 UTC"], None, 400),
        ([*HEAD, "Expires: soon"], None, 400),
        (replaced("From", "From: <sip:alice@example.com"), None, 400),
        (HEAD, "INVITE tel:+15551234 SIP/2.0", 416),
        (HEAD, "INVITE sip:bob@example.com?Subject=x SIP/2.0", 400),
    ],
)
def test_requests_a_server_must_refuse(lines, start, status):
    request = parse(raw(*lines, start=start or "INVITE sip:bob@example.com SIP/2.0"))
    with pytest.raises(SipError) as info:
        validate_request(request)
    assert info.value.status == status


def test_contact_star_only_in_a_register_removing_everything():
    register = [h.replace("1 INVITE", "1 REGISTER") for h in HEAD]
    start = "REGISTER sip:example.com SIP/2.0"
    validate_request(parse(raw(*register, "Contact: *", "Expires: 0", start=start)))
    with pytest.raises(SipError):
        validate_request(parse(raw(*register, "Contact: *", "Expires: 60", start=start)))


def test_a_built_request_whose_content_length_lies_is_refused():
    request = parse(raw(body=b"abc"))
    request.body = b"abcdef"
    with pytest.raises(SipError, match="Content-Length"):
        validate_request(request)
