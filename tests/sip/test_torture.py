"""RFC 4475 torture test messages (tests/sip/torture/<name>.dat), each with what the RFC expects of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from telephony.sip import (
    Request,
    Response,
    SipError,
    StreamFramer,
    parse,
    parse_contacts,
    parse_credentials,
    parse_name_addr,
    parse_uri,
    parse_via,
    validate_request,
)

TORTURE = Path(__file__).parent / "torture"

# name -> RFC 4475 section. Well formed: parse() and validate_request() accept them; what a higher layer
# would answer (420, 415, 401, 483...) is noted where a test reads the value it would decide on.
VALID = {
    "wsinv": "3.1.1.1", "intmeth": "3.1.1.2", "esc01": "3.1.1.3", "escnull": "3.1.1.4", "esc02": "3.1.1.5",
    "lwsdisp": "3.1.1.6", "longreq": "3.1.1.7", "dblreq": "3.1.1.8", "semiuri": "3.1.1.9",
    "transports": "3.1.1.10", "mpart01": "3.1.1.11", "unreason": "3.1.1.12", "noreason": "3.1.1.13",
    "badbranch": "3.2.1", "unksm2": "3.3.4", "bext01": "3.3.5", "invut": "3.3.6", "regaut01": "3.3.7",
    "bcast": "3.3.10", "zeromf": "3.3.11", "cparam01": "3.3.12", "cparam02": "3.3.13", "regescrt": "3.3.14",
    "sdp01": "3.3.15", "inv2543": "3.4.1",
}  # fmt: skip

# name -> (RFC 4475 section, the function that refuses it, status, the fault it must be refused for)
INVALID = {
    "badinv01": ("3.1.2.1", validate_request, 400, "parameters"),
    "clerr": ("3.1.2.2", parse, 400, "Content-Length larger"),
    "ncl": ("3.1.2.3", parse, 400, "Bad Content-Length"),
    "scalar02": ("3.1.2.4", parse, 400, "CSeq"),
    "scalarlg": ("3.1.2.5", parse, 400, "CSeq"),
    "quotbal": ("3.1.2.6", validate_request, 400, "Unterminated"),
    "ltgtruri": ("3.1.2.7", validate_request, 400, "Malformed URI"),
    "lwsruri": ("3.1.2.8", parse, 400, "Request-Line"),
    "lwsstart": ("3.1.2.9", parse, 400, "Request-Line"),
    "trws": ("3.1.2.10", parse, 400, "Request-Line"),
    "escruri": ("3.1.2.11", validate_request, 400, "Headers in Request-URI"),
    "baddate": ("3.1.2.12", validate_request, 400, "Date"),
    "regbadct": ("3.1.2.13", validate_request, 400, "enclosed in <>"),
    "badaspec": ("3.1.2.14", validate_request, 400, "Malformed URI"),
    "baddn": ("3.1.2.15", validate_request, 400, "Display name"),
    "badvers": ("3.1.2.16", parse, 505, "Version"),
    "mismatch01": ("3.1.2.17", parse, 400, "CSeq method"),
    "mismatch02": ("3.1.2.18", parse, 501, "CSeq method"),  # the RFC prefers 501 to 400 for an unknown method
    "bigcode": ("3.1.2.19", parse, 400, "status code"),
    "insuf": ("3.3.1", parse, 400, "Missing"),
    "unkscm": ("3.3.2", validate_request, 416, "Unsupported URI Scheme"),
    "novelsc": ("3.3.3", validate_request, 416, "Unsupported URI Scheme"),
    "multi01": ("3.3.8", validate_request, 400, "More than one"),
    "mcl01": ("3.3.9", parse, 400, "Conflicting Content-Length"),
}


def load(name: str) -> bytes:
    return (TORTURE / f"{name}.dat").read_bytes()


def message(name: str) -> Request | Response:
    return parse(load(name))


def test_every_vector_is_classified():
    assert {path.stem for path in TORTURE.glob("*.dat")} == set(VALID) | set(INVALID)
    assert len(VALID) == 25 and len(INVALID) == 24


@pytest.mark.parametrize("name", list(VALID))
def test_valid_messages_are_accepted_and_survive_a_round_trip(name):
    first = message(name)
    if isinstance(first, Request):
        validate_request(first)
    second = parse(first.to_bytes())
    assert parse(second.to_bytes()) == second
    assert second.body == first.body
    # Re-serialising only normalises Content-Length (always written, computed from the body).
    assert [h for h in second.headers if h[0] != "Content-Length"] == [
        h for h in first.headers if h[0] != "Content-Length"
    ]


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_messages_are_refused(name):
    _, refuser, status, fault = INVALID[name]
    if refuser is validate_request:
        request = message(name)  # syntactically it parses: the fault is in what its values mean
        with pytest.raises(SipError, match=fault) as info:
            validate_request(request)
    else:
        with pytest.raises(SipError, match=fault) as info:
            parse(load(name))
    assert info.value.status == status


# 3.1.1 Valid messages: the fields the RFC singles out -----------------------------------------------------


def test_wsinv():
    m = message("wsinv")
    assert parse_uri(m.uri).params == {"unknownparam": None}
    to, frm = parse_name_addr(m.headers.get("To")), parse_name_addr(m.headers.get("From"))
    assert (str(to.uri), to.tag) == ("sip:vivekg@chair-dnrc.example.com", "1918181833n")
    assert (frm.display, frm.tag) == ('J Rosenberg \\"', "98asjd8")
    assert (m.max_forwards, m.cseq, m.call_id) == (68, (9, "INVITE"), "wsinv.ndaksdj@192.0.2.1")
    vias = [parse_via(v) for v in m.headers.get_all("Via")]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]  # fmt: skip
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get_all("UnknownHeaderWithUnusualValue") == [";;,,;;,;"]
    route = parse_name_addr(m.headers.get("Route"))
    assert route.uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    (contact,) = parse_contacts(m.headers.get_all("Contact"))
    assert contact.display == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert len(m.body) == 150 and m.content_type == "application/sdp"


def test_intmeth():
    m = message("intmeth")
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~" and m.cseq == (139122385, m.method)
    uri = parse_uri(m.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)" and uri.host == "example.com"
    assert m.branch == "z9hG4bK-.!%66*_+`'~"
    to = parse_name_addr(m.headers.get("To"))
    assert to.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert to.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    frm = parse_name_addr(m.headers.get("From"))
    assert frm.display == "token1~` token2'+_ token3*%!.-" and frm.tag == "_token~1'+`*%!-."
    assert frm.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01():
    m = message("esc01")
    ruri = parse_uri(m.uri)
    assert (ruri.user, ruri.user_unescaped, ruri.host) == (
        "sips%3Auser%40example.com",
        "sips:user@example.com",
        "example.net",
    )
    assert parse_uri(parse_name_addr(m.headers.get("To")).uri.__str__()).user_unescaped == "user"
    assert parse_name_addr(m.headers.get("From")).uri.user_unescaped == "I have spaces"
    (contact,) = parse_contacts(m.headers.get_all("Contact"))
    assert contact.uri.user_unescaped == "caller"
    # "n%61me" has the value "v%61lue%25%34%31": unescaping is never recursive, so it means "value%41".
    assert contact.uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234" and m.content_type == "application/sdp"


def test_escnull():
    m = message("escnull")
    to = parse_name_addr(m.headers.get("To"))
    assert to.uri.user == "null-%00-null" and to.uri.user_unescaped == "null-\x00-null"
    users = [c.uri.user_unescaped for c in parse_contacts(m.headers.get_all("Contact"))]
    assert users == ["\x00", "\x00\x00"]  # two distinct bindings, not shortened at the NUL


def test_esc02():
    m = message("esc02")
    assert m.method == "RE%47IST%45R" and m.method != "REGISTER"
    assert parse_name_addr(m.headers.get("To")).display == "%Z%45"
    assert [str(c.uri) for c in parse_contacts(m.headers.get_all("Contact"))] == [
        "sip:alias1@host1.example.com", "sip:alias3@host3.example.com",
    ]  # fmt: skip
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert m.branch == "z9hG4bK209%fzsnel234"


def test_lwsdisp():
    frm = parse_name_addr(message("lwsdisp").headers.get("From"))
    assert (frm.display, str(frm.uri), frm.tag) == ("caller", "sip:caller@example.com", "323")


def test_longreq():
    m = message("longreq")
    to = parse_name_addr(m.headers.get("To"))
    assert to.display.startswith("I have a user name of extremeextreme") and to.uri.port == 6000
    assert len(to.uri.params) == 3 and to.uri.params["longparamname" + "name" * 24] == "shortvalue"
    frm = parse_name_addr(m.headers.get("From"))
    assert len(frm.tag) == 155 and len(frm.params) == 3
    vias = [parse_via(v) for v in m.headers.get_all("Via")]
    assert len(vias) == 34
    assert [v.host for v in vias[:33]] == [f"sip{i}.example.com" for i in range(33, 0, -1)]
    assert vias[-1].received == "192.0.2.5" and vias[-1].branch.endswith("longbranchvalue")


def test_dblreq_octets_after_the_body_are_ignored():
    m = message("dblreq")
    assert m.method == "REGISTER" and m.body == b"" and b"INVITE" not in m.to_bytes()
    # Over a stream the same octets are the next message.
    assert [r.method for r in StreamFramer().feed(load("dblreq"))] == ["REGISTER", "INVITE"]


def test_semiuri():
    m = message("semiuri")
    uri = parse_uri(m.uri)
    assert (uri.user, uri.user_unescaped, uri.host, uri.params) == (
        "user;par=u%40example.net", "user;par=u@example.net", "example.com", {},
    )  # fmt: skip
    assert m.headers.get_all("Accept") == ["application/sdp", "application/pkcs7-mime", "multipart/mixed",
                                           "multipart/signed", "message/sip", "message/sipfrag"]  # fmt: skip


def test_transports():
    m = message("transports")
    assert [parse_via(v).transport for v in m.headers.get_all("Via")] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    assert m.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_mpart01_binary_body_is_framed_by_content_length():
    m = message("mpart01")
    assert len(m.body) == 553 and b"\x00" in m.body and m.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert m.headers.get("Content-Type") == "multipart/mixed;boundary=7a9cbec02ceef655"
    assert m.top_via.rport == "" and m.top_via.port == 5070
    assert m.headers.get("Identity").startswith("r5mwreLuyDRYBi/0TiPwEsY3rEVsk")
    assert m.headers.get("Date") == "Sat, 15 Oct 2005 04:44:56 GMT"


def test_unreason_and_noreason():
    unreason = message("unreason")
    assert (unreason.status, unreason.reason) == (200, "= 2**3 * 5**2 но сто девяносто девять - простое")
    assert len(unreason.body) == 154
    noreason = message("noreason")
    assert (noreason.status, noreason.reason) == (100, "")


# 3.2 and 3.3: transaction and application layer ------------------------------------------------------------


def test_badbranch_has_the_magic_cookie_and_nothing_else():
    assert message("badbranch").branch == "z9hG4bK"  # the transaction layer decides; the parser must not break


def test_unksm2_unknown_schemes_in_headers_are_well_formed():
    m = message("unksm2")
    assert str(parse_name_addr(m.headers.get("To")).uri) == "isbn:2983792873"
    assert parse_name_addr(m.headers.get("From")).uri.scheme == "http"
    (contact,) = parse_contacts(m.headers.get_all("Contact"))
    assert (contact.uri.scheme, contact.uri.opaque) == ("name", "John_Smith")
    # A registrar needs a SIP AOR in To: it asks for one and refuses the rest.
    with pytest.raises(SipError):
        parse_name_addr(m.headers.get("To"), sip_only=True)


def test_bext01_lists_the_extensions_to_refuse_with_420():
    m = message("bext01")
    assert m.headers.get_all("Require") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    assert m.headers.get_all("Proxy-Require") == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]


def test_invut_sdp01_and_regaut01_carry_what_a_ua_answers_415_and_401_on():
    assert message("invut").content_type == "application/unknownformat" and len(message("invut").body) == 40
    assert message("sdp01").headers.get_all("Accept") == ["text/nobodyKnowsThis"]
    scheme, params = parse_credentials(message("regaut01").headers.get("Authorization"))
    assert (scheme, params) == ("NoOneKnowsThisScheme", {"opaque-data": "here"})


def test_bcast_and_zeromf():
    vias = [parse_via(v) for v in message("bcast").headers.get_all("Via")]
    assert vias[1].host == "255.255.255.255"  # a proxy must not send the response there
    assert message("zeromf").max_forwards == 0  # a proxy answers 483, an endpoint answers the OPTIONS


def test_cparam01_and_cparam02_place_the_parameter_by_brackets():
    (bare,) = parse_contacts(message("cparam01").headers.get_all("Contact"))
    assert bare.uri.params == {} and bare.params == {"unknownparam": None}
    (bracketed,) = parse_contacts(message("cparam02").headers.get_all("Contact"))
    assert bracketed.uri.params == {"unknownparam": None} and bracketed.params == {}


def test_regescrt_keeps_the_escaped_header_of_the_contact_uri():
    (contact,) = parse_contacts(message("regescrt").headers.get_all("Contact"))
    assert contact.uri.headers == {"Route": "%3Csip:sip.example.com%3E"}


def test_inv2543_rfc_2543_requests_are_still_accepted():
    m = message("inv2543")
    assert m.max_forwards is None and m.branch is None and m.from_tag is None
    to = parse_name_addr(m.headers.get("To"))
    assert to.uri.params == {} and to.params == {"user": "phone"}  # bare form: the parameter is the header's
    assert m.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")


def test_clerr_over_a_stream_waits_for_the_rest():
    framer = StreamFramer()
    assert framer.feed(load("clerr")) == [] and framer.buffered == len(load("clerr"))
