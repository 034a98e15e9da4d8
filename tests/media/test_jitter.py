"""The jitter buffer and the inbound stream, fed packets as the network would deliver them and read
one frame per 20 ms tick: order, gaps, duplicates, late packets, wrap, restarts and events."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from telephony.media import InboundStream, JitterBuffer, parse_rtp
from telephony.media.codecs import new_encoder
from tests.media.conftest import rtp_packet

SSRC = 0xCAFE


def fed(buffer: JitterBuffer, seq: int, ts: int, *, ssrc: int = SSRC, marker: int = 0) -> None:
    buffer.put(seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc, marker, f"{seq}".encode())


def ticks(buffer: JitterBuffer, count: int) -> list[int | None]:
    """What `count` ticks play, as the sequence numbers put in the payloads (None: a gap)."""
    return [None if (p := buffer.pop()) is None else int(p) for _ in range(count)]


def stream(buffer: JitterBuffer, arrivals: list[list[int]], *, ts0: int = 0, seq0: int = 0) -> list[int | None]:
    """One tick per entry of `arrivals`: the packets (numbers from 0) that arrive before it, then a pop."""
    played = []
    for arrived in arrivals:
        for k in arrived:
            fed(buffer, seq0 + k, ts0 + 160 * k)
        played += ticks(buffer, 1)
    return played


def test_packets_in_order_play_in_order_after_the_buffer_filled():
    buffer = JitterBuffer(depth=2)
    assert stream(buffer, [[0], [1], [2], [3], [], [], []]) == [None, 0, 1, 2, 3, None, None]
    assert (buffer.played, buffer.lost, buffer.late, buffer.underruns) == (4, 0, 0, 1)


def test_reordered_packets_play_in_order_and_duplicates_are_dropped():
    buffer = JitterBuffer(depth=3, adaptive=False)
    played = stream(buffer, [[1], [0, 3], [2, 2], [4, 3], [5], [6], [], [], []])
    assert played == [None, None, 0, 1, 2, 3, 4, 5, 6]
    assert (buffer.duplicates, buffer.lost, buffer.late) == (2, 0, 0)


def test_a_lost_packet_is_a_gap_and_a_packet_after_its_turn_is_dropped():
    buffer = JitterBuffer(depth=2, adaptive=False)
    played = stream(buffer, [[0], [1], [3], [4], [2, 5], [6], [], []])
    assert played == [None, 0, 1, None, 3, 4, 5, 6]
    assert (buffer.lost, buffer.late, buffer.played) == (1, 1, 6)


def test_adaptive_depth_grows_with_late_packets_and_an_underrun_waits_for_a_late_one():
    buffer = JitterBuffer(depth=2, max_depth=4)
    stream(buffer, [[0], [1], [3], [4], [2, 5]])  # 2 came after its turn
    assert buffer.target == 3
    buffer = JitterBuffer(depth=2, max_depth=4)
    # 2 is 60 ms late and nothing else is there: the buffer waits for it rather than skip it
    played = stream(buffer, [[0], [1], [], [], [2, 3], [4], [5], [6], [7], [8]])
    assert played == [None, 0, 1, None, None, None, 2, 3, 4, 5]
    assert (buffer.lost, buffer.underruns, buffer.target) == (0, 1, 3)


def test_a_buffer_kept_too_deep_by_a_fast_sender_cuts_its_delay():
    buffer = JitterBuffer(depth=2, adaptive=False)
    # From the 6th tick on, the sender is six frames ahead of the buffer's clock and stays there.
    arrivals = [[k] for k in range(5)] + [list(range(5, 12))] + [[k + 6] for k in range(6, 80)]
    played = stream(buffer, arrivals)
    assert buffer.high - buffer.next_idx < buffer.target + 2  # back near its depth
    assert 2 <= buffer.trimmed <= 4
    numbers = [p for p in played if p is not None]
    assert numbers == sorted(numbers) and len(numbers) == len(set(numbers))
    sent = sum(len(arrived) for arrived in arrivals)
    assert len(numbers) == buffer.played == sent - buffer.trimmed - len(buffer.frames)  # nothing else lost


def test_sequence_numbers_and_timestamps_wrap_without_a_hiccup():
    buffer = JitterBuffer(depth=2)
    played = stream(buffer, [[k] for k in range(10)] + [[], []], ts0=2**32 - 5 * 160 + 7, seq0=65532)
    assert played == [None, *range(65532, 65542), None]  # numbers as sent, before masking to 16 bits
    assert (buffer.lost, buffer.late, buffer.resyncs) == (0, 0, 0)


def test_silence_suppression_gaps_are_silence_and_the_next_talkspurt_plays_after_buffering():
    buffer = JitterBuffer(depth=2)
    for k in range(3):
        fed(buffer, k, 160 * k)
    assert ticks(buffer, 4) == [None, 0, 1, 2]
    assert ticks(buffer, 50) == [None] * 50  # the sender stopped (DTX): 1 s of nothing
    for k in range(3, 6):  # the next talkspurt: next sequence numbers, timestamps 1 s on
        fed(buffer, k, 160 * (k + 50), marker=1 if k == 3 else 0)
    assert ticks(buffer, 5) == [None, 3, 4, 5, None]
    assert (buffer.lost, buffer.late, buffer.resyncs) == (0, 0, 0)


def test_a_new_ssrc_or_a_marked_timestamp_jump_restarts_and_a_stray_packet_does_not():
    buffer = JitterBuffer(depth=2)
    for k in range(4):
        fed(buffer, k, 160 * k)
    assert ticks(buffer, 3) == [None, 0, 1]
    fed(buffer, 900, 2**31, ssrc=SSRC)  # one packet far out, no marker: refused
    fed(buffer, 4, 160 * 4)
    assert ticks(buffer, 3) == [2, 3, 4]
    assert buffer.refused == 1

    fed(buffer, 500, 99_999, ssrc=SSRC + 1)  # another sender (a transfer): buffers afresh
    fed(buffer, 501, 99_999 + 160, ssrc=SSRC + 1)
    assert ticks(buffer, 3) == [None, 500, 501]
    fed(buffer, 7000, 5_000_000, ssrc=SSRC + 1, marker=1)  # same sender, new timestamps, marked
    fed(buffer, 7001, 5_000_160, ssrc=SSRC + 1)
    assert ticks(buffer, 3) == [None, 7000, 7001]

    for k in range(6):  # timestamps restarted backwards, unmarked: after a run of refusals, followed
        fed(buffer, 8000 + k, 1000 + 160 * k, ssrc=SSRC + 1)
    assert ticks(buffer, 3) == [None, 8004, 8005]
    assert buffer.resyncs == 3


def test_the_stream_keeps_events_out_of_the_audio_and_conceals_a_gap_once():
    events = []
    inbound = InboundStream("PCMU", voice_pt=0, event_pts=(101,), on_event=events.append, depth=1)
    encode = new_encoder("PCMU")
    loud = np.full(160, 8000, dtype=np.int16)
    event = rtp_packet(1, 0, struct.pack("!BBH", 5, 0x80 | 10, 800), pt=101, ssrc=SSRC)
    inbound.push(rtp_packet(0, 0, encode(loud), ssrc=SSRC))
    inbound.push(event)
    inbound.push(rtp_packet(2, 160, encode(loud), pt=13, ssrc=SSRC))  # comfort noise: a gap
    inbound.push(rtp_packet(3, 320, encode(loud), pt=8, ssrc=SSRC))  # not negotiated: a gap
    frames = [inbound.next_frame() for _ in range(4)]
    assert events == [event]
    assert frames[0] is not None and abs(int(frames[0][0]) - 8000) < 300
    assert frames[1] is not None and abs(int(frames[1][0]) - 4000) < 200  # the last frame again, at half
    assert frames[2] is None and frames[3] is None
    assert (inbound.events, inbound.others, inbound.concealed, inbound.buffer.received) == (1, 2, 1, 1)


def test_rtp_headers_with_csrcs_an_extension_and_padding_are_read():
    payload = b"abcdef"
    plain = rtp_packet(7, 1234, payload, pt=0, ssrc=SSRC, marker=True)
    assert parse_rtp(plain) == (0x80, 0, 7, 1234, SSRC, payload)
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"
    padding = b"\x00\x00\x03"
    full = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 8, 9, 5678, SSRC) + csrcs + extension + payload + padding
    assert parse_rtp(full) == (0, 8, 9, 5678, SSRC, payload)
    assert parse_rtp(full[:20]) is None  # the extension runs past the end
    assert parse_rtp(b"\x40" + plain[1:]) is None  # version 1


@pytest.mark.parametrize("depth", [0, 11])
def test_a_depth_outside_the_range_is_refused(depth):
    with pytest.raises(ValueError):
        JitterBuffer(depth=depth, max_depth=10)
