"""Live events over WebSocket: the socket joins its account's scope group, on its own host only."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client as HttpClient

from config.asgi import application
from tenants.events import group_for_brand, group_for_client, publish
from tenants.services import account_set_password, account_update, client_suspend


def _session_cookie(account, host: str) -> bytes:
    http = HttpClient(HTTP_HOST=host)
    http.force_login(account)
    return f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def _communicator(host: str, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode())]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


def test_client_operator_receives_its_clients_events_and_not_others(world, connections_kept):
    host = world.host_of(world.client_a1_op)
    cookie = _session_cookie(world.client_a1_op, host)

    async def scenario():
        ws = _communicator(host, cookie)
        connected, _ = await ws.connect()
        assert connected
        await get_channel_layer().group_send(
            group_for_client(world.client_b1.pk), {"type": "platform.event", "event": {"type": "other"}}
        )
        await get_channel_layer().group_send(
            group_for_client(world.client_a1.pk), {"type": "platform.event", "event": {"type": "call.ringing"}}
        )
        assert await ws.receive_json_from(timeout=3) == {"type": "call.ringing"}
        assert await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.mark.parametrize("case", ["anonymous", "foreign-host", "unknown-host"])
def test_sockets_without_a_fitting_account_are_closed(world, case):
    own_host = world.host_of(world.brand_a_op)
    cookie = None if case == "anonymous" else _session_cookie(world.brand_a_op, own_host)
    host = {"anonymous": own_host, "foreign-host": world.brand_b.domain, "unknown-host": "nowhere.example"}[case]

    async def scenario():
        ws = _communicator(host, cookie)
        connected, code = await ws.connect()
        assert not connected
        assert code == 4401

    async_to_sync(scenario)()


def test_publish_helper_reaches_brand_sockets(world, connections_kept):
    host = world.brand_a.domain
    cookie = _session_cookie(world.brand_a_op, host)

    async def scenario():
        ws = _communicator(host, cookie)
        assert (await ws.connect())[0]
        await asyncio.get_running_loop().run_in_executor(
            None, publish, group_for_brand(world.brand_a.pk), {"type": "client.suspended", "id": 7}
        )
        assert await ws.receive_json_from(timeout=3) == {"type": "client.suspended", "id": 7}
        await ws.disconnect()

    async_to_sync(scenario)()


def test_channel_layer_survives_idling_longer_than_redis_socket_timeout():
    """redis-py 8's default 5 s socket timeout must not kill a blocking receive (PITFALLS.md)."""

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()

        async def later():
            await asyncio.sleep(6)
            await layer.send(channel, {"type": "ping"})

        sender = asyncio.ensure_future(later())
        message = await asyncio.wait_for(layer.receive(channel), timeout=15)
        await sender
        return message

    assert async_to_sync(scenario)() == {"type": "ping"}


@pytest.mark.parametrize("origin", ["sibling", "missing", "other-site"])
def test_sockets_open_only_from_a_page_of_their_own_host(world, origin):
    host = world.host_of(world.client_a1_op)
    cookie = _session_cookie(world.client_a1_op, host)
    sent = {
        "sibling": f"http://{world.host_of(world.client_a2_op)}",  # same site: the cookie would travel along
        "missing": None,
        "other-site": "https://evil.example",
    }[origin]
    headers = [(b"host", host.encode()), (b"cookie", cookie)]
    if sent:
        headers.append((b"origin", sent.encode()))

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/events/", headers=headers)
        connected, _ = await ws.connect()
        assert not connected
        await ws.disconnect()

    async_to_sync(scenario)()


@pytest.fixture
def connections_kept(monkeypatch):
    """Consumers close "old" database connections around each query; inside a test's transaction that
    would close the test's own connection, so several sockets in one test keep it."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
    monkeypatch.setattr("tenants.consumers.close_old_connections", lambda: None)


@pytest.mark.parametrize("change", ["suspend", "deactivate", "password"])
def test_open_sockets_close_when_their_right_ends(world, change, connections_kept, django_capture_on_commit_callbacks):
    """A suspended client's, a deactivated account's and a changed password's sockets are closed."""
    accounts = [world.user_a1, world.client_a1_op]
    sockets = [_communicator(world.host_of(a), _session_cookie(a, world.host_of(a))) for a in accounts]
    bystander = _communicator(world.brand_a.domain, _session_cookie(world.brand_a_op, world.brand_a.domain))

    def act():
        with django_capture_on_commit_callbacks(execute=True):
            if change == "suspend":
                client_suspend(actor=world.brand_a_op, client=world.client_a1)
            elif change == "deactivate":
                account_update(actor=world.client_a1_op, account=world.user_a1, is_active=False)
            else:
                account_set_password(actor=world.user_a1, account=world.user_a1, password="another-password-7")

    async def scenario():
        for ws in [*sockets, bystander]:
            assert (await ws.connect())[0]
        await sync_to_async(act)()
        closed = {"suspend": [4403, 4403], "deactivate": [4401, None], "password": [4401, None]}[change]
        for ws, code in zip(sockets, closed, strict=True):
            if code is None:
                assert await ws.receive_nothing(timeout=0.3)
            else:
                assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": code}
            await ws.disconnect()
        assert await bystander.receive_nothing(timeout=0.1)
        await bystander.disconnect()

    async_to_sync(scenario)()
