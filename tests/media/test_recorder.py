"""Recordings: valid WAV files holding the expected tones, from a mixer's taps, from a relayed call
over UDP, from one leg, and after the recording process was killed."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

from telephony.media import Mixer, Recorder, Relay, digit_train, record_endpoint, record_relay
from tests.media.conftest import Phone, endpoint, power, tone
from tests.sip.audio import assert_heard

ROOT = Path(__file__).resolve().parents[2]


def read(path: Path) -> tuple[wave._wave_params, np.ndarray]:
    """The file's parameters and its samples, one column per channel."""
    with wave.open(str(path)) as wav:
        params = wav.getparams()
        data = np.frombuffer(wav.readframes(params.nframes), dtype="<i2")
    return params, data.reshape(-1, params.nchannels)


def strong(samples: np.ndarray, present: list[float], absent: list[float]) -> None:
    for freq in present:
        assert power(samples, freq) > 1e6, (freq, power(samples, freq))
    for freq in absent:
        assert power(samples, freq) < 1e4, (freq, power(samples, freq))


def test_frames_become_a_wav_file_written_a_chunk_at_a_time(tmp_path):
    path = tmp_path / "tone.wav"
    recorder = Recorder(path, chunk=0.5)
    assert path.stat().st_size == 44  # a header at once, sizes zero: a valid empty file
    frames = [tone(1000, 160 * 60)[k * 160 : (k + 1) * 160] for k in range(60)]
    for frame in frames[:30]:
        recorder.write(frame)
    assert read(path)[0].nframes == 25 * 160  # the first chunk is on disk and counted in the header
    for frame in frames[30:]:
        recorder.write(frame)
    recorder.write(None)  # a tick with nothing: silence
    recorder.close()
    recorder.close()
    params, samples = read(path)
    assert (params.nchannels, params.sampwidth, params.framerate, params.nframes) == (1, 2, 8000, 61 * 160)
    assert np.array_equal(samples[: 60 * 160, 0], np.concatenate(frames))
    assert not samples[60 * 160 :].any()
    assert_heard(path, 1000, loud_at_least_ms=1200)


def test_a_mixer_is_recorded_as_its_mix_as_what_one_party_hears_and_in_stereo_per_party(run, pool, tmp_path):
    async def main():
        mixer = Mixer()
        phones = [await Phone.open() for _ in range(3)]
        endpoints = [await endpoint(pool, phone) for phone in phones]
        a, b, _ = (mixer.add(ep, "PCMU", voice_pt=0) for ep in endpoints)
        whole, heard_by_a, stereo = (Recorder(tmp_path / name, channels=channels)
                                     for name, channels in (("mix.wav", 1), ("a.wav", 1), ("ab.wav", 2)))  # fmt: skip
        mixer.on_mix = whole.feed()
        a.on_hears = heard_by_a.feed()
        a.on_says, b.on_says = stereo.feed(0), stereo.feed(1)
        freqs = (600.0, 1000.0, 1700.0)
        await asyncio.gather(
            *(phone.play(ep, 0.8, freq) for phone, ep, freq in zip(phones, endpoints, freqs, strict=True))
        )
        mixer.close()
        for recorder in (whole, heard_by_a, stereo):
            recorder.close()
        for name, present, absent in (("mix.wav", [600.0, 1000.0, 1700.0], []), ("a.wav", [1000.0, 1700.0], [600.0])):
            params, samples = read(tmp_path / name)
            assert params.nframes >= 0.7 * 8000
            strong(samples[:, 0], present, absent)
        params, samples = read(tmp_path / "ab.wav")
        assert params.nchannels == 2 and params.nframes >= 0.7 * 8000
        strong(samples[:, 0], [600.0], [1000.0, 1700.0])
        strong(samples[:, 1], [1000.0], [600.0, 1700.0])

    run(main())


def test_a_relayed_call_is_recorded_in_stereo_without_changing_what_the_phones_get(run, pool, tmp_path):
    async def main():
        a, b = await Phone.open(), await Phone.open()
        ea, eb = await endpoint(pool, a), await endpoint(pool, b)
        relay = Relay(ea, eb)
        recording = record_relay(relay, tmp_path / "call.wav", codec_a="PCMU", event_pts=(101,), chunk=0.2)
        await asyncio.gather(a.play(ea, 0.8, 600.0), b.play(eb, 0.8, 1000.0))
        for payload in digit_train("5"):  # DTMF is relayed, and kept out of the recording
            a.send(ea, payload, pt=101, ts=12345)
        await asyncio.sleep(0.1)
        assert len(a.received) == b.sent and len(b.received) == a.sent  # events included
        assert recording.running and recording.recorder.seconds > 0.8
        recording.stop()
        recording.stop()
        assert ea.sink == eb.send_rtp and eb.sink == ea.send_rtp  # the plain relay again
        assert ea.tap is None and eb.tap is None
        params, samples = read(tmp_path / "call.wav")
        assert params.nchannels == 2 and 0.8 * 8000 <= params.nframes <= 1.1 * 8000
        strong(samples[:, 0], [600.0], [1000.0])
        strong(samples[:, 1], [1000.0], [600.0])
        relay.stop()

    run(main())


def test_one_leg_is_recorded_with_its_events_handed_aside_and_the_leg_given_back(run, pool, tmp_path):
    async def main():
        phone = await Phone.open()
        leg = await endpoint(pool, phone)
        events = []
        recording = record_endpoint(leg, tmp_path / "voicemail.wav", codec="PCMU", voice_pt=0, event_pts=(101,),
                                    on_event=events.append)  # fmt: skip
        await phone.play(leg, 0.6, 850.0)
        for payload in digit_train("#"):
            phone.send(leg, payload, pt=101, ts=999)
        await asyncio.sleep(0.05)
        recording.stop()
        assert leg.sink is None and len(events) == 7
        assert_heard(tmp_path / "voicemail.wav", 850, loud_at_least_ms=500)

    run(main())


CRASHING = """
import sys, time
import numpy as np
from telephony.media import Recorder
recorder = Recorder(sys.argv[1], chunk=0.5)
n = np.arange(160 * 80)
samples = np.round(8000 * np.sin(2 * np.pi * 1000 * n / 8000)).astype(np.int16)
for k in range(80):  # 1.6 s: three chunks of 0.5 s written, the last 0.1 s still in memory
    recorder.write(samples[k * 160 : (k + 1) * 160])
print("written", flush=True)
time.sleep(30)
"""


def test_a_recording_whose_process_was_killed_plays_up_to_its_last_chunk(tmp_path):
    path = tmp_path / "crash.wav"
    process = subprocess.Popen([sys.executable, "-c", CRASHING, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stdout.readline() == "written\n"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(5)
    params, _ = read(path)
    assert (params.nchannels, params.framerate, params.nframes) == (1, 8000, 3 * 4000)
    assert_heard(path, 1000, loud_at_least_ms=1400)


def test_a_pause_is_silent_in_the_file_and_closing_first_writes_what_the_clock_still_held(run, pool, tmp_path):
    async def main():
        phone = await Phone.open()
        leg = await endpoint(pool, phone)
        recording = record_endpoint(leg, tmp_path / "paused.wav", codec="PCMU", voice_pt=0)
        await phone.play(leg, 0.5, 850.0)
        await asyncio.sleep(0.06)  # (the last packets played)
        recording.recorder.paused = True
        await phone.play(leg, 0.5, 850.0)
        recording.recorder.paused = False
        await phone.play(leg, 0.5, 850.0)
        await asyncio.sleep(0.06)
        seconds = recording.recorder.seconds  # written and held
        recording.recorder.close()  # before the recording stops: the held ticks are written first
        recording.stop()
        params, samples = read(tmp_path / "paused.wav")
        assert abs(params.nframes / 8000 - seconds) < 0.05 and 1.5 <= seconds <= 1.8
        loud = [power(samples[k : k + 800, 0], 850.0) > 1e6 for k in range(0, len(samples) - 799, 800)]  # 0.1 s
        # tone, then the half-second pause (at least 4 whole silent tenths wherever the machine's
        # timing put it), then tone again
        runs = "".join("1" if x else "0" for x in loud).strip("0")
        assert loud.count(True) >= 8 and max(map(len, runs.split("1"))) >= 4, runs

    run(main())


def test_a_recording_stopped_right_after_the_last_packet_keeps_every_frame_the_leg_sent(run, pool, tmp_path):
    async def main():
        phone = await Phone.open()
        leg = await endpoint(pool, phone)
        recording = record_endpoint(leg, tmp_path / "whole.wav", codec="PCMU", voice_pt=0)
        await asyncio.sleep(0.1)
        await phone.play(leg, 0.6, 850.0)  # 30 packets
        await asyncio.sleep(0.005)  # the last one reached the socket; the clock has not ticked since
        recording.stop()  # (a '#' or a hang-up right after the last word)
        _, samples = read(tmp_path / "whole.wav")
        frames = samples[: len(samples) // 160 * 160, 0].reshape(-1, 160)
        assert sum(power(frame, 850.0) > 1e6 for frame in frames) == 30

    run(main())
