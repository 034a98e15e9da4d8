"""The suite's guard against a channel layer left locked by a finished event loop (tests/conftest.py,
`_channel_layer_of_its_own`): the first test ends its loop the way a test cut short does, a consumer's
wait for the layer's per-channel cleanup lock cancelled while another held it; the second, next in the
same process (a module runs in one worker, in order), receives on the layer as every consumer does.
Without the guard it fails with channels-redis' "bound to a different event loop", as every later
consumer of the process did in CI (and pytest then crashed drawing that failure)."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def test_a_loop_ends_with_the_layers_cleanup_lock_bound_to_it_and_held():
    async def cut_short():
        layer = get_channel_layer()
        key = layer.prefix + layer.non_local_name(await layer.new_channel())
        await layer.receive_clean_locks.acquire(key)  # (held, never released: the loop ends)
        waiting = asyncio.ensure_future(layer.receive_clean_locks.acquire(key))  # binds the lock to this loop
        await asyncio.sleep(0.05)
        waiting.cancel()

    async_to_sync(cut_short)()
    assert get_channel_layer().receive_clean_locks.locks  # (what the guard finds after this test)


def test_the_next_tests_consumers_receive():
    async def receive_one():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        receiving = asyncio.ensure_future(layer.receive(channel))
        await layer.send(channel, {"type": "test.hello"})
        return await asyncio.wait_for(receiving, 5)

    assert async_to_sync(receive_one)() == {"type": "test.hello"}
