"""DTMF: digits from RFC 4733 events (retransmitted and lost end packets), in-band tones, the
collector's timeouts, and the sender, over UDP where packets cross the network."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest

from telephony.media import DtmfCollector, DtmfSender, ToneDetector, digit_train, tone_frames
from telephony.media.codecs import new_decoder, new_encoder
from telephony.media.dtmf import DIGITS
from tests.media.conftest import Phone, endpoint, rtp_packet

EVENT_PT = 101


def presses(*digits_and_timestamps: tuple[str, int], ssrc: int = 7) -> list[bytes]:
    """The packets of key presses as a phone sends them: each a train ending in three end packets."""
    packets, seq = [], 100
    for digit, ts in digits_and_timestamps:
        for index, payload in enumerate(digit_train(digit)):
            packets.append(rtp_packet(seq, ts, payload, pt=EVENT_PT, ssrc=ssrc, marker=index == 0))
            seq += 1
    return packets


def test_a_digit_counts_once_whatever_the_number_of_end_packets_and_twice_when_pressed_twice():
    got = []
    collector = DtmfCollector(event_pt=EVENT_PT, on_digit=got.append)
    packets = presses(("1", 1000), ("1", 3000), ("#", 5000))
    assert len(packets) == 3 * (4 + 3)  # 100 ms: four packets, then the end packet three times
    for packet in packets:
        collector.push_packet(packet)
    collector.push_packet(packets[6])  # a retransmitted end of the first press, arriving late
    assert got == ["1", "1", "#"]
    assert collector.pending == "11#"


def test_a_press_whose_end_packets_were_all_lost_counts_when_the_next_one_starts():
    got = []
    collector = DtmfCollector(event_pt=EVENT_PT, on_digit=got.append)
    first, second = presses(("7", 1000)), presses(("8", 2000))
    for packet in first[:4] + second:  # no end packet of the 7
        collector.push_packet(packet)
    assert got == ["7", "8"]


def test_voice_packets_are_not_events_and_events_beyond_dtmf_are_ignored():
    collector = DtmfCollector(event_pt=EVENT_PT)
    collector.push_packet(rtp_packet(1, 0, b"\xff" * 160, pt=0))
    collector.push_packet(rtp_packet(2, 160, struct.pack("!BBH", 16, 0x80, 800), pt=EVENT_PT))  # flash
    assert collector.pending == "" and not collector.events_seen


def test_in_band_tones_of_every_key_are_recognised_through_g711_once_per_press():
    detector = ToneDetector()
    encode, decode = new_encoder("PCMU"), new_decoder("PCMU")
    heard = []
    silence = np.zeros(160, dtype=np.int16)
    for digit in DIGITS:
        for frame in [*tone_frames(digit, duration=0.1), silence, silence, silence]:
            found = detector.feed(decode(encode(frame)))
            if found:
                heard.append(found)
    assert "".join(heard) == DIGITS


def test_speech_like_sounds_and_quiet_tones_are_not_digits():
    rng = np.random.default_rng(1)
    n = np.arange(160)
    single = (8000 * np.sin(2 * np.pi * 770 * n / 8000)).astype(np.int16)  # one DTMF row tone alone
    chord = (3000 * sum(np.sin(2 * np.pi * f * n / 8000) for f in (300, 697, 1209, 2500))).astype(np.int16)
    noise = rng.normal(0, 4000, 160).astype(np.int16)
    quiet = (tone_frames("5")[0] // 40).astype(np.int16)
    for frame in (single, chord, noise, quiet):
        assert ToneDetector.classify(frame) is None
    assert ToneDetector.classify(tone_frames("5")[1]) == "5"


def test_collect_stops_at_the_terminator_at_max_digits_or_after_a_pause_and_keeps_type_ahead():
    async def main():
        collector = DtmfCollector(event_pt=EVENT_PT)
        loop = asyncio.get_running_loop()

        timestamps = iter(range(1000, 10**6, 1000))

        def press_later(delay: float, digits: str) -> None:  # one end packet of each press
            for k, digit in enumerate(digits):
                loop.call_later(delay * (k + 1), collector.push_packet, presses((digit, next(timestamps)))[-1])

        press_later(0.02, "123#9")
        result = await collector.collect(max_digits=6, terminator="#", first=1.0, between=1.0)
        assert (result.digits, result.reason) == ("123", "terminator")
        await asyncio.sleep(0.05)
        assert collector.pending == "9"  # pressed after: kept for the next prompt
        press_later(0.01, "87654")
        result = await collector.collect(max_digits=4, first=1.0, between=1.0)
        assert (result.digits, result.reason) == ("9876", "max_digits")
        collector.flush()
        await asyncio.sleep(0.03)
        collector.flush()

        start = loop.time()
        result = await collector.collect(first=0.15, between=1.0)
        assert (result.digits, result.reason) == ("", "timeout")
        assert 0.14 < loop.time() - start < 0.4
        press_later(0.02, "42")
        start = loop.time()
        result = await collector.collect(first=1.0, between=0.2)
        assert (result.digits, result.reason) == ("42", "timeout")
        assert 0.18 < loop.time() - start - 0.04 < 0.45  # the pause after the last digit

    with asyncio.Runner() as runner:
        runner.run(main())


def test_digits_sent_as_events_over_udp_are_collected(run, pool):
    async def main():
        sending, receiving = await endpoint(pool), await endpoint(pool)  # one leg's engine and phone sides
        sending.set_remote(("127.0.0.1", receiving.port))
        collector = DtmfCollector(event_pt=EVENT_PT)
        receiving.sink = collector.push_packet
        sender = DtmfSender(sending, EVENT_PT, duration=0.06, pause=0.04)
        started = asyncio.get_running_loop().time()
        await sender.send("1234#")
        assert asyncio.get_running_loop().time() - started == pytest.approx(0.64, abs=0.1)  # 33 ticks
        result = await collector.collect(max_digits=8, first=0.5)
        assert (result.digits, result.reason) == ("1234", "terminator")
        assert sender.sent == 5 * 5

    run(main())


def test_in_band_digits_in_voice_packets_are_collected_until_events_arrive(run, pool):
    async def main():
        phone = await Phone.open()
        leg = await endpoint(pool, phone)
        collector = DtmfCollector(event_pt=EVENT_PT, codec="PCMU")
        leg.sink = collector.push_packet
        silence = [np.zeros(160, dtype=np.int16)] * 3
        frames = [*tone_frames("3"), *silence, *tone_frames("*"), *silence]
        await phone.play(leg, len(frames) * 0.02, frames=frames)
        result = await collector.collect(max_digits=2, first=0.5)
        assert (result.digits, result.reason) == ("3*", "max_digits")
        for packet in presses(("9", 500)):
            phone.send(leg, packet[12:], pt=EVENT_PT, ts=500)
        await phone.play(leg, len(frames) * 0.02, frames=frames)  # once events were seen, tones are not searched
        result = await collector.collect(max_digits=3, first=0.2, between=0.2)
        assert (result.digits, result.reason) == ("9", "timeout")

    run(main())
