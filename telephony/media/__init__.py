"""The call engine's media: RTP endpoints on pooled ports, and what joins them (the relay for now;
mixing, prompts, recording and DTMF plug into an endpoint's `sink` the same way)."""

from telephony.media.ports import MediaError, PortPair, PortPool, PortsExhausted
from telephony.media.relay import Relay
from telephony.media.rtp import RtpEndpoint
from telephony.media.stats import RtpStats

__all__ = ["MediaError", "PortPair", "PortPool", "PortsExhausted", "Relay", "RtpEndpoint", "RtpStats"]
