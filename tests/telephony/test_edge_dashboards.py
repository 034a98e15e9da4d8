"""The dashboards follow phones: a real phone (pjsua2) registering through a running edge (`manage.py
sip_edge`) shows in the client's, its brand's and the platform's dashboards over their WebSockets within
a tick or two, without their refresh; a flood of REGISTERs reaches each group as at most one event per
tick; a registration that runs out is told too."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers

from config.redis_store import get_redis, rkey
from tenants.events import DASHBOARD_TICK, group_for_brand, group_for_client, group_for_platform, group_for_user
from tests.sip import phone as phone_helpers
from tests.telephony.conftest import start_edge
from tests.tenants.test_dashboard import dashboard_socket, figures_from

phones = phone_helpers.phones  # the pjsua2 phone fixture, for this module

SECRET = "dashboard-secret-123"
IN_SCOPE = ["client_a1_op", "brand_a_op", "god"]
OUT_OF_SCOPE = ["client_b1_op", "brand_b_op"]
PUSHED_WITHIN = 5.0  # seconds: a tick to send, the socket's settling, the figures' query (a loaded machine)


@pytest.fixture
def connections_kept(monkeypatch):
    """Consumers close "old" database connections around each query; inside a test's transaction that
    would close the test's own connection."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("tenants.consumers.close_old_connections", lambda: None)


async def _registered_becomes(ws, wanted: int, name: str) -> float:
    """Seconds until the socket pushes figures with `wanted` phones registered."""
    started = time.monotonic()
    while (figures := await figures_from(ws, timeout=PUSHED_WITHIN))["registered"] != wanted:
        assert time.monotonic() - started < PUSHED_WITHIN, f"{name}: {figures['registered']} registered"
    return time.monotonic() - started


def test_a_phone_registering_reaches_every_dashboard_in_scope_within_ticks(
    world, sip_lines, phones, edge, connections_kept, monkeypatch
):
    monkeypatch.setattr("tenants.consumers.REFRESH", 120.0)  # only the registration pushes figures here
    sip_lines(world.user_a1, SECRET)
    sockets = {name: dashboard_socket(getattr(world, name), world) for name in IN_SCOPE + OUT_OF_SCOPE}
    phone = phones()

    async def scenario() -> dict[str, list[float]]:
        for ws in sockets.values():
            assert (await ws.connect())[0]
            await ws.send_json_to({"watch": "dashboard"})
        before = {name: (await figures_from(ws))["registered"] for name, ws in sockets.items()}
        took: dict[str, list[float]] = {name: [] for name in IN_SCOPE}
        answer = await asyncio.to_thread(
            phone.register, username="101", domain=world.client_a1.sip_domain, secret=SECRET,
            proxy=f"127.0.0.1:{edge.port}",
        )  # fmt: skip
        assert answer["code"] == 200
        for name in IN_SCOPE:
            took[name].append(await _registered_becomes(sockets[name], before[name] + 1, name))
        assert (await asyncio.to_thread(phone.unregister, "101"))["active"] is False
        for name in IN_SCOPE:
            took[name].append(await _registered_becomes(sockets[name], before[name], name))
        for name in OUT_OF_SCOPE:
            while not await sockets[name].receive_nothing(timeout=0.5):
                message = await sockets[name].receive_json_from()
                assert message["type"] != "dashboard.figures", f"{name} was sent figures after another's phone"
                assert message["type"] != "registration.changed", f"{name} was told of another's phone"
        for ws in sockets.values():
            await ws.disconnect()
        return took

    took = async_to_sync(scenario)()
    assert all(seconds < PUSHED_WITHIN for times in took.values() for seconds in times), took


def _listen_while(groups: dict[str, str], action) -> dict[str, list[tuple[dict, float]]]:
    """The events each group receives (with their arrival times) while `action` runs in a thread and
    three ticks after it."""

    async def scenario():
        layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
        channels = {name: await layer.new_channel() for name in groups}
        for name, group in groups.items():
            await layer.group_add(group, channels[name])
        seen: dict[str, list[tuple[dict, float]]] = {name: [] for name in groups}

        async def listen(name: str) -> None:  # one reader per channel: arrival times as they happen
            while True:
                message = await layer.receive(channels[name])
                seen[name].append((message["event"], time.monotonic()))

        readers = [asyncio.ensure_future(listen(name)) for name in groups]
        await asyncio.to_thread(action)
        await asyncio.sleep(3 * DASHBOARD_TICK)  # the last changes are sent at the next tick
        for reader in readers:
            reader.cancel()
        return seen

    return async_to_sync(scenario)()


def test_a_flood_of_registrations_reaches_each_group_once_per_tick_at_most(world, sip_lines, sip_client):
    sip_lines(world.user_a1, SECRET)
    sip_lines(world.user_b1, SECRET)
    phone = sip_client(world.user_a1)
    groups = {
        "client": group_for_client(world.client_a1.pk),
        "user": group_for_user(world.user_a1.pk),
        "brand": group_for_brand(world.brand_a.pk),
        "platform": group_for_platform(),
        "other_client": group_for_client(world.client_b1.pk),
        "other_brand": group_for_brand(world.brand_b.pk),
    }
    contacts = [f"<sip:101@127.0.0.1:{40000 + n}>" for n in range(3)]  # the tests' edge keeps 3 per line
    changes, took = 0, 0.0

    def flood() -> None:
        nonlocal changes, took
        started = time.monotonic()
        for _ in range(4):
            for contact, expires in [(c, 300) for c in contacts] + [(c, 0) for c in contacts]:
                assert phone.register(SECRET, contact=contact, expires=expires).status == 200
                changes += 1
        for contact in contacts[:2]:  # two devices stay
            assert phone.register(SECRET, contact=contact, expires=300).status == 200
            changes += 1
        took = time.monotonic() - started

    seen = _listen_while(groups, flood)
    assert seen["other_client"] == [] and seen["other_brand"] == []
    for name in ("client", "user", "brand", "platform"):
        events = [event for event, _ in seen[name]]
        assert events and {e["type"] for e in events} == {"registration.changed"}, name
        assert len(events) <= took / DASHBOARD_TICK + 2, (
            f"{name}: {len(events)} events for {changes} changes in {took:.1f} s"
        )
        # No two events within half a tick (delivery jitter), however many changes fell within one.
        gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(seen[name])]
        assert all(gap >= DASHBOARD_TICK / 2 for gap in gaps), (name, gaps)
        if name in ("client", "user"):  # the line's devices as they are now
            assert events[-1]["lines"] == {"101": 2} and events[-1]["client"] == world.client_a1.pk
        else:
            assert events[-1]["clients"] == [world.client_a1.pk]
    assert phone.register(SECRET, contact="*", expires=0).status == 200  # no phone left registered


@pytest.fixture
def quick_edge():
    """An edge that accepts registrations of one second (the suite's asks for a minute at least)."""
    process = start_edge(OCX_SIP_MIN_EXPIRES="1")
    yield process
    process.stop()


def test_a_registration_that_runs_out_is_told_to_the_dashboards(world, sip_lines, sip_client, quick_edge):
    extension = sip_lines(world.user_a1, SECRET)
    phone = sip_client(world.user_a1, target=quick_edge)
    groups = {"client": group_for_client(world.client_a1.pk), "platform": group_for_platform()}

    def register_and_let_it_run_out() -> None:
        assert phone.register(SECRET, expires=1).status == 200
        deadline = time.monotonic() + 5
        while get_redis().hlen(rkey("loc", world.client_a1.pk, extension.sip_username)):  # removed, not aged out
            assert time.monotonic() < deadline, "the expired binding was never removed"
            time.sleep(0.1)

    seen = _listen_while(groups, register_and_let_it_run_out)
    assert [event["lines"] for event, _ in seen["client"]] == [{"101": 1}, {"101": 0}]
    assert len(seen["platform"]) == 2
