"""Audio files made playable (telephony/media/player.py): any FFmpeg format to 8 kHz mono frames."""

from __future__ import annotations

import math
import struct
import wave
from array import array

import pytest

from telephony.media.player import AudioFileError, encode, file_samples
from tests.sip.audio import CANDIDATES, dominant


def write_wav(path, *, rate: int, channels: int, seconds: float, freq: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = []
        for n in range(int(rate * seconds)):
            value = int(8000 * math.sin(2 * math.pi * freq * n / rate))
            frames.append(struct.pack("<" + "h" * channels, *([value] * channels)))
        out.writeframes(b"".join(frames))


def test_a_wideband_stereo_wav_becomes_8khz_mono_samples_and_frames(tmp_path):
    path = tmp_path / "prompt.wav"
    write_wav(path, rate=16000, channels=2, seconds=1.0, freq=1300)
    samples = file_samples(path)
    assert abs(len(samples) - 8000) <= 160 and samples.dtype.name == "int16"
    freq, margin = dominant(8000, array("h", samples.tobytes()), CANDIDATES)
    assert freq == 1300 and margin > 5
    frames = encode(samples, "PCMA")
    assert len(frames) == math.ceil(len(samples) / 160) and {len(f) for f in frames} == {160}


def test_what_is_not_playable_audio_gets_a_clear_error(tmp_path):
    garbage, empty, long = tmp_path / "x.wav", tmp_path / "empty.wav", tmp_path / "long.wav"
    garbage.write_bytes(b"not audio at all" * 20)
    write_wav(empty, rate=8000, channels=1, seconds=0, freq=440)
    write_wav(long, rate=8000, channels=1, seconds=3, freq=440)
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        file_samples(garbage)
    with pytest.raises(AudioFileError, match="no audio"):
        file_samples(empty)
    with pytest.raises(AudioFileError, match="longer than 2 s"):
        file_samples(long, max_seconds=2)
    with pytest.raises(AudioFileError):
        file_samples(tmp_path / "missing.wav")
