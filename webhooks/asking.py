"""A routing webhook's question, asked from the call engine's loop without a thread: one POST on a
connection of its own (asyncio streams, TLS with the URL's name), to an address the URL rules
(webhooks/addresses.py) accept, resolved on the loop, and the answer read as a destination.

Why by hand rather than an HTTP client library: the POST must go to the very address that was
checked (no second resolution a rebinding name could change), with one deadline over resolution,
connection, TLS and the answer; a request and a `Connection: close` answer of at most ANSWER_LIMIT
bytes (with or without chunked encoding) is all the engine needs, and no library here offers that
pinning without a thread or a transport of our own."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl

from django.core.exceptions import ValidationError

from webhooks.addresses import Target, check_addresses, parse

ANSWER_LIMIT = 16_384  # bytes of an answer read at most


class NoRoute(Exception):
    """Why the webhook gave no destination (said in the call's record)."""


async def target_of(url: str) -> Target:
    """The URL checked by the rules, its host resolved on the loop; NoRoute when refused."""
    try:
        scheme, host, port, path = parse(url)
    except ValidationError as error:
        raise NoRoute(" ".join(error.messages)) from error
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    try:
        address = check_addresses(host, list(dict.fromkeys(info[4][0] for info in infos)))
    except ValidationError as error:
        raise NoRoute(" ".join(error.messages)) from error
    return Target(scheme, host, port, path, address)


async def post(target: Target, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST `body`; (status, answer body). Errors as OSError/ValueError/EOF (the caller's deadline
    bounds it all)."""
    tls = ssl.create_default_context() if target.scheme == "https" else None
    reader, writer = await asyncio.open_connection(target.address, target.port, ssl=tls,
                                                   server_hostname=target.host if tls else None)  # fmt: skip
    try:
        host = f"[{target.host}]" if ":" in target.host else target.host
        if target.port != (443 if target.scheme == "https" else 80):
            host += f":{target.port}"
        lines = [f"POST {target.path} HTTP/1.1", f"Host: {host}",
                 f"Content-Length: {len(body)}", "Connection: close",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ValueError(f"not an HTTP answer: {status_line[:60]!r}")
        status, fields = int(parts[1]), {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        if "chunked" in fields.get("transfer-encoding", "").lower():
            answer = b""
            while len(answer) <= ANSWER_LIMIT:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                answer += await reader.readexactly(size)
                await reader.readline()
        elif "content-length" in fields:
            answer = await reader.readexactly(min(int(fields["content-length"]), ANSWER_LIMIT + 1))
        else:
            answer = await reader.read(ANSWER_LIMIT + 1)
        if len(answer) > ANSWER_LIMIT:
            raise ValueError(f"an answer over {ANSWER_LIMIT} bytes")
        return status, answer
    finally:
        writer.close()


def destination_in(status: int, answer: bytes) -> tuple[str, str]:
    """(kind, target) from a 2xx JSON answer `{"kind": "...", "target": "..."}`; NoRoute otherwise."""
    if not 200 <= status < 300:
        raise NoRoute(f"HTTP {status}")
    try:
        data = json.loads(answer)
    except (ValueError, UnicodeDecodeError) as error:
        raise NoRoute("the answer is not JSON") from error
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or not data["kind"].strip():
        raise NoRoute('the answer names no destination ({"kind": ..., "target": ...})')
    target = data.get("target", "")
    if isinstance(target, int) and not isinstance(target, bool):
        target = str(target)
    if not isinstance(target, str):
        raise NoRoute("the answer's target is not text")
    return data["kind"].strip(), target.strip()
