"""RTCP report blocks (telephony/media/rtcp.py) and the phone's last report in an endpoint's figures."""

from __future__ import annotations

import struct

from telephony.media.rtcp import report_blocks


def block(ssrc: int, fraction: int, lost: int, highest: int, jitter: int) -> bytes:
    return struct.pack("!IB", ssrc, fraction) + lost.to_bytes(3, "big", signed=True) + struct.pack(
        "!IIII", highest, jitter, 0, 0)  # fmt: skip


def sender_report(ssrc: int, *blocks: bytes) -> bytes:
    body = struct.pack("!I", ssrc) + b"\x00" * 20 + b"".join(blocks)
    return struct.pack("!BBH", 0x80 | len(blocks), 200, len(body) // 4) + body


def receiver_report(ssrc: int, *blocks: bytes) -> bytes:
    body = struct.pack("!I", ssrc) + b"".join(blocks)
    return struct.pack("!BBH", 0x80 | len(blocks), 201, len(body) // 4) + body


SDES = struct.pack("!BBH", 0x81, 202, 2) + b"\x00\x00\x00\x01\x00\x00\x00\x00"


def test_report_blocks_of_sender_receiver_and_compound_packets():
    receiver = receiver_report(8, block(2, 0, -1, 5, 3), block(3, 255, 0, 9, 0))
    compound = sender_report(7, block(1, 64, 12, 70000, 80)) + SDES + receiver
    blocks = report_blocks(compound)
    assert [(b.ssrc, b.fraction_lost, b.packets_lost, b.highest_seq, b.jitter) for b in blocks] == [
        (1, 0.25, 12, 70000, 80), (2, 0.0, -1, 5, 3), (3, 255 / 256, 0, 9, 0)]  # fmt: skip
    assert blocks[0].summary(8000) == {"fraction_lost": 0.25, "packets_lost": 12, "jitter_ms": 10.0}


def test_truncated_or_foreign_data_gives_what_parses_and_never_raises():
    whole = receiver_report(8, block(2, 10, 1, 5, 3))
    assert report_blocks(whole[:-4]) == []  # cut short: the length says more than there is
    assert report_blocks(b"\x00" * 16) == []  # not version 2
    assert report_blocks(whole + b"\x80\xc9") == report_blocks(whole)  # a stray tail is ignored
    lying = bytearray(receiver_report(8, block(2, 10, 1, 5, 3)))
    lying[0] = 0x80 | 5  # says five blocks, holds one
    assert report_blocks(bytes(lying)) == []
