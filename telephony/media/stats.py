"""Reception statistics of one RTP stream, as RFC 3550 computes them for receiver reports.

Sequence tracking with wrap-around and source restarts (appendix A.1), expected and lost packets
(A.3) and interarrival jitter (A.8). A new SSRC starts a new source as A.1 does; what the earlier
sources expected and received is kept, so a leg's totals survive a re-INVITE or a transfer that
changes the sender.
"""

from __future__ import annotations

SEQ_MOD = 1 << 16
MAX_DROPOUT = 3000  # a jump forward of fewer packets is loss, not a restart
MAX_MISORDER = 100  # a jump back of fewer packets is a late packet, not a restart
MIN_SEQUENTIAL = 2  # packets in sequence before a new source counts


class RtpStats:
    """What one endpoint received on its RTP socket; `update()` is called once per valid packet."""

    __slots__ = (
        "_expected_banked",
        "_expected_prior",
        "_last_arrival",
        "_last_ts",
        "_received_banked",
        "_received_prior",
        "bad_seq",
        "base_seq",
        "clock_rate",
        "cycles",
        "jitter",
        "max_seq",
        "probation",
        "received",
        "ssrc",
    )

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.ssrc: int | None = None
        self.max_seq = self.base_seq = self.cycles = self.received = 0
        self.bad_seq = SEQ_MOD + 1
        self.probation = MIN_SEQUENTIAL
        self.jitter = 0.0  # in timestamp units, as A.8 keeps it
        self._last_arrival: float | None = None
        self._last_ts = 0
        self._expected_banked = self._received_banked = 0  # from earlier sources or before a restart
        self._expected_prior = self._received_prior = 0  # at the last interval_fraction_lost()

    def update(self, seq: int, ts: int, ssrc: int, arrival: float) -> None:
        """One packet with these header fields arrived at `arrival` (seconds, monotonic)."""
        if ssrc != self.ssrc:
            self._new_source(ssrc, seq)

        # A.8: D = (arrival delta - timestamp delta), in timestamp units, with 32-bit timestamp wrap.
        last = self._last_arrival
        if last is not None:
            d = (arrival - last) * self.clock_rate - (((ts - self._last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000)
            if d < 0:
                d = -d
            self.jitter += (d - self.jitter) * 0.0625
        self._last_arrival = arrival
        self._last_ts = ts

        # A.1 update_seq()
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
            else:
                self.probation = MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD  # wrapped
            self.max_seq = seq
        elif udelta <= SEQ_MOD - MAX_MISORDER:
            if seq != self.bad_seq:
                self.bad_seq = (seq + 1) & 0xFFFF
                return
            # Two packets in sequence after a big jump: the sender restarted its numbering.
            self._bank()
            self._init_seq(seq)
        # else: a duplicate or a late packet, counted as received
        self.received += 1

    def _init_seq(self, seq: int) -> None:
        self.base_seq = self.max_seq = seq
        self.bad_seq = SEQ_MOD + 1
        self.cycles = self.received = 0

    def _new_source(self, ssrc: int, seq: int) -> None:
        self._bank()
        self.ssrc = ssrc
        self._init_seq(seq)
        self.max_seq = (seq - 1) & 0xFFFF
        self.probation = MIN_SEQUENTIAL
        self._last_arrival = None  # timestamps of another source say nothing about this one's spacing

    def _bank(self) -> None:
        self._expected_banked += self._source_expected()
        self._received_banked += self.received
        self.received = 0

    def _source_expected(self) -> int:
        if self.ssrc is None or self.probation:
            return 0
        return self.cycles + self.max_seq - self.base_seq + 1

    @property
    def expected(self) -> int:
        """A.3: packets the senders numbered since the first counted one, over all sources."""
        return self._expected_banked + self._source_expected()

    @property
    def counted(self) -> int:
        """Packets A.1 counted as received (not those in probation or before a restart)."""
        return self._received_banked + self.received

    @property
    def lost(self) -> int:
        """A.3 cumulative loss; duplicates can make it negative, as the RFC says."""
        return self.expected - self.counted

    @property
    def fraction_lost(self) -> float:
        """Cumulative lost / expected, 0.0 to 1.0."""
        expected = self.expected
        return max(0.0, (expected - self.counted) / expected) if expected else 0.0

    @property
    def jitter_ms(self) -> float:
        return self.jitter * 1000.0 / self.clock_rate

    def interval_fraction_lost(self) -> int:
        """A.3 fraction lost since the previous call, in 1/256 (the receiver report's 8-bit field)."""
        expected, received = self.expected, self.counted
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (received - self._received_prior)
        self._expected_prior, self._received_prior = expected, received
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval
