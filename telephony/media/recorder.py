"""Recording calls and conferences to WAV files: 16-bit PCM at 8 kHz, mono or one party per channel.

`Recorder` takes one 20 ms frame per channel per tick and writes them in chunks (a second by
default) with `os.pwrite`: the data, then the header with the sizes so far. No thread, and about
two small system calls a second per recording; a process that dies leaves a WAV file that plays
up to its last chunk. `close()` writes what is left.

Where the frames come from:

- a mixer (its own clock): `mixer.on_mix = recorder.feed()` for the whole conference,
  `party.on_hears = recorder.feed()` for what one party hears, or for a two-party call in stereo
  `a.on_says = recorder.feed(0); b.on_says = recorder.feed(1)`;
- RTP packets (`RtpRecording`): `record_relay()` taps both directions of a relayed call (the
  endpoints' `tap`), `record_endpoint()` records what one leg sends (voicemail). Every RtpRecording
  of a process ticks on one shared 20 ms clock (one timer, whatever the number of calls). G.711
  streams are rows of the clock's `Slots` (slots.py: the tap is a list's append, the packets of
  every stream placed and decoded together once a tick); other codecs go through a jitter buffer
  and decoder of their own (jitter.InboundStream). The plain recordings (each channel one G.711
  stream) keep their ticks in one array per kind until their chunk is due, so a tick costs no Python
  per recording; measured with 200 recorded calls (bench/recording.py), recording adds about 20-30%
  to a relayed call's CPU.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import random
import struct
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from queue import SimpleQueue

import numpy as np

from telephony.media import codecs
from telephony.media.jitter import InboundStream
from telephony.media.relay import Relay
from telephony.media.rtp import RtpEndpoint
from telephony.media.slots import LAWS, PAIR, Slots, SlotStream, decode, decode_stereo

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

    pausing = 0  # open recorders paused now (this process): the clock reads each one's flag only when some are

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
        self._paused = False  # ticks written as silence (a card number said meanwhile): the timeline goes on
        self._chunk = self._due = max(1, round(chunk / FRAME))  # _due: ticks buffered when the next chunk is written
        self._buffer: list = []  # per tick: bytes or an array (mono, or stereo interleaved), or a frame per channel
        self._pairs = 0  # ticks of the buffer that are a frame per channel (to interleave)
        self._pending: list[deque[Frame | None]] = [deque() for _ in range(channels)]
        self.held: Callable[[], int] | None = None  # ticks its source holds still, not written yet
        self.release: Callable[[], None] | None = None  # has its source write them (before closing)
        self._silence = bytes(2 * SAMPLES * channels)
        self._writer = _writer() if threaded else None
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        os.pwrite(self._fd, wav_header(channels=channels, rate=rate, data_bytes=0), 0)

    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, paused: bool) -> None:
        if paused != self._paused and not self.closed:
            Recorder.pausing += 1 if paused else -1
        self._paused = paused

    @property
    def seconds(self) -> float:
        return (self.frames + len(self._buffer) + (self.held() if self.held is not None else 0)) * FRAME

    def write(self, *frames: Frame | None) -> None:
        """One tick: a frame per channel."""
        if self.closed or self.error is not None:
            return
        if len(frames) != self.channels:
            raise ValueError(f"{self.channels} channel(s), {len(frames)} frame(s)")
        if self.channels == 2:  # interleaved a chunk at a time (flush): a tick costs one append
            self._buffer.append(_SILENT_PAIR if self.paused else frames)
            self._pairs += 1
        elif self.paused or frames[0] is None:
            self._buffer.append(self._silence)
        else:
            self._buffer.append(frames[0].astype("<i2", copy=False).tobytes())
        if len(self._buffer) >= self._due:
            self.flush()

    def write_ticks(self, data: bytes) -> None:
        """Whole ticks as the file holds them, written now (the recordings' clock keeps every plain
        recording's ticks in one array and hands each its chunk: pauses are silent in them already)."""
        if self.closed or self.error is not None or not data:
            return
        self.flush()
        self._put(data)

    def stagger(self) -> None:
        """Write the next chunk after a random part of a chunk, not a whole one: recordings started
        together then write on different ticks."""
        self._due = len(self._buffer) + random.randint(1, self._chunk)

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
        data = _interleave(self._buffer) if self._pairs else b"".join(self._buffer)
        self._buffer.clear()
        self._pairs = 0
        self._put(data)

    def _put(self, data: bytes) -> None:
        self._due = self._chunk
        offset = 44 + self.data_bytes
        self.data_bytes += len(data)
        self.frames = self.data_bytes // len(self._silence)
        header = wav_header(channels=self.channels, rate=self.rate, data_bytes=self.data_bytes)
        if self._writer is not None:
            _job(self._write, data, offset, header)
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
        if self.release is not None:
            self.release()
        while any(self._pending):
            self.write(*(queue.popleft() if queue else None for queue in self._pending))
        self.flush()
        if self._paused:
            Recorder.pausing -= 1
        self.closed = True
        if self._writer is not None:
            done: Future = Future()
            _job(_close, self._fd, done)
            return done
        os.close(self._fd)
        return None


def _close(fd: int, done: Future) -> None:
    try:
        os.close(fd)
    except OSError as error:
        done.set_exception(error)
        return
    done.set_result(None)


_writers: list[_Writer] = []
_batch: list[tuple] | None = None  # while the recordings' clock ticks: the writes it makes, one job for all


def _job(fn: Callable, *args) -> None:
    """Give the recordings thread a write (in order); while a tick is batching, with the tick's others."""
    if _batch is not None:
        _batch.append((fn, *args))
    else:
        _writer().submit(fn, *args)


def _run(jobs: list[tuple]) -> None:
    for fn, *args in jobs:
        fn(*args)


class _Writer:
    """The process's recordings thread: one, so each file's chunks, header and close stay in order. A
    queue and a thread, not an executor: a tick hands it one job, and an executor's submit (its future,
    locks and thread accounting) cost about 5% of the tick (measured with 200 recorded calls).
    What is queued when the process exits is written first (atexit, as an executor's workers are joined)."""

    def __init__(self) -> None:
        self._queue: SimpleQueue = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="ocx-recordings", daemon=True)
        self._thread.start()
        atexit.register(self.finish)

    def submit(self, fn: Callable, *args) -> None:
        self._queue.put((fn, args))

    def finish(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (job := self._queue.get()) is not None:
            fn, args = job
            try:
                fn(*args)
            except Exception:  # one job's fault never stops the others' writes
                log.exception("recordings thread: %s failed", getattr(fn, "__qualname__", fn))


def _writer() -> _Writer:
    if not _writers:
        _writers.append(_Writer())
    return _writers[0]


_SILENT_PAIR = (None, None)
_ZERO = np.zeros(SAMPLES, dtype=np.int16)


def _interleave(ticks: list) -> bytes:
    """Stereo ticks as interleaved 16-bit little-endian samples (a frame that is not 20 ms is fitted);
    ticks interleaved already (a recording's source changed within the chunk) are taken as they are."""
    if not all(type(tick) is tuple for tick in ticks):
        return b"".join(tick if type(tick) is not tuple else _interleave([tick]) for tick in ticks)
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
    are recorded (a timer per recording cost more than the recording's own work). The loop's G.711
    streams are rows of one `Slots`, placed and decoded together each tick, and the plain recordings
    (stereo: two G.711 streams; mono: one) keep their ticks in one array per kind, a seat each, until
    their chunk is due: a tick costs no Python per recording, a recording's second one slice."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots = Slots()
        self.recordings: dict[RtpRecording, None] = {}  # in the order they started
        self._timer: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._count = 0
        self._layout: tuple | None = None  # (stereo, mono, others, rows, offsets, seats); None: to make
        # Per kind (channels): the ticks held (seat, tick, 160[, 2]), ticks held and due per seat.
        self._store: dict[int, np.ndarray] = {}
        self._held: dict[int, np.ndarray] = {}
        self._due: dict[int, np.ndarray] = {}
        self._seats: dict[RtpRecording, tuple[int, int]] = {}  # a plain recording's (kind, seat)
        self._free: dict[int, list[int]] = {1: [], 2: []}

    def add(self, recording: RtpRecording) -> None:
        self.recordings[recording] = None
        self._layout = None
        kind = recording.plain()
        if kind:
            recording.recorder.flush()  # what it holds from another source goes first
            if not self._free[kind]:
                self._grow(kind)
            seat = self._free[kind].pop()
            self._held[kind][seat] = 0
            self._due[kind][seat] = random.randint(1, min(recording.recorder._chunk, HELD))  # (staggered)
            self._seats[recording] = (kind, seat)
            recording.recorder.held = lambda: int(self._held[kind][seat])
            recording.recorder.release = lambda: self._release(recording)
        if self._timer is None:
            self._start, self._count = self.loop.time(), 0
            self._timer = self.loop.call_soon(self._tick)

    def _grow(self, kind: int) -> None:
        old = len(self._held.get(kind, ()))
        size = max(16, 2 * old)
        store = np.zeros((size, HELD, SAMPLES, kind) if kind == 2 else (size, HELD, SAMPLES), dtype="<i2")
        held, due = np.zeros(size, dtype=np.int64), np.ones(size, dtype=np.int64)
        if old:
            store[:old], held[:old], due[:old] = self._store[kind], self._held[kind], self._due[kind]
        self._store[kind], self._held[kind], self._due[kind] = store, held, due
        self._free[kind] += range(size - 1, old - 1, -1)

    def remove(self, recording: RtpRecording) -> None:
        if recording in self.recordings:
            del self.recordings[recording]
            self._layout = None
        if recording in self._seats:
            self._release(recording)
            kind, seat = self._seats.pop(recording)
            recording.recorder.held = recording.recorder.release = None
            self._free[kind].append(seat)
        if not self.recordings and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release(self, recording: RtpRecording) -> None:
        """A plain recording stops (or its file closes): the ticks its seat holds, then what its
        streams still buffer (the last packets before a '#' or a hang-up), to its file."""
        kind, seat = self._seats[recording]
        recorder = recording.recorder
        recorder.write_ticks(self._store[kind][seat, : self._held[kind][seat]].tobytes())
        self._held[kind][seat] = 0
        rows = np.array([s.row for s in recording.streams], dtype=np.int64)
        self.slots.gather()  # (what came since the last tick)
        codes, has = self.slots.drain(rows)
        if not len(codes):
            return
        law = self.slots.law[rows]
        if kind == 2:
            ticks = decode_stereo(codes[:, 0], codes[:, 1], np.full(len(codes), PAIR * (2 * law[0] + law[1])))
            ticks[~has[:, 0], :, 0] = 0
            ticks[~has[:, 1], :, 1] = 0
        else:
            ticks = decode(codes[:, 0], np.full(len(codes), PAIR * 3 * law[0]))
            ticks[~has[:, 0]] = 0
        if recorder.paused:
            ticks[:] = 0
        recorder.write_ticks(ticks.astype("<i2", copy=False).tobytes())

    def _tick(self) -> None:
        loop = self.loop
        ticks = max(1, int((loop.time() - self._start) / FRAME) + 1 - self._count)  # more: the loop was held up
        if ticks > CATCH_UP:  # too many to write at once: the files skip them, every channel alike
            self.slots.skip(ticks - 1)
            self._count += ticks - 1
            ticks = 1
        self._count += ticks
        self._timer = loop.call_at(self._start + self._count * FRAME, self._tick)
        for k in range(ticks):
            for recording in self.tick(gather=k == 0):  # (those that failed)
                self.remove(recording)

    def tick(self, *, gather: bool = True) -> list[RtpRecording]:
        """One tick of every recording: the G.711 streams' frames placed and decoded all at once (the
        stereo ones straight into interleaved samples) and kept in their seats; the files whose chunk
        is due written in one job of the recordings thread; the recordings that failed."""
        global _batch
        if self._layout is None:
            self._layout = self._arrange()
        stereo, mono, others, rows, offsets, seats = self._layout
        if len(rows):
            codes, has = self.slots.tick(rows, gather=gather)
        n, m = len(stereo), len(mono)
        failed: list[RtpRecording] = []
        _batch = []
        try:
            if n:
                both = decode_stereo(codes[:n], codes[n : 2 * n], offsets[:n])
                if not has[: 2 * n].all():
                    both[~has[:n], :, 0] = 0
                    both[~has[n : 2 * n], :, 1] = 0
                self._keep(2, seats[2], both, stereo)
            if m:
                frames = decode(codes[2 * n : 2 * n + m], offsets[n : n + m])
                frames[~has[2 * n : 2 * n + m]] = 0
                self._keep(1, seats[1], frames, mono)
            place = 2 * n + m
            for recording in others:
                frames = []
                for stream in recording.streams:
                    if isinstance(stream, SlotStream):
                        frames.append(codecs.G711_DECODE[stream.codec][codes[place]] if has[place] else None)
                        place += 1
                    else:
                        frames.append(stream.next_frame())
                try:
                    recording.tick(frames)
                except Exception:  # one recording's fault never stops the others'
                    log.exception("recording %s failed", recording.recorder.path)
                    failed.append(recording)
        finally:
            jobs, _batch = _batch, None
            if jobs:
                _writer().submit(_run, jobs)
        return failed

    def _keep(self, kind: int, seats: np.ndarray, ticks: np.ndarray, recordings: list[RtpRecording]) -> None:
        if Recorder.pausing:  # (a look at every recording's flag costs as much as a tenth of the tick)
            paused = [r.recorder.paused for r in recordings]
            if any(paused):
                ticks[np.array(paused)] = 0
        store, held, due = self._store[kind], self._held[kind], self._due[kind]
        at = held[seats]
        store[seats, at] = ticks
        at += 1
        held[seats] = at
        for i in np.flatnonzero(at >= due[seats]).tolist():
            seat, recorder = seats[i], recordings[i].recorder
            held[seat] = 0
            recorder.write_ticks(store[seat, : at[i]].tobytes())
            due[seat] = min(recorder._chunk, HELD)

    def _arrange(self) -> tuple:
        """The plain recordings by kind and the rows of every recording's streams in the order tick()
        reads them: stereo's left, stereo's right, mono, the others'."""
        stereo, mono, others = [], [], []
        for recording in self.recordings:
            kind = recording.plain()
            (stereo if kind == 2 else mono if kind == 1 else others).append(recording)
        law = self.slots.law
        left = [r.streams[0].row for r in stereo]
        right = [r.streams[1].row for r in stereo]
        alone = [r.streams[0].row for r in mono]
        rest = [s.row for r in others for s in r.streams if isinstance(s, SlotStream)]
        rows = np.array(left + right + alone + rest, dtype=np.int64)
        offsets = np.concatenate([PAIR * (2 * law[left] + law[right]), PAIR * 3 * law[alone]]).astype(np.intp)
        seats = {kind: np.array([self._seats[r][1] for r in group], dtype=np.int64)
                 for kind, group in ((2, stereo), (1, mono))}  # fmt: skip
        return stereo, mono, others, rows, offsets, seats


CATCH_UP = 50  # ticks a held-up loop catches up at once (a second); beyond, they are skipped
HELD = 50  # ticks a plain recording's seat holds: its chunk is written by then (a second)


_clocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Clock] = weakref.WeakKeyDictionary()


def _clock() -> _Clock:
    loop = asyncio.get_running_loop()
    clock = _clocks.get(loop)
    if clock is None:
        clock = _clocks[loop] = _Clock(loop)
    return clock


Stream = SlotStream | InboundStream


def inbound(codec: str, *, voice_pt: int | None = None, event_pts: Iterable[int] = (),
            on_event: Callable[[bytes], None] | None = None, clock_rate: int = 8000) -> Stream:  # fmt: skip
    """A recorded stream: a row of the loop's Slots for G.711 at 8000 Hz, else a jitter buffer and
    the codec's decoder of its own (`push` is the endpoint's sink or tap either way)."""
    if codec.upper() in LAWS and clock_rate == 8000:
        return _clock().slots.add(codec, voice_pt=voice_pt, event_pts=event_pts, on_event=on_event)
    return InboundStream(codec, voice_pt=voice_pt, event_pts=event_pts, on_event=on_event, clock_rate=clock_rate)


class RtpRecording:
    """Records RTP streams on the shared 20 ms clock: one channel per stream, or their mix in one.
    Made by `record_relay()` and `record_endpoint()`."""

    def __init__(self, recorder: Recorder, streams: Iterable[Stream], *, mix: bool = False,
                 on_stop: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.recorder = recorder
        self.streams = list(streams)
        self.mix = mix
        if (1 if mix else len(self.streams)) != recorder.channels:
            raise ValueError("one channel per stream, or one for their mix")
        self.on_stop = on_stop
        self._clock: _Clock | None = None

    def start(self) -> None:
        self._clock = _clock()
        # Its first chunk is written early, after a random part of a chunk: recordings that start
        # together (a burst of calls) then write on different ticks, never all in one (measured with
        # 200 calls: a tick writing every file held the relay up for tens of milliseconds).
        self.recorder.stagger()
        self._clock.add(self)

    @property
    def running(self) -> bool:
        return self._clock is not None

    def plain(self) -> int:
        """2 (stereo) or 1 (mono) when each channel is one G.711 stream as it is (the clock's common
        way), else 0."""
        if self.mix or not all(isinstance(s, SlotStream) for s in self.streams):
            return 0
        return len(self.streams)

    def tick(self, frames: list[Frame | None] | None = None) -> None:
        """One 20 ms tick: a frame of each stream (`frames`: taken already) into the file."""
        if frames is None:
            frames = [stream.next_frame() for stream in self.streams]
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
            for stream in self.streams:
                if isinstance(stream, SlotStream):
                    stream.slots.remove(stream)
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
    from_a = inbound(codec_a, event_pts=events, clock_rate=relay.a.clock_rate, on_event=on_event[0])
    from_b = inbound(codec_b or codec_a, event_pts=events_b, clock_rate=relay.b.clock_rate, on_event=on_event[1])
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
    stream = inbound(codec, voice_pt=voice_pt, event_pts=event_pts, on_event=on_event,
                     clock_rate=endpoint.clock_rate)  # fmt: skip
    endpoint.sink = stream.push

    def give_back() -> None:
        if endpoint.sink == stream.push:
            endpoint.sink = None

    recording = RtpRecording(Recorder(path, chunk=chunk), [stream], on_stop=give_back)
    recording.start()
    return recording
