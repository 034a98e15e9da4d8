"""How the platform signs what it POSTs to a client's webhook (README "Webhooks" says how to verify):

    OCX-Webhook-Id: <the event's id: the same on every retry and replay; drop duplicates by it>
    OCX-Webhook-Timestamp: <Unix seconds when this attempt was sent>
    OCX-Webhook-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>

and the POST itself, blocking with a short timeout (the Celery worker's side), to the address the
URL rules checked (webhooks/addresses.py), the TLS name and Host header still the URL's."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from webhooks.addresses import Target

USER_AGENT = "OpenCentrex-Webhooks/1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, event_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "OCX-Webhook-Id": event_id,
        "OCX-Webhook-Timestamp": timestamp,
        "OCX-Webhook-Signature": f"v1={signature(secret, timestamp, body)}",
    }


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def post(target: Target, body: bytes, headers: dict[str, str], timeout: float, *, keep: int = 0) -> Outcome:
    """POST `body`; what came back (the first `keep` bytes of the answer's body) or the error."""
    started = time.monotonic()
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(target.host, target.port, timeout=timeout,
                                                 context=ssl.create_default_context())  # fmt: skip
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def pinned(address, timeout=None, source_address=None, **kwargs):  # the checked address, not a new lookup
        return socket.create_connection((target.address, address[1]), timeout, source_address, **kwargs)

    connection._create_connection = pinned
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read(keep) if keep else b""
        return Outcome(response.status, _ms(started), "", answer)
    except (OSError, http.client.HTTPException) as error:
        text = "timed out" if isinstance(error, TimeoutError | socket.timeout) else f"{type(error).__name__}: {error}"
        return Outcome(None, _ms(started), text[:300])
    finally:
        connection.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
