"""Codecs at the engine's 8 kHz interface (telephony/media/codecs.py), the RTP packet transcoder
(telephony/media/transcode.py) and what the relay and the player do with them."""

from __future__ import annotations

import asyncio
import itertools
import struct
from dataclasses import dataclass

import numpy as np
import pytest

from telephony.media import Relay, codecs, g711
from telephony.media.player import ENCODERS, Player, encode, hold_music
from telephony.media.transcode import transcoder
from tests.media.test_rtp import HOST, Phone, open_endpoint, pools, run  # noqa: F401 - fixtures

NAMES = ["PCMU", "PCMA", "G722", "OPUS"]
FRAME = codecs.FRAME_SAMPLES


def tone(freq: float, seconds: float = 1.0, level: float = 8000.0) -> np.ndarray:
    n = np.arange(int(seconds * codecs.RATE))
    return (level * np.sin(2 * np.pi * freq * n / codecs.RATE)).astype(np.int16)


def spectrum_peak(samples: np.ndarray) -> tuple[float, float]:
    """(the strongest frequency, its share of the signal's power) of 8 kHz samples."""
    power = np.abs(np.fft.rfft(samples.astype(float) * np.hanning(len(samples)))) ** 2
    peak = int(np.argmax(power))
    near = power[max(peak - 3, 0) : peak + 4].sum()  # the Hann window spreads a tone over a few bins
    return peak * codecs.RATE / len(samples), near / power.sum()


def round_trip(name: str, samples: np.ndarray) -> np.ndarray:
    encoder, decoder = codecs.new_encoder(name), codecs.new_decoder(name)
    return np.concatenate([decoder(encoder(samples[i : i + FRAME])) for i in range(0, len(samples), FRAME)])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("freq", [440, 1000, 2200])
def test_a_tone_keeps_its_frequency_and_level_through_each_codec(name, freq):
    sent = tone(freq)
    heard = round_trip(name, sent)
    assert heard.dtype == np.int16 and len(heard) == len(sent)
    steady = heard[800:]  # after 100 ms: the codecs' and resamplers' start is behind
    found, share = spectrum_peak(steady)
    assert abs(found - freq) <= 5 and share > 0.95, (found, share)
    assert 0.8 < steady.std() / sent.std() < 1.2


def test_payloads_have_the_sizes_of_their_codecs_and_rtp_clocks_are_the_rfcs():
    silence = np.zeros(FRAME, dtype=np.int16)
    sizes = {name: len(codecs.new_encoder(name)(silence)) for name in NAMES}
    assert sizes["PCMU"] == sizes["PCMA"] == sizes["G722"] == 160  # 64 kbit/s for 20 ms
    assert 0 < sizes["OPUS"] <= codecs.OPUS_BIT_RATE // 400
    assert [codecs.rtp_clock(name) for name in NAMES] == [8000, 8000, 8000, 48000]
    assert codecs.supported("g722") and codecs.supported("opus") and not codecs.supported("G729")


@pytest.mark.parametrize("name", ["G722", "OPUS"])
def test_each_stream_has_its_own_codec_state(name):
    """Two streams coded in turn give what each gives alone: no state is shared between streams."""
    low, high = tone(500), tone(1500)
    alone_low = _encode_all(codecs.new_encoder(name), low)
    alone_high = _encode_all(codecs.new_encoder(name), high)
    first, second = codecs.new_encoder(name), codecs.new_encoder(name)
    interleaved_low, interleaved_high = [], []
    for i in range(0, len(low), FRAME):
        interleaved_low.append(first(low[i : i + FRAME]))
        interleaved_high.append(second(high[i : i + FRAME]))
    assert interleaved_low == alone_low and interleaved_high == alone_high
    assert alone_low != alone_high

    one, two = codecs.new_decoder(name), codecs.new_decoder(name)
    reference = codecs.new_decoder(name)
    for a, b in zip(alone_low, alone_high, strict=True):
        assert np.array_equal(one(a), reference(a))
        two(b)


def _encode_all(encoder, samples: np.ndarray) -> list[bytes]:
    return [encoder(samples[i : i + FRAME]) for i in range(0, len(samples), FRAME)]


@pytest.mark.parametrize("name", ["G722", "OPUS"])
def test_a_payload_that_cannot_be_decoded_gives_no_samples_and_the_stream_goes_on(name):
    good = _encode_all(codecs.new_encoder(name), tone(1000, 0.2))
    decoder = codecs.new_decoder(name)
    assert len(decoder(good[0])) == FRAME
    bad = [b""] + ([b"\xff\xff\xff", bytes(range(256)) * 6] if name == "OPUS" else [])
    for payload in bad:  # an empty payload would end an FFmpeg stream; garbage Opus is refused
        out = decoder(payload)
        assert out.dtype == np.int16 and len(out) == 0
    assert decoder.failed == len(bad)
    assert all(len(decoder(payload)) == FRAME for payload in good[1:])


@pytest.mark.parametrize("name", NAMES)
def test_encoders_take_20_ms_frames_only(name):
    encoder = codecs.new_encoder(name)
    if name in ("G722", "OPUS"):  # a codec with frames would hold a short one back and shift the stream
        with pytest.raises(ValueError):
            encoder(np.zeros(80, dtype=np.int16))
    assert len(encoder(np.zeros(FRAME, dtype=np.int16))) > 0


# -- the packet transcoder


@dataclass
class Codec:
    payload: int
    name: str
    rate: int


PCMU, PCMA, G722 = Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(9, "G722", 8000)
OPUS = Codec(111, "OPUS", 48000)
EVENT_8K, EVENT_48K = Codec(101, "TELEPHONE-EVENT", 8000), Codec(110, "TELEPHONE-EVENT", 48000)


def rtp(pt: int, seq: int, ts: int, payload: bytes, *, marker: bool = False, ssrc: int = 0xCAFE) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def header(packet: bytes) -> tuple[int, bool, int, int, int]:
    _, second, seq, ts, ssrc = struct.unpack("!BBHII", packet[:12])
    return second & 0x7F, bool(second & 0x80), seq, ts, ssrc


def stream(codec: Codec, samples: np.ndarray, *, first_ts: int = 1000, first_seq: int = 7) -> list[bytes]:
    encoder, step = codecs.new_encoder(codec.name), codec.rate // 50
    return [rtp(codec.payload, first_seq + i, first_ts + i * step, encoder(samples[i * FRAME : (i + 1) * FRAME]),
                marker=i == 0) for i in range(len(samples) // FRAME)]  # fmt: skip


def heard(codec: Codec, packets: list[bytes]) -> np.ndarray:
    decoder = codecs.new_decoder(codec.name)
    return np.concatenate([decoder(packet[12:]) for packet in packets])


PAIRS = [(a, b) for a in (PCMU, PCMA, G722, OPUS) for b in (PCMU, PCMA, G722, OPUS) if a is not b]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{a.name}-{b.name}" for a, b in PAIRS])
def test_voice_is_transcoded_with_its_header_kept_and_timestamps_on_the_targets_clock(source, target):
    convert = transcoder(source, target, events=(EVENT_8K, EVENT_8K))
    sent = stream(source, tone(1000), first_ts=0xFFFFFFFF - 5 * (source.rate // 50))  # wraps after 6 packets
    out = [convert(packet) for packet in sent]
    assert all(packet is not None for packet in out)
    step = target.rate // 50
    for i, (before, after) in enumerate(zip(sent, out, strict=True)):
        pt, marker, seq, ts, ssrc = header(after)
        assert (pt, marker, seq, ssrc) == (target.payload, i == 0, header(before)[2], 0xCAFE)
        if i:
            assert (ts - header(out[i - 1])[3]) & 0xFFFFFFFF == step, i
    found, share = spectrum_peak(heard(target, out)[800:])
    assert abs(found - 1000) <= 5 and share > 0.9, (found, share)


def test_g711_pairs_keep_the_table_and_a_dynamic_payload_type_is_only_renumbered():
    packet = rtp(0, 1, 160, bytes(range(160)), marker=True)
    assert transcoder(PCMU, PCMA)(packet) == g711.transcoder("PCMU", "PCMA", {0: 8})(packet)
    opus = stream(OPUS, tone(1000, 0.1))
    renumber = transcoder(OPUS, Codec(96, "OPUS", 48000), events=(EVENT_48K, Codec(97, "TELEPHONE-EVENT", 48000)))
    assert renumber(opus[0]) == opus[0][:1] + bytes((0x80 | 96,)) + opus[0][2:]
    assert header(renumber(rtp(110, 3, 9600, b"\x05\x0a\x01\x40")))[0] == 97


def test_telephone_events_pass_mapped_and_rescaled_to_the_other_clock():
    event = bytes([5, 0x8A, 0x01, 0x40])  # RFC 4733: digit 5, end, volume 10, duration 320 (40 ms at 8 kHz)
    to_opus = transcoder(PCMU, OPUS, events=(EVENT_8K, EVENT_48K))
    voice = stream(PCMU, tone(1000, 0.04), first_ts=8000)
    first_ts = header(to_opus(voice[0]))[3]
    to_opus(voice[1])
    out = to_opus(rtp(101, 9, 8000 + 320, event, marker=True))
    pt, marker, seq, ts, _ = header(out)
    assert (pt, marker, seq) == (110, True, 9) and (ts - first_ts) & 0xFFFFFFFF == 320 * 6
    assert out[12:] == bytes([5, 0x8A, 0x07, 0x80])  # 1920: 40 ms at 48 kHz

    back = transcoder(OPUS, PCMU, events=(EVENT_48K, EVENT_8K))
    opus = stream(OPUS, tone(1000, 0.04), first_ts=0)
    base = header(back(opus[0]))[3]
    out = back(rtp(110, 3, 1920, bytes([5, 0x0A, 0x07, 0x80])))
    assert header(out)[0] == 101 and header(out)[3] - base == 320 and out[12:] == bytes([5, 0x0A, 0x01, 0x40])
    same_clock = transcoder(PCMU, G722, events=(EVENT_8K, Codec(96, "TELEPHONE-EVENT", 8000)))
    assert same_clock(rtp(101, 1, 500, event)) == rtp(96, 1, 500, event)


def test_a_late_packet_lands_where_it_belongs_on_the_slower_clock():
    back = transcoder(OPUS, PCMU)
    packets = stream(OPUS, tone(1000, 0.1), first_ts=0xFFFFFFFF - 1000)
    order = [0, 1, 3, 2, 4]
    stamps = {i: header(back(packets[i]))[3] for i in order}
    assert [(stamps[i] - stamps[0]) & 0xFFFFFFFF for i in range(5)] == [0, 160, 320, 480, 640]


def test_packets_that_cannot_be_converted_are_dropped_and_counted_never_raised():
    convert = transcoder(OPUS, G722, events=(EVENT_48K, EVENT_8K))
    good = stream(OPUS, tone(1000, 0.06))
    bad = [
        rtp(111, 1, 0, b"\xff\xff\xff"),  # not Opus
        rtp(111, 2, 0, b""),  # no payload
        rtp(13, 3, 0, b"\x40"),  # comfort noise: not negotiated
        rtp(111, 4, 0, bytes(range(256)) * 4)[:14],  # cut short
        bytes([0x9F]) + rtp(111, 5, 0, b"\x00" * 10)[1:],  # fifteen CSRCs announced, none there
    ]
    assert [convert(packet) for packet in bad] == [None] * len(bad)
    assert all(convert(packet) is not None for packet in good)
    assert (convert.dropped, convert.converted) == (len(bad), len(good))


def test_a_relay_sends_what_its_transcoder_gives_and_nothing_for_a_dropped_packet(run, pools):  # noqa: F811
    async def main():
        errors: list[dict] = []  # what reached the event loop instead of being dropped
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        engine_pool, phone_pool = pools
        a, b = await Phone(phone_pool).start(), await Phone(phone_pool).start()
        ea = await open_endpoint(engine_pool, remote=a.sdp)
        eb = await open_endpoint(engine_pool, remote=b.sdp)
        to_b, to_a = transcoder(PCMU, G722), transcoder(G722, PCMU)
        relay = Relay(ea, eb, convert_a_to_b=to_b, convert_b_to_a=to_a)
        packets = stream(PCMU, tone(1000, 0.2))
        for packet in [*packets[:5], rtp(0, 99, 0, b""), *packets[5:]]:
            a.rtp.send(packet, (HOST, ea.port))
        got = [data for data, _ in await b.rtp.receive(len(packets))]
        assert [header(packet)[0] for packet in got] == [9] * len(packets)
        assert {len(packet) for packet in got} == {12 + 160}
        await asyncio.sleep(0.05)
        assert b.rtp.drain() == []
        assert relay.stats()["a_to_b_dropped"] == 1 and relay.stats()["b_to_a_dropped"] == 0
        assert errors == []
        relay.stop()

    run(main())


# -- the player


@pytest.mark.parametrize("name", NAMES)
def test_music_on_hold_is_encoded_for_every_codec_and_sounds_like_its_notes(name):
    assert name in ENCODERS
    frames = hold_music(name)
    decoder = codecs.new_decoder(name)
    first_note = np.concatenate([decoder(frame) for frame in frames[:20]])  # 0.4 s of 440 Hz
    found, share = spectrum_peak(first_note[160:])
    assert abs(found - 440) <= 5 and share > 0.9, (found, share)
    assert frames.timestamp_step == codecs.rtp_clock(name) // 50


def test_the_player_steps_timestamps_by_the_codecs_clock():
    class Endpoint:
        sent: list[bytes] = []

        def send_rtp(self, packet: bytes) -> None:
            self.sent.append(packet)

    async def main() -> list[bytes]:
        endpoint = Endpoint()
        player = Player(endpoint, 111, encode(list(tone(440, 0.1)), "OPUS"))
        player.start()
        await asyncio.sleep(0.07)
        player.stop()
        return endpoint.sent

    sent = asyncio.run(main())
    assert len(sent) >= 3 and header(sent[0])[:2] == (111, True)
    assert {(header(b)[3] - header(a)[3]) & 0xFFFFFFFF for a, b in itertools.pairwise(sent)} == {960}
