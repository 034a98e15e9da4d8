"""Mixing N parties on one 20 ms clock: conferences, barge, whisper and monitoring.

A party is an RtpEndpoint with its codec and payload types. The mixer takes the endpoint's `sink`
over (an InboundStream: jitter buffer, decoder, concealment; telephone events go to the party's
`on_telephone_event`, never into the mix) and sends the party an RTP stream of its own (SSRC,
sequence, timestamp, marker on the first packet) from its own encoder, every 20 ms.

Each tick: every party's next frame; their levels in one numpy pass (the talking indicator, and a
noise gate so that 200 open microphones do not add up to a roar); the sum of what everyone may hear
(int32, after each party's gain); each party hears that sum minus its own frame, clipped to int16.
A party whose frame is not in the sum (silent, gated, muted, heard by a few only) hears the sum
itself, and with G.711 all of them share one encoding of it; with no one audible a party gets a
silence payload encoded once per codec (it keeps NAT bindings and the phone's jitter buffer
alive). What a restricted party says (`heard_by`: whisper) is added only for its listeners, per
listener, after the common case.

    muted      others do not hear the party (monitor: muted and listening)
    deaf       the party hears nothing (silence frames)
    gain       a factor on what the party says
    heard_by   None: everyone; a set of parties: only them (whisper to an agent); empty: no one

The clock is the loop's: ticks are due at start + n x 20 ms, so lateness does not add up; a loop
more than MAX_LATE ticks late skips the missed ticks (timestamps move on) instead of bursting. An
empty mixer stops its timer.

Measured with bench/mixer.py on this machine (2 vCPUs shared with other work, load average 0.3
to 1.0, uvloop, G.711 u-law, every phone sending a 20 ms packet every 20 ms over 127.0.0.1, 3
talking and the others low noise under the gate; 5 s per run, several runs). "Process" is the
mixer process's CPU time (getrusage): receiving, jitter buffers, mixing, sending. "Tick" is the
thread CPU time of one 20 ms tick: every party's frame, the mix, the encodings and the sendto
calls, not the receive path.

    parties            process, % of a core   tick, CPU per 20 ms    tick without sockets
    3                  1.6-1.9                250-310 us (cold)      31 us
    3, 50 such confs   0.4-0.6 each           61-81 us each          -
    50                 4.5-5.9                500-640 us             80 us
    200                14.1-16.6              1.5-1.7 ms             220 us
    200, no gate,      16.4-19.4              1.9-2.2 ms             350 us
      all talking

For comparison, the relay moving as many packets (100 calls: 10,000 packets/s in and out) took
11.1-11.5% of a core in the same sessions: at 200 parties the sockets (a sendto per party and
tick, and the receiving) are about three quarters of the cost, as PITFALLS.md found. "Without
sockets" is the Python and numpy work alone, warm (stand-in endpoints, the tick called in a loop:
`bench/mixer.py --no-sockets`): about 1.1 us a party and tick, and 0.5 us a received packet. A
mixer alone in an idle process pays for cold caches at every tick (the loop sleeps 20 ms in
between), so the 3-party tick falls from ~300 to ~70 us when 50 conferences share the loop. Ticks
were late by 0.7-1.8 ms at p50 (uvloop's timers have a 1 ms resolution) and 1-5.5 ms at p99 (the
most with 50 clocks on one loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable
from struct import Struct
from typing import Any

import numpy as np

from telephony.media import codecs
from telephony.media.dtmf import EVENTS, digit_train, tone_frames
from telephony.media.jitter import G711_CODECS, InboundStream, next_frames
from telephony.media.rtp import RtpEndpoint

log = logging.getLogger(__name__)

FRAME = 0.020
SAMPLES = codecs.FRAME_SAMPLES
TALK_LEVEL = 300  # mean absolute sample value (about -38 dBov) above which a party is talking
GATE_LEVEL = 60  # below this (about -52 dBov: line noise, a quiet room) a frame is not mixed
HANG = 0.3  # seconds the talking indicator and the gate stay on after the level dropped
MAX_LATE = 5  # ticks
BATCH_ENCODE = 4  # own mixes from which G.711 ones are encoded in one call per law
# G.711: no encoder state, so one encoding of a mix serves every listener of it; the others (G.722,
# Opus) encode with each party's own encoder.
_LAWS = sorted(G711_CODECS)
_LAW_ENCODERS = {codec: codecs.new_encoder(codec) for codec in _LAWS}
_HEADER = Struct("!BBHII")
_UNITY = 4096  # gains in Q12
_silence: dict[str, bytes] = {}

Frame = np.ndarray  # 160 int16 samples at 8 kHz
FrameTap = Callable[[Frame | None], None]


def silence_payload(codec: str) -> bytes:
    """One 20 ms frame of silence in `codec`, encoded once per process."""
    payload = _silence.get(codec)
    if payload is None:
        payload = _silence[codec] = codecs.new_encoder(codec)(np.zeros(SAMPLES, dtype=np.int16))
    return payload


class Party:
    """One participant of a Mixer: its leg, what it says and hears. Made by `Mixer.add()`."""

    def __init__(self, mixer: Mixer, endpoint: RtpEndpoint, codec: str, voice_pt: int, event_pt: int | None,
                 name: str, depth: int, clock_rate: int) -> None:  # fmt: skip
        self.mixer: Mixer | None = mixer
        self.endpoint = endpoint
        self.codec = codec.upper()
        self.voice_pt = voice_pt
        self.event_pt = event_pt
        self.name = name
        self.inbound = InboundStream(codec, voice_pt=voice_pt, event_pts=() if event_pt is None else (event_pt,),
                                     on_event=self._telephone_event, clock_rate=clock_rate, depth=depth)  # fmt: skip
        self.encode = codecs.new_encoder(codec)
        self.shared = self.codec in G711_CODECS
        self.silence = silence_payload(self.codec)
        self.step = clock_rate // 50
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.marker = 0x80  # on the first packet
        self.event_ts = 0  # the start of the telephone event being sent
        self._muted = self._deaf = False
        self._gain = 1.0
        self._heard_by: frozenset[Party] | None = None
        self._talking = False
        self._talk_hang = self._gate_hang = 0
        self.outgoing: deque = deque()  # digits being sent: event payloads, tone frames, pauses
        self.on_talking: Callable[[bool], None] | None = None
        self.on_telephone_event: Callable[[bytes], None] | None = None  # each RFC 4733 packet, whole
        self._on_says: FrameTap | None = None
        self._on_hears: FrameTap | None = None

    def _changed(self) -> None:
        if self.mixer is not None:
            self.mixer._dirty = True

    @property
    def muted(self) -> bool:
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        self._muted = bool(value)
        self._changed()

    @property
    def deaf(self) -> bool:
        return self._deaf

    @deaf.setter
    def deaf(self, value: bool) -> None:
        self._deaf = bool(value)
        self._changed()

    @property
    def gain(self) -> float:
        return self._gain

    @gain.setter
    def gain(self, value: float) -> None:
        if not 0.0 <= value <= 8.0:
            raise ValueError("gain must be between 0 and 8")
        self._gain = float(value)
        self._changed()

    @property
    def heard_by(self) -> frozenset[Party] | None:
        return self._heard_by

    @heard_by.setter
    def heard_by(self, parties: Iterable[Party] | None) -> None:
        self._heard_by = None if parties is None else frozenset(parties)
        self._changed()

    @property
    def on_says(self) -> FrameTap | None:
        """Called each tick with what the party said (decoded, concealed; None: nothing), muted or not."""
        return self._on_says

    @on_says.setter
    def on_says(self, tap: FrameTap | None) -> None:
        self._on_says = tap
        self._changed()

    @property
    def on_hears(self) -> FrameTap | None:
        """Called each tick with what the party is sent (None: silence)."""
        return self._on_hears

    @on_hears.setter
    def on_hears(self, tap: FrameTap | None) -> None:
        self._on_hears = tap
        self._changed()

    @property
    def talking(self) -> bool:
        """Its level was above the talking level within the last `hang` seconds, muted or not (so
        that a portal can tell a muted participant who talks)."""
        return self._talking

    def send_digits(self, digits: str, *, duration: float = 0.1, pause: float = 0.1) -> None:
        """Send DTMF to this party in its stream: RFC 4733 events if it has a telephone-event payload
        type, else tones in place of the mix. Queued after digits still being sent."""
        if not all(digit.upper() in EVENTS for digit in digits):
            raise ValueError(f"not DTMF keys: {digits!r}")
        pause_ticks = [None] * round(pause / FRAME)
        for digit in digits:
            if self.event_pt is not None:
                train = digit_train(digit, duration=duration, step=self.step)
                self.outgoing.extend((payload, index == 0) for index, payload in enumerate(train))
            else:
                self.outgoing.extend(tone_frames(digit, duration=duration))
            self.outgoing.extend(pause_ticks)

    def _telephone_event(self, packet: bytes) -> None:
        if self.on_telephone_event is not None:
            _call(self.on_telephone_event, packet)

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "talking": self._talking, "inbound": self.inbound.stats()}

    def __repr__(self) -> str:
        return f"<Party {self.name} {self.codec} {self.endpoint!r}>"


class Mixer:
    """N parties on one 20 ms clock. `add()` a leg, `remove()` it; `close()` removes all."""

    def __init__(self, *, talk_level: float = TALK_LEVEL, gate_level: float | None = GATE_LEVEL,
                 hang: float = HANG) -> None:  # fmt: skip
        """gate_level: the level below which a frame is left out of the mix (None: mix everything)."""
        self._parties: list[Party] = []
        # Levels are sums of absolute sample values; the talking indicator and the gate are one array
        # of hang counters each (-1: no gate, every frame passes).
        self._thresholds = np.array([[talk_level * SAMPLES], [-1 if gate_level is None else gate_level * SAMPLES]])
        self._hang_ticks = max(1, round(hang / FRAME))
        self.on_talking: Callable[[Party, bool], None] | None = None
        self.on_mix: FrameTap | None = None  # each tick: what someone who is no party hears, None: silence
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._start = 0.0
        self._count = 0
        self.ticks = self.skipped = self.sent = 0
        self._planned: list[Party] = []  # the parties the arrays below were made for
        self._hangs = np.zeros((2, 0), dtype=np.int32)  # per party: talking, gate open
        self._dirty = True

    @property
    def parties(self) -> tuple[Party, ...]:
        return tuple(self._parties)

    @property
    def running(self) -> bool:
        return self._timer is not None

    def add(self, endpoint: RtpEndpoint, codec: str, *, voice_pt: int, event_pt: int | None = None,
            name: str = "", muted: bool = False, deaf: bool = False, gain: float = 1.0,
            heard_by: Iterable[Party] | None = None, depth: int = 2,
            clock_rate: int | None = None) -> Party:  # fmt: skip
        """Take the leg over (its RTP sink) and mix it from the next tick; starts the clock if needed.
        clock_rate: the codec's RTP clock (48000 for Opus), by default the endpoint's."""
        if any(party.endpoint is endpoint for party in self._parties):
            raise ValueError(f"{endpoint!r} is already in this mixer")
        party = Party(self, endpoint, codec, voice_pt, event_pt, name or f"party-{endpoint.port}", depth,
                      clock_rate or endpoint.clock_rate)  # fmt: skip
        party.muted, party.deaf, party.gain, party.heard_by = muted, deaf, gain, heard_by
        endpoint.sink = party.inbound.push
        self._parties.append(party)
        self._dirty = True
        if self._timer is None:
            self._loop = asyncio.get_running_loop()
            self._start, self._count = self._loop.time(), 0
            self._timer = self._loop.call_soon(self._tick)
        return party

    def remove(self, party: Party) -> None:
        """Give the leg back (its sink unset if still ours); the last one out stops the clock."""
        if party.mixer is not self:
            return
        self._sync_hangs()
        self._parties.remove(party)
        party.mixer = None
        if party.endpoint.sink == party.inbound.push:
            party.endpoint.sink = None
        self._dirty = True
        if not self._parties and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        for party in list(self._parties):
            self.remove(party)

    def stats(self) -> dict[str, Any]:
        return {"parties": len(self._parties), "ticks": self.ticks, "skipped": self.skipped, "sent": self.sent}

    # -- the plan: what changes only when parties or their flags do

    def _sync_hangs(self) -> None:
        talk, gate = self._hangs.tolist()
        for party, talk_hang, gate_hang in zip(self._planned, talk, gate, strict=True):
            party._talk_hang, party._gate_hang = talk_hang, gate_hang

    def _plan(self) -> None:
        self._sync_hangs()
        parties = self._parties
        index = {party: i for i, party in enumerate(parties)}
        self._common = np.array([not p._muted and p._heard_by is None for p in parties], dtype=bool)
        self._gains = np.array([round(p._gain * _UNITY) for p in parties], dtype=np.int32)
        self._unity = bool((self._gains == _UNITY).all())
        # (speaker, its listeners) for the parties heard by some only
        self._restricted = [
            (i, [index[listener] for listener in p._heard_by if listener in index and listener is not p])
            for i, p in enumerate(parties)
            if not p._muted and p._heard_by
        ]
        self._hangs = np.array([[p._talk_hang for p in parties], [p._gate_hang for p in parties]], dtype=np.int32)
        self._hangs.shape = (2, len(parties))
        self._talking = np.array([p._talking for p in parties], dtype=bool)
        self._inbound = [p.inbound for p in parties]
        self._laws = np.array([_LAWS.index(p.codec) if p.codec in G711_CODECS else -1 for p in parties], dtype=int)
        self._says = [i for i, p in enumerate(parties) if p._on_says is not None]
        self._hears = any(p._on_hears is not None for p in parties)
        self._planned = list(parties)
        self._dirty = False

    # -- the tick

    def _tick(self) -> None:
        loop = self._loop
        self._count += 1
        late = loop.time() - (self._start + (self._count - 1) * FRAME)
        if late > MAX_LATE * FRAME:  # the loop was held up: move the clock on rather than burst
            missed = int(late / FRAME)
            self._count += missed
            self.skipped += missed
            for party in self._parties:
                party.timestamp = (party.timestamp + missed * party.step) & 0xFFFFFFFF
        self._timer = loop.call_at(self._start + self._count * FRAME, self._tick)
        self.ticks += 1
        if self._dirty:
            self._plan()
        parties = self._planned  # as planned: a callback that adds or removes a party counts from the next tick
        count = len(parties)

        rows, said = next_frames(self._inbound)
        levels = np.zeros(count, dtype=np.int64)
        if said is not None:
            wide = said.astype(np.int32)
            row_of = np.array(rows)
            levels[row_of] = np.abs(wide).sum(axis=1)
        if self._says:
            where = {i: k for k, i in enumerate(rows)}
            for i in self._says:
                k = where.get(i)
                _call(parties[i].on_says, None if k is None else said[k])
        self._hangs = hangs = np.where(levels > self._thresholds, self._hang_ticks, np.maximum(self._hangs - 1, 0))
        talking, audible = hangs > 0
        changed = np.flatnonzero(talking != self._talking)
        if changed.size:
            self._talking = talking
            for i in changed.tolist():
                self._talking_changed(parties[i], bool(talking[i]))

        mixes: dict[int, Frame | None] = {}  # listeners that do not hear the common mix: theirs
        encoded: dict[int, tuple[Frame, bytes]] = {}  # some of those, encoded already
        total = mix = None
        if said is not None:
            if not self._unity:
                wide = (wide * self._gains[row_of][:, None]) >> 12
            in_sum = np.flatnonzero(self._common[row_of] & audible[row_of])
            if in_sum.size:
                summed = wide[in_sum]
                total = summed.sum(axis=0)
                mix = np.clip(total, -32768, 32767).astype(np.int16)
                speakers = row_of[in_sum]
                if in_sum.size == 1:
                    mixes[int(speakers[0])] = None
                else:
                    own = np.clip(total - summed, -32768, 32767).astype(np.int16)
                    for k, i in enumerate(speakers.tolist()):
                        mixes[i] = own[k]
                    if in_sum.size >= BATCH_ENCODE:
                        self._encode_g711(own, speakers, mixes, encoded)
            if self._restricted:
                self._add_restricted(wide, rows, audible, total, mixes)
        if self.on_mix is not None:
            _call(self.on_mix, mix)
        self._send(parties, mix, mixes, encoded)

    def _encode_g711(self, own: np.ndarray, speakers: np.ndarray, mixes: dict[int, Frame | None],
                     encoded: dict[int, tuple[Frame, bytes]]) -> None:  # fmt: skip
        """Many parties' own mixes (no gate, a noisy room): one encoding call per G.711 law."""
        laws = self._laws[speakers]
        for law, codec in enumerate(_LAWS):
            chosen = np.flatnonzero(laws == law)
            if not chosen.size:
                continue
            blob = _LAW_ENCODERS[codec](own[chosen].reshape(-1))
            for j, i in enumerate(speakers[chosen].tolist()):
                encoded[i] = (mixes[i], blob[j * SAMPLES : (j + 1) * SAMPLES])

    def _add_restricted(self, wide: np.ndarray, rows: list[int], audible: np.ndarray, total: np.ndarray | None,
                        mixes: dict[int, Frame | None]) -> None:  # fmt: skip
        row = {party: k for k, party in enumerate(rows)}
        extras: dict[int, np.ndarray] = {}
        for speaker, listeners in self._restricted:
            k = row.get(speaker)
            if k is None or not audible[speaker]:
                continue
            for listener in listeners:
                extra = extras.get(listener)
                extras[listener] = wide[k] if extra is None else extra + wide[k]
        for listener, extra in extras.items():
            base = total if total is not None else 0
            if listener in row and self._common[listener] and audible[listener] and total is not None:
                base = total - wide[row[listener]]
            mixes[listener] = np.clip(base + extra, -32768, 32767).astype(np.int16)

    def _send(self, parties: list[Party], mix: Frame | None, mixes: dict[int, Frame | None],
              encoded: dict[int, tuple[Frame, bytes]]) -> None:  # fmt: skip
        shared: dict[str, bytes] = {}
        pack = _HEADER.pack
        hears_taps = self._hears
        for i, party in enumerate(parties):
            hears = None if party._deaf else mixes.get(i, mix)
            ts = party.timestamp
            party.timestamp = (ts + party.step) & 0xFFFFFFFF
            if party.outgoing:
                item = party.outgoing.popleft()
                if isinstance(item, tuple):
                    self._send_event(party, ts, *item)
                    continue
                if item is not None:  # an in-band tone frame instead of the mix
                    hears = item
            if hears is None:
                payload = party.silence
            elif hears is mix and party.shared:
                payload = shared.get(party.codec)
                if payload is None:
                    payload = shared[party.codec] = party.encode(mix)
            else:
                done = encoded.get(i)
                payload = done[1] if done is not None and done[0] is hears else party.encode(hears)
            if hears_taps and party.on_hears is not None:
                _call(party.on_hears, hears)
            seq = party.seq
            party.endpoint.send_rtp(pack(0x80, party.marker | party.voice_pt, seq, ts, party.ssrc) + payload)
            party.seq = (seq + 1) & 0xFFFF
            party.marker = 0
        self.sent += len(parties)

    @staticmethod
    def _send_event(party: Party, ts: int, payload: bytes, first: bool) -> None:
        """An RFC 4733 packet: the event's start timestamp, the telephone-event payload type."""
        if first:
            party.event_ts = ts
        header = _HEADER.pack(0x80, (0x80 if first else 0) | party.event_pt, party.seq, party.event_ts, party.ssrc)
        party.endpoint.send_rtp(header + payload)
        party.seq = (party.seq + 1) & 0xFFFF

    def _talking_changed(self, party: Party, talking: bool) -> None:
        party._talking = talking
        if party.on_talking is not None:
            _call(party.on_talking, talking)
        if self.on_talking is not None:
            _call(self.on_talking, party, talking)


def _call(callback: Callable[..., Any], *args: Any) -> None:
    """A consumer's callback: its failure is logged and does not cost the others their tick."""
    try:
        callback(*args)
    except Exception:
        log.exception("mixer callback %r failed", callback)
