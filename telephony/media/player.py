"""Playing audio into a call leg: RTP packets of 20 ms, paced by the event loop's clock.

Music on hold, prompts and tones all come down to a list of encoded 20 ms frames sent on an
endpoint as a stream of its own (SSRC, sequence, timestamp); the first packet carries the marker
bit so the phone resynchronises its jitter buffer. Any codec codecs.py has can be played; the
timestamp advances by 20 ms of the codec's RTP clock (160 for G.711 and G.722, 960 for Opus).
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
from collections.abc import Callable
from functools import partial

import av
import numpy as np

from telephony.media import codecs
from telephony.media.rtp import RtpEndpoint

FRAME = 0.020
SAMPLES = 160  # 20 ms at 8 kHz
_HEADER = struct.Struct("!BBHII")
# The codecs encode() can play in: name -> a new encoder (per stream: G.722 and Opus keep state).
ENCODERS = {name: partial(codecs.new_encoder, name) for name in codecs.NAMES}


class Frames(list):
    """Encoded 20 ms frames, and how far each moves the RTP timestamp (20 ms of the codec's clock)."""

    def __init__(self, frames: list[bytes], timestamp_step: int = SAMPLES) -> None:
        super().__init__(frames)
        self.timestamp_step = timestamp_step


class Player:
    def __init__(self, endpoint: RtpEndpoint, payload_type: int, frames: list[bytes], *, loop: bool = True,
                 on_done: Callable[[], None] | None = None, on_last: Callable[[], None] | None = None):  # fmt: skip
        """on_done: called once the frames have played (a frame's time after the last was sent);
        on_last: called as the last frame is sent (not looping), what must begin with the audio's end
        (voicemail records from the beep's last frame: a caller who speaks as it ends loses nothing)."""
        if not frames:
            raise ValueError("nothing to play")
        self.endpoint, self.payload_type, self.frames = endpoint, payload_type, frames
        self.loop, self.on_done, self.on_last = loop, on_done, on_last
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.step = getattr(frames, "timestamp_step", SAMPLES)
        self.sent = 0
        self._timer: asyncio.TimerHandle | None = None
        self._start = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._start = loop.time()
        self._timer = loop.call_soon(self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def playing(self) -> bool:
        return self._timer is not None

    def _tick(self) -> None:
        index = self.sent % len(self.frames) if self.loop else self.sent
        if index >= len(self.frames):
            self._timer = None
            if self.on_done is not None:
                self.on_done()
            return
        marker = 0x80 if self.sent == 0 else 0
        header = _HEADER.pack(0x80, marker | self.payload_type, self.seq, self.timestamp, self.ssrc)
        self.endpoint.send_rtp(header + self.frames[index])
        self.sent += 1
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.step) & 0xFFFFFFFF
        if self.on_last is not None and not self.loop and self.sent == len(self.frames):
            self.on_last()
        # Due times from the start, not from now: lateness in one tick does not add up.
        self._timer = asyncio.get_running_loop().call_at(self._start + self.sent * FRAME, self._tick)


def encode(samples: list[int] | np.ndarray, codec: str) -> list[bytes]:
    """16-bit samples at 8 kHz -> 20 ms frames of `codec` (the last one padded with silence), encoded as
    one stream in order (a Frames list, which tells the Player its timestamp step)."""
    encoder = ENCODERS[codec]()
    samples = np.asarray(samples, dtype=np.int16)
    padded = np.concatenate([samples, np.zeros(-len(samples) % SAMPLES, dtype=np.int16)])
    frames = [encoder(padded[i : i + SAMPLES]) for i in range(0, len(padded), SAMPLES)]
    return Frames(frames, codecs.rtp_clock(codec) * SAMPLES // codecs.RATE)


def tones(notes: list[tuple[tuple[float, ...], float]], *, level: float = 6000.0) -> list[int]:
    """Samples of a sequence of (frequencies, seconds); no frequency is a pause. Soft edges, no clicks."""
    samples: list[int] = []
    for freqs, seconds in notes:
        count = int(seconds * 8000)
        fade = min(80, count // 4)
        for n in range(count):
            envelope = min(1.0, n / fade, (count - n) / fade) if fade else 1.0
            value = sum(math.sin(2 * math.pi * f * n / 8000) for f in freqs) / max(len(freqs), 1)
            samples.append(int(level * envelope * value))
    return samples


class AudioFileError(ValueError):
    """A file that is not audio the engine can play (the message says why)."""


# The demuxers an uploaded file may be read with: audio formats only. FFmpeg also reads playlists
# (ffconcat, HLS) whose entries name other files, which an upload must never be able to do.
AUDIO_FORMATS = "wav,w64,mp3,ogg,flac,aac,mov,matroska,webm,aiff,au,caf,amr,asf,wv,gsm,voc,ape,tta"


def file_samples(path, *, max_seconds: float = 600.0, formats: str | None = None) -> np.ndarray:
    """The audio of a file (WAV, MP3, Ogg, FLAC... whatever FFmpeg reads; with `formats`, only those
    demuxers, such as AUDIO_FORMATS for a file someone uploaded) as 16-bit mono samples at 8 kHz, for
    encode(). File work: run it in a thread, not on the media loop."""
    options = {"format_whitelist": formats, "protocol_whitelist": "file"} if formats else None
    try:
        with av.open(str(path), options=options) as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None:
                raise AudioFileError(f"{path}: no audio in it")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
            parts: list[np.ndarray] = []
            limit = int(max_seconds * 8000)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
                if sum(len(p) for p in parts) > limit:
                    raise AudioFileError(f"{path}: longer than {max_seconds:.0f} s")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, OSError) as exc:
        raise AudioFileError(f"{path}: not a readable audio file ({exc})") from None
    samples = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)
    if not len(samples):
        raise AudioFileError(f"{path}: no audio in it")
    return samples


# Music on hold until prompts can be uploaded: a slow arpeggio (A minor, 440 Hz first).
HOLD_MUSIC = [((440.0,), 0.4), ((523.25,), 0.4), ((659.25,), 0.4), ((523.25,), 0.4), ((), 0.2)]
_hold_frames: dict[str, list[bytes]] = {}


def hold_music(codec: str) -> list[bytes]:
    if codec not in _hold_frames:
        _hold_frames[codec] = encode(tones(HOLD_MUSIC), codec)
    return _hold_frames[codec]
