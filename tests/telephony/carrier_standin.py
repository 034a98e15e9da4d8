"""Stand-ins for what is outside the platform when it reaches carriers over TCP, TLS and DNS: a carrier's
gateway over TCP or TLS (answers OPTIONS, challenges REGISTER then accepts it, can drop its
connections), a DNS server answering SRV and A records, and certificates made here (a CA, a gateway's
certificate signed by it). Each runs on an asyncio loop in a thread of the test process."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from telephony.sip import Request, StreamFramer, make_response
from tests.telephony.conftest import free_port


class LoopThread:
    """An asyncio loop running in a daemon thread; run(coroutine) waits for its result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function, *args):
        async def call():
            return function(*args)

        return self.run(call())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


# Certificates -------------------------------------------------------------------------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca(folder: Path, name: str) -> tuple:
    """A CA (key, certificate), its certificate written to folder/<name>.pem."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name)).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def server_context(folder: Path, ca: tuple, address: str = "127.0.0.1") -> ssl.SSLContext:
    """A TLS server context whose certificate, for `address`, is signed by `ca`."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name("gateway")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    stem = folder / f"gateway-{x509.random_serial_number()}"
    stem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    stem.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(stem.with_suffix(".crt"), stem.with_suffix(".key"))
    return context


# A carrier's gateway over TCP or TLS -----------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    def __init__(self, gateway: StandInGateway):
        self.gateway = gateway
        self.framer = StreamFramer()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.number = len(self.gateway.connections) + 1
        self.gateway.connections.append(transport)
        self.mute = self.gateway.mute

    def data_received(self, data: bytes) -> None:
        if self.mute:
            return
        for message in self.framer.feed(data):
            if isinstance(message, Request):
                self.gateway.requests.append((message.method, self.number))
                if message.method != "ACK":
                    self.transport.write(self.gateway.answer(message))


class StandInGateway:
    """A carrier's SIP gateway on 127.0.0.1 over TCP (or TLS with `context`): OPTIONS get 200; a REGISTER
    without credentials 401, with them 200 and the expiry; an INVITE 486. `requests` lists (method, connection number).
    A connection accepted while `mute` is set never hears anything (a flow a firewall or NAT forgot)."""

    REALM = "carrier.example"

    def __init__(self, loop: LoopThread, context: ssl.SSLContext | None = None):
        self.loop, self.context = loop, context
        self.port = free_port()
        self.requests: list[tuple[str, int]] = []
        self.connections: list[asyncio.Transport] = []
        self.mute = False
        self.server = loop.run(loop.loop.create_server(lambda: _Connection(self), "127.0.0.1", self.port,
                                                       ssl=context))  # fmt: skip

    def answer(self, request: Request) -> bytes:
        if request.method == "INVITE":  # (a far end that is busy: the call ends at once)
            return make_response(request, 486, to_tag="gw").to_bytes()
        if request.method == "REGISTER" and "Authorization" not in request.headers:
            challenge = f'Digest realm="{self.REALM}", nonce="n{len(self.requests)}", algorithm=MD5'
            return make_response(request, 401, to_tag="gw", headers=[("WWW-Authenticate", challenge)]).to_bytes()
        headers = []
        if request.method == "REGISTER":
            headers = [("Contact", f"{request.headers.get('Contact')};expires=300")]
        return make_response(request, 200, to_tag="gw", headers=headers).to_bytes()

    def methods(self) -> list[str]:
        return [method for method, _ in list(self.requests)]

    def drop(self) -> None:
        """Close every connection (the gateway restarts, a firewall forgets the flow)."""
        self.loop.call(lambda: [transport.close() for transport in self.connections])

    def stop(self) -> None:
        self.drop()
        self.loop.call(self.server.close)


# A DNS server ------------------------------------------------------------------------------------------


class _Dns(asyncio.DatagramProtocol):
    def __init__(self, server: StandInDns):
        self.server = server

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        answer.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        kind = dns.rdatatype.to_text(question.rdtype)
        self.server.queries.append((name, kind))
        records = self.server.records.get((name, kind))
        if records:
            answer.answer.append(dns.rrset.from_text(question.name, self.server.ttl, "IN", kind, *records))
        elif not any(known == name for known, _ in self.server.records):
            answer.set_rcode(dns.rcode.NXDOMAIN)
        if self.server.delay:  # a slow server: the answer comes `delay` seconds later
            asyncio.get_running_loop().call_later(self.server.delay, self.transport.sendto, answer.to_wire(), addr)
            return
        self.transport.sendto(answer.to_wire(), addr)


class StandInDns:
    """A DNS server on 127.0.0.1:<port> with the records given: {(name, type): [rdata text, ...]},
    answering `delay` seconds late when told to."""

    def __init__(self, loop: LoopThread, records: dict[tuple[str, str], list[str]], ttl: int = 60):
        self.records, self.ttl = records, ttl
        self.delay = 0.0
        self.queries: list[tuple[str, str]] = []
        self.port = free_port()
        endpoint = loop.loop.create_datagram_endpoint(lambda: _Dns(self), local_addr=("127.0.0.1", self.port))
        self.transport, _ = loop.run(endpoint)
        self.loop = loop

    def stop(self) -> None:
        self.loop.call(self.transport.close)
