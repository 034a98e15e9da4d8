"""Presence follows a real call: two pjsua2 phones registered through a real edge (`manage.py sip_edge`)
call each other through a real engine (`manage.py call_engine`); a colleague's IM socket (/ws/im/)
sees both go "on a call" as the call is answered and back to available when it ends, from the events
the engines publish (no polling), and a phone unregistering makes its line's person offline."""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.im.test_consumer import _headers
from tests.telephony.conftest import connected

AT_ONCE = 2.0  # seconds between the call's answer (or end) at the phones and the socket's change


async def _states(ws, wanted: dict[str, str], timeout: float) -> float:
    """Seconds until the presence the socket shows matches `wanted` (account id -> state)."""
    started = time.monotonic()
    shown: dict[str, str] = {}
    while any(shown.get(k) != v for k, v in wanted.items()):
        left = timeout - (time.monotonic() - started)
        assert left > 0, f"presence {shown}, wanted {wanted}"
        if await ws.receive_nothing(timeout=left):
            raise AssertionError(f"presence {shown}, wanted {wanted}")
        event = await ws.receive_json_from()
        shown.update(event.get("presence", {}))
    return time.monotonic() - started


def test_presence_follows_a_real_call_between_two_phones(world, lines, connections_kept):
    caller, callee, domain = lines
    a1, a1b = str(world.user_a1.pk), str(world.user_a1b.pk)
    head = _headers(world, world.user_a1c)
    label: list[str] = []

    def call() -> None:
        label.append(connected(caller, callee, domain))

    def hang_up() -> None:
        caller.hangup("c1")
        callee.wait_call_state(label[0], "disconnected")

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/im/", headers=head)
        connected_, code = await ws.connect()
        assert connected_, code
        hello = await ws.receive_json_from(timeout=5)
        assert (hello["presence"][a1], hello["presence"][a1b]) == ("available", "available")  # registered phones
        await asyncio.to_thread(call)
        answered = await _states(ws, {a1: "on_call", a1b: "on_call"}, timeout=AT_ONCE + 3)
        await asyncio.to_thread(hang_up)
        ended = await _states(ws, {a1: "available", a1b: "available"}, timeout=AT_ONCE + 3)
        await asyncio.to_thread(callee.unregister, "102")  # the edge tells the client's sockets
        await _states(ws, {a1b: "offline"}, timeout=AT_ONCE + 3)
        await ws.disconnect()
        return answered, ended

    answered, ended = async_to_sync(scenario)()
    print(f"presence on a call {answered:.2f} s after the phones connected, available {ended:.2f} s after hang-up")
    assert answered < AT_ONCE and ended < AT_ONCE


def test_the_phones_do_not_disturb_code_is_the_persons_presence(world, lines, connections_kept):
    """*78 on the phone (the engine saves the line's do-not-disturb) shows the person as do-not-disturb
    on the colleagues' sockets; *79 makes them available again: one truth for calls and presence."""
    _caller, callee, domain = lines
    a1b = str(world.user_a1b.pk)
    head = _headers(world, world.user_a1c)

    def dial(code: str) -> None:
        callee.call(code, f"sip:{code}@{domain}")
        callee.wait_call_state(code, "confirmed")
        callee.wait_call_state(code, "disconnected", timeout=15)  # the engine says so and hangs up

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/im/", headers=head)
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        await asyncio.to_thread(dial, "*78")
        await _states(ws, {a1b: "dnd"}, timeout=10)
        await asyncio.to_thread(dial, "*79")
        await _states(ws, {a1b: "available"}, timeout=10)
        await ws.disconnect()

    async_to_sync(scenario)()
