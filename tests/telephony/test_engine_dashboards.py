"""The dashboards follow real calls: a call through the edge and an engine (`manage.py call_engine`)
between pjsua2 phones updates the figures of its client's, its brand's and the platform's dashboards
over their WebSockets, and reaches no other brand's or client's."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers

from tenants.events import DASHBOARD_TICK, group_for_brand, group_for_platform
from tests.telephony.conftest import connected
from tests.tenants.test_dashboard import dashboard_socket, figures_from

IN_SCOPE = ["client_a1_op", "brand_a_op", "god"]
OUT_OF_SCOPE = ["client_b1_op", "brand_b_op"]


@pytest.fixture
def connections_kept(monkeypatch):
    """Consumers close "old" database connections around each query; inside a test's transaction that
    would close the test's own connection."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("tenants.consumers.close_old_connections", lambda: None)


def test_the_engine_nudges_the_brands_and_platforms_dashboards_without_call_detail(world, lines):
    caller, callee, domain = lines

    def call_and_hang_up() -> None:
        label = connected(caller, callee, domain)
        caller.hangup("c1")
        callee.wait_call_state(label, "disconnected")

    async def scenario() -> dict[str, list[tuple[str, float]]]:
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        groups = {
            "brand_a": group_for_brand(world.brand_a.pk),
            "brand_b": group_for_brand(world.brand_b.pk),
            "platform": group_for_platform(),
        }
        channels = {name: await layer.new_channel() for name in groups}
        for name, group in groups.items():
            await layer.group_add(group, channels[name])
        seen: dict[str, list[tuple[str, float]]] = {name: [] for name in groups}

        async def listen(name: str) -> None:  # one reader per channel: arrival times as they happen
            while True:
                message = await layer.receive(channels[name])
                seen[name].append((message["event"]["type"], time.monotonic()))

        readers = [asyncio.ensure_future(listen(name)) for name in groups]
        await asyncio.to_thread(call_and_hang_up)
        await asyncio.sleep(3)  # the last nudge follows the call's end within a tick (0.5 s)
        for reader in readers:
            reader.cancel()
        return seen

    seen = async_to_sync(scenario)()
    assert seen["brand_b"] == []
    for name in ("brand_a", "platform"):
        calls = [kind for kind, _ in seen[name] if kind.startswith("call.")]
        assert calls == [], f"{name} got the call's own events"
        # The call's events (ringing and answered 0.3 s apart, then ended) come as at most one nudge per
        # tick: no two nudges within half a tick (delivery jitter), however many events fell within one.
        nudges = [at for kind, at in seen[name] if kind == "dashboard.changed"]
        assert nudges, f"{name} was never told"
        gaps = [later - earlier for earlier, later in itertools.pairwise(nudges)]
        assert all(gap >= DASHBOARD_TICK / 2 for gap in gaps), (name, gaps)


def test_a_real_call_updates_the_dashboards_in_scope_only(world, lines, connections_kept, monkeypatch):
    monkeypatch.setattr("tenants.consumers.REFRESH", 120.0)  # only the call's events push figures here
    caller, callee, domain = lines
    watchers = IN_SCOPE + OUT_OF_SCOPE
    sockets = {name: dashboard_socket(getattr(world, name), world) for name in watchers}

    def call_and_hang_up() -> None:
        label = connected(caller, callee, domain)
        caller.hangup("c1")
        callee.wait_call_state(label, "disconnected")

    async def scenario():
        for ws in sockets.values():
            assert (await ws.connect())[0]
            await ws.send_json_to({"watch": "dashboard"})
        before = {name: await figures_from(ws) for name, ws in sockets.items()}
        await asyncio.to_thread(call_and_hang_up)
        for name in IN_SCOPE:  # figures pushed until the call is counted (the record is written a moment later)
            deadline = time.monotonic() + 10
            while (figures := await figures_from(sockets[name], timeout=10))["calls_today"] <= before[name][
                "calls_today"
            ]:
                assert time.monotonic() < deadline, f"{name}: the call was never counted"
            assert figures["calls_today"] == before[name]["calls_today"] + 1
        for name in OUT_OF_SCOPE:
            while not await sockets[name].receive_nothing(timeout=0.5):
                message = await sockets[name].receive_json_from()
                assert message["type"] != "dashboard.figures", f"{name} was sent figures after another's call"
                assert not message["type"].startswith("call."), f"{name} was sent another client's call"
        for ws in sockets.values():
            await ws.disconnect()

    async_to_sync(scenario)()
