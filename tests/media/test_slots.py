"""The recordings' G.711 slots: packets placed by timestamp and played a tick later for every stream at
once, gaps as silence, late packets still played, events handed aside, restarts followed, and the
two-samples-at-a-time decoding equal to G.711's."""

from __future__ import annotations

import struct

import numpy as np

from telephony.media import codecs
from telephony.media.recorder import Recorder
from telephony.media.slots import DELAY, PAIR, RING, Slots, decode, decode_stereo

SSRC = 0x1234


def packet(seq: int, *, code: int = 0x10, ssrc: int = SSRC, pt: int = 0, marker: bool = False,
           samples: int = 160, ts: int | None = None) -> bytes:  # fmt: skip
    """An RTP packet whose payload is `code` repeated (a frame recognisable after decoding)."""
    ts = seq * 160 if ts is None else ts
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + bytes(
        [code] * samples
    )


def play(slots: Slots, streams, ticks: int) -> list[list[int | None]]:
    """`ticks` ticks: per tick, per stream, the code of its frame (None: silence)."""
    rows = np.array([s.row for s in streams])
    out = []
    for _ in range(ticks):
        codes, has = slots.tick(rows)
        out.append([int(codes[i, 0]) if has[i] else None for i in range(len(rows))])
    return out


def test_packets_play_in_timestamp_order_a_fixed_delay_after_the_first_and_a_gap_is_silence():
    slots = Slots(capacity=2)
    a, b, c = (slots.add("PCMU") for _ in range(3))  # a third stream grows the arrays
    a.push(packet(100, code=1))
    b.push(packet(7, code=50, ssrc=99))
    heard = play(slots, [a, b, c], 1)
    for seq, code in ((102, 3), (101, 2)):  # reordered within a tick
        a.push(packet(seq, code=code))
    # (104 never comes: a gap)
    heard += play(slots, [a, b, c], 1)
    a.push(packet(103, code=4))
    a.push(packet(105, code=6))
    heard += play(slots, [a, b, c], 6)
    assert [t[0] for t in heard] == [None] * DELAY + [1, 2, 3, 4, None, 6]
    assert [t[1] for t in heard][: DELAY + 2] == [None] * DELAY + [50, None]
    assert all(t[2] is None for t in heard)
    assert a.stats()["received"] == 5 and a.stats()["played"] == 5


def test_a_late_packet_still_plays_and_delays_its_stream_a_far_one_is_refused_until_the_sender_restarted():
    slots = Slots()
    a = slots.add("PCMA")
    a.push(packet(0, code=1))
    heard = play(slots, [a], DELAY + 3)  # 1 played, then 1 and 2 were due and missing
    a.push(packet(1, code=2))  # late by 2 frames: played now
    a.push(packet(2, code=3))
    heard += play(slots, [a], 2)
    assert [t[0] for t in heard] == [None] * DELAY + [1, None, None, 2, 3]
    assert a.stats()["late"] == 1
    for seq in range(500, 504):  # far from the playout point: refused ...
        a.push(packet(seq, code=9))
    play(slots, [a], 1)
    assert a.stats()["refused"] == 4
    a.push(packet(504, code=7))  # ... until RESTART_AFTER of them in a row: a restart, followed
    a.push(packet(505, code=8))
    assert [t[0] for t in play(slots, [a], DELAY + 2)] == [None] * DELAY + [7, 8]
    assert a.stats()["resyncs"] == 1


def test_a_new_ssrc_or_a_marker_out_of_place_starts_the_stream_again():
    slots = Slots()
    a = slots.add("PCMU")
    a.push(packet(0, code=1))
    play(slots, [a], DELAY + 1)
    a.push(packet(9000, code=2, ssrc=77))
    assert [t[0] for t in play(slots, [a], DELAY + 1)] == [None] * DELAY + [2]
    a.push(packet(20000, code=3, ssrc=77, marker=True))
    assert [t[0] for t in play(slots, [a], DELAY + 1)] == [None] * DELAY + [3]
    assert a.stats()["resyncs"] == 2


def test_events_go_aside_other_types_and_comfort_noise_are_dropped_odd_lengths_fitted():
    events = []
    slots = Slots()
    a = slots.add("PCMU", voice_pt=0, event_pts=(101,), on_event=events.append)
    a.push(packet(0, code=1))
    a.push(packet(1, pt=101, samples=4))
    a.push(packet(1, pt=13, samples=1))
    a.push(packet(1, pt=8, code=5))  # not its voice type
    a.push(packet(1, code=2, samples=80))  # 10 ms: padded with silence
    rows = np.array([a.row])
    play(slots, [a], DELAY)
    codes, has = slots.tick(rows)
    assert has[0] and not (codes[0] - 1).any()
    codes, has = slots.tick(rows)
    assert has[0] and list(codes[0, 78:82]) == [2, 2, 0xFF, 0xFF]
    assert len(events) == 1 and a.stats()["events"] == 1 and a.stats()["others"] == 2


def test_a_stream_that_stays_too_far_ahead_skips_a_frame_now_and_then():
    slots = Slots()
    a = slots.add("PCMU")
    seq = 0
    for _ in range(60):  # a sender whose clock runs fast: two packets some ticks
        for _ in range(2 if seq % 3 == 0 else 1):
            a.push(packet(seq, code=1))
            seq += 1
        play(slots, [a], 1)
    assert a.stats()["trimmed"] >= 1 and a.stats()["refused"] == 0


def test_a_removed_stream_frees_its_row_and_takes_nothing_more():
    slots = Slots(capacity=1)
    a = slots.add("PCMU")
    push = a.push
    slots.remove(a)
    push(packet(0))
    b = slots.add("PCMU")
    assert b.row == a.row and not slots.inboxes[b.row]
    assert play(slots, [b], RING)[-1] == [None]


def test_two_samples_a_lookup_decode_as_g711_does_in_both_laws_and_in_stereo():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (4, 160), dtype=np.uint8)
    ulaw, alaw = codecs.G711_DECODE["PCMU"], codecs.G711_DECODE["PCMA"]
    mono = decode(codes, np.array([0, PAIR * 3, 0, PAIR * 3]))
    assert np.array_equal(mono[0], ulaw[codes[0]]) and np.array_equal(mono[1], alaw[codes[1]])
    both = decode_stereo(codes[:2], codes[2:], np.array([PAIR * 1, PAIR * 2]))  # (u, a), (a, u)
    assert both.shape == (2, 160, 2)
    assert np.array_equal(both[0, :, 0], ulaw[codes[0]]) and np.array_equal(both[0, :, 1], alaw[codes[2]])
    assert np.array_equal(both[1, :, 0], alaw[codes[1]]) and np.array_equal(both[1, :, 1], ulaw[codes[3]])


def test_a_stereo_file_takes_interleaved_ticks_and_frame_pairs_in_one_chunk(tmp_path):
    recorder = Recorder(tmp_path / "mixed.wav", channels=2)
    block = np.arange(320, dtype="<i2").reshape(160, 2)
    recorder.write_ticks(block.tobytes())  # the clock's way (a relayed call) ...
    left, right = np.full(160, 5, dtype=np.int16), np.full(160, -5, dtype=np.int16)
    recorder.write(left, right)  # ... then a mixer's feeds (the call went into a conference) ...
    recorder.write_ticks(block.tobytes())  # ... and back: the buffered pair is written first
    recorder.close()
    data = np.fromfile(tmp_path / "mixed.wav", dtype="<i2", offset=44).reshape(-1, 2)
    assert len(data) == 480 and np.array_equal(data[:160], block) and np.array_equal(data[320:], block)
    assert (data[160:320, 0] == 5).all() and (data[160:320, 1] == -5).all()
