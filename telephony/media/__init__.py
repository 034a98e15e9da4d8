"""The call engine's media: RTP endpoints on pooled ports, and what joins them: the relay, the
mixer (conferences, barge, whisper, monitor), recording and DTMF, each plugged into an endpoint's
`sink`; jitter buffers for what is mixed, recorded or searched for tones."""

from telephony.media.dtmf import Collected, DtmfCollector, DtmfSender, ToneDetector, digit_train, tone_frames
from telephony.media.jitter import InboundStream, JitterBuffer, parse_rtp
from telephony.media.mixer import Mixer, Party
from telephony.media.ports import MediaError, PortPair, PortPool, PortsExhausted
from telephony.media.recorder import Recorder, RtpRecording, record_endpoint, record_relay
from telephony.media.relay import Relay
from telephony.media.rtp import RtpEndpoint
from telephony.media.stats import RtpStats

__all__ = [
    "Collected",
    "DtmfCollector",
    "DtmfSender",
    "InboundStream",
    "JitterBuffer",
    "MediaError",
    "Mixer",
    "Party",
    "PortPair",
    "PortPool",
    "PortsExhausted",
    "Recorder",
    "Relay",
    "RtpEndpoint",
    "RtpRecording",
    "RtpStats",
    "ToneDetector",
    "digit_train",
    "parse_rtp",
    "record_endpoint",
    "record_relay",
    "tone_frames",
]
