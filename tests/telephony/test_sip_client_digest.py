"""The SIP stack as a client against the real edge: its client transactions, over a UDP socket, answer
the edge's digest challenges (401 to REGISTER, 407 to INVITE) as a carrier's would be answered."""

from __future__ import annotations

import asyncio
import uuid

from telephony.sip import Response, parse
from telephony.sip.digest import AuthenticatedRequest, Credentials
from telephony.sip.transaction import ClientTransaction
from tests.telephony.sipclient import reply_to

SECRET = "right-secret-123"


class Phone(asyncio.DatagramProtocol):
    """A UDP socket whose answers go to the client transactions by branch."""

    def __init__(self):
        self.table: dict[str, ClientTransaction] = {}
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        message = parse(data)
        if isinstance(message, Response) and (tx := self.table.get(message.branch or "")) is not None:
            tx.receive(message)


def request_text(method: str, uri: str, *, port: int, user: str, domain: str, call_id: str) -> bytes:
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{user}@{domain}>;tag=c{call_id[:6]}\r\n"
        f"To: <sip:{uri.split(':', 1)[1] if method == 'INVITE' else f'{user}@{domain}'}>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Contact: <sip:{user}@127.0.0.1:{port}>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def test_the_client_answers_the_edges_challenges_and_the_edge_accepts(world, sip_lines, edge, engines):
    sip_lines(world.user_a1, SECRET)
    user, domain = world.extension_of(world.user_a1).sip_username, world.client_a1.sip_domain
    [engine] = engines()
    credentials = Credentials(user, password=SECRET)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, phone = await loop.create_datagram_endpoint(Phone, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]

        def send(data: bytes) -> None:
            transport.sendto(data, edge.address)

        def start(request, on_response):
            tx = ClientTransaction(request, send, table=phone.table, on_response=on_response)
            tx.start()
            return tx

        async def final(method: str, uri: str, answered=None) -> tuple[AuthenticatedRequest, Response]:
            done = loop.create_future()

            def on_response(response: Response) -> None:
                if response.status >= 200 and not done.done():
                    done.set_result(response)

            text = request_text(method, uri, port=port, user=user, domain=domain, call_id=uuid.uuid4().hex)
            flow = AuthenticatedRequest(start, parse(text), credentials, on_response)
            if answered is not None:
                await loop.run_in_executor(None, answered)
            return flow, await asyncio.wait_for(done, 10)

        try:
            flow, registered = await final("REGISTER", f"sip:{domain}")
            assert registered.status == 200, registered
            assert flow.retried and "Authorization" in flow.request.headers
            assert registered.headers.get("Contact").startswith(f"<sip:{user}@127.0.0.1:{port}>")

            def engine_refuses() -> None:
                invite = engine.expect("INVITE", timeout=5)
                assert invite.get("Proxy-Authorization") is None  # the edge took it off
                assert f"user={user}" in invite.get("X-Ocx-Auth")  # and vouches for the caller instead
                engine.send_to_edge(reply_to(invite, 486, "Busy Here", to_tag="e1"), edge)

            flow, busy = await final("INVITE", f"sip:102@{domain}", engine_refuses)
            assert busy.status == 486  # authenticated, routed to the engine, its answer relayed
            assert flow.retried and flow.request.cseq == (2, "INVITE")
            assert "Proxy-Authorization" in flow.request.headers
        finally:
            transport.close()

    asyncio.run(main())
