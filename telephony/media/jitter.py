"""Incoming RTP as one frame per 20 ms tick: a jitter buffer, and a stream that decodes and conceals.

`JitterBuffer` keeps one stream's payloads by frame index (the RTP timestamp in 20 ms steps, with
32-bit wrap) and hands out one per `pop()`, the consumer's 20 ms tick, or None for a gap. It
reorders within its depth, drops duplicates and packets whose turn has passed, and restarts on a
new SSRC, on a marker bit far from the playout point, or on a run of packets in sequence that
all fall outside it (a sender that restarted its timestamps without saying so).

How deep: playout starts `target` ticks after the first packet of a talkspurt arrived. When the
buffer runs dry it waits (the playout point does not move, so a packet that was only late still
plays) and starts again `target` ticks after packets come back. Adaptive mode raises the target by
one frame (up to `max_depth`) for each packet that came too late and each dry spell that ended
with the awaited packet, and lowers it by one after 10 s without either. Whatever the mode, a
buffer that stays more than SLACK frames above its target (a sender whose clock runs fast) drops
one frame every TRIM_AFTER ticks, so the delay does not grow without bound.

Packets are assumed to carry 20 ms (the engine's SDP asks for ptime 20); a packet of another length
is still one frame, its timestamp rounded down to the 20 ms grid, and a decoded frame of another
size is cut or padded to 160 samples.

`InboundStream` is what a consumer plugs into an endpoint's `sink`: telephone-event packets (RFC
4733) go to a callback and never into the audio, comfort noise (RFC 3389) and unknown payload
types are dropped (heard as a gap), the rest goes through a jitter buffer and the codec's decoder.
A gap is concealed cheaply: the last frame once more at half the level, then silence (None).
`next_frames()` reads many streams at once (a mixer's parties): G.711 payloads, one byte a sample
through a table, are decoded in one call per law for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from struct import Struct
from typing import Any

import numpy as np

from telephony.media import codecs

FRAME = 0.020
SLACK = 2  # frames above the target before the buffer cuts its delay
TRIM_AFTER = 10  # ticks above target + SLACK before one frame is dropped
SETTLE = 500  # ticks (10 s) without a late packet before the adaptive target shrinks by a frame
FORWARD = 50  # frames (1 s) ahead of the playout point: beyond, a packet while playing is a jump
RESTART_AFTER = 5  # packets in sequence, all refused: the sender restarted its timestamps
MAX_FRAMES = 100  # held at most (2 s): a sender spraying timestamps cannot fill memory
COMFORT_NOISE = 13  # RFC 3389 payload type: played as a gap
# Codecs without state whose payload is one byte a sample: the payloads (frames) of many streams are
# decoded (encoded) in one call, and one encoding of a frame serves every stream.
G711_CODECS = frozenset({"PCMU", "PCMA"})
SAMPLES = codecs.FRAME_SAMPLES
_HEADER = Struct("!BBHII")
_AFTER_FIRST_BYTE = Struct("!BHII")
_MASK = 0xFFFFFFFF


def parse_rtp(packet: bytes) -> tuple[int, int, int, int, int, bytes] | None:
    """(marker, payload type, sequence, timestamp, SSRC, payload) of an RTP packet; CSRCs, header
    extension and padding skipped. None if it is too short for what its header announces."""
    if len(packet) < 12:
        return None
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(packet)
    if b0 == 0x80:  # version 2, no padding, extension or CSRC: nearly every packet
        return b1 & 0x80, b1 & 0x7F, seq, ts, ssrc, packet[12:]
    if b0 & 0xC0 != 0x80:
        return None
    start, end = 12 + 4 * (b0 & 0x0F), len(packet)
    if b0 & 0x10:
        if end < start + 4:
            return None
        start += 4 + 4 * int.from_bytes(packet[start + 2 : start + 4], "big")
    if b0 & 0x20:
        end -= packet[-1]
    if start > end:
        return None
    return b1 & 0x80, b1 & 0x7F, seq, ts, ssrc, packet[start:end]


class JitterBuffer:
    """One stream's payloads in playout order: `put()` per packet, `pop()` per 20 ms tick."""

    def __init__(self, *, step: int = 160, depth: int = 2, max_depth: int = 10, adaptive: bool = True) -> None:
        """step: RTP timestamp units per 20 ms (the clock rate / 50); depth: frames of delay before
        playout (the fixed depth, or where adaptive mode starts and the least it goes down to)."""
        if not 1 <= depth <= max_depth:
            raise ValueError("need 1 <= depth <= max_depth")
        self.step = step
        self.min_depth, self.max_depth, self.adaptive = depth, max_depth, adaptive
        self.target = depth
        self.received = self.played = self.lost = self.late = self.duplicates = 0
        self.underruns = self.trimmed = self.resyncs = self.refused = 0
        self._calm = 0
        self._reset(None)

    def _reset(self, ssrc: int | None) -> None:
        self.ssrc = ssrc
        self.frames: dict[int, bytes] = {}
        self.synced = False  # next_ts and next_idx mean something
        self.playing = False
        self.next_ts = self.next_idx = 0  # the frame the next pop() plays, as RTP timestamp and index
        self.floor: int | None = None  # frames below this index had their turn (None: nothing played yet)
        self.high = -1
        self.waited = self._over = self._refused_run = 0
        self._bad_seq = -1

    def put(self, seq: int, ts: int, ssrc: int, marker: int, payload: bytes) -> None:
        if ssrc != self.ssrc:
            if self.ssrc is not None:
                self.resyncs += 1
            self._reset(ssrc)
        if not self.synced:
            self.next_ts, self.next_idx, self.synced = ts, 0, True
        rel = (((ts - self.next_ts + 0x80000000) & _MASK) - 0x80000000) // self.step
        idx = self.next_idx + rel
        floor = self.floor
        if (floor is not None and idx < floor) or (self.playing and rel > FORWARD):
            if (marker and not -FORWARD <= rel <= FORWARD) or self._refused_in_a_row(seq) >= RESTART_AFTER:
                self.resyncs += 1
                self._reset(ssrc)
                self.next_ts, self.next_idx, self.synced = ts, 0, True
                idx = 0
            else:
                if floor is not None and idx < floor:
                    self.late += 1
                    if floor - idx <= self.max_depth:  # jitter; further back is not (a restart, a stray)
                        self._deeper()
                else:
                    self.refused += 1
                return
        self._refused_run = 0
        frames = self.frames
        if idx in frames:
            self.duplicates += 1
            return
        if len(frames) >= MAX_FRAMES:
            self.refused += 1
            return
        frames[idx] = payload
        self.received += 1
        if idx > self.high:
            self.high = idx
        if not self.playing and idx == floor:  # what a dry spell waited for was late, not lost
            self._deeper()

    def _refused_in_a_row(self, seq: int) -> int:
        self._refused_run = self._refused_run + 1 if seq == self._bad_seq else 1
        self._bad_seq = (seq + 1) & 0xFFFF
        return self._refused_run

    def _deeper(self) -> None:
        self._calm = 0
        if self.adaptive and self.target < self.max_depth:
            self.target += 1

    def _seek(self, idx: int) -> None:
        self.next_ts = (self.next_ts + (idx - self.next_idx) * self.step) & _MASK
        self.next_idx = idx

    def _advance(self) -> None:
        self.next_idx += 1
        self.next_ts = (self.next_ts + self.step) & _MASK
        self.floor = self.next_idx

    def pop(self) -> bytes | None:
        """The payload due at this tick, or None: a gap (lost, not yet there, or still buffering)."""
        frames = self.frames
        if not self.playing:
            if not frames:
                return None
            self.waited += 1
            if self.waited < self.target:
                return None
            self.waited = 0
            self.playing = True
            self._seek(min(frames))
        payload = frames.pop(self.next_idx, None)
        if payload is None:
            if not frames:  # dry: wait where we are, the packet may only be late
                self.playing = False
                self.underruns += 1
                self.floor = self.next_idx
                return None
            first = min(frames)
            if first - self.next_idx > self.target + SLACK:  # a jump in the timestamps: go there
                self._seek(first)
                payload = frames.pop(first)
            else:
                self.lost += 1
        if payload is not None:
            self.played += 1
        self._advance()
        if self.high - self.next_idx >= self.target + SLACK:
            self._over += 1
            if self._over >= TRIM_AFTER:  # persistently too deep: drop the oldest frame
                self._over = 0
                if frames.pop(self.next_idx, None) is not None:
                    self.trimmed += 1
                self._advance()
        else:
            self._over = 0
        self._calm += 1
        if self._calm >= SETTLE:
            self._calm = 0
            if self.adaptive and self.target > self.min_depth:
                self.target -= 1
        return payload

    def stats(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "played": self.played,
            "lost": self.lost,
            "late": self.late,
            "duplicates": self.duplicates,
            "underruns": self.underruns,
            "trimmed": self.trimmed,
            "resyncs": self.resyncs,
            "refused": self.refused,
            "depth": self.target,
            "buffered": len(self.frames),
        }


class InboundStream:
    """One incoming RTP stream as 8 kHz linear frames: `push` is the endpoint's sink, `next_frame()`
    the consumer's tick."""

    def __init__(self, codec: str, *, voice_pt: int | None = None, event_pts: Iterable[int] = (),
                 on_event: Callable[[bytes], None] | None = None, clock_rate: int = 8000, depth: int = 2,
                 max_depth: int = 10, adaptive: bool = True) -> None:  # fmt: skip
        """voice_pt: the payload type of the codec (None: any type that is not an event or comfort
        noise); event_pts: telephone-event payload types, whose packets go whole to `on_event`."""
        self.decode = codecs.new_decoder(codec)
        self.codec = codec.upper()
        self.g711 = self.codec in G711_CODECS
        self.buffer = JitterBuffer(step=clock_rate // 50, depth=depth, max_depth=max_depth, adaptive=adaptive)
        self.voice_pt = voice_pt
        self.event_pts = frozenset(event_pts)
        self.on_event = on_event
        self.events = self.others = self.malformed = self.concealed = 0
        self._last: np.ndarray | None = None

    def push(self, packet: bytes) -> None:
        if packet[0] == 0x80:  # no CSRC, extension or padding: nearly every packet, read here
            b1, seq, ts, ssrc = _AFTER_FIRST_BYTE.unpack_from(packet, 1)
            marker, pt, payload = b1 & 0x80, b1 & 0x7F, packet[12:]
        else:
            parsed = parse_rtp(packet)
            if parsed is None:
                self.malformed += 1
                return
            marker, pt, seq, ts, ssrc, payload = parsed
        if pt in self.event_pts:
            self.events += 1
            if self.on_event is not None:
                self.on_event(packet)
        elif pt == self.voice_pt or (self.voice_pt is None and pt != COMFORT_NOISE):
            self.buffer.put(seq, ts, ssrc, marker, payload)
        else:
            self.others += 1

    def next_frame(self) -> np.ndarray | None:
        """160 int16 samples for this tick; None is silence (nothing to play, concealment done)."""
        return self._frame(self.buffer.pop())

    def next_payload(self) -> bytes | None:
        """This tick's payload as it came, for a consumer that decodes many streams' G.711 at once and
        then asks `frame_of` (the recordings' clock): the two together are `next_frame()`."""
        return self.buffer.pop()

    def frame_of(self, payload: bytes | None, decoded: np.ndarray | None = None) -> np.ndarray | None:
        """What next_frame() gives for `payload`; `decoded`: its 20 ms frame, decoded by the caller."""
        if decoded is not None:
            self._last = decoded
            return decoded
        return self._frame(payload)

    def _frame(self, payload: bytes | None) -> np.ndarray | None:
        if payload is not None:
            frame = self.decode(payload)
            if frame.shape[0] == codecs.FRAME_SAMPLES:
                self._last = frame
                return frame
            if frame.shape[0]:  # another packet length than 20 ms
                self._last = frame = _fit(frame)
                return frame
            # nothing decoded (a payload the codec could not read): concealed like a lost packet
        last = self._last
        if last is None:
            return None
        self._last = None
        self.concealed += 1
        return last >> 1

    def stats(self) -> dict[str, Any]:
        return {**self.buffer.stats(), "events": self.events, "others": self.others, "concealed": self.concealed}


def next_frames(streams: Sequence[InboundStream]) -> tuple[list[int], np.ndarray | None]:
    """`next_frame()` of every stream at once: the indexes of the streams that have a frame, and their
    frames in that order as one (count, 160) int16 array (None if no stream has one)."""
    rows: list[int] = []
    frames: list[np.ndarray] = []
    batches: dict[str, tuple[list[int], list[bytes], list[InboundStream]]] = {}
    for i, stream in enumerate(streams):
        payload = stream.buffer.pop()
        if payload is not None and stream.g711 and len(payload) == SAMPLES:
            batch = batches.get(stream.codec)
            if batch is None:
                batch = batches[stream.codec] = ([], [], [])
            batch[0].append(i)
            batch[1].append(payload)
            batch[2].append(stream)
            continue
        frame = stream._frame(payload)
        if frame is not None:
            rows.append(i)
            frames.append(frame)
    parts = [np.stack(frames)] if frames else []
    for indexes, payloads, members in batches.values():
        decoded = members[0].decode(b"".join(payloads)).reshape(-1, SAMPLES)
        for stream, frame in zip(members, decoded, strict=True):
            stream._last = frame
        rows += indexes
        parts.append(decoded)
    if not parts:
        return rows, None
    return rows, parts[0] if len(parts) == 1 else np.concatenate(parts)


def _fit(frame: np.ndarray) -> np.ndarray:
    fitted = np.zeros(codecs.FRAME_SAMPLES, dtype=np.int16)
    count = min(frame.shape[0], codecs.FRAME_SAMPLES)
    fitted[:count] = frame[:count]
    return fitted
