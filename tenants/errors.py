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


class NotPossible(PlatformError):
    """Not possible in the object's state now (an engine refused a call or conference command...)."""

    code = "not-possible"
    status = 409


class CallEnded(PlatformError):
    code = "call-ended"
    status = 409


class EngineUnavailable(PlatformError):
    """No call engine could take the command: the one that holds the call is gone or does not
    answer, none runs, or it did not understand the command (another version, during an upgrade)."""

    code = "engine-unavailable"
    status = 503
