"""A throwaway redis-server for a test that kills and restarts it (`own_redis`): started as
platform/services.py starts the local one (persistence included), on a free port with its data under
the test's tmp_path. The suite's shared Redis is never touched: settings.REDIS_URL and both channel
layers point at the throwaway server for the test, so what the test calls writes where the processes
under test read."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import redis
from channels.layers import channel_layers
from django.conf import settings

from config.redis_store import get_redis, rkey
from tests.telephony.conftest import free_port

_spec = importlib.util.spec_from_file_location("ocx_platform_services", settings.BASE_DIR / "platform" / "services.py")
services = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(services)


class OwnRedis:
    def __init__(self, folder: Path):
        self.server = services.Redis(data=folder / "redis", port=free_port(), log=folder / "redis.log")
        self.url = f"redis://127.0.0.1:{self.server.port}/1"
        self.client = redis.Redis.from_url(self.url)

    def kill(self) -> None:
        """SIGKILL: no chance to save anything on the way out."""
        os.kill(int((self.server.data / "redis.pid").read_text()), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.server.running() and time.monotonic() < deadline:
            time.sleep(0.02)

    def restart(self, *, keep_data: bool) -> None:
        if not keep_data:
            shutil.rmtree(self.server.data)
        self.server.start()

    def numsub(self, name: str) -> int:
        return dict(self.client.pubsub_numsub(rkey(name)))[rkey(name).encode()]

    def keys(self, pattern: str) -> list:
        return list(self.client.scan_iter(rkey(pattern)))


def serving(tmp_path, settings):
    """The `own_redis` fixture (tests/conftest.py): the server, everything of the test pointed at it."""
    server = OwnRedis(tmp_path)
    server.server.start()
    settings.REDIS_URL = server.url
    settings.CHANNEL_LAYERS = {alias: _on(layer, server.url) for alias, layer in settings.CHANNEL_LAYERS.items()}
    channel_layers.backends.clear()
    get_redis.cache_clear()
    yield server
    get_redis.cache_clear()
    server.client.close()
    if server.server.running():
        server.kill()


def _on(layer: dict, url: str) -> dict:
    hosts = [{**layer["CONFIG"]["hosts"][0], "address": url}]
    return {**layer, "CONFIG": {**layer["CONFIG"], "hosts": hosts}}
