"""Recording calls and conferences to WAV files: 16-bit PCM at 8 kHz, mono or one party per channel.

`Recorder` takes one 20 ms frame per channel per tick and writes them in chunks (a second by
default) with `os.pwrite`: the data, then the header with the sizes so far. No thread, and about
two small system calls a second per recording; a process that dies leaves a WAV file that plays
up to its last chunk. `close()` writes what is left.

Where the frames come from:

- a mixer (its own clock): `mixer.on_mix = recorder.feed()` for the whole conference,
  `party.on_hears = recorder.feed()` for what one party hears, or for a two-party call in stereo
  `a.on_says = recorder.feed(0); b.on_says = recorder.feed(1)`;
- RTP packets (`RtpRecording`, on a 20 ms clock, a jitter buffer per stream):
  `record_relay()` taps both directions of a relayed call (the relay's hot path gains one call per
  packet, only while recording), `record_endpoint()` records what one leg sends (voicemail). Every
  RtpRecording of a process ticks on one shared clock (one timer, whatever the number of calls).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import struct
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from telephony.media import codecs
from telephony.media.jitter import InboundStream
from telephony.media.relay import Relay
from telephony.media.rtp import RtpEndpoint

FRAME = 0.020
SAMPLES = codecs.FRAME_SAMPLES
log = logging.getLogger(__name__)
MAX_SKEW = 5  # frames one channel may run ahead of another before the missing one is filled with silence
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")

Frame = np.ndarray


def wav_header(*, channels: int, rate: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV file holding `data_bytes` of samples."""
    block = 2 * channels
    return _HEADER.pack(b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, channels, rate, rate * block, block,
                        16, b"data", data_bytes)  # fmt: skip


class Recorder:
    """A WAV file written a chunk at a time from 20 ms frames (None is silence)."""

    def __init__(self, path: str | os.PathLike, *, channels: int = 1, chunk: float = 1.0,
                 rate: int = codecs.RATE, threaded: bool = False) -> None:  # fmt: skip
        """threaded: the chunks are written by the process's recordings thread (in order), so that a
        slow disk never holds up the loop that paces media; `close()` then answers a Future that is
        done once the file is whole."""
        if channels not in (1, 2):
            raise ValueError("a recording has one or two channels")
        self.path = Path(path)
        self.channels, self.rate = channels, rate
        self.frames = 0  # ticks written to the file (per channel)
        self.data_bytes = 0
        self.closed = False
        self.error: OSError | None = None  # why writing stopped (a full disk): the call goes on unrecorded
        self.paused = False  # ticks written as silence (a card number said meanwhile): the timeline goes on
        self._chunk = max(1, round(chunk / FRAME))
        self._buffer: list = []  # per tick: bytes (mono), or a frame (None: silence) per channel (stereo)
        self._pending: list[deque[Frame | None]] = [deque() for _ in range(channels)]
        self._silence = bytes(2 * SAMPLES * channels)
        self._writer = _writer() if threaded else None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.pwrite(self._fd, wav_header(channels=channels, rate=rate, data_bytes=0), 0)

    @property
    def seconds(self) -> float:
        return (self.frames + len(self._buffer)) * FRAME

    def write(self, *frames: Frame | None) -> None:
        """One tick: a frame per channel."""
        if self.closed or self.error is not None:
            return
        if len(frames) != self.channels:
            raise ValueError(f"{self.channels} channel(s), {len(frames)} frame(s)")
        if self.channels == 2:  # interleaved a chunk at a time (flush): a tick costs one append
            self._buffer.append(_SILENT_PAIR if self.paused else frames)
        elif self.paused or frames[0] is None:
            self._buffer.append(self._silence)
        else:
            self._buffer.append(frames[0].astype("<i2", copy=False).tobytes())
        if len(self._buffer) >= self._chunk:
            self.flush()

    def feed(self, channel: int = 0) -> Callable[[Frame | None], None]:
        """A callable for one channel's frames (a mixer's tap); channels fed from different taps
        of the same tick line up, and one that stops being fed is filled with silence."""
        if not 0 <= channel < self.channels:
            raise ValueError(f"no channel {channel}")
        if self.channels == 1:
            return self.write
        pending = self._pending

        def feed(frame: Frame | None) -> None:
            pending[channel].append(None if frame is None else frame.copy())  # (a mixer reuses its arrays)
            if all(pending):
                self.write(*(queue.popleft() for queue in pending))
            elif len(pending[channel]) > MAX_SKEW:
                self.write(*(queue.popleft() if queue else None for queue in pending))

        return feed

    def flush(self) -> None:
        """Write the buffered frames, then the header that counts them."""
        if not self._buffer or self.closed or self.error is not None:
            return
        data = b"".join(self._buffer) if self.channels == 1 else _interleave(self._buffer)
        self._buffer.clear()
        offset = 44 + self.data_bytes
        self.data_bytes += len(data)
        self.frames = self.data_bytes // len(self._silence)
        header = wav_header(channels=self.channels, rate=self.rate, data_bytes=self.data_bytes)
        if self._writer is not None:
            self._writer.submit(self._write, data, offset, header)
        else:
            self._write(data, offset, header)

    def _write(self, data: bytes, offset: int, header: bytes) -> None:
        if self.error is not None:
            return
        try:
            written = os.pwrite(self._fd, data, offset)
            if written != len(data):
                raise OSError(f"short write: {written} of {len(data)} bytes")
            os.pwrite(self._fd, header, 0)
        except OSError as error:  # the file keeps what it had; the caller's tick must not fail
            self.error = error
            log.error("recording %s stopped: %s", self.path, error)

    def close(self) -> Future | None:
        """Write what is left and close the file (threaded: a Future done once it is whole)."""
        if self.closed:
            return None
        while any(self._pending):
            self.write(*(queue.popleft() if queue else None for queue in self._pending))
        self.flush()
        self.closed = True
        if self._writer is not None:
            return self._writer.submit(os.close, self._fd)
        os.close(self._fd)
        return None


_writers: list[ThreadPoolExecutor] = []


def _writer() -> ThreadPoolExecutor:
    """The process's recordings thread: one, so each file's chunks, header and close stay in order."""
    if not _writers:
        _writers.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocx-recordings"))
    return _writers[0]


_SILENT_PAIR = (None, None)
_ZERO = np.zeros(SAMPLES, dtype=np.int16)


def _interleave(ticks: list[tuple[Frame | None, Frame | None]]) -> bytes:
    """Stereo ticks as interleaved 16-bit little-endian samples (a frame that is not 20 ms is fitted)."""
    both = np.empty((len(ticks) * SAMPLES, 2), dtype="<i2")
    for channel in (0, 1):
        frames = [_ZERO if (f := tick[channel]) is None else f if f.shape[0] == SAMPLES else _fit(f) for tick in ticks]
        both[:, channel] = np.concatenate(frames)
    return both.tobytes()


def _fit(frame: Frame) -> Frame:
    out = np.zeros(SAMPLES, dtype=np.int16)
    out[: min(SAMPLES, frame.shape[0])] = frame[:SAMPLES]
    return out


class _Clock:
    """One 20 ms clock for every RtpRecording of an event loop: one timer a tick, however many calls
    are recorded (a timer per recording cost more than the recording's own work)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.recordings: dict[RtpRecording, None] = {}  # in the order they started
        self._timer: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._count = 0

    def add(self, recording: RtpRecording) -> None:
        self.recordings[recording] = None
        if self._timer is None:
            self._start, self._count = self.loop.time(), 0
            self._timer = self.loop.call_soon(self._tick)

    def remove(self, recording: RtpRecording) -> None:
        self.recordings.pop(recording, None)
        if not self.recordings and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        loop = self.loop
        self._count += 1
        if loop.time() - (self._start + (self._count - 1) * FRAME) > 0.1:  # held up: no burst of catching up
            self._count = int((loop.time() - self._start) / FRAME) + 1
        self._timer = loop.call_at(self._start + self._count * FRAME, self._tick)
        for recording in tick_all(list(self.recordings)):  # (those that failed)
            self.remove(recording)


def tick_all(recordings: list[RtpRecording]) -> list[RtpRecording]:
    """One tick of every recording: their streams' G.711 payloads decoded together, one table lookup
    per law (a lookup per stream cost a quarter of a recording's time); the recordings that failed."""
    payloads = [[stream.next_payload() for stream in r.streams] for r in recordings]
    batches: dict[str, list[tuple[int, int]]] = {}
    for i, recording in enumerate(recordings):
        for j, stream in enumerate(recording.streams):
            payload = payloads[i][j]
            if stream.g711 and payload is not None and len(payload) == SAMPLES:
                batches.setdefault(stream.codec, []).append((i, j))
    decoded: dict[tuple[int, int], Frame] = {}
    for codec, places in batches.items():
        joined = b"".join(payloads[i][j] for i, j in places)
        rows = codecs.G711_DECODE[codec][np.frombuffer(joined, dtype=np.uint8)].reshape(-1, SAMPLES)
        decoded.update(zip(places, rows, strict=True))
    failed = []
    for i, recording in enumerate(recordings):
        try:
            recording.tick([s.frame_of(p, decoded.get((i, j)))
                            for j, (s, p) in enumerate(zip(recording.streams, payloads[i], strict=True))])  # fmt: skip
        except Exception:  # one recording's fault never stops the others'
            log.exception("recording %s failed", recording.recorder.path)
            failed.append(recording)
    return failed


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clock] = weakref.WeakKeyDictionary()


def _clock() -> _Clock:
    loop = asyncio.get_running_loop()
    clock = _clocks.get(loop)
    if clock is None:
        clock = _clocks[loop] = _Clock(loop)
    return clock


class RtpRecording:
    """Records RTP streams through their own jitter buffers on a 20 ms clock: one channel per
    stream, or their mix in one. Made by `record_relay()` and `record_endpoint()`."""

    def __init__(self, recorder: Recorder, streams: Iterable[InboundStream], *, mix: bool = False,
                 on_stop: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.recorder = recorder
        self.streams = list(streams)
        self.mix = mix
        if (1 if mix else len(self.streams)) != recorder.channels:
            raise ValueError("one channel per stream, or one for their mix")
        self.on_stop = on_stop
        self._clock: _Clock | None = None
        # Its first chunk is written early, after a random part of a chunk: recordings that start
        # together (a burst of calls) then write on different ticks, never all in one (measured with
        # 200 calls: a tick writing every file held the relay up for tens of milliseconds).
        self._early = random.randint(1, recorder._chunk)

    def start(self) -> None:
        self._clock = _clock()
        self._clock.add(self)

    @property
    def running(self) -> bool:
        return self._clock is not None

    def tick(self, frames: list[Frame | None] | None = None) -> None:
        """One 20 ms tick of the shared clock: a frame of each stream (`frames`: taken already) into the file."""
        if frames is None:
            frames = [stream.next_frame() for stream in self.streams]
        if self._early:
            self._early -= 1
            if not self._early:
                self.recorder.flush()
        if not self.mix:
            self.recorder.write(*frames)
            return
        present = [frame for frame in frames if frame is not None]
        if len(present) <= 1:
            self.recorder.write(present[0] if present else None)
        else:
            total = np.sum(present, axis=0, dtype=np.int32)
            self.recorder.write(np.clip(total, -32768, 32767).astype(np.int16))

    def stop(self, *, close: bool = True) -> None:
        """Stop, give the taps back and close the file (close=False: the recorder goes on with another
        source, a call's new relay after a transfer); safe to call twice."""
        if self._clock is not None:
            self._clock.remove(self)
            self._clock = None
        if self.on_stop is not None:
            self.on_stop()
            self.on_stop = None
        if close:
            self.recorder.close()


def record_relay(relay: Relay, path: str | os.PathLike | Recorder, *, codec_a: str, codec_b: str | None = None,
                 event_pts: Iterable[int] = (), stereo: bool = True, chunk: float = 1.0,
                 event_pts_b: Iterable[int] | None = None,
                 on_event: tuple[Callable[[bytes], None] | None, Callable[[bytes], None] | None] = (None, None),
                 ) -> RtpRecording:  # fmt: skip
    """Record a relayed call: what a sends on the left channel, what b sends on the right (or both
    mixed in mono). codec_b defaults to codec_a (a transcoded call's legs differ: each stream is decoded
    from its own codec); event_pts (event_pts_b for b's, when they differ) are kept out of the audio and
    given to `on_event`'s callables (a's, b's: in-call keys). `path` may be a Recorder already written
    to (the call's new relay after a transfer): the file goes on."""
    events = tuple(event_pts)
    events_b = events if event_pts_b is None else tuple(event_pts_b)
    from_a = InboundStream(codec_a, event_pts=events, clock_rate=relay.a.clock_rate, on_event=on_event[0])
    from_b = InboundStream(codec_b or codec_a, event_pts=events_b, clock_rate=relay.b.clock_rate,
                           on_event=on_event[1])  # fmt: skip
    relay.tap(from_a.push, from_b.push)
    recorder = path if isinstance(path, Recorder) else Recorder(path, channels=2 if stereo else 1, chunk=chunk)
    recording = RtpRecording(recorder, [from_a, from_b], mix=not stereo,
                             on_stop=lambda: relay.tap(None, None))  # fmt: skip
    recording.start()
    return recording


def record_endpoint(endpoint: RtpEndpoint, path: str | os.PathLike, *, codec: str, voice_pt: int | None = None,
                    event_pts: Iterable[int] = (), on_event: Callable[[bytes], None] | None = None,
                    chunk: float = 1.0) -> RtpRecording:  # fmt: skip
    """Record what one leg sends (voicemail): takes the endpoint's sink over, gives it back on stop.
    Telephone events go to `on_event` (a DtmfCollector's push_packet, to end on '#')."""
    stream = InboundStream(codec, voice_pt=voice_pt, event_pts=event_pts, on_event=on_event,
                           clock_rate=endpoint.clock_rate)  # fmt: skip
    endpoint.sink = stream.push

    def give_back() -> None:
        if endpoint.sink == stream.push:
            endpoint.sink = None

    recording = RtpRecording(Recorder(path, chunk=chunk), [stream], on_stop=give_back)
    recording.start()
    return recording
