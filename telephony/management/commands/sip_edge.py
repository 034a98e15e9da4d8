"""Run one SIP edge process (registrar and proxy) on the configured address (OCX_SIP_*)."""

from __future__ import annotations

import redis.asyncio as aioredis
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError
from redis.exceptions import RedisError

from config.services import run_service
from telephony.directory import sip_directory_sync
from telephony.edge.config import EdgeConfig
from telephony.edge.fastredis import FastRedis
from telephony.edge.server import Edge


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--host", help="Address to listen on (default OCX_SIP_HOST).")
        parser.add_argument("--port", type=int, help="UDP and TCP port (default OCX_SIP_PORT).")
        parser.add_argument("--no-sync", action="store_true", help="Do not rebuild the SIP directory at start.")

    def handle(self, *args, **options):
        overrides = {k: options[k] for k in ("host", "port") if options.get(k)}
        config = EdgeConfig.from_settings(**overrides)
        if not options["no_sync"]:
            try:
                counts = sip_directory_sync()  # the only database work the edge does
            except (DatabaseError, RedisError) as exc:
                # The edge serves from what Redis holds, and rebuilds the directory when it finds it
                # missing; a PostgreSQL or Redis outage must not keep it from starting.
                self.stderr.write(f"SIP directory not rebuilt at start ({exc}); serving what Redis holds")
            else:
                self.stdout.write(f"SIP directory: {counts['domains']} domains, {counts['lines']} lines")
        run_service(lambda: self.serve(config))

    async def serve(self, config: EdgeConfig) -> None:
        # A burst of REGISTERs queues for a connection instead of failing when all are busy.
        pool = aioredis.BlockingConnectionPool.from_url(settings.REDIS_URL, max_connections=64, timeout=5)
        redis = aioredis.Redis(connection_pool=pool)
        fast = FastRedis(settings.REDIS_URL)
        try:
            await Edge(config, redis, secret=settings.SECRET_KEY.encode(), fast=fast).run()
        finally:
            fast.close()
            await redis.aclose()
