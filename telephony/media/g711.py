"""G.711 (ITU-T): mu-law and A-law, and the conversion between them as 256-byte tables, so that a
packet is transcoded by one bytes.translate() and the RTP header's payload type rewritten."""

from __future__ import annotations

from collections.abc import Callable

BIAS = 0x84


def ulaw_decode(code: int) -> int:
    code = ~code & 0xFF
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    sample = (((mantissa << 3) + BIAS) << exponent) - BIAS
    return -sample if sign else sample


def _segment(value: int, ends: tuple[int, ...]) -> int:
    return next((i for i, end in enumerate(ends) if value <= end), len(ends))


_ULAW_ENDS = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def ulaw_encode(sample: int) -> int:
    """A 16-bit sample to mu-law, on its 14 most significant bits (as the ITU reference does)."""
    value = sample >> 2
    mask = 0xFF
    if value < 0:
        value, mask = -value, 0x7F
    value = min(value, 8159) + (BIAS >> 2)
    segment = _segment(value, _ULAW_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((value >> (segment + 1)) & 0x0F)) ^ mask


def alaw_decode(code: int) -> int:
    code ^= 0x55
    sign, exponent, mantissa = code & 0x80, (code >> 4) & 0x07, code & 0x0F
    sample = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def alaw_encode(sample: int) -> int:
    """A 16-bit sample to A-law, on its 13 most significant bits."""
    value = sample >> 3
    mask = 0xD5
    if value < 0:
        value, mask = -value - 1, 0x55
    segment = _segment(value, _ALAW_ENDS)
    if segment >= 8:
        return 0x7F ^ mask
    step = 1 if segment < 2 else segment
    return ((segment << 4) | ((value >> step) & 0x0F)) ^ mask


ULAW_TO_ALAW = bytes(alaw_encode(ulaw_decode(code)) for code in range(256))
ALAW_TO_ULAW = bytes(ulaw_encode(alaw_decode(code)) for code in range(256))
TABLES = {("PCMU", "PCMA"): ULAW_TO_ALAW, ("PCMA", "PCMU"): ALAW_TO_ULAW}


def transcoder(source: str, target: str, payload_types: dict[int, int]) -> Callable[[bytes], bytes]:
    """A packet converter from one G.711 law to the other. payload_types maps the source leg's RTP
    payload types to the target leg's (the voice codec and telephone-event); packets of other types,
    and telephone-event ones, keep their payload."""
    table = TABLES[(source, target)]
    voice = next(pt for pt, name in ((0, "PCMU"), (8, "PCMA")) if name == source)

    def convert(packet: bytes) -> bytes:
        first, second = packet[0], packet[1]
        payload_type = second & 0x7F
        head = 12 + 4 * (first & 0x0F)
        if first & 0x10 and len(packet) >= head + 4:  # header extension: its length in 32-bit words
            head += 4 + 4 * int.from_bytes(packet[head + 2 : head + 4], "big")
        mapped = payload_types.get(payload_type, payload_type)
        header = packet[:1] + bytes(((second & 0x80) | mapped,)) + packet[2:head]
        if payload_type != voice:
            return header + packet[head:]
        end = len(packet) - (packet[-1] if first & 0x20 else 0)  # RTP padding (P bit): its bytes stay as they are
        return header + packet[head:end].translate(table) + packet[end:]

    return convert
