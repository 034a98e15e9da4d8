"""A SUBSCRIBE's terms as a notifier reads them (RFC 6665 4.2.1.1, RFC 3261 10.2.1's interval rules):
the event package, the duration asked and granted, whether the body format offered fits, and whether
it refreshes a subscription (a SUBSCRIBE in its dialog) or asks for a new one.

Every event package the engine serves (message waiting, busy lamps) starts the same way; what each
does with a subscription it accepts is its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony.sip.errors import SipError
from telephony.sip.model import Request


class SubscriptionRefused(SipError):
    """A SUBSCRIBE the notifier refuses before looking at its target: the status to answer, its reason
    and the headers the answer must carry (Allow-Events, Min-Expires, Accept)."""

    def __init__(self, status: int, reason: str, *, headers: list[tuple[str, str]] | None = None):
        super().__init__(status, reason)
        self.headers = headers or []


@dataclass(frozen=True)
class SubscriptionTerms:
    expires: int  # the duration granted, in seconds; 0: an unsubscribe (or a fetch)
    refresh: bool  # a SUBSCRIBE in an existing subscription's dialog (a To tag), not a new one


def event_of(request: Request) -> str:
    """The event package a request names (Event, without its parameters), lower-case; "" when none."""
    return (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()


def expires_of(request: Request, default: int) -> int | None:
    """The Expires a request asks for (`default` without one); None when it is not a number."""
    value = (request.headers.get("Expires") or "").strip()
    if not value:
        return default
    return int(value) if value.isdigit() else None


def subscription_terms(request: Request, *, event: str, default_expires: int, min_expires: int, max_expires: int,
                       content_type: str | None = None) -> SubscriptionTerms:  # fmt: skip
    """The terms of a SUBSCRIBE to `event`, or SubscriptionRefused: 489 for another package, 400 for an
    Expires that is not a number, 423 with Min-Expires below `min_expires` (0 is always allowed: it
    ends the subscription), 406 when the Accept given leaves out `content_type` (checked when given).
    The duration granted is at most `max_expires`."""
    if event_of(request) != event:
        raise SubscriptionRefused(489, "Bad Event", headers=[("Allow-Events", event)])
    expires = expires_of(request, default_expires)
    if expires is None:
        raise SubscriptionRefused(400, "Bad Expires")
    if 0 < expires < min_expires:
        raise SubscriptionRefused(423, "Interval Too Brief", headers=[("Min-Expires", str(min_expires))])
    if content_type is not None:
        accept = ",".join(request.headers.get_all("Accept")).lower()
        if accept and content_type not in accept and "*/*" not in accept:
            raise SubscriptionRefused(406, "Not Acceptable", headers=[("Accept", content_type)])
    return SubscriptionTerms(expires=min(expires, max_expires), refresh=request.to_tag is not None)
