"""RTCP reports (RFC 3550 section 6.4): what a phone says about the audio it receives.

A phone sends a sender or receiver report every few seconds; each report block describes one
stream it receives: the fraction lost since its last report, the packets lost in all, and the
interarrival jitter. The engine keeps the last block per leg, so a call's record holds the
phone's own view of its audio next to what the engine measured on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct

SR, RR = 200, 201
# SSRC, fraction lost, cumulative lost (24-bit signed), extended highest sequence, jitter, LSR, DLSR
_BLOCK = Struct("!IB3sIIII")
_HEADER = Struct("!BBH")


@dataclass(frozen=True)
class ReportBlock:
    ssrc: int  # the stream the report is about
    fraction_lost: float  # 0..1, since the reporter's previous report
    packets_lost: int  # in all (may be negative with duplicates)
    highest_seq: int
    jitter: int  # in timestamp units of that stream

    def summary(self, clock_rate: int) -> dict:
        return {"fraction_lost": round(self.fraction_lost, 4), "packets_lost": self.packets_lost,
                "jitter_ms": round(self.jitter * 1000 / clock_rate, 2)}  # fmt: skip


def report_blocks(data: bytes) -> list[ReportBlock]:
    """The report blocks of a compound RTCP packet; what does not parse is skipped, never raised."""
    blocks: list[ReportBlock] = []
    offset = 0
    while offset + 4 <= len(data):
        first, kind, words = _HEADER.unpack_from(data, offset)
        end = offset + 4 * (words + 1)
        if first & 0xC0 != 0x80 or end > len(data):
            break
        count = first & 0x1F
        start = offset + (28 if kind == SR else 8)  # header + sender SSRC (+ sender info for SR)
        if kind in (SR, RR) and start + count * _BLOCK.size <= end:
            for i in range(count):
                ssrc, fraction, lost, highest, jitter, _, _ = _BLOCK.unpack_from(data, start + i * _BLOCK.size)
                lost_value = int.from_bytes(lost, "big", signed=True)
                blocks.append(ReportBlock(ssrc, fraction / 256, lost_value, highest, jitter))
        offset = end
    return blocks
