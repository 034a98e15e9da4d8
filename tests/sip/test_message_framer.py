"""Framing SIP over TCP/TLS: Content-Length cuts the stream, keep-alives are skipped, memory stays bounded."""

from __future__ import annotations

import pytest

from telephony.sip import MAX_BODY_BYTES, MAX_MESSAGE_BYTES, SipError, StreamFramer
from tests.sip.test_message import HEAD, raw


def options(n: int, body: bytes = b"") -> bytes:
    lines = [h.replace("1 INVITE", f"{n} OPTIONS") for h in HEAD]
    return raw(*lines, start="OPTIONS sip:bob@example.com SIP/2.0", body=body)


def test_several_messages_in_one_read_come_out_in_order():
    framer = StreamFramer()
    messages = framer.feed(options(1) + options(2, b"body") + options(3))
    assert [m.cseq[0] for m in messages] == [1, 2, 3]
    assert messages[1].body == b"body"
    assert framer.buffered == 0


def test_a_message_fed_one_byte_at_a_time_comes_out_once_complete():
    framer = StreamFramer()
    data = options(1, b"x" * 10) + options(2)
    out = []
    for i in range(len(data)):
        out += framer.feed(data[i : i + 1])
        if i < len(options(1, b"x" * 10)) - 1:
            assert out == []
    assert [m.cseq[0] for m in out] == [1, 2]


def test_keepalive_pings_and_pongs_between_messages_are_skipped_and_pings_counted():
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.feed(b"\r\n") == []  # half of a ping, or a pong: wait and see
    assert framer.feed(b"\r\n" + options(1) + b"\r\n" + options(2) + b"\r\n\r\n") != []
    assert framer.pings == 3
    assert framer.feed(b"\r\n") == []
    assert [m.cseq[0] for m in framer.feed(options(3))] == [3]


def test_content_length_is_mandatory_on_streams_and_the_stream_is_then_dead():
    framer = StreamFramer()
    with pytest.raises(SipError, match="Content-Length"):
        framer.feed(raw(length=False))
    with pytest.raises(SipError):
        framer.feed(options(1))


@pytest.mark.parametrize(("line", "status"), [("Content-Length: -5", 400), ("l: 5x", 400),
                                               (f"Content-Length: {MAX_BODY_BYTES + 1}", 413)])  # fmt: skip
def test_bad_content_length_kills_the_stream(line, status):
    with pytest.raises(SipError) as info:
        StreamFramer().feed(raw(*HEAD, line, length=False))
    assert info.value.status == status


def test_a_head_that_never_ends_is_refused_before_it_outgrows_the_limit():
    framer = StreamFramer()
    framer.feed(b"INVITE sip:bob@example.com SIP/2.0\r\n")
    with pytest.raises(SipError) as info:
        for _ in range(MAX_MESSAGE_BYTES // 1000 + 2):
            framer.feed(b"X-Padding: " + b"p" * 987 + b"\r\n")
    assert info.value.status == 513
    assert framer.buffered == 0


def test_a_message_announcing_more_than_the_limit_is_refused_at_once():
    framer = StreamFramer()
    with pytest.raises(SipError) as info:
        framer.feed(raw(*HEAD, f"Content-Length: {MAX_BODY_BYTES}", "X-Big: " + "b" * 6000, length=False))
    assert info.value.status == 513


def test_a_framed_but_malformed_message_is_reported_after_the_good_ones_and_the_stream_goes_on():
    framer = StreamFramer()
    bad = options(9).replace(b"9 OPTIONS", b"9 INVITE")  # CSeq method mismatch
    assert [m.cseq[0] for m in framer.feed(options(1) + bad + options(2))] == [1]
    with pytest.raises(SipError, match="CSeq"):
        framer.feed(b"")
    assert [m.cseq[0] for m in framer.feed(b"")] == [2]


def test_messages_split_across_reads_at_the_blank_line():
    framer = StreamFramer()
    data = options(1, b"abc")
    cut = data.index(b"\r\n\r\n") + 2
    assert framer.feed(data[:cut]) == []
    assert framer.feed(data[cut : cut + 3]) == []
    assert framer.feed(data[cut + 3 :])[0].body == b"abc"
