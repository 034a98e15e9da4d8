"""Property tests: whatever arrives, the SIP layer answers with a message or a SipError, never anything else;
and what it builds, it reads back unchanged.

Deterministic (derandomize, no example database) so CI sees the same cases on every run.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.sip import (
    Headers,
    NameAddr,
    Request,
    SipError,
    SipUri,
    StreamFramer,
    Via,
    parse,
    parse_contacts,
    parse_credentials,
    parse_name_addr,
    parse_uri,
    parse_via,
    validate_request,
)
from telephony.sip._lex import quote

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip

# The characters that steer a SIP parser: separators, quotes, escapes, brackets, folding whitespace.
SIPPY = st.text(alphabet=st.sampled_from(list('aZ09 \t\r\n:;,=<>"\\%@?&/.+*-_~!' + "sipSIPé\x00\x7f")), max_size=200)


def parse_or_error(data: bytes):
    try:
        return parse(data)
    except SipError as exc:
        return exc


# Mutants of the RFC 4475 messages that parse; the invalid ones are refused before their values are read.
SEEDS = [path.read_bytes() for path in sorted((Path(__file__).parent / "torture").glob("*.dat"))]
SEEDS = [seed for seed in SEEDS if not isinstance(parse_or_error(seed), SipError)]


def exercise(data: bytes) -> None:
    """parse() and everything a server then asks of the message raise SipError or nothing."""
    try:
        message = parse(data)
    except SipError:
        return
    checks = [lambda: message.cseq, lambda: message.from_tag, lambda: message.to_tag, lambda: message.branch,
              lambda: message.top_via, lambda: message.max_forwards,
              lambda: parse_contacts(message.headers.get_all("Contact")),
              lambda: [parse_credentials(v) for v in message.headers.get_all("Authorization")]]  # fmt: skip
    if isinstance(message, Request):
        checks += [lambda: validate_request(message), lambda: parse_uri(message.uri, sip_only=False)]
    for check in checks:
        with contextlib.suppress(SipError):
            check()
    for name, _ in message.headers:
        message.headers.get_all(name)
    again = parse(message.to_bytes())  # what parsed once must serialise into something that parses
    assert again.body == message.body


def feed_stream(data: bytes, cut: int) -> None:
    framer = StreamFramer()
    for chunk in (data[:cut], data[cut:], data):
        with contextlib.suppress(SipError):
            framer.feed(chunk)


# 1. Arbitrary input -----------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000), st.integers(0, 2000))
def test_arbitrary_bytes(data, cut):
    exercise(data)
    feed_stream(data, cut)


@FUZZ
@given(st.sampled_from(["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "REGISTER sip:x SIP/2.0"]),
       st.lists(SIPPY, max_size=12), st.binary(max_size=300))  # fmt: skip
def test_sip_shaped_garbage(start, lines, body):
    data = "\r\n".join([start, *lines]).encode() + b"\r\n\r\n" + body
    exercise(data)
    feed_stream(data, len(data) // 2)


# 2. Mutations of valid messages ----------------------------------------------------------------------------


# Octets that mean something to a SIP parser, so that mutations reach the header value parsers.
SIGNIFICANT = st.sampled_from([b'"', b"\\", b"<", b">", b";", b",", b"=", b" ", b"\t", b"%", b"@", b":", b"?", b"\r\n",
                               b"\r\n ", b"\x00", b"\xff"])  # fmt: skip
# Mild operations are listed more often: most mutants should still parse so that what follows is exercised.
OPERATIONS = ["insert"] * 3 + ["replace"] * 3 + ["duplicate"] * 2 + ["quotes"] * 2 + ["delete", "huge", "truncate"]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(OPERATIONS))
        at = draw(st.integers(0, max(0, data.find(b"\r\n\r\n"))))
        line_start = data.rfind(b"\r\n", 0, at) + 2
        colon, line_end = data.find(b":", line_start), data.find(b"\r\n", line_start)
        if 0 <= colon < line_end and draw(st.booleans()):
            at = draw(st.integers(colon + 1, line_end))  # most faults worth finding are in header values
        if op == "insert":
            data[at:at] = draw(SIGNIFICANT | st.binary(min_size=1, max_size=4))
        elif op == "replace" and at < len(data):
            data[at : at + 1] = draw(SIGNIFICANT)
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op in ("duplicate", "huge"):
            start = data.rfind(b"\r\n", 0, at) + 2
            end = data.find(b"\r\n", at)
            line = bytes(data[start:end]) if end > start else b"X: y"
            if op == "huge":
                line += b"x" * draw(st.sampled_from([100, 5000, 9000, 70000]))
            data[start:start] = line + b"\r\n"
        elif op == "quotes":
            depth = draw(st.integers(1, 3000))
            data[at:at] = draw(st.sampled_from([b'"' * depth, b'\\"' * depth, b"<" * depth, b'"\\' * depth]))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))) :]
    return bytes(data)


@FUZZ
@given(mutated(), st.integers(0, 5000))
def test_mutated_valid_messages(data, cut):
    exercise(data)
    feed_stream(data, cut)


# 3. Generated well-formed requests round-trip --------------------------------------------------------------

TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12)
LOWER_TOKEN = TOKEN.map(str.lower)
ESCAPE = st.sampled_from(["%20", "%00", "%41", "%3A", "%40"])
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
HOST = (st.lists(LABEL, min_size=1, max_size=4).map(".".join)
        | st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
        | st.sampled_from(["[2001:db8::1]", "[::1]", "[fe80::a:b:c]"]))  # fmt: skip
USER = st.lists(st.text(alphabet="abcXYZ019-_.!~*'()&=+$,;?/", min_size=1, max_size=4) | ESCAPE, min_size=1,
                max_size=5).map("".join)  # fmt: skip
PARAM_TEXT = st.lists(st.text(alphabet="abcxyz019-_.!~*'()[]/:&+$", min_size=1, max_size=5) | ESCAPE.map(str.lower),
                      min_size=1, max_size=3).map("".join)  # fmt: skip
HEADER_TEXT = st.text(alphabet="abcXYZ019-_.!~*'()[]/?:+$", min_size=1, max_size=8)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=30)
GEN_VALUE = st.none() | LOWER_TOKEN | TEXT.map(quote)


@st.composite
def sip_uris(draw) -> SipUri:
    user = draw(st.none() | USER)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=draw(st.none() | st.text(alphabet="abc019&=+$,", max_size=6)) if user else None,
        host=draw(HOST),
        port=draw(st.none() | st.integers(0, 65535)),
        params=draw(st.dictionaries(PARAM_TEXT, st.none() | PARAM_TEXT, max_size=3)),
        headers=draw(st.dictionaries(HEADER_TEXT, HEADER_TEXT, max_size=2)),
    )


@st.composite
def name_addrs(draw, tag: bool = True) -> NameAddr:
    params = draw(st.dictionaries(LOWER_TOKEN, GEN_VALUE, max_size=3))
    if tag:
        params["tag"] = draw(TOKEN)
    return NameAddr(draw(st.none() | TEXT), draw(sip_uris()), params)


@st.composite
def vias(draw) -> Via:
    params = {"branch": "z9hG4bK" + draw(TOKEN)}
    params.update(draw(st.dictionaries(LOWER_TOKEN.filter(lambda n: n != "branch"), GEN_VALUE, max_size=3)))
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS", "SCTP"]))
    return Via(transport, draw(HOST), draw(st.none() | st.integers(0, 65535)), params)


@st.composite
def requests(draw) -> tuple[Request, list]:
    method = draw(st.sampled_from(["INVITE", "REGISTER", "OPTIONS", "BYE", "ACK", "CANCEL"]) | TOKEN)
    via_list, frm, to, contact = draw(st.lists(vias(), min_size=1, max_size=3)), draw(name_addrs()), draw(
        name_addrs(tag=draw(st.booleans()))), draw(name_addrs(tag=False))  # fmt: skip
    ruri = draw(sip_uris()).with_(headers={})
    headers = Headers([("Via", str(via)) for via in via_list])
    headers.add("From", str(frm))
    headers.add("To", str(to))
    headers.add("Call-ID", draw(TOKEN) + "@" + draw(HOST))
    headers.add("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}")
    headers.add("Max-Forwards", str(draw(st.integers(0, 255))))
    headers.add("Contact", str(contact))
    for name, value in draw(st.lists(st.tuples(TOKEN.map(lambda n: "X-" + n), TEXT.map(lambda v: v.strip(" \t"))),
                                     max_size=3)):  # fmt: skip
        headers.add(name, value)
    body = draw(st.binary(max_size=300))
    headers.add("Content-Length", str(len(body)))
    return Request(method, ruri, headers, body), [ruri, frm, to, contact, *via_list]


@FUZZ
@given(requests())
def test_generated_requests_round_trip(generated):
    request, parts = generated
    parsed = parse(request.to_bytes())
    assert parsed == request
    validate_request(parsed)
    assert parse_uri(str(parts[0])) == parts[0]
    for address in parts[1:4]:
        assert parse_name_addr(str(address)) == address
    for via in parts[4:]:
        assert parse_via(str(via)) == via
    assert parsed.branch == parts[4].branch and parsed.from_tag == parts[1].tag


# 4. Header value parsers on arbitrary text -----------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300) | SIPPY)
def test_value_parsers_raise_only_sip_errors(text):
    for parser in (parse_uri, lambda t: parse_uri(t, sip_only=False), parse_name_addr, parse_via, parse_credentials,
                   lambda t: parse_contacts([t])):  # fmt: skip
        with contextlib.suppress(SipError):
            parser(text)
