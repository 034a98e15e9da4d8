"""A raw SIP client over UDP for protocol tests: messages written by hand, answers read as text.

It does not use telephony.sip, so the edge's parser is never checked against itself.
"""

from __future__ import annotations

import hashlib
import re
import socket
import uuid
from dataclasses import dataclass, field


@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    raw: str

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def get_all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def challenge(self, algorithm: str = "MD5") -> dict[str, str]:
        for value in self.get_all("WWW-Authenticate"):
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', value))
            if params.get("algorithm", "MD5").upper() == algorithm:
                return params
        raise AssertionError(f"no {algorithm} challenge in {self.raw}")


def parse_answer(data: bytes) -> Answer:
    text = data.decode()
    head = text.split("\r\n\r\n", 1)[0].split("\r\n")
    _, status, reason = [*head[0].split(" ", 2), ""][:3]
    headers = [(line.split(":", 1)[0].strip(), line.split(":", 1)[1].strip()) for line in head[1:] if ":" in line]
    return Answer(int(status), reason, headers, text)


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

    def __post_init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.bind_ip, 0))
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
                      username: str | None = None) -> str:  # fmt: skip
        username = username or self.user
        uri, cnonce, nc_text = f"sip:{self.domain}", uuid.uuid4().hex[:12], f"{nc:08x}"
        response = digest_response(algorithm, username, challenge["realm"], secret, "REGISTER", uri,
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
