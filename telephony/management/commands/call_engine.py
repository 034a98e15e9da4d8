"""Run one call engine process (OCX_ENGINE_*): calls from the edge, anchored here with their media."""

from __future__ import annotations

import redis.asyncio as aioredis
from django.conf import settings
from django.core.management.base import BaseCommand

from config.services import run_service
from telephony.engine.media_ports import Media
from telephony.engine.server import Engine, EngineConfig


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, help="SIP port (default OCX_ENGINE_PORT).")
        parser.add_argument("--rtp-ports", help="RTP port range first-last (default OCX_ENGINE_RTP_PORTS).")
        parser.add_argument("--edge", help="host:port of the edge (default OCX_ENGINE_EDGE).")

    def handle(self, *args, **options):
        overrides = {"port": options.get("port"), "edge": options.get("edge")}
        if options.get("rtp_ports"):
            first, _, last = options["rtp_ports"].partition("-")
            overrides.update(rtp_first=int(first), rtp_last=int(last))
        config = EngineConfig.from_settings(**overrides)
        run_service(lambda: self.serve(config))

    async def serve(self, config: EngineConfig) -> None:
        # redis-py 8 caps a pool at 100 connections and fails beyond: a busy engine's calls each hold one for
        # a moment (health, limits, spending), so the cap is the Redis server's business, not the pool's.
        redis = aioredis.Redis.from_url(settings.REDIS_URL, max_connections=2000)
        try:
            media = Media(config.host, config.rtp_first, config.rtp_last, config.rtp_advertise)
            await Engine(config, redis, media).run()
        finally:
            await redis.aclose()
