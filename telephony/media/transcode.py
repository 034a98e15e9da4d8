"""RTP between two legs that speak different codecs: any pair among PCMU, PCMA, G.722 and Opus.

`transcoder(source, target, events=...)` gives the per-packet converter that relay.py calls for one
direction. Each direction has its own decoder and encoder (codecs.py), so codec state is per stream.
A voice packet is decoded to 8 kHz linear audio and encoded again; its header keeps sequence number,
SSRC, marker, CSRCs and extension, with the payload type mapped and the timestamp rescaled when the
two RTP clocks differ (Opus counts 48,000 a second, the others 8,000; G.722 samples at 16 kHz but
its clock is 8000, so G.722 <-> G.711 keeps timestamps as they are). RTP padding is dropped.

Telephone-event packets (RFC 4733) pass with their payload type mapped; when the clocks differ their
timestamp is rescaled like any other (one SSRC, one timeline) and each event's duration by the
ratio of the two legs' telephone-event clocks (telephone-event/48000 beside Opus, RFC 4733 2.1,
gives the same ratio; a longer event than 16 bits of the faster clock saturates at 0xFFFF).

A packet that cannot be converted (a payload the decoder cannot read, a voice frame that is not
20 ms, a payload type the other leg has not negotiated) is dropped and counted in `dropped`: the
converter returns None and never raises into the event loop. The receiver sees a lost packet.

PCMU <-> PCMA stays g711.transcoder's table (one bytes.translate); the same codec with other payload
type numbers (dynamic Opus, telephone-event) only gets its header's payload type rewritten.

Cost per 20 ms packet, one direction (bench/transcode.py: 3000 packets of a 1 kHz tone with noise,
median of 5 runs; Python 3.11, av 18.1.0, numpy 2.4, x86_64, 2 cores shared with other work):

    PCMU -> PCMA   0.5 us (table)   PCMU -> G722  32 us     PCMU -> OPUS  54 us
    PCMA -> PCMU   0.5 us           PCMA -> G722  32 us     PCMA -> OPUS  54 us
    G722 -> PCMU    23 us           G722 -> PCMA  23 us     G722 -> OPUS  75 us
    OPUS -> PCMU    31 us           OPUS -> PCMA  31 us     OPUS -> G722  60 us
    OPUS -> OPUS (other payload type numbers) 0.1 us

A G.711 <-> G.722 call (50 packets a second each way) costs 0.28% of a core, about 350 calls a core
on top of the relay's own ~6 us a packet (PITFALLS.md: 80,000 packets/s at 45% of a core); G.711 <->
Opus 0.43% (about 230), G.722 <-> Opus 0.68% (about 150). The Opus encoder is most of its cost
(codecs.OPUS_OPTIONS: complexity 5). Every pair goes through 8 kHz audio, so G.722 <-> Opus is
narrowband even though both are wideband codecs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from telephony.media import codecs, g711

Convert = Callable[[bytes], bytes | None]  # None: the packet is dropped
_MASK = 0xFFFFFFFF


class CodecLike(Protocol):
    """What is needed of a negotiated codec (telephony.sip.sdp.Codec has it)."""

    payload: int
    name: str
    rate: int  # the RTP clock


def transcoder(source: CodecLike, target: CodecLike, *,
               events: tuple[CodecLike, CodecLike] | None = None) -> Convert:  # fmt: skip
    """A packet converter from the leg that speaks `source` to the leg that speaks `target`; `events`:
    the two legs' telephone-event codecs (source's, target's) when both have one, else their events
    are dropped. KeyError for a codec codecs.py does not know."""
    payload_types = {source.payload: target.payload}
    if events is not None:
        payload_types[events[0].payload] = events[1].payload
    if source.name == target.name and source.rate == target.rate:
        return _remap(payload_types)
    if (source.name, target.name) in g711.TABLES:
        return g711.transcoder(source.name, target.name, payload_types)
    return Transcoder(source, target, events)


def _remap(payload_types: dict[int, int]) -> Convert:
    """Only the payload type rewritten (same codec, other numbers): no decoding."""
    seconds = [bytes(((b & 0x80) | payload_types.get(b & 0x7F, b & 0x7F),)) for b in range(256)]  # marker kept

    def convert(packet: bytes) -> bytes:
        return packet[:1] + seconds[packet[1]] + packet[2:]

    return convert


class _Rescale:
    """RTP timestamps from one clock to another, for rates that divide one another (8000 and 48000).
    Counting from the last packet seen, not from zero, so that the 32-bit wrap of either side is
    followed and a late (reordered) packet lands where it belongs."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        if max(rate_in, rate_out) % min(rate_in, rate_out):
            raise ValueError(f"RTP clocks {rate_in} and {rate_out} do not divide")
        self.up = rate_out // rate_in  # 0 when going down
        self.down = rate_in // rate_out
        self.last_in: int | None = None
        self.last_out = 0

    def __call__(self, timestamp: int) -> int:
        if self.last_in is None:  # the first packet: its timestamp is as good a random start as any
            self.last_in = self.last_out = timestamp
            return timestamp
        delta = (timestamp - self.last_in) & _MASK
        if delta >= 0x80000000:  # behind the last packet: a reordered or repeated one
            delta -= 0x100000000
        if self.up:
            out = (self.last_out + delta * self.up) & _MASK
            if delta > 0:
                self.last_in, self.last_out = timestamp, out
            return out
        step, rest = divmod(delta, self.down)
        out = (self.last_out + step) & _MASK
        if delta > 0:  # the remainder stays counted in the input's units
            self.last_in, self.last_out = (timestamp - rest) & _MASK, out
        return out


class Transcoder:
    """One direction of a call between different codecs (not G.711 to G.711: that is a table)."""

    def __init__(self, source: CodecLike, target: CodecLike, events: tuple[CodecLike, CodecLike] | None = None):
        self.voice, self.voice_out = source.payload, target.payload
        self.decode = codecs.new_decoder(source.name)
        self.encode = codecs.new_encoder(target.name)
        self.rescale = _Rescale(source.rate, target.rate) if source.rate != target.rate else None
        self.events: dict[int, int] = {events[0].payload: events[1].payload} if events else {}
        self.event_rates = (events[0].rate, events[1].rate) if events else (1, 1)
        self.converted = self.dropped = 0

    def __call__(self, packet: bytes) -> bytes | None:
        try:
            out = self._convert(packet)
        except Exception:  # whatever a payload does to a codec, the event loop must not see it
            out = None
        if out is None:
            self.dropped += 1
        else:
            self.converted += 1
        return out

    def _convert(self, packet: bytes) -> bytes | None:
        first, second = packet[0], packet[1]
        head = 12 + 4 * (first & 0x0F)
        if first & 0x10 and len(packet) >= head + 4:  # header extension: its length in 32-bit words
            head += 4 + 4 * int.from_bytes(packet[head + 2 : head + 4], "big")
        end = len(packet) - (packet[-1] if first & 0x20 else 0)
        if end <= head:
            return None
        payload_type = second & 0x7F
        if payload_type == self.voice:
            samples = self.decode(packet[head:end])
            if not len(samples):
                return None
            payload, mapped = self.encode(samples), self.voice_out
            if not payload:
                return None
        elif payload_type in self.events:
            payload, mapped = self._event(packet[head:end]), self.events[payload_type]
        else:
            return None
        timestamp = packet[4:8]
        if self.rescale is not None:
            timestamp = self.rescale(int.from_bytes(timestamp, "big")).to_bytes(4, "big")
        return bytes((first & 0xDF, (second & 0x80) | mapped)) + packet[2:4] + timestamp + packet[8:head] + payload

    def _event(self, payload: bytes) -> bytes:
        rate_in, rate_out = self.event_rates
        if rate_in == rate_out:
            return payload
        blocks = bytearray(payload[: len(payload) // 4 * 4])
        for at in range(0, len(blocks), 4):  # event, E/R/volume, duration (16 bits)
            duration = int.from_bytes(blocks[at + 2 : at + 4], "big") * rate_out // rate_in
            blocks[at + 2 : at + 4] = min(duration, 0xFFFF).to_bytes(2, "big")
        return bytes(blocks)
