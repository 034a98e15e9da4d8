"""DTMF: collecting digits a caller presses, and sending digits.

Received as RFC 4733 telephone events: a key press is a train of packets with the timestamp of its
start and a growing duration, the last one with the end bit, sent three times. A digit counts once
per (SSRC, timestamp) when its first end packet arrives, or when the next event starts if all its
end packets were lost. Optionally also in-band, from 8 kHz audio: the power of the eight DTMF
frequencies in each 20 ms frame (Goertzel's single-bin DFT, here one 16 x 160 matrix product); a
digit is two frames (40 ms) of one row and one column tone, well above the other rows and columns
and most of the frame's energy, and it counts again only after a pause. Once a stream has sent
telephone events, its audio is no longer searched (phones that send both would count twice).

`DtmfCollector.collect()` is what an IVR or a PIN prompt awaits; digits pressed before it is called
(during the prompt) are kept and count. `digit_train()` and `tone_frames()` make the packets and the
audio of one digit; `DtmfSender` sends digits as events on an endpoint as a stream of its own (the
mixer sends them in its parties' own streams: `Party.send_digits`).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from struct import Struct

import numpy as np

from telephony.media import codecs
from telephony.media.jitter import COMFORT_NOISE, parse_rtp
from telephony.media.rtp import RtpEndpoint

DIGITS = "0123456789*#ABCD"  # RFC 4733 events 0-15
EVENTS = {digit: event for event, digit in enumerate(DIGITS)}
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
KEYPAD_INDEX = {key: (row, column) for row, keys in enumerate(KEYPAD) for column, key in enumerate(keys)}
FRAME = 0.020
_EVENT = Struct("!BBH")
_HEADER = Struct("!BBHII")
_END = 0x80


@dataclass(frozen=True)
class Collected:
    """What `collect()` got: the digits (without the terminator) and why it stopped:
    "terminator", "max_digits" or "timeout"."""

    digits: str
    reason: str


def digit_train(digit: str, *, duration: float = 0.1, volume: int = 10, step: int = 160) -> list[bytes]:
    """The RFC 4733 payloads of one key press, one per 20 ms: durations step, 2 step, ... up to the
    whole duration, whose packet has the end bit and is sent three times."""
    event = EVENTS[digit.upper()]  # KeyError: not a DTMF key
    count = max(1, round(duration / FRAME))
    volume &= 0x3F
    train = [_EVENT.pack(event, volume, min(k * step, 0xFFFF)) for k in range(1, count)]
    return train + [_EVENT.pack(event, _END | volume, min(count * step, 0xFFFF))] * 3


def tone_frames(digit: str, *, duration: float = 0.1, amplitude: int = 7000) -> list[np.ndarray]:
    """The in-band audio of one key press: 20 ms frames of its row and column tones at 8 kHz."""
    index = KEYPAD_INDEX[digit.upper()]
    t = np.arange(max(1, round(duration / FRAME)) * codecs.FRAME_SAMPLES) / codecs.RATE
    wave = np.sin(2 * np.pi * ROWS[index[0]] * t) + np.sin(2 * np.pi * COLUMNS[index[1]] * t)
    samples = np.round(wave * amplitude).astype(np.int16)
    return list(samples.reshape(-1, codecs.FRAME_SAMPLES))


_n = np.arange(codecs.FRAME_SAMPLES)
_FREQS = np.array(ROWS + COLUMNS)
_BASIS = np.concatenate([np.cos(2 * np.pi * np.outer(_FREQS, _n) / codecs.RATE),
                         np.sin(2 * np.pi * np.outer(_FREQS, _n) / codecs.RATE)])  # fmt: skip


class ToneDetector:
    """In-band DTMF in 8 kHz frames of 160 samples: `feed(frame)` returns a digit when one starts."""

    MIN_ENERGY = 160 * 400.0**2  # both tones at least ~400 (-38 dBov) each
    OTHERS_BELOW = 0.1  # every other row (column) at least 10 dB below the strongest
    TWIST = 6.3  # 8 dB between the row and the column tone, either way
    SHARE = 0.6  # the two tones hold most of the frame's energy (speech and music do not)

    def __init__(self) -> None:
        self._candidate: str | None = None
        self._count = 0
        self._current: str | None = None

    @classmethod
    def classify(cls, frame: np.ndarray) -> str | None:
        """The digit whose two tones rule this frame, or None."""
        x = frame.astype(np.float64)
        energy = float(x @ x)
        if energy < cls.MIN_ENERGY:
            return None
        projections = _BASIS @ x
        power = projections[:8] ** 2 + projections[8:] ** 2  # |X(f)|^2; a tone of energy E gives E * N / 2
        rows, columns = power[:4], power[4:]
        row, column = int(rows.argmax()), int(columns.argmax())
        top_row, top_column = rows[row], columns[column]
        if np.partition(rows, 2)[2] > top_row * cls.OTHERS_BELOW:
            return None
        if np.partition(columns, 2)[2] > top_column * cls.OTHERS_BELOW:
            return None
        if not 1 / cls.TWIST <= top_column / max(top_row, 1e-9) <= cls.TWIST:
            return None
        if 2 * (top_row + top_column) / x.shape[0] < cls.SHARE * energy:
            return None
        return KEYPAD[row][column]

    def feed(self, frame: np.ndarray | None) -> str | None:
        digit = None if frame is None else self.classify(frame)
        if digit == self._candidate:
            self._count += 1
        else:
            self._candidate, self._count = digit, 1
        if self._count == 2:
            if digit is None:
                self._current = None
            elif digit != self._current:
                self._current = digit
                return digit
        return None


class DtmfCollector:
    """Digits from one caller, from RFC 4733 packets (`push_packet`, an endpoint's sink or a
    mixer party's `on_telephone_event`) and optionally in-band audio (`push_frame`, or the voice
    packets `push_packet` gets when a codec is given)."""

    def __init__(self, *, event_pt: int | None = None, codec: str | None = None, inband: bool = False,
                 on_digit: Callable[[str], None] | None = None) -> None:  # fmt: skip
        """event_pt: the telephone-event payload type (None: every packet given is an event);
        codec: the voice codec, to search voice packets for tones; inband: search `push_frame` audio."""
        self.event_pt = event_pt
        self.on_digit = on_digit
        self._decode = codecs.new_decoder(codec) if codec is not None else None
        self._detector = ToneDetector() if inband or codec is not None else None
        self.events_seen = False
        self._pending: deque[str] = deque()
        self._waiter: asyncio.Future | None = None
        self._event: tuple[int, int] | None = None  # (SSRC, timestamp) of the last event
        self._event_digit = ""
        self._event_counted = True
        self._counted: deque[tuple[int, int]] = deque(maxlen=16)

    # -- input

    def push_packet(self, packet: bytes) -> None:
        parsed = parse_rtp(packet)
        if parsed is None:
            return
        _, pt, _, ts, ssrc, payload = parsed
        if self.event_pt is None or pt == self.event_pt:
            self._telephone_event(ssrc, ts, payload)
        elif self._decode is not None and pt != COMFORT_NOISE and not self.events_seen:
            self.push_frame(self._decode(payload))

    def push_frame(self, frame: np.ndarray | None) -> None:
        """One 20 ms frame of the caller's audio (None: silence), searched for tones."""
        if self._detector is None or self.events_seen:
            return
        digit = self._detector.feed(frame)
        if digit is not None:
            self._digit(digit)

    def _telephone_event(self, ssrc: int, ts: int, payload: bytes) -> None:
        if len(payload) < 4:
            return
        event, flags, _ = _EVENT.unpack_from(payload)
        if event >= len(DIGITS):  # flash and the other non-DTMF events
            return
        self.events_seen = True
        key = (ssrc, ts)
        if key != self._event:
            if key in self._counted:  # a late end packet of an earlier press
                return
            if not self._event_counted:  # the previous press's end packets were all lost
                self._count_event()
            self._event, self._event_digit, self._event_counted = key, DIGITS[event], False
        if flags & _END and not self._event_counted:
            self._count_event()

    def _count_event(self) -> None:
        self._event_counted = True
        self._counted.append(self._event)
        self._digit(self._event_digit)

    def press(self, digit: str) -> None:
        """A key the caller pressed, known otherwise (SIP INFO)."""
        self._digit(digit)

    def _digit(self, digit: str) -> None:
        self._pending.append(digit)
        if self.on_digit is not None:
            self.on_digit(digit)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- output

    @property
    def pending(self) -> str:
        """Digits pressed and not yet collected (type-ahead)."""
        return "".join(self._pending)

    def flush(self) -> None:
        """Forget the type-ahead (before a prompt whose answer must not be typed ahead)."""
        self._pending.clear()

    async def collect(self, *, max_digits: int = 20, terminator: str | None = "#", first: float = 5.0,
                      between: float = 3.0) -> Collected:  # fmt: skip
        """Digits until `terminator` (not included), `max_digits`, or a timeout: `first` seconds for
        the first digit, `between` seconds after each one."""
        if self._waiter is not None:
            raise RuntimeError("already collecting")
        loop = asyncio.get_running_loop()
        digits: list[str] = []
        timeout = first
        while True:
            if not self._pending:
                self._waiter = loop.create_future()
                try:
                    await asyncio.wait_for(self._waiter, timeout)
                except TimeoutError:
                    return Collected("".join(digits), "timeout")
                finally:
                    self._waiter = None
            digit = self._pending.popleft()
            if digit == terminator:
                return Collected("".join(digits), "terminator")
            digits.append(digit)
            if len(digits) >= max_digits:
                return Collected("".join(digits), "max_digits")
            timeout = between


class DtmfSender:
    """Sends digits as RFC 4733 events on an endpoint, in an RTP stream of its own (for a leg that
    nothing else is sending on; a mixer party sends them in its own stream: `Party.send_digits`)."""

    def __init__(self, endpoint: RtpEndpoint, payload_type: int, *, duration: float = 0.1, pause: float = 0.1,
                 volume: int = 10) -> None:  # fmt: skip
        self.endpoint, self.payload_type = endpoint, payload_type
        self.duration, self.pause, self.volume = duration, pause, volume
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.sent = 0

    async def send(self, digits: str) -> None:
        """Each digit as a train of packets 20 ms apart, `pause` seconds between digits."""
        loop = asyncio.get_running_loop()
        step = self.endpoint.clock_rate // 50
        start, tick = loop.time(), 0
        pause_ticks = round(self.pause / FRAME)
        for number, digit in enumerate(digits):
            if number:
                tick += pause_ticks
            event_ts = (self.timestamp + tick * step) & 0xFFFFFFFF
            for index, payload in enumerate(digit_train(digit, duration=self.duration, volume=self.volume,
                                                        step=step)):  # fmt: skip
                delay = start + tick * FRAME - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                marker = 0x80 if index == 0 else 0
                header = _HEADER.pack(0x80, marker | self.payload_type, self.seq, event_ts, self.ssrc)
                self.endpoint.send_rtp(header + payload)
                self.seq = (self.seq + 1) & 0xFFFF
                self.sent += 1
                tick += 1
        self.timestamp = (self.timestamp + tick * step) & 0xFFFFFFFF
