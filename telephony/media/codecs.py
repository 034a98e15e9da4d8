"""Audio codecs as the engine's media blocks use them: a payload of one RTP packet to 16-bit linear
samples and back.

The engine's linear audio (mixer, recorder, player, prompts, DTMF) is mono int16 at 8,000 Hz in
20 ms frames of 160 samples (numpy arrays). Each codec gives a decoder and an encoder per stream,
so codecs with state (ADPCM, Opus) keep it per stream:

    decode = new_decoder("PCMU"); samples = decode(payload)    # np.ndarray int16 at 8 kHz
    encode = new_encoder("PCMU"); payload = encode(samples)     # 160 samples -> one packet's payload

Two legs that share a codec are relayed without any of this (relay.py); two G.711 laws are
converted by a table (g711.transcoder). G.711 here is numpy table lookups, the same tables as
g711.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from telephony.media import g711

RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at RATE

Decoder = Callable[[bytes], np.ndarray]
Encoder = Callable[[np.ndarray], bytes]

_ULAW_DECODE = np.array([g711.ulaw_decode(code) for code in range(256)], dtype=np.int16)
_ALAW_DECODE = np.array([g711.alaw_decode(code) for code in range(256)], dtype=np.int16)
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


_FACTORIES: dict[str, tuple[Callable[[], Decoder], Callable[[], Encoder]]] = {
    "PCMU": (lambda: _table_decoder(_ULAW_DECODE), lambda: _table_encoder(_ULAW_ENCODE)),
    "PCMA": (lambda: _table_decoder(_ALAW_DECODE), lambda: _table_encoder(_ALAW_ENCODE)),
}


def supported(name: str) -> bool:
    return name.upper() in _FACTORIES


def new_decoder(name: str) -> Decoder:
    """A decoder for one stream of codec `name` (SDP encoding name); KeyError if unknown."""
    return _FACTORIES[name.upper()][0]()


def new_encoder(name: str) -> Encoder:
    """An encoder for one stream of codec `name`: 160 samples at 8 kHz -> one 20 ms payload."""
    return _FACTORIES[name.upper()][1]()
