"""Audio checks for recordings made by the test phones (stdlib only: numpy is not in the venv)."""

from __future__ import annotations

import math
import struct
import sys
import wave
from array import array
from pathlib import Path


def read_wav(path: Path) -> tuple[int, array]:
    """(sample rate, 16-bit mono samples) of a WAV written by the agent's recorder."""
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2, wav.getparams()
        rate = wav.getframerate()
        samples = array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return rate, samples


def tone_file(path: Path, freq: float, seconds: float) -> Path:
    """A WAV file of a tone (8 kHz, 16-bit mono), as a greeting, a message or a menu's greeting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * freq * n / 8000)))
                                 for n in range(int(8000 * seconds))))  # fmt: skip
    return path


def rms(samples: array) -> float:
    return math.sqrt(sum(x * x for x in samples) / len(samples)) if samples else 0.0


def loud_ms(rate: int, samples: array, threshold: float = 1000.0) -> int:
    """How many ms of the recording are loud (20 ms windows with an RMS above threshold)."""
    window = rate // 50
    loud = sum(
        1 for start in range(0, len(samples) - window + 1, window) if rms(samples[start : start + window]) > threshold
    )
    return loud * 20


def loudest_part(rate: int, samples: array, threshold: float = 1000.0) -> array:
    """The samples of the loud 20 ms windows, joined (what a tone left in the recording)."""
    window = rate // 50
    part = array("h")
    for start in range(0, len(samples) - window + 1, window):
        chunk = samples[start : start + window]
        if rms(chunk) > threshold:
            part.extend(chunk)
    return part


def tone_power(rate: int, samples: array, freq: float) -> float:
    """Goertzel: the power of `freq` in the samples (comparable between frequencies)."""
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(len(samples), 1) ** 2


def dominant(rate: int, samples: array, candidates: list[int]) -> tuple[int, float]:
    """The candidate frequency with the most power and how far (ratio) it beats the runner-up."""
    powers = sorted(((tone_power(rate, samples, f), f) for f in candidates), reverse=True)
    (best, freq), (second, _) = powers[0], powers[1]
    return freq, best / max(second, 1e-9)


def share_of_windows_dominated_by(rate: int, samples: array, freq: int, candidates: list[int]) -> float:
    """Of the loud 20 ms windows, the share whose strongest candidate frequency is `freq`."""
    window = rate // 50
    loud = [
        samples[start : start + window]
        for start in range(0, len(samples) - window + 1, window)
        if rms(samples[start : start + window]) > 1000.0
    ]
    return sum(1 for chunk in loud if dominant(rate, chunk, candidates)[0] == freq) / max(len(loud), 1)


CANDIDATES = [350, 600, 850, 1000, 1300, 1700, 2200]


def assert_heard(path: Path, freq: int, *, loud_at_least_ms: int) -> None:
    """The recording holds a tone of `freq` (beating every other candidate 5 times) for long enough."""
    rate, samples = read_wav(path)
    assert loud_ms(rate, samples) >= loud_at_least_ms, loud_ms(rate, samples)
    found, ratio = dominant(rate, loudest_part(rate, samples), CANDIDATES)
    assert found == freq and ratio > 5, (found, ratio)


def assert_music(path: Path, notes: list[int], *, loud_at_least_ms: int) -> None:
    """Most loud 20 ms windows of the recording are ruled by one of the notes (hold music, prompts)."""
    rate, samples = read_wav(path)
    assert loud_ms(rate, samples) >= loud_at_least_ms, loud_ms(rate, samples)
    candidates = sorted({*notes, *CANDIDATES} - {600})  # 600 Hz sits between the notes of the hold music
    share = sum(share_of_windows_dominated_by(rate, samples, note, candidates) for note in notes)
    assert share >= 0.8, share


def _ruled_windows(path, freq: int) -> list[bool]:
    """Per 20 ms window of a recording: is it loud and is `freq` its strongest candidate."""
    rate, samples = read_wav(path)
    window = rate // 50
    parts = (samples[start : start + window] for start in range(0, len(samples) - window + 1, window))
    return [bool(loud_ms(rate, part)) and dominant(rate, part, CANDIDATES)[0] == freq for part in parts]


def heard_ms(path, freq: int) -> int:
    """How many ms of a recording are ruled by `freq` (loud 20 ms windows where it is the strongest)."""
    return 20 * sum(_ruled_windows(path, freq))


def longest_heard_ms(path, freq: int) -> int:
    """The longest unbroken stretch (ms) ruled by `freq`: a tone, where speech only touches it in passing."""
    longest = run = 0
    for ruled in _ruled_windows(path, freq):
        run = run + 1 if ruled else 0
        longest = max(longest, run)
    return 20 * longest
