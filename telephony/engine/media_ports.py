"""The engine's media: RTP endpoints from its port range, and what connects two of them."""

from __future__ import annotations

from telephony.media.ports import PortPool
from telephony.media.relay import Relay
from telephony.media.rtp import RtpEndpoint


class Media:
    def __init__(self, host: str, first: int, last: int, advertise: str = ""):
        self.host = host
        self.address = advertise or host  # what the engine's SDP tells phones (a public address behind NAT)
        self.pool = PortPool(first, last, host)

    async def open(self, remote: tuple[str, int] | None) -> RtpEndpoint:
        """A leg's RTP/RTCP sockets; PortsExhausted when the range is used up."""
        return await RtpEndpoint.open(self.pool, remote=remote)

    def bridge(self, a: RtpEndpoint, b: RtpEndpoint, *, convert_a_to_b=None, convert_b_to_a=None) -> Relay:
        """Packets relayed between the legs: unchanged when they share the codec, else converted."""
        return Relay(a, b, convert_a_to_b=convert_a_to_b, convert_b_to_a=convert_b_to_a)

    @property
    def free_ports(self) -> int:
        return self.pool.free
