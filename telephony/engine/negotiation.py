"""Codec negotiation: what the engine offers and takes, and how two legs' codecs meet (relay when
they share one, payload-type rewriting or transcoding when not)."""

from __future__ import annotations

from telephony.media.transcode import transcoder
from telephony.sip.sdp import Codec, telephone_events

# Opus: a dynamic type, always opus/48000/2 (RFC 7587); DTMF beside it on its 48 kHz clock (RFC 4733 2.1).
SUPPORTED = [Codec(0, "PCMU", 8000), Codec(8, "PCMA", 8000), Codec(9, "G722", 8000),
             Codec(111, "OPUS", 48000, channels=2), Codec(101, "TELEPHONE-EVENT", 8000),
             Codec(110, "TELEPHONE-EVENT", 48000)]  # fmt: skip
TRANSCODABLE = {"PCMU", "PCMA", "G722", "OPUS"}  # any pair is converted (telephony/media/transcode.py)


def media_plan(offered: list[Codec], answered: list[Codec]):
    """(A's codec, B's codec, converter A->B, converter B->A) for B's answer to an offer built from A's
    codecs; None when nothing fits. Converters are None when B took one of A's codecs under the same
    payload types (relay); when only the numbers differ (dynamic Opus, telephone-event) they rewrite
    the payload type; between codecs, G.711 tables or decoding and encoding (media/transcode.py).
    Every conversion goes through 8 kHz audio, so A's G.711 (cheapest) is taken when it has one."""
    voice = [c for c in answered if c.name != "TELEPHONE-EVENT"]
    if not voice:
        return None
    chosen = voice[0]
    mine = next((c for c in offered if (c.name, c.rate) == (chosen.name, chosen.rate)), None)
    same = mine is not None
    if not same:
        ours = [c for c in offered if c.name in TRANSCODABLE]
        mine = next((c for c in ours if c.name in ("PCMU", "PCMA")), ours[0] if ours else None)
        if mine is None or chosen.name not in TRANSCODABLE:
            return None
    event_a, event_b = telephone_events(offered, mine), telephone_events(answered, chosen)
    events = (event_a[0], event_b[0]) if event_a and event_b else None
    if same and mine.payload == chosen.payload and (events is None or events[0].payload == events[1].payload):
        return mine, chosen, None, None
    back = events[::-1] if events else None
    return mine, chosen, transcoder(mine, chosen, events=events), transcoder(chosen, mine, events=back)


def info_digit(body: bytes) -> str:
    """The key of a SIP INFO DTMF body (application/dtmf-relay "Signal=5", or application/dtmf "5")."""
    text = body.decode("ascii", "replace").strip()
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal":
            text = value
            break
    text = text.strip()
    return text if len(text) == 1 and text in "0123456789*#ABCD" else ""
