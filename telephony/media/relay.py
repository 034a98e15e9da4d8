"""Two legs with the same codec joined: each RTP and RTCP packet goes on to the other leg unchanged.

The relay only wires the endpoints' sinks to the other endpoint's send methods, so a packet costs
one receive callback on one leg (validation, latching, statistics) and one send from the other
leg's socket; the relay itself does nothing per packet. A packet that arrives while the other leg's
remote address is unknown is dropped and counted in that leg's `packets_unsent`. Legs with
different codecs get a converter per direction (transcode.transcoder; g711.transcoder's table for
the two G.711 laws); a converter may drop a packet it cannot convert (it returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telephony.media.rtp import RtpEndpoint

Convert = Callable[[bytes], bytes | None]


class Relay:
    """Forward RTP and RTCP between `a` and `b` until `stop()`.

    `a_to_b` / `b_to_a` switch one direction of RTP off and on (hold, one-way audio) without
    touching RTCP, which keeps flowing so both sides still see each other alive. Packets of a
    direction that is off are still received (latching and statistics go on) and then dropped.
    """

    def __init__(self, a: RtpEndpoint, b: RtpEndpoint, *, convert_a_to_b: Convert | None = None,
                 convert_b_to_a: Convert | None = None) -> None:  # fmt: skip
        """convert_*: a packet converter for legs with different codecs (transcode.transcoder); without
        one, packets pass unchanged."""
        if a is b:
            raise ValueError("a relay needs two endpoints")
        self.a = a
        self.b = b
        self._a_to_b = self._b_to_a = True
        self.running = True
        self._tap_a: Callable[[bytes], None] | None = None  # a recorder's, while recording
        self._tap_b: Callable[[bytes], None] | None = None
        self.convert_a_to_b, self.convert_b_to_a = convert_a_to_b, convert_b_to_a
        self._to_b = _through(convert_a_to_b, b.send_rtp)
        self._to_a = _through(convert_b_to_a, a.send_rtp)
        self._wire()

    def _wire(self) -> None:
        a, b = self.a, self.b
        a.sink = self._sink_a = self._to_b if self._a_to_b else None
        b.sink = self._sink_b = self._to_a if self._b_to_a else None
        a.tap = self._tap_a if self._a_to_b else None
        b.tap = self._tap_b if self._b_to_a else None
        a.rtcp_sink = b.send_rtcp
        b.rtcp_sink = a.send_rtcp

    @property
    def a_to_b(self) -> bool:
        return self._a_to_b

    @a_to_b.setter
    def a_to_b(self, enabled: bool) -> None:
        self._a_to_b = enabled
        if self.running:
            self._wire()

    @property
    def b_to_a(self) -> bool:
        return self._b_to_a

    @b_to_a.setter
    def b_to_a(self, enabled: bool) -> None:
        self._b_to_a = enabled
        if self.running:
            self._wire()

    def tap(self, from_a: Callable[[bytes], None] | None, from_b: Callable[[bytes], None] | None) -> None:
        """Also give each RTP packet relayed from a (`from_a`) and from b (`from_b`) to a callable, as
        received (a recording's streams), through the endpoints' `tap`; None takes a tap away."""
        self._tap_a, self._tap_b = from_a, from_b
        if self.running:
            self._wire()

    def stop(self) -> None:
        """Unplug from both endpoints (they stay open: a mixer or a player may take them over)."""
        if not self.running:
            return
        self.running = False
        a, b = self.a, self.b
        # Only undo our own wiring: another consumer may have taken an endpoint over already.
        if a.sink is not None and a.sink == self._sink_a:
            a.sink = None
        if b.sink is not None and b.sink == self._sink_b:
            b.sink = None
        if a.tap is not None and a.tap == self._tap_a:
            a.tap = None
        if b.tap is not None and b.tap == self._tap_b:
            b.tap = None
        if a.rtcp_sink == b.send_rtcp:
            a.rtcp_sink = None
        if b.rtcp_sink == a.send_rtcp:
            b.rtcp_sink = None

    def stats(self) -> dict[str, Any]:
        figures = {"a": self.a.stats(), "b": self.b.stats(), "a_to_b": self._a_to_b, "b_to_a": self._b_to_a}
        for name, convert in (("a_to_b", self.convert_a_to_b), ("b_to_a", self.convert_b_to_a)):
            if hasattr(convert, "dropped"):  # a transcoder: packets it could not convert
                figures[f"{name}_dropped"] = convert.dropped
        return figures


def _through(convert: Convert | None, send: Callable[[bytes], None]) -> Callable[[bytes], None]:
    if convert is None:
        return send  # the plain relay's hot path: the endpoint calls the other's send directly

    def converted(packet: bytes) -> None:
        out = convert(packet)
        if out is not None:
            send(out)

    return converted
