"""G.711 conversion tables and the packet transcoder (telephony/media/g711.py)."""

from __future__ import annotations

import warnings

from telephony.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the standard library's G.711 (Python 3.11), as the reference


def test_every_code_and_sample_agrees_with_the_reference_implementation():
    for code in range(256):
        assert g711.ulaw_decode(code) == int.from_bytes(audioop.ulaw2lin(bytes([code]), 2), "little", signed=True)
        assert g711.alaw_decode(code) == int.from_bytes(audioop.alaw2lin(bytes([code]), 2), "little", signed=True)
    for sample in range(-32768, 32768, 7):
        linear = sample.to_bytes(2, "little", signed=True)
        assert g711.ulaw_encode(sample) == audioop.lin2ulaw(linear, 2)[0], sample
        assert g711.alaw_encode(sample) == audioop.lin2alaw(linear, 2)[0], sample


def test_the_tables_convert_between_the_laws_without_drift():
    # silence stays (almost) silence: mu-law 0 becomes A-law +8, its smallest step, and back +8
    assert g711.ULAW_TO_ALAW[0xFF] == 0xD5 and g711.ulaw_decode(g711.ALAW_TO_ULAW[0xD5]) == 8
    for code in range(256):
        there = g711.ULAW_TO_ALAW[code]
        assert abs(g711.alaw_decode(there) - g711.ulaw_decode(code)) <= max(64, abs(g711.ulaw_decode(code)) // 16)
        assert g711.ALAW_TO_ULAW[g711.ULAW_TO_ALAW[g711.ALAW_TO_ULAW[there]]] == g711.ALAW_TO_ULAW[there]


def rtp(payload_type: int, payload: bytes, *, marker: bool = False, csrc: int = 0) -> bytes:
    head = bytes([0x80 | csrc, (0x80 if marker else 0) | payload_type]) + (1234).to_bytes(2, "big")
    return head + (160).to_bytes(4, "big") + (0xCAFE).to_bytes(4, "big") + b"\x00\x00\x00\x01" * csrc + payload


def test_the_transcoder_rewrites_voice_and_maps_payload_types_keeping_the_header():
    convert = g711.transcoder("PCMU", "PCMA", {0: 8, 101: 96})
    voice = bytes(range(160))
    out = convert(rtp(0, voice, marker=True, csrc=1))
    assert out[1] == 0x80 | 8 and out[2:16] == rtp(0, b"", csrc=1)[2:16]
    assert out[16:] == voice.translate(g711.ULAW_TO_ALAW)
    event = bytes([5, 0x0A, 0x01, 0x40])  # RFC 4733: digit 5, volume 10, duration 320
    assert convert(rtp(101, event)) == rtp(96, event)
    back = g711.transcoder("PCMA", "PCMU", {8: 0})
    assert back(rtp(8, voice.translate(g711.ULAW_TO_ALAW)))[12:] == voice.translate(g711.ULAW_TO_ALAW).translate(
        g711.ALAW_TO_ULAW
    )
