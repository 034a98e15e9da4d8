"""RFC 4028 session timers on one dialog (leg) of a call.

A dialog with a session timer must be refreshed (a re-INVITE or an UPDATE answered 2xx) within
its interval, Session-Expires, by the side chosen as the refresher; a dialog not refreshed in time
is over, so a call whose phone vanished without a word ends. The engine negotiates each leg on its
own (it is a B2BUA):

- the caller's leg, where the engine is the UAS: a phone's Session-Expires below the engine's
  Min-SE gets 422 with Min-SE; otherwise its value and refresher are taken, and without one the
  engine imposes `session_expires` (OCX_ENGINE_SESSION_EXPIRES), the phone refreshing when it
  supports the extension (`Supported: timer`), else the engine;
- the callee's leg, where the engine is the UAC: its INVITE says `Supported: timer`, Session-Expires
  and Min-SE, a 422 is retried once with the callee's Min-SE, and the callee's 2xx decides (no
  Session-Expires in it: no timer on that leg).

The refresher refreshes at half the interval (the engine by UPDATE when the phone allows it, else
re-INVITE: telephony/engine/liveness.py); the other side, unrefreshed, ends the call with BYE at
interval - min(32, interval / 3), cause `session-expired`. The state lives on the leg (sipua.Leg),
so that it follows a leg that moves to another call (transfer, pickup).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from telephony.sip import Request, Response

RETRY = 2.0  # seconds before a refresh the far side refused (491, 500...) is tried again


def _tokens(message: Request | Response, *names: str) -> set[str]:
    return {t.strip().lower() for name in names for t in message.headers.get_all(name)}


def parse_session_expires(value: str | None) -> tuple[int, str | None] | None:
    """`1800;refresher=uac` -> (1800, "uac"); None when absent or unreadable."""
    if not value:
        return None
    interval, *params = value.split(";")
    if not interval.strip().isdigit():
        return None
    refresher = None
    for param in params:
        name, _, text = param.partition("=")
        if name.strip().lower() == "refresher" and text.strip().lower() in ("uac", "uas"):
            refresher = text.strip().lower()
    return int(interval), refresher


def min_se_of(message: Request | Response) -> int:
    value = (message.headers.get("Min-SE") or "").split(";")[0].strip()
    return int(value) if value.isdigit() else 0


@dataclass
class SessionTimer:
    interval: int  # seconds (Session-Expires)
    we_refresh: bool  # the engine is the refresher; else the phone is, and the engine watches
    since: float = 0.0  # monotonic time of the last refresh; 0 until the dialog's 2xx
    refreshing: bool = False  # a refresh of ours is out
    retry_at: float = 0.0  # a refused refresh is tried again from then
    by_update: bool = True  # refresh by UPDATE (until the far side says it does not know it)

    def restart(self) -> None:
        self.since = time.monotonic()
        self.refreshing = False
        self.retry_at = 0.0

    def refresh_due(self, now: float) -> bool:
        return (self.we_refresh and self.since > 0 and not self.refreshing and now >= self.retry_at
                and now >= self.since + self.interval / 2)  # fmt: skip

    def expired(self, now: float) -> bool:
        if self.since <= 0:
            return False
        if self.we_refresh:  # none of our refreshes got through in time
            return now >= self.since + self.interval
        return now >= self.since + self.interval - min(32, self.interval / 3)

    def value(self, *, we_are_uas: bool) -> str:
        """The Session-Expires value of a message in a transaction where the engine is UAS (or UAC)."""
        role = ("uas" if self.we_refresh else "uac") if we_are_uas else ("uac" if self.we_refresh else "uas")
        return f"{self.interval};refresher={role}"

    def answer_headers(self) -> list[tuple[str, str]]:
        """What the engine's 2xx to an INVITE or UPDATE carries (RFC 4028 9): Require when the phone
        refreshes."""
        headers = [("Session-Expires", self.value(we_are_uas=True)), ("Supported", "timer")]
        if not self.we_refresh:
            headers.append(("Require", "timer"))
        return headers

    def request_headers(self) -> list[tuple[str, str]]:
        """What the engine's refresh request carries."""
        return [("Session-Expires", self.value(we_are_uas=False)), ("Supported", "timer")]


def negotiate(request: Request, *, current: SessionTimer | None, wanted: float,
              min_se: int) -> SessionTimer | int | None:  # fmt: skip
    """The timer of a dialog once the engine answers `request` (an INVITE or UPDATE it is the UAS of,
    first or refresh) with a 2xx: a SessionTimer, None for none, or 422 when the request's
    Session-Expires is below the engine's Min-SE."""
    supports = "timer" in _tokens(request, "Supported", "Require")
    asked = parse_session_expires(request.headers.get("Session-Expires"))
    if asked is not None:
        interval, refresher = asked
        if interval < min_se:
            return 422
    elif current is not None:  # a refresh that does not restate the timer keeps it
        interval, refresher = current.interval, None
    elif wanted > 0:
        interval, refresher = max(int(wanted), min_se_of(request), min_se), None
    else:
        return None
    if refresher is not None:
        we_refresh = refresher == "uas"
    elif current is not None:
        we_refresh = current.we_refresh
    else:
        we_refresh = not supports
    if not supports:  # a phone without the extension cannot be the refresher (RFC 4028 9)
        we_refresh = True
    timer = current if current is not None else SessionTimer(interval, we_refresh)
    timer.interval, timer.we_refresh = interval, we_refresh
    return timer


def offer_headers(wanted: float, min_se: int) -> list[tuple[str, str]]:
    """What the engine's INVITE to a callee carries."""
    if wanted <= 0:
        return [("Supported", "timer")]
    return [("Supported", "timer"), ("Session-Expires", str(max(int(wanted), min_se))), ("Min-SE", str(min_se))]


def answered(response: Response, current: SessionTimer | None = None) -> SessionTimer | None:
    """The timer after a 2xx to an INVITE or UPDATE the engine sent (RFC 4028 7.2), started."""
    granted = parse_session_expires(response.headers.get("Session-Expires"))
    if granted is None:
        if current is not None:
            current.restart()
        return current
    interval, refresher = granted
    timer = current if current is not None else SessionTimer(interval, True)
    timer.interval, timer.we_refresh = interval, refresher != "uas"
    timer.restart()
    return timer
