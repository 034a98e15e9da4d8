"""SDP (RFC 4566) as far as a voice B2BUA needs it, and offer/answer for audio (RFC 3264).

The engine answers each leg with its own address (it anchors the media) and the codecs both legs
can use; parsing is strict about what it reads and ignores what it does not need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telephony.sip.errors import SipError

# Static payload types (RFC 3551) the engine knows; dynamic ones come from a=rtpmap.
STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 3: ("GSM", 8000), 18: ("G729", 8000)}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
# Encoding names are case-insensitive (RFC 4855), but these are written as their RFCs spell them.
SPELLING = {"TELEPHONE-EVENT": "telephone-event", "OPUS": "opus"}


@dataclass
class Codec:
    payload: int
    name: str  # upper case: PCMU, PCMA, G722, TELEPHONE-EVENT, OPUS...
    rate: int  # the RTP clock: 8000 for G.722 (RFC 3551), 48000 for Opus (RFC 7587)
    fmtp: str = ""
    channels: int = 1  # rtpmap's encoding parameters: Opus is always "opus/48000/2" (RFC 7587)

    def rtpmap(self) -> str:
        channels = f"/{self.channels}" if self.channels != 1 else ""
        return f"a=rtpmap:{self.payload} {SPELLING.get(self.name, self.name)}/{self.rate}{channels}"


@dataclass
class Media:
    kind: str
    port: int
    proto: str
    codecs: list[Codec] = field(default_factory=list)
    address: str | None = None  # the media-level c= address, else the session's
    direction: str = "sendrecv"
    ptime: int | None = None


@dataclass
class Session:
    address: str | None
    media: list[Media]
    origin: str = ""

    @property
    def audio(self) -> Media | None:
        return next((m for m in self.media if m.kind == "audio" and m.port), None)

    def audio_address(self) -> tuple[str, int] | None:
        """Where the audio should be sent (None when on hold by 0.0.0.0 or port 0)."""
        audio = self.audio
        address = (audio.address if audio else None) or self.address
        if audio is None or not address or address in ("0.0.0.0", "::"):  # noqa: S104 - RFC 2543 hold
            return None
        return address, audio.port


def unreadable_body(
    content_type: str | None, content_encoding: str | None, body: bytes
) -> list[tuple[str, str]] | None:
    """A request body the engine cannot read: the headers of its 415 Unsupported Media Type (RFC 3261
    8.2.3: Accept listing what it reads, or Accept-Encoding for an unknown encoding); None when readable.
    A body without Content-Type is read as SDP, as phones that leave it out mean."""
    if not body:
        return None
    encoding = (content_encoding or "").strip().lower()
    if encoding and encoding != "identity":
        return [("Accept-Encoding", "identity")]
    kind = (content_type or "application/sdp").split(";", 1)[0].strip().lower()
    if kind != "application/sdp":
        return [("Accept", "application/sdp")]
    return None


def _bad(why: str) -> SipError:
    return SipError(488, f"Bad SDP: {why}")


def parse_sdp(body: bytes | str) -> Session:
    """The session's connection address and media lines; SipError 488 for what cannot be used."""
    try:
        text = body.decode() if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise _bad("not UTF-8") from None
    session = Session(address=None, media=[])
    current: Media | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise _bad(f"line {line[:20]!r}")
        kind, value = line[0], line[2:]
        if kind == "o":
            session.origin = value
        elif kind == "c":
            parts = value.split()
            if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
                raise _bad("connection line")
            address = parts[2].split("/")[0]
            if current is None:
                session.address = address
            else:
                current.address = address
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit():
                raise _bad("media line")
            port = int(parts[1].split("/")[0])
            if port > 65535:
                raise _bad("media port")
            current = Media(parts[0], port, parts[2])
            for fmt in parts[3:]:
                if fmt.isdigit() and int(fmt) < 128:
                    name, rate = STATIC.get(int(fmt), ("", 8000))
                    current.codecs.append(Codec(int(fmt), name, rate))
            session.media.append(current)
        elif kind == "a" and current is not None:
            _attribute(current, value)
    if not session.media:
        raise _bad("no media")
    return session


def _attribute(media: Media, value: str) -> None:
    name, _, rest = value.partition(":")
    if name in DIRECTIONS:
        media.direction = name
    elif name == "ptime" and rest.strip().isdigit():
        media.ptime = int(rest)
    elif name in ("rtpmap", "fmtp"):
        payload, _, detail = rest.partition(" ")
        codec = next((c for c in media.codecs if payload.isdigit() and c.payload == int(payload)), None)
        if codec is None:
            return
        if name == "fmtp":
            codec.fmtp = detail.strip()
            return
        encoding = detail.strip().split("/")
        codec.name = encoding[0].upper()
        if len(encoding) > 1 and encoding[1].isdigit():
            codec.rate = int(encoding[1])
        if len(encoding) > 2 and encoding[2].isdigit():
            codec.channels = int(encoding[2])


def build_sdp(address: str, port: int, codecs: list[Codec], *, session_id: int, version: int = 1,
              direction: str = "sendrecv", ptime: int = 20) -> bytes:  # fmt: skip
    """An SDP with one audio stream at address:port offering or answering these codecs."""
    family = "IP6" if ":" in address else "IP4"
    lines = [
        "v=0",
        f"o=OpenCentrex {session_id} {version} IN {family} {address}",
        "s=OpenCentrex",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(c.payload) for c in codecs)}",
    ]
    for codec in codecs:
        lines.append(codec.rtpmap())
        if codec.fmtp:
            lines.append(f"a=fmtp:{codec.payload} {codec.fmtp}")
    lines += [f"a=ptime:{ptime}", f"a={direction}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def telephone_events(codecs: list[Codec], voice: Codec) -> list[Codec]:
    """The telephone-event codec (RFC 4733 DTMF) among `codecs` that goes with `voice`: the one at its
    clock rate, as a list of one (or none) to follow `voice` in an SDP."""
    return [c for c in codecs if c.name == "TELEPHONE-EVENT" and c.rate == voice.rate][:1]


def event_payload(codecs: list[Codec], voice: Codec) -> int | None:
    """The payload type of telephone_events(codecs, voice), None without one."""
    events = telephone_events(codecs, voice)
    return events[0].payload if events else None


def common_codecs(offer: list[Codec], supported: list[Codec]) -> list[Codec]:
    """The offered codecs that the other side supports too, in the offer's order of preference;
    telephone-event kept when both have it (RFC 4733 DTMF)."""
    names = {(c.name, c.rate) for c in supported}
    return [c for c in offer if (c.name, c.rate) in names]
