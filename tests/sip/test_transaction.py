"""The SIP stack's transactions (telephony/sip/transaction.py), the edge's and the engine's alike: what
goes on the wire and when, with T1 shortened so that 64*T1 is well under a second."""

from __future__ import annotations

import asyncio
import itertools

from telephony.sip import Request, Response, make_response, parse
from telephony.sip.transaction import (
    COMPLETED,
    DEAD,
    AnswerRepeat,
    ClientTransaction,
    ServerTransaction,
    Timers,
    ack_for,
    cancel_for,
)

FAST = Timers(t1=0.01, t2=0.04)  # 64*T1 = 0.64 s


def request(method: str = "INVITE", cseq: int = 1) -> Request:
    text = (
        f"{method} sip:101@192.0.2.20:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKtx1;rport\r\n"
        "Route: <sip:192.0.2.1;lr>\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:100@example.com>;tag=f1\r\n"
        "To: <sip:101@example.com>\r\n"
        "Call-ID: tx-test@192.0.2.10\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    return parse(text.encode())


def answer(req: Request, status: int, *, method: str | None = None) -> Response:
    response = make_response(req, status, to_tag=None if status == 100 else "far1")
    if method is not None:
        response.headers.set("CSeq", f"{req.cseq[0]} {method}")
    return response


class Wire:
    """The transport: records what the transaction sends, and when."""

    def __init__(self, *, reachable: bool = True):
        self.sent: list[tuple[float, Request]] = []
        self.reachable = reachable

    def __call__(self, data: bytes) -> bool:
        self.sent.append((asyncio.get_running_loop().time(), parse(data)))
        return self.reachable

    def methods(self) -> list[str]:
        return [message.method for _, message in self.sent]


async def until(condition, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


def run(coroutine) -> None:
    asyncio.run(coroutine)


def gaps(wire: Wire) -> list[float]:
    times = [at for at, _ in wire.sent]
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


def test_an_invite_is_retransmitted_doubling_until_a_provisional_and_times_out_with_a_local_408():
    async def main():
        wire, answers = Wire(), []
        tx = ClientTransaction(request(), wire, timers=FAST, on_response=answers.append)
        tx.start()
        await until(lambda: answers)
        assert answers[0].status == 408 and answers[0].call_id == "tx-test@192.0.2.10"
        assert tx.state == DEAD
        assert set(wire.methods()) == {"INVITE"}
        # Timer A doubles without a cap (T2 does not apply to INVITE): 0.01, 0.02, 0.04, 0.08, 0.16, 0.32.
        # The 7th send is due at 63*T1, one T1 before timer B, each retransmission timed from the last
        # one's run: on a loaded machine the chain's lateness adds up and B may come first.
        assert len(wire.sent) in (6, 7)
        assert all(later > earlier for earlier, later in itertools.pairwise(gaps(wire)))
        assert gaps(wire)[-1] >= 0.3

    run(main())


def test_a_provisional_stops_invite_retransmissions_and_timer_b():
    async def main():
        wire, answers = Wire(), []
        invite = request()
        tx = ClientTransaction(invite, wire, timers=FAST, on_response=answers.append)
        tx.start()
        await until(lambda: len(wire.sent) >= 2)
        tx.receive(answer(invite, 180))
        sent = len(wire.sent)
        await asyncio.sleep(FAST.linger + 0.1)  # past timer B: nothing more happens on its own
        assert len(wire.sent) == sent
        assert [a.status for a in answers] == [180]
        tx.receive(answer(invite, 200))
        assert [a.status for a in answers] == [180, 200]
        assert tx.state == COMPLETED

    run(main())


def test_a_non_invite_is_retransmitted_up_to_t2_also_after_a_provisional():
    async def main():
        wire, answers = Wire(), []
        bye = request("BYE", 2)
        tx = ClientTransaction(bye, wire, timers=FAST, on_response=answers.append)
        tx.start()
        await until(lambda: len(wire.sent) >= 4)
        tx.receive(answer(bye, 100))
        await until(lambda: answers and answers[-1].status == 408)
        assert max(gaps(wire)) <= FAST.t2 + 0.02  # timer E is capped at T2
        assert len(wire.sent) > 10

    run(main())


def test_over_a_reliable_transport_nothing_is_retransmitted():
    async def main():
        wire, answers = Wire(), []
        tx = ClientTransaction(request("OPTIONS"), wire, reliable=True, timers=FAST, on_response=answers.append)
        tx.start()
        await until(lambda: answers)
        assert answers[0].status == 408
        assert len(wire.sent) == 1

    run(main())


def test_an_unreachable_hop_fails_at_once_with_503():
    async def main():
        answers = []
        ClientTransaction(request(), Wire(reachable=False), timers=FAST, on_response=answers.append).start()
        assert [a.status for a in answers] == [503]

    run(main())


def test_a_non_2xx_final_answer_is_acked_on_the_invites_branch_each_time_it_comes():
    async def main():
        wire, answers = Wire(), []
        invite = request()
        tx = ClientTransaction(invite, wire, timers=FAST, on_response=answers.append)
        tx.start()
        busy = answer(invite, 486)
        tx.receive(busy)
        tx.receive(busy)  # our ACK was lost: the far side repeats its answer
        assert [a.status for a in answers] == [486]  # the owner hears it once
        acks = [m for _, m in wire.sent if m.method == "ACK"]
        assert len(acks) == 2
        ack = acks[0]
        assert ack.branch == "z9hG4bKtx1" and ack.cseq == (1, "ACK") and ack.uri == invite.uri
        assert ack.to_tag == "far1" and ack.headers.get_all("Route") == ["<sip:192.0.2.1;lr>"]
        assert ack.headers.get("From") == invite.headers.get("From")

    run(main())


def test_a_retransmitted_2xx_reaches_the_dialog_again_but_a_non_invite_answer_gets_no_ack():
    async def main():
        wire, answers = Wire(), []
        invite = request()
        tx = ClientTransaction(invite, wire, timers=FAST, on_response=answers.append)
        tx.start()
        ok = answer(invite, 200)
        tx.receive(ok)
        tx.receive(ok)
        assert [a.status for a in answers] == [200, 200]  # the dialog ACKs each (RFC 3261 13.2.2.4)
        assert "ACK" not in wire.methods()  # a 2xx's ACK is the dialog's, not the transaction's

        wire, answers = Wire(), []
        bye = request("BYE", 2)
        tx = ClientTransaction(bye, wire, timers=FAST, on_response=answers.append)
        tx.start()
        gone = answer(bye, 481)
        tx.receive(gone)
        tx.receive(gone)
        assert [a.status for a in answers] == [481]
        assert wire.methods() == ["BYE"]  # only an INVITE's non-2xx answer is ACKed

    run(main())


def test_cancel_before_any_provisional_goes_out_at_the_first_one_as_its_own_transaction():
    async def main():
        wire, answers = Wire(), []
        invite = request()
        tx = ClientTransaction(invite, wire, timers=FAST, on_response=answers.append)
        tx.start()
        tx.cancel()
        assert "CANCEL" not in wire.methods()  # RFC 3261 9.1: not before a provisional
        tx.receive(answer(invite, 100))
        cancels = [m for _, m in wire.sent if m.method == "CANCEL"]
        assert len(cancels) == 1
        cancel = cancels[0]
        assert cancel.branch == "z9hG4bKtx1" and cancel.cseq == (1, "CANCEL") and cancel.to_tag is None
        await until(lambda: wire.methods().count("CANCEL") >= 3)  # unanswered: retransmitted (timer E)
        tx.receive(answer(invite, 200, method="CANCEL"))  # the CANCEL's answer, on the same branch
        assert [a.status for a in answers] == [100]  # not the INVITE's business
        sent = wire.methods().count("CANCEL")
        tx.receive(answer(invite, 487))
        assert [a.status for a in answers] == [100, 487]
        assert wire.methods()[-1] == "ACK"
        await asyncio.sleep(FAST.t2 * 2)
        assert wire.methods().count("CANCEL") == sent  # answered: no more

    run(main())


def test_an_invite_cancelled_whose_far_side_never_answers_ends_with_a_local_408():
    async def main():
        wire, answers = Wire(), []
        invite = request()
        tx = ClientTransaction(invite, wire, timers=FAST, on_response=answers.append)
        tx.start()
        tx.receive(answer(invite, 180))
        started = asyncio.get_running_loop().time()
        tx.cancel()
        await until(lambda: answers[-1].status == 408)
        assert asyncio.get_running_loop().time() - started >= FAST.linger - 0.01  # RFC 3261 9.1: 64*T1

    run(main())


def test_an_invite_given_up_on_that_rings_after_all_is_cancelled_once():
    async def main():
        wire, answers = Wire(), []
        invite = request()
        tx = ClientTransaction(invite, wire, timers=FAST, timeout=0.05, on_response=answers.append)
        tx.start()
        await until(lambda: answers)
        assert answers[0].status == 408
        tx.receive(answer(invite, 180))
        tx.receive(answer(invite, 180))
        assert wire.methods().count("CANCEL") == 1
        assert len(answers) == 1

    run(main())


def test_a_finished_transaction_stays_in_its_table_for_64_t1_to_absorb_retransmissions():
    async def main():
        table = {}
        invite = request()
        tx = ClientTransaction(invite, Wire(), timers=FAST, table=table, on_response=lambda r: None)
        tx.start()
        assert table == {"z9hG4bKtx1": tx}
        tx.receive(answer(invite, 486))
        assert table == {"z9hG4bKtx1": tx}
        await until(lambda: not table)

    run(main())


def test_ack_and_cancel_builders_keep_the_transactions_identity():
    invite = request()
    ack = ack_for(invite, answer(invite, 603))
    cancel = cancel_for(invite)
    for built, method in ((ack, "ACK"), (cancel, "CANCEL")):
        assert built.method == method and built.uri == invite.uri
        assert built.headers.get_all("Via") == invite.headers.get_all("Via")
        assert built.call_id == invite.call_id and built.cseq == (1, method)
        assert built.headers.get("Max-Forwards") == "70"
    assert cancel.headers.get("To") == invite.headers.get("To")


def test_a_final_answer_to_an_invite_is_repeated_until_its_ack_then_given_up_after_64_t1():
    async def main():
        wire, gave_up = Wire(), []
        data = answer(request(), 200).to_bytes()
        stx = ServerTransaction(request(), ("192.0.2.10", 5060))
        stx.repeat_final(wire, data, timers=FAST, on_give_up=lambda: gave_up.append(True))
        await until(lambda: len(wire.sent) >= 3)
        assert stx.awaiting_ack
        stx.ack_arrived()
        sent = len(wire.sent)
        await asyncio.sleep(FAST.t2 * 2)
        assert len(wire.sent) == sent and not stx.awaiting_ack and not stx.given_up and not gave_up

        wire, started = Wire(), asyncio.get_running_loop().time()
        repeat = AnswerRepeat(wire, data, timers=FAST, on_give_up=lambda: gave_up.append(True))
        await until(lambda: gave_up)
        assert repeat.given_up and not repeat.active
        assert max(gaps(wire)) <= FAST.t2 + 0.02  # timer G: T1 doubling up to T2
        assert asyncio.get_running_loop().time() - started >= FAST.linger - 0.01  # timer H: 64*T1

    run(main())


def test_the_edges_transports_are_what_transactions_send_through():
    from telephony.edge.transport import StreamTransport, UdpTransport
    from telephony.sip.transport import Transport, is_reliable

    udp, tcp, tls = UdpTransport(None), StreamTransport(None, "tcp"), StreamTransport(None, "tls")
    assert all(isinstance(t, Transport) for t in (udp, tcp, tls))
    assert [(t.name, t.reliable) for t in (udp, tcp, tls)] == [("udp", False), ("tcp", True), ("tls", True)]
    assert [is_reliable(name) for name in ("udp", "tcp", "tls", "ws")] == [False, True, True, True]
