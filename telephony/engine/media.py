"""The engine's media: RTP endpoints from its port range, and what connects two of them."""

from __future__ import annotations

from telephony.media.ports import PortPool
from telephony.media.relay import Relay
from telephony.media.rtp import RtpEndpoint


class Media:
    def __init__(self, host: str, first: int, last: int):
        self.host = host
        self.pool = PortPool(first, last, host)

    async def open(self, remote: tuple[str, int] | None) -> RtpEndpoint:
        """A leg's RTP/RTCP sockets; PortsExhausted when the range is used up."""
        return await RtpEndpoint.open(self.pool, remote=remote)

    def bridge(self, a: RtpEndpoint, b: RtpEndpoint) -> Relay:
        """Both legs share the codec: packets are relayed without decoding."""
        return Relay(a, b)

    @property
    def free_ports(self) -> int:
        return self.pool.free
