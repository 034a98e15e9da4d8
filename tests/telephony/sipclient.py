"""A raw SIP client over UDP for protocol tests: messages written by hand, answers read as text.

It does not use telephony.sip, so the edge's parser is never checked against itself.
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
import uuid
from dataclasses import dataclass, field


@dataclass
class Answer:
    """A message received: a response (status > 0) or a request (method and uri set, status 0)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    raw: str
    method: str = ""
    uri: str = ""

    @property
    def body(self) -> str:
        return self.raw.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in self.raw else ""

    @property
    def cseq_method(self) -> str:
        return (self.get("CSeq") or " ").split()[-1]

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def challenge(self, algorithm: str = "MD5", header: str = "WWW-Authenticate") -> dict[str, str]:
        for value in self.get_all(header):
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', value))
            if params.get("algorithm", "MD5").upper() == algorithm:
                return params
        raise AssertionError(f"no {algorithm} challenge in {self.raw}")


def parse_answer(data: bytes) -> Answer:
    text = data.decode()
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    first, second, third = [*head[0].split(" ", 2), "", ""][:3]
    headers = [(line.split(":", 1)[0].strip(), line.split(":", 1)[1].strip()) for line in head[1:] if ":" in line]
    if first.startswith("SIP/"):
        return Answer(int(second), third, headers, text)
    return Answer(0, "", headers, text, method=first, uri=second)


def reply_to(request: Answer, status: int, reason: str, *, to_tag: str | None = None,
             headers: tuple[tuple[str, str], ...] = (), body: str = "") -> bytes:  # fmt: skip
    """A response to a received request, as a UAS builds it: Vias, From, To (+ tag), Call-ID, CSeq,
    Record-Route copied (RFC 3261 12.1.1)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    for name, value in request.headers:
        if name.lower() in ("via", "v", "from", "f", "call-id", "i", "cseq", "record-route"):
            lines.append(f"{name}: {value}")
        elif name.lower() in ("to", "t"):
            lines.append(f"{name}: {value}" + (f";tag={to_tag}" if to_tag and ";tag=" not in value else ""))
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()


def digest_response(algorithm: str, username: str, realm: str, secret: str, method: str, uri: str, nonce: str,
                    nc: str, cnonce: str) -> str:  # fmt: skip
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]
    ha1 = h(f"{username}:{realm}:{secret}".encode()).hexdigest()
    ha2 = h(f"{method}:{uri}".encode()).hexdigest()
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()


@dataclass
class SipClient:
    edge: tuple[str, int]
    user: str
    domain: str
    bind_ip: str = "127.0.0.1"
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    cseq: int = 0
    bind_port: int = 0

    def __post_init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.bind_ip, self.bind_port))
        self.sock.settimeout(2.0)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.edge)

    def receive(self, timeout: float = 2.0) -> Answer | None:
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return parse_answer(data)

    def expect(self, what: str | int, timeout: float = 3.0) -> Answer:
        """The next message that is the request `what` (a method) or a response with status `what`;
        others received meanwhile (retransmissions, 100 Trying) are skipped."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(timeout=left)
            if message is not None and what in (message.method, message.status):
                return message
        raise AssertionError(f"{self.user}: no {what} within {timeout} s")

    def send_to(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(data, address)

    def receive_raw(self, timeout: float = 2.0) -> bytes | None:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recvfrom(65535)[0]
        except TimeoutError:
            return None

    def answer_ok(self, request: bytes) -> None:
        """Answer a request the edge sent us (an OPTIONS ping) with 200 OK."""
        head = request.decode().split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        keep = [
            line for line in head if line.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
        ]
        self.send_raw(("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n").encode())

    def register_message(self, *, contact: str | None = "default", expires: int | None = 300,
                         authorization: str | None = None, branch: str | None = None) -> bytes:  # fmt: skip
        self.cseq += 1
        lines = [
            f"REGISTER sip:{self.domain} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.bind_ip}:{self.port};branch={branch or 'z9hG4bK' + uuid.uuid4().hex[:16]};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag=t{self.call_id[:8]}",
            f"To: <sip:{self.user}@{self.domain}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            "User-Agent: ocx-test-client/1",
        ]
        if contact == "default":
            contact = f"<sip:{self.user}@{self.bind_ip}:{self.port}>"
        if contact is not None:
            lines.append(f"Contact: {contact}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if authorization:
            lines.append(f"Authorization: {authorization}")
        return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()

    def authorization(self, challenge: dict[str, str], secret: str, *, algorithm: str = "MD5", nc: int = 1,
                      username: str | None = None, method: str = "REGISTER",
                      uri: str | None = None) -> str:  # fmt: skip
        username = username or self.user
        uri, cnonce, nc_text = uri or f"sip:{self.domain}", uuid.uuid4().hex[:12], f"{nc:08x}"
        response = digest_response(algorithm, username, challenge["realm"], secret, method, uri,
                                   challenge["nonce"], nc_text, cnonce)  # fmt: skip
        return (f'Digest username="{username}", realm="{challenge["realm"]}", nonce="{challenge["nonce"]}", '
                f'uri="{uri}", response="{response}", algorithm={algorithm}, qop=auth, nc={nc_text}, '
                f'cnonce="{cnonce}"')  # fmt: skip

    def register(self, secret: str, *, algorithm: str = "MD5", **message) -> Answer:
        """REGISTER, answer the challenge, return the final answer."""
        self.send_raw(self.register_message(**message))
        first = self.receive()
        assert first is not None, "no answer to REGISTER"
        if first.status != 401:
            return first
        self.send_raw(
            self.register_message(
                authorization=self.authorization(first.challenge(algorithm), secret, algorithm=algorithm), **message
            )
        )
        final = self.receive()
        assert final is not None, "no answer to the authenticated REGISTER"
        return final

    # Calls -----------------------------------------------------------------------------------------

    def request_message(self, method: str, uri: str, call: Call, *, cseq: int | None = None, branch: str | None = None,
                        headers: tuple[tuple[str, str], ...] = (), body: str = "") -> bytes:  # fmt: skip
        to = f"<{call.to_uri}>" + (f";tag={call.to_tag}" if call.to_tag else "")
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.bind_ip}:{self.port};branch={branch or call.branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.domain}>;tag={call.from_tag}",
            f"To: {to}",
            f"Call-ID: {call.call_id}",
            f"CSeq: {cseq or call.cseq} {method}",
            f"Contact: <sip:{self.user}@{self.bind_ip}:{self.port}>",
            *[f"Route: {route}" for route in call.route],
            *[f"{name}: {value}" for name, value in headers],
        ]
        return ("\r\n".join(lines) + f"\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()

    def invite(self, target: str, secret: str, *, headers: tuple[tuple[str, str], ...] = (), body: str = "") -> Call:
        """INVITE target through the edge, answering its 407 challenge; returns the call (the
        authenticated INVITE sent, nothing read after it)."""
        call = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
        call.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        self.send_raw(self.request_message("INVITE", target, call, headers=headers, body=body))
        challenge = self.expect(407)
        ack_call = Call(target, call.call_id, call.from_tag, to_tag=_tag(challenge.get("To")), branch=call.branch)
        self.send_raw(self.request_message("ACK", target, ack_call))
        call.cseq += 1
        call.branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        credentials = self.authorization(challenge.challenge("MD5", "Proxy-Authenticate"), secret, method="INVITE",
                                         uri=target)  # fmt: skip
        authorized = (("Proxy-Authorization", credentials), *headers)
        call.sent = self.request_message("INVITE", target, call, headers=authorized, body=body)
        self.send_raw(call.sent)
        return call


@dataclass
class Call:
    """What a test phone keeps of a call it placed: enough to ACK, CANCEL and BYE by hand."""

    to_uri: str
    call_id: str
    from_tag: str
    to_tag: str | None = None
    branch: str = ""
    cseq: int = 1
    route: list[str] = field(default_factory=list)
    sent: bytes = b""  # the last INVITE sent, to retransmit it

    def established(self, answer: Answer) -> None:
        """Take the dialog's To tag and route set (Record-Route reversed) from a 2xx."""
        self.to_tag = _tag(answer.get("To"))
        records = [part.strip() for value in answer.get_all("Record-Route") for part in value.split(",")]
        self.route = list(reversed(records))


def _tag(value: str | None) -> str | None:
    match = re.search(r";tag=([^;>\s]+)", value or "")
    return match.group(1) if match else None
