"""Audio codecs as the engine's media blocks use them: a payload of one RTP packet to 16-bit linear
samples and back.

The engine's linear audio (mixer, recorder, player, prompts, DTMF) is mono int16 at 8,000 Hz in
20 ms frames of 160 samples (numpy arrays). Each codec gives a decoder and an encoder per stream,
so codecs with state (ADPCM, Opus) keep it per stream:

    decode = new_decoder("PCMU"); samples = decode(payload)    # np.ndarray int16 at 8 kHz
    encode = new_encoder("PCMU"); payload = encode(samples)     # 160 samples -> one packet's payload

Two legs that share a codec are relayed without any of this (relay.py); two G.711 laws are
converted by a table (g711.transcoder), other pairs decoded and re-encoded (transcode.py). G.711
here is numpy table lookups, the same tables as g711.py.

G.722 and Opus are FFmpeg's (PyAV): G.722 codes 16 kHz audio (its RTP clock stays 8000, RFC 3551)
and is resampled to and from 8 kHz here; Opus is encoded from 8 kHz as it is (libopus takes it:
narrowband Opus) and decoded at 48 kHz (libopus in FFmpeg only gives 48 kHz), then resampled. The
resampler is FFmpeg's swresample: about 11 us per 20 ms, a little cheaper than a numpy polyphase
FIR of similar quality (13-20 us) and with a better stopband. Their encoders take exactly one 20 ms
frame (160 samples; ValueError otherwise); a payload a decoder cannot read gives no samples (an
empty array, counted in the decoder's `failed`), as a lost packet would: never an exception.
"""

from __future__ import annotations

from collections.abc import Callable

import av
import numpy as np
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler

from telephony.media import g711

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at RATE
# The RTP timestamp clock of each codec, whatever it really samples at (RFC 3551, RFC 7587).
RTP_CLOCKS = {"PCMU": 8000, "PCMA": 8000, "G722": 8000, "OPUS": 48000}
OPUS_BIT_RATE = 24000  # narrowband speech at 8 kHz needs no more
# libopus' complexity (0-10): 5 costs 48 us a frame here against 62 us at its default 10, for little
# audible difference on narrowband speech (WebRTC uses 5 on mobile phones).
OPUS_OPTIONS = {"application": "voip", "compression_level": "5"}
_EMPTY = np.zeros(0, dtype=np.int16)

Decoder = Callable[[bytes], np.ndarray]
Encoder = Callable[[np.ndarray], bytes]

_ULAW_DECODE = np.array([g711.ulaw_decode(code) for code in range(256)], dtype=np.int16)
_ALAW_DECODE = np.array([g711.alaw_decode(code) for code in range(256)], dtype=np.int16)
G711_DECODE = {"PCMU": _ULAW_DECODE, "PCMA": _ALAW_DECODE}  # code -> sample (many frames decoded at once)
# Every 16-bit sample's code, indexed by the sample as uint16 (two's complement), built once.
_ULAW_ENCODE = np.array([g711.ulaw_encode(s - 65536 if s > 32767 else s) for s in range(65536)], dtype=np.uint8)
_ALAW_ENCODE = np.array([g711.alaw_encode(s - 65536 if s > 32767 else s) for s in range(65536)], dtype=np.uint8)


def _table_decoder(table: np.ndarray) -> Decoder:
    def decode(payload: bytes) -> np.ndarray:
        return table[np.frombuffer(payload, dtype=np.uint8)]

    return decode


def _table_encoder(table: np.ndarray) -> Encoder:
    def encode(samples: np.ndarray) -> bytes:
        return table[samples.astype(np.int16, copy=False).view(np.uint16)].tobytes()

    return encode


class _Resampler:
    """One stream's sample rate converter (swresample): len(samples) * rate_out / rate_in samples out
    of every call. swresample holds its filter's delay back from its first output; it is primed with
    20 ms of silence here, so that every later call gives whole frames (at the cost of ~2 ms latency)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in = rate_in
        self._swr = AudioResampler(format="s16", layout="mono", rate=rate_out)
        self(np.zeros(rate_in // 50, dtype=np.int16))

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate_in
        out = [f.to_ndarray().reshape(-1) for f in self._swr.resample(frame)]
        return out[0] if len(out) == 1 else np.concatenate(out) if out else _EMPTY


class _AvDecoder:
    """One stream's FFmpeg decoder, to 8 kHz. An empty payload never reaches FFmpeg, which would take
    it for the end of the stream and refuse every packet after it."""

    def __init__(self, codec: str, rate: int) -> None:
        self._context = av.CodecContext.create(codec, "r")
        self._context.layout = "mono"  # libopus downmixes a stereo sender's packets
        self._context.open()
        self._resample = _Resampler(rate, RATE)
        self.failed = 0

    def __call__(self, payload: bytes) -> np.ndarray:
        frames = None
        if payload:
            try:
                frames = self._context.decode(av.Packet(payload))
            except av.FFmpegError:
                frames = None
        if not frames:
            self.failed += 1
            return _EMPTY
        pcm = frames[0].to_ndarray().reshape(-1) if len(frames) == 1 else np.concatenate(
            [f.to_ndarray().reshape(-1) for f in frames])  # fmt: skip
        return self._resample(pcm)


class _AvEncoder:
    """One stream's FFmpeg encoder, from 20 ms frames at 8 kHz; `rate` is what the codec codes at."""

    def __init__(self, codec: str, rate: int, *, bit_rate: int = 0, options: dict[str, str] | None = None) -> None:
        self._context = av.CodecContext.create(codec, "w")
        self._context.sample_rate = rate
        self._context.layout = "mono"
        self._context.format = "s16"
        if bit_rate:
            self._context.bit_rate = bit_rate
        self._context.options = options or {}
        self._context.open()
        self._rate = rate
        self._resample = _Resampler(RATE, rate) if rate != RATE else None

    def __call__(self, samples: np.ndarray) -> bytes:
        if len(samples) != FRAME_SAMPLES:  # the codec's frames are 20 ms: another length would be buffered
            raise ValueError(f"{len(samples)} samples: 20 ms frames ({FRAME_SAMPLES} samples) only")
        pcm = np.ascontiguousarray(samples, dtype=np.int16)
        if self._resample is not None:
            pcm = self._resample(pcm)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self._rate
        return b"".join(bytes(packet) for packet in self._context.encode(frame))


_FACTORIES: dict[str, tuple[Callable[[], Decoder], Callable[[], Encoder]]] = {
    "PCMU": (lambda: _table_decoder(_ULAW_DECODE), lambda: _table_encoder(_ULAW_ENCODE)),
    "PCMA": (lambda: _table_decoder(_ALAW_DECODE), lambda: _table_encoder(_ALAW_ENCODE)),
    "G722": (lambda: _AvDecoder("g722", 16000), lambda: _AvEncoder("g722", 16000)),
    "OPUS": (lambda: _AvDecoder("libopus", 48000),
             lambda: _AvEncoder("libopus", RATE, bit_rate=OPUS_BIT_RATE, options=dict(OPUS_OPTIONS))),
}  # fmt: skip
NAMES = frozenset(_FACTORIES)


def supported(name: str) -> bool:
    return name.upper() in _FACTORIES


def rtp_clock(name: str) -> int:
    """The RTP timestamp rate of codec `name` (8000 for G.722, 48000 for Opus); KeyError if unknown."""
    return RTP_CLOCKS[name.upper()]


def new_decoder(name: str) -> Decoder:
    """A decoder for one stream of codec `name` (SDP encoding name); KeyError if unknown."""
    return _FACTORIES[name.upper()][0]()


def new_encoder(name: str) -> Encoder:
    """An encoder for one stream of codec `name`: 160 samples at 8 kHz -> one 20 ms payload."""
    return _FACTORIES[name.upper()][1]()
