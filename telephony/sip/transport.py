"""What a SIP transaction needs from a transport: send bytes to an address, and whether the transport
is reliable (RFC 3261 section 18). Over an unreliable one (UDP) the transactions retransmit
(telephony/sip/transaction.py); over a reliable one (TCP, TLS, later WebSocket) they do not.

The edge's UDP, TCP and TLS (telephony/edge/transport.py) implement `Transport`, and its proxy's
transactions send through them. The engine has a single next hop, the edge, over one UDP socket:
its transactions take EngineUA.send (telephony/engine/sipua.py).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

RELIABLE = {"udp": False, "tcp": True, "tls": True, "ws": True, "wss": True}


def is_reliable(name: str) -> bool:
    """Whether the transport of that name ("udp", "tcp", "tls", "ws", "wss") delivers by itself; one we
    do not know is not retransmitted over (nothing can be sent over it anyway)."""
    return RELIABLE.get(name, True)


@runtime_checkable
class Transport(Protocol):
    name: str  # "udp" | "tcp" | "tls" (| "ws" | "wss" later): what Via and flow tokens say
    reliable: bool

    def send(self, data: bytes, address: tuple[str, int]) -> bool:
        """Send one message; False when it cannot go (no socket, no open connection to that address)."""
        ...
