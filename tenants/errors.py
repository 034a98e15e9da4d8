"""Failures with a stable code; the API turns them into JSON, the portals into messages."""

from __future__ import annotations


class PlatformError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(PlatformError):
    """The actor's role may not do this at all (rows outside a scope are 404s, not this)."""

    code = "not-allowed"
    status = 403
