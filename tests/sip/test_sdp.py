"""SDP parsing and building for the engine's offer/answer (telephony/sip/sdp.py)."""

from __future__ import annotations

import pytest

from telephony.sip import SipError
from telephony.sip.sdp import Codec, build_sdp, common_codecs, parse_sdp, unreadable_body

PJSUA_OFFER = (
    "v=0\r\no=- 3906425839 3906425839 IN IP4 192.168.1.20\r\ns=pjmedia\r\nb=AS:84\r\nt=0 0\r\n"
    "a=X-nat:0\r\nm=audio 4000 RTP/AVP 8 0 9 101\r\nc=IN IP4 192.168.1.20\r\nb=TIAS:64000\r\n"
    "a=rtcp:4001 IN IP4 192.168.1.20\r\na=sendrecv\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
)


def test_a_real_offer_gives_the_media_address_and_codecs_in_order():
    session = parse_sdp(PJSUA_OFFER.encode())
    assert session.audio_address() == ("192.168.1.20", 4000)
    audio = session.audio
    assert [(c.payload, c.name, c.rate) for c in audio.codecs] == [
        (8, "PCMA", 8000), (0, "PCMU", 8000), (9, "G722", 8000), (101, "TELEPHONE-EVENT", 8000)]  # fmt: skip
    assert audio.codecs[3].fmtp == "0-16" and audio.ptime == 20 and audio.direction == "sendrecv"


def test_hold_and_session_level_connection():
    text = "v=0\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na=sendonly\r\n"
    session = parse_sdp(text)
    assert session.audio_address() is None and session.audio.direction == "sendonly"


@pytest.mark.parametrize("text", ["", "v=0\r\n", "v=0\r\nm=audio x RTP/AVP 0\r\n", "v=0\r\nc=IN XX 1.2.3.4\r\n",
                                  "garbage", "v=0\r\nm=audio 70000 RTP/AVP 0\r\n"])  # fmt: skip
def test_unusable_sdp_is_488(text):
    with pytest.raises(SipError) as error:
        parse_sdp(text)
    assert error.value.status == 488


def test_an_answer_built_here_parses_back_and_keeps_only_common_codecs():
    offer = parse_sdp(PJSUA_OFFER).audio.codecs
    supported = [Codec(0, "PCMU", 8000), Codec(101, "TELEPHONE-EVENT", 8000)]
    common = common_codecs(offer, supported)
    assert [c.name for c in common] == ["PCMU", "TELEPHONE-EVENT"]
    body = build_sdp("10.0.0.5", 20000, common, session_id=42)
    back = parse_sdp(body)
    assert back.audio_address() == ("10.0.0.5", 20000)
    assert [(c.payload, c.name) for c in back.audio.codecs] == [(0, "PCMU"), (101, "TELEPHONE-EVENT")]
    assert b"a=fmtp:101 0-16" in body and b"a=rtpmap:101 telephone-event/8000" in body


WEBRTC_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 9000 RTP/AVP 111 0 110 126\r\n"
    "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
)


def test_opus_keeps_its_channels_both_ways_and_its_48k_clock():
    codecs = parse_sdp(WEBRTC_OFFER).audio.codecs
    assert [(c.payload, c.name, c.rate, c.channels) for c in codecs] == [
        (111, "OPUS", 48000, 2), (0, "PCMU", 8000, 1), (110, "TELEPHONE-EVENT", 48000, 1),
        (126, "TELEPHONE-EVENT", 8000, 1)]  # fmt: skip
    supported = [Codec(111, "OPUS", 48000, channels=2), Codec(101, "TELEPHONE-EVENT", 48000)]
    common = common_codecs(codecs, supported)
    assert [(c.payload, c.rate) for c in common] == [(111, 48000), (110, 48000)]
    body = build_sdp("10.0.0.5", 20000, common, session_id=7)
    # RFC 7587: the rtpmap is opus/48000/2 whatever the sender codes; RFC 4855 spellings
    assert b"a=rtpmap:111 opus/48000/2\r\n" in body and b"a=rtpmap:110 telephone-event/48000\r\n" in body
    assert b"a=fmtp:111 minptime=10;useinbandfec=1" in body
    back = parse_sdp(body).audio.codecs
    assert [(c.name, c.rate, c.channels) for c in back] == [("OPUS", 48000, 2), ("TELEPHONE-EVENT", 48000, 1)]
    assert b"PCMU/8000\r\n" in build_sdp("10.0.0.5", 20000, [Codec(0, "PCMU", 8000)], session_id=7)


def test_dtmf_goes_with_the_voice_codecs_clock_rate_whatever_the_offers_order():
    from telephony.engine.negotiation import media_plan
    from telephony.sip.sdp import event_payload, telephone_events

    pcmu, pcma, opus = Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(111, "OPUS", 48000, channels=2)
    wide, narrow = Codec(110, "TELEPHONE-EVENT", 48000), Codec(101, "TELEPHONE-EVENT", 8000)
    offer = [opus, wide, pcmu, narrow]
    assert telephone_events(offer, pcmu) == [narrow] and telephone_events(offer, opus) == [wide]
    assert event_payload(offer, pcmu) == 101 and event_payload([pcmu], pcmu) is None
    # The phone answers PCMU with the engine's 8 kHz events: relayed untouched, whichever event came first.
    assert media_plan([pcmu, wide, narrow], [pcmu, narrow])[2:] == (None, None)
    # PCMA against the caller's PCMU: the events are converted between the 8 kHz types.
    _, _, to_b, _ = media_plan([pcmu, wide, narrow], [pcma, Codec(96, "TELEPHONE-EVENT", 8000)])
    assert to_b is not None


@pytest.mark.parametrize(
    ("content_type", "encoding", "body", "answer"),
    [
        ("application/sdp", None, b"v=0", None),
        ("Application/SDP; charset=utf-8", "identity", b"v=0", None),  # media types compare without case
        (None, None, b"v=0", None),  # no Content-Type: read as SDP, as phones that leave it out mean
        ("text/plain", None, b"", None),  # no body: a delayed offer
        ("text/plain", None, b"hello", [("Accept", "application/sdp")]),
        ("multipart/mixed; boundary=x", None, b"--x", [("Accept", "application/sdp")]),
        ("application/sdp", "gzip", b"\x1f\x8b", [("Accept-Encoding", "identity")]),
    ],
)
def test_a_body_the_engine_cannot_read_gets_the_headers_of_a_415(content_type, encoding, body, answer):
    assert unreadable_body(content_type, encoding, body) == answer
