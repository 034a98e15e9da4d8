"""The SIP message layer: header names and lists, parsing, serialising and building responses."""

from __future__ import annotations

import pytest

from telephony.sip import (
    MAX_BODY_BYTES,
    MAX_HEADERS,
    MAX_LINE_BYTES,
    MAX_MESSAGE_BYTES,
    Headers,
    Request,
    Response,
    SipError,
    SipUri,
    is_keepalive,
    make_response,
    parse,
)

HEAD = [
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
    "From: \"Alice\" <sip:alice@example.com>;tag=a1",
    "To: <sip:bob@example.com>",
    "Call-ID: c1@192.0.2.10",
    "CSeq: 1 INVITE",
    "Max-Forwards: 70",
]  # fmt: skip


def raw(*lines: str, start: str = "INVITE sip:bob@example.com SIP/2.0", body: bytes = b"", length: bool = True):
    """A message's bytes: the start line, `lines` (HEAD when empty), Content-Length unless told not to."""
    head = [start, *(lines or HEAD)]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def replaced(name: str, line: str | None) -> list[str]:
    """HEAD with the line of header `name` replaced by `line` (or dropped when None)."""
    out = []
    for header in HEAD:
        if not header.startswith(name + ":"):
            out.append(header)
        elif line is not None:
            out.append(line)
    return out


# Header names ---------------------------------------------------------------------------------------------


def test_compact_forms_expand_and_names_are_canonicalised_whatever_their_case():
    data = raw(
        "v: SIP/2.0/UDP h;branch=z9hG4bK1", "f: <sip:a@x>;tag=1", "t: <sip:b@y>", "i: abc", "cSEQ: 1 INVITE",
        "m: <sip:a@h>", "c: application/sdp", "k: 100rel", "s: hi", "e: gzip", "o: presence", "r: <sip:c@z>",
        "b: <sip:d@z>", "x: 1800", "u: talk", "a: *;audio", "j: *;video", "d: proxy", "y: sig", "n: <http://x>",
        "www-AUTHENTICATE: Digest realm=\"r\"", "p-asserted-identity: <sip:a@x>", "MIN-se: 90",
    )  # fmt: skip
    names = [name for name, _ in parse(data).headers]
    assert names == [
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type", "Supported", "Subject",
        "Content-Encoding", "Event", "Refer-To", "Referred-By", "Session-Expires", "Allow-Events",
        "Accept-Contact", "Reject-Contact", "Request-Disposition", "Identity", "Identity-Info",
        "WWW-Authenticate", "P-Asserted-Identity", "Min-SE", "Content-Length",
    ]  # fmt: skip


def test_unknown_headers_keep_their_spelling_and_compare_case_insensitively():
    message = parse(raw(*HEAD, "X-Acme-Thing: 1", "x-acme-THING: 2"))
    assert [n for n, _ in message.headers if n.lower() == "x-acme-thing"] == ["X-Acme-Thing", "x-acme-THING"]
    assert message.headers.get("X-ACME-thing") == "1"
    assert message.headers.get_all("x-acme-thing") == ["1", "2"]
    assert "X-Acme-Thing" in message.headers and "X-Other" not in message.headers


def test_get_all_splits_list_headers_but_not_inside_quotes_or_angle_brackets():
    headers = Headers([("Contact", '"A, B" <sip:a@x;p=1,2>;q=1, <sip:b@y>'), ("m", "sip:c@z")])
    assert headers.get_all("Contact") == ['"A, B" <sip:a@x;p=1,2>;q=1', "<sip:b@y>", "sip:c@z"]
    assert headers.get("contact") == '"A, B" <sip:a@x;p=1,2>;q=1'
    headers.add("Warning", '399 x "busy, try later", 399 y "z"')
    assert headers.get_all("Warning") == ['399 x "busy, try later"', '399 y "z"']
    headers.add("Allow", "INVITE, ACK,,BYE ,")
    assert headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]


def test_authentication_headers_and_date_are_never_split():
    digest = 'Digest username="a", realm="r", nonce="n", uri="sip:x", response="0"'
    headers = Headers(
        [("Authorization", digest), ("WWW-Authenticate", digest), ("Date", "Sat, 13 Nov 2010 23:29:00 GMT")]
    )
    headers.add("Proxy-Authorization", digest)
    headers.add("Proxy-Authenticate", digest)
    for name in ("Authorization", "WWW-Authenticate", "Proxy-Authorization", "Proxy-Authenticate"):
        assert headers.get_all(name) == [digest]
    assert headers.get_all("Date") == ["Sat, 13 Nov 2010 23:29:00 GMT"]


def test_add_prepend_set_remove():
    headers = Headers([("Via", "SIP/2.0/UDP a"), ("To", "<sip:b@y>"), ("Via", "SIP/2.0/UDP b")])
    headers.prepend("v", "SIP/2.0/UDP proxy")
    headers.prepend("Record-Route", "<sip:proxy;lr>")  # none yet: goes on top
    headers.add("X-New", "1")
    assert list(headers)[:3] == [
        ("Record-Route", "<sip:proxy;lr>"),
        ("Via", "SIP/2.0/UDP proxy"),
        ("Via", "SIP/2.0/UDP a"),
    ]
    headers.set("via", "SIP/2.0/TCP only")
    assert list(headers) == [("Record-Route", "<sip:proxy;lr>"), ("Via", "SIP/2.0/TCP only"), ("To", "<sip:b@y>"),
                             ("X-New", "1")]  # fmt: skip
    headers.set("Expires", "60")
    assert list(headers)[-1] == ("Expires", "60")
    headers.remove("x-new")
    assert "X-New" not in headers
    assert len(headers) == 4


def test_remove_first_pops_one_element_of_a_joined_list_line():
    headers = Headers([("Route", "<sip:p1;lr>, <sip:p2;lr>"), ("Route", "<sip:p3;lr>"), ("Subject", "a, b")])
    assert headers.remove_first("Route") == "<sip:p1;lr>"
    assert headers.get_lines("Route") == ["<sip:p2;lr>", "<sip:p3;lr>"]
    assert headers.remove_first("Route") == "<sip:p2;lr>"
    assert headers.get_all("Route") == ["<sip:p3;lr>"]
    assert headers.remove_first("Subject") == "a, b"
    assert headers.remove_first("Subject") is None


def test_header_values_cannot_smuggle_lines_and_copies_are_independent():
    headers = Headers([("To", "<sip:b@y>")])
    for bad in ("a\r\nVia: x", "a\nb", "a\rb"):
        with pytest.raises(ValueError):
            headers.add("Subject", bad)
    with pytest.raises(ValueError):
        headers.set("Bad Name", "x")
    copy = headers.copy()
    copy.add("From", "<sip:a@x>")
    assert "From" not in headers and copy != headers


# Parsing --------------------------------------------------------------------------------------------------


def test_a_typical_request_parses_with_its_helpers():
    message = parse(raw(body=b"v=0\r\n"))
    assert isinstance(message, Request)
    assert (message.method, message.uri, message.version) == ("INVITE", "sip:bob@example.com", "SIP/2.0")
    assert message.call_id == "c1@192.0.2.10"
    assert message.cseq == (1, "INVITE")
    assert (message.from_tag, message.to_tag, message.branch) == ("a1", None, "z9hG4bK-1")
    assert (message.top_via.host, message.top_via.port, message.top_via.rport) == ("192.0.2.10", 5060, "")
    assert message.max_forwards == 70
    assert message.body == b"v=0\r\n"


def test_folded_lines_whitespace_around_colons_and_version_case_are_tolerated():
    data = raw(
        *HEAD[:-1], "Subject  :   a folded\r\n  subject\r\n\tline", "Max-Forwards\t:\t69",
        start="OPTIONS sip:bob@example.com sip/2.0",
    )  # fmt: skip
    message = parse(data.replace(b"CSeq: 1 INVITE", b"CSeq: 1\r\n OPTIONS"))
    assert message.headers.get("Subject") == "a folded subject line"
    assert message.max_forwards == 69
    assert message.cseq == (1, "OPTIONS")
    assert message.version == "SIP/2.0"


def test_responses_parse_with_or_without_a_reason_phrase():
    ok = parse(raw(start="SIP/2.0 200 Very OK indeed"))
    assert isinstance(ok, Response) and (ok.status, ok.reason) == (200, "Very OK indeed")
    assert parse(raw(start="SIP/2.0 180 ")).reason == ""
    assert parse(raw(start="SIP/2.0 100")).reason == ""


def test_unknown_methods_missing_max_forwards_and_leading_crlf_are_accepted():
    lines = [h.replace("INVITE", "FROB") for h in HEAD if not h.startswith("Max-Forwards")]
    message = parse(b"\r\n\r\n" + raw(*lines, start="FROB sip:bob@example.com SIP/2.0"))
    assert message.method == "FROB" and message.max_forwards is None


def test_body_is_cut_at_content_length_and_a_datagram_without_one_keeps_the_rest():
    data = raw(body=b"12345")
    assert parse(data + b"trailing noise").body == b"12345"
    assert parse(raw(length=False) + b"abc").body == b"abc"


@pytest.mark.parametrize(
    "start",
    [
        "INVITE sip:bob@example.com",  # no version
        "INVITE  sip:bob@example.com SIP/2.0",  # two spaces
        "INVITE sip:bob@example.com SIP/2.0 ",  # trailing space
        "INVITE sip:bob@example.com; lr SIP/2.0",  # space inside the URI
        "INV<ITE sip:bob@example.com SIP/2.0",  # not a token
        "INVITE sip:bob@example.com HTTP/1.1",
        "SIP/2.0 20 OK",
        "SIP/2.0 2000 OK",
        "SIP/2.0 099 Low",
        "SIP/2.0 700 High",
        "SIP/2.0 4294967301 better not break the receiver",
        "SIP/2.0 \uff1200 OK",  # full-width digit
        "",
    ],
)
def test_bad_start_lines_are_rejected(start):
    with pytest.raises(SipError) as info:
        parse(raw(start=start))
    assert info.value.status == 400


@pytest.mark.parametrize("start", ["INVITE sip:bob@example.com SIP/3.0", "SIP/1.0 200 OK"])
def test_other_sip_versions_answer_505(start):
    with pytest.raises(SipError) as info:
        parse(raw(start=start))
    assert info.value.status == 505


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (raw(*HEAD, "No colon here"), "colon"),
        (raw(*HEAD, "Bad Name: x"), "header name"),
        (raw(*HEAD, "Subject: caf\u00e9").replace("\u00e9".encode(), b"\xe9"), "UTF-8"),
        (raw(*HEAD, "Subject: a\nb"), "LF"),
        (raw(*HEAD, "Subject: a\rb"), "CR"),
        (raw()[:-4], "end of header"),
        (b"", "Empty"),
    ],
)
def test_malformed_heads_are_rejected(data, reason):
    with pytest.raises(SipError, match=reason) as info:
        parse(data)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("line", "status"),
    [
        ("Content-Length: -1", 400),
        ("Content-Length: five", 400),
        ("Content-Length: 12345678901", 400),
        ("Content-Length: ١٢", 400),  # Arabic-Indic digits: str.isdigit() says yes, SIP says no
        ("Content-Length: 6", 400),  # larger than the body
        (f"Content-Length: {MAX_BODY_BYTES + 1}", 413),
    ],
)
def test_bad_content_length(line, status):
    with pytest.raises(SipError) as info:
        parse(raw(*HEAD, line, length=False) + b"abcde")
    assert info.value.status == status


def test_two_content_lengths_must_agree():
    assert parse(raw(*HEAD, "l: 3", length=False).replace(b"\r\n\r\n", b"\r\nContent-Length: 003\r\n\r\n") + b"abc")
    with pytest.raises(SipError, match="Conflicting"):
        parse(raw(*HEAD, "l: 3", "Content-Length: 4", length=False) + b"abcd")


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_the_headers_that_identify_a_transaction_are_required(name):
    with pytest.raises(SipError, match=f"Missing {name}"):
        parse(raw(*replaced(name, None)))


@pytest.mark.parametrize(
    ("cseq", "status"),
    [
        ("CSeq: 2147483648 INVITE", 400),  # 2**31
        ("CSeq: 36893488147419103232 INVITE", 400),
        ("CSeq: -1 INVITE", 400),
        ("CSeq: 1", 400),
        ("CSeq: INVITE 1", 400),
        ("CSeq: 1 OPTIONS", 400),  # not the request's method
        ("CSeq: 1 invite", 400),  # methods are case-sensitive
    ],
)
def test_bad_cseq(cseq, status):
    with pytest.raises(SipError) as info:
        parse(raw(*replaced("CSeq", cseq)))
    assert info.value.status == status
    assert isinstance(info.value.parsed, Request)  # so a server can still answer it


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_ack_and_cancel_cseq_must_match_too(method):
    assert parse(raw(*replaced("CSeq", f"CSeq: 1 {method}"), start=f"{method} sip:bob@example.com SIP/2.0"))
    with pytest.raises(SipError):
        parse(raw(start=f"{method} sip:bob@example.com SIP/2.0"))


def test_an_unknown_method_with_a_mismatched_cseq_answers_501():
    with pytest.raises(SipError) as info:
        parse(raw(start="NEWMETHOD sip:bob@example.com SIP/2.0"))
    assert info.value.status == 501


def test_limits():
    many = [f"X-H{i}: {i}" for i in range(MAX_HEADERS)]
    with pytest.raises(SipError) as info:
        parse(raw(*HEAD, *many))
    assert info.value.status == 513
    assert parse(raw(*HEAD, *many[: MAX_HEADERS - len(HEAD) - 1]))
    with pytest.raises(SipError) as info:
        parse(raw(*HEAD, "Subject: " + "x" * MAX_LINE_BYTES))
    assert info.value.status == 513
    with pytest.raises(SipError) as info:
        parse(raw(length=False) + b"x" * MAX_MESSAGE_BYTES)
    assert info.value.status == 513
    with pytest.raises(SipError) as info:
        parse(raw(length=False) + b"x" * (MAX_BODY_BYTES + 1))
    assert info.value.status == 413


def test_keepalives_are_recognised():
    assert is_keepalive(b"\r\n\r\n") and is_keepalive(b"\r\n") and not is_keepalive(raw())


# Serialising ----------------------------------------------------------------------------------------------


def test_to_bytes_writes_a_computed_content_length_in_place_of_the_received_ones():
    message = parse(raw(*HEAD, "l: 5", "Subject: s", length=False).replace(b"\r\n\r\n", b"\r\nl: 5\r\n\r\n") + b"hello")
    message.body = b"hi"
    text = message.to_bytes().decode()
    assert text.count("Content-Length") == 1 and "\r\nContent-Length: 2\r\nSubject: s\r\n" in text
    assert text.endswith("\r\n\r\nhi")
    built = Request("OPTIONS", SipUri(host="example.com"), Headers([("Call-ID", "x")]))
    assert built.to_bytes() == b"OPTIONS sip:example.com SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"


def test_parse_serialise_parse_is_stable():
    data = raw(
        "v: SIP/2.0/UDP h;branch=z9hG4bK1", "Via: SIP/2.0/TCP p1, SIP/2.0/TCP p2", "f: \"A\\\"\" <sip:a@x>;tag=1",
        "To:\r\n <sip:b@y>", "i: abc", "CSeq: 7 INVITE", "X-Custom: kept as written", "Subject:",
        body="ünïcode body\x00".encode(),
    )  # fmt: skip
    first = parse(data)
    second = parse(first.to_bytes())
    assert second == first
    assert second.to_bytes() == first.to_bytes()
    response = make_response(first, 486, to_tag="t9")
    assert parse(response.to_bytes()) == response


# Responses ------------------------------------------------------------------------------------------------


def test_make_response_copies_the_transaction_headers_per_rfc_3261_8_2_6():
    request = parse(raw(
        "Via: SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/UDP p2;branch=z9hG4bKp2", *HEAD, "Subject: not copied",
        "Record-Route: <sip:p1;lr>",
    ))  # fmt: skip
    response = make_response(request, 180, to_tag="b7", headers=[("Contact", "<sip:bob@192.0.2.9>")])
    assert (response.status, response.reason) == (180, "Ringing")
    assert list(response.headers) == [
        ("Via", "SIP/2.0/UDP p1;branch=z9hG4bKp1, SIP/2.0/UDP p2;branch=z9hG4bKp2"),
        ("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport"),
        ("From", '"Alice" <sip:alice@example.com>;tag=a1'),
        ("To", "<sip:bob@example.com>;tag=b7"),
        ("Call-ID", "c1@192.0.2.10"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:bob@192.0.2.9>"),
        ("Content-Length", "0"),
    ]
    assert response.to_tag == "b7" and response.branch == "z9hG4bKp1" and response.body == b""


def test_make_response_keeps_an_existing_to_tag_and_knows_the_usual_reasons():
    request = parse(raw(*replaced("To", "To: <sip:bob@example.com>;tag=old")))
    assert make_response(request, 200, to_tag="new").to_tag == "old"
    for status, reason in [(100, "Trying"), (183, "Session Progress"), (202, "Accepted"), (401, "Unauthorized"),
                           (407, "Proxy Authentication Required"), (416, "Unsupported URI Scheme"),
                           (423, "Interval Too Brief"), (481, "Call/Transaction Does Not Exist"),
                           (487, "Request Terminated"), (491, "Request Pending"), (504, "Server Time-out"),
                           (505, "Version Not Supported"), (513, "Message Too Large"), (603, "Decline")]:  # fmt: skip
        assert make_response(request, status).reason == reason
    assert make_response(request, 499).reason == "Client Error"
    assert make_response(request, 503, "No Call Engine Available").reason == "No Call Engine Available"
    with pytest.raises(ValueError):
        make_response(request, 99)


def test_replace_first_changes_only_the_first_element_of_a_list_header_in_place():
    headers = Headers([("To", "<sip:a@x>"), ("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"),
                       ("Via", "SIP/2.0/UDP c;branch=z9hG4bK3")])  # fmt: skip
    headers.replace_first("Via", "SIP/2.0/UDP a;branch=z9hG4bK1;received=10.0.0.1")
    assert headers.get_all("Via") == [
        "SIP/2.0/UDP a;branch=z9hG4bK1;received=10.0.0.1",
        "SIP/2.0/UDP b;branch=z9hG4bK2",
        "SIP/2.0/UDP c;branch=z9hG4bK3",
    ]
    assert [name for name, _ in headers] == ["To", "Via", "Via"]
    with pytest.raises(KeyError):
        headers.replace_first("Route", "<sip:x;lr>")


def test_credentials_are_parsed_once_and_follow_a_changed_header():
    request = Request("REGISTER", "sip:x.example", Headers([("Authorization", 'Digest username="a", nonce="n"')]))
    first = request.credentials()
    assert first == ("Digest", {"username": "a", "nonce": "n"}) and request.credentials() is first
    request.headers.set("Authorization", 'Digest username="b"')
    assert request.credentials()[1] == {"username": "b"}
    with pytest.raises(SipError):
        Request("INVITE", "sip:x", Headers()).credentials("Proxy-Authorization")
