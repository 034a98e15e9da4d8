"""What the call recording tests share: the client's policy set as the engine reads it (committed),
the recordings' rows as the engine wrote them, and each channel of a stereo recording."""

from __future__ import annotations

import sys
import wave
from array import array
from pathlib import Path

import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from recordings.models import LineRecording, Recording, RecordingPolicy
from recordings.services import policy_update
from telephony.directory import sip_directory_rooms_changed
from tests.waiting import committed, wait_for


@pytest.fixture(name="recording_policy")
def recording_policy_fixture(world):
    """recording_policy(mode=..., announce=..., ...): client A1's policy, committed (the engine reads
    it); afterwards the policy, choices, rows and files are gone again."""

    def set_policy(**fields):
        committed(policy_update, actor=world.client_a1_op, client=world.client_a1, **fields)

    def clean():
        with tenant_context(world.client_a1):
            for recording in Recording.objects.all():
                (Path(settings.OCX_RECORDINGS_DIR) / recording.file).unlink(missing_ok=True)
            Recording.objects.all().delete()
            LineRecording.objects.all().delete()
            RecordingPolicy.objects.all().delete()
        sip_directory_rooms_changed(world.client_a1)

    committed(clean)  # also before: a conference recorded by an earlier module leaves rows
    yield set_policy
    committed(clean)


def recordings_of(world, **match) -> list[Recording]:
    with tenant_context(world.client_a1):
        return list(Recording.objects.filter(**match).order_by("id"))


def finished_recording(world, count: int = 1, timeout: float = 10.0, **match) -> list[Recording]:
    """The client's first `count` recordings once all of them are whole (ended, with a length)."""

    def whole():
        rows = recordings_of(world, **match)
        return rows if len(rows) >= count and all(r.ended_at is not None for r in rows) else None

    return wait_for(whole, f"{count} finished recording(s) {match}", timeout)


def channels(path: Path) -> tuple[int, array, array]:
    """(rate, left samples, right samples) of a stereo 16-bit WAV."""
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2 and wav.getsampwidth() == 2, wav.getparams()
        rate = wav.getframerate()
        both = array("h", wav.readframes(wav.getnframes()))
    if sys.byteorder == "big":
        both.byteswap()
    return rate, both[0::2], both[1::2]


def loud_windows(rate: int, samples: array, threshold: float = 1000.0) -> list[bool]:
    """Per 20 ms window: loud or not."""
    from tests.sip.audio import rms

    window = rate // 50
    return [rms(samples[i : i + window]) > threshold for i in range(0, len(samples) - window + 1, window)]


def longest_quiet_between(flags: list[bool]) -> int:
    """The longest run of quiet windows with loud ones on both sides (a gap in a tone), in windows."""
    first = flags.index(True) if True in flags else 0
    last = len(flags) - 1 - flags[::-1].index(True) if True in flags else 0
    best = run = 0
    for flag in flags[first : last + 1]:
        run = 0 if flag else run + 1
        best = max(best, run)
    return best
