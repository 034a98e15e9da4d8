"""A lean pipelined Redis connection for the edge's hot path (EVALSHA and HGET per REGISTER).

redis-py's asyncio client spends most of an edge's Redis time in its pool, retry and wrapper
layers (measured with py-spy under SIPp load). Here every call writes one RESP command on a
single connection and returns a future; replies come back in order and hiredis parses them, so
many REGISTERs share one connection with no locking. Everything that is not on the hot path
(publishing, bans, scans) stays on redis-py.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hashlib
from urllib.parse import urlparse

import hiredis


class RedisReplyError(Exception):
    """An error reply from Redis (such as NOSCRIPT)."""


class RedisLoading(ConnectionError):
    """Redis is up but still loading its data (after a restart): like a connection not yet there."""


def encode(args: tuple) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Protocol(asyncio.Protocol):
    def __init__(self):
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.pending: list[bytes] = []  # commands of this loop iteration, written together

    def write(self, data: bytes) -> None:
        """Queue a command; the queue goes out in one write at the end of this loop iteration, so
        the REGISTERs handled in one iteration share one system call (measured: a write per
        command was a sixth of the edge's CPU under load)."""
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self.pending.append(data)

    def flush(self) -> None:
        if self.pending and not self.lost:
            self.transport.write(b"".join(self.pending))
        self.pending.clear()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            future = self.waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                loading = str(reply).startswith("LOADING")
                future.set_exception((RedisLoading if loading else RedisReplyError)(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError("Redis connection lost"))


class FastRedis:
    """call(*args) -> awaitable reply; reconnects on the next call after a lost connection."""

    def __init__(self, url: str):
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 6379
        self.db = int(parsed.path.lstrip("/") or 0)
        self.password = parsed.password
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self.connections = 0  # connections made so far: a new one may face a Redis that restarted

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
        for command in ([("AUTH", self.password)] if self.password else []) + (
            [("SELECT", self.db)] if self.db else []
        ):
            await self._send(protocol, command)
        return protocol

    @staticmethod
    def _send(protocol: _Protocol, args: tuple) -> asyncio.Future:
        data = encode(args)  # first: a command that cannot be written must not leave a reply waiting for it
        future = asyncio.get_running_loop().create_future()
        protocol.waiting.append(future)
        protocol.write(data)
        return future

    async def call(self, *args):
        protocol = self._protocol
        if protocol is None or protocol.lost:
            self._connecting = self._connecting or asyncio.Lock()
            async with self._connecting:
                if self._protocol is None or self._protocol.lost:
                    self._protocol = await self._connect()
                    self.connections += 1
            protocol = self._protocol
        return await self._send(protocol, args)

    async def script(self, text: str, *args):
        """EVALSHA of a Lua script, loading it on first use since Redis started."""
        sha = _sha1(text)
        try:
            return await self.call("EVALSHA", sha, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        await self.call("SCRIPT", "LOAD", text)
        return await self.call("EVALSHA", sha, *args)

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()


@functools.cache
def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()  # how Redis names scripts
