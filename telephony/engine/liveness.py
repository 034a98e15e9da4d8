"""Every call ends: the engine's watch over its calls, and a survivor's BYEs for a dead engine's.

Every TICK seconds the engine looks at each of its live calls:
- RTP inactivity: a party of an answered call (or the caller in an IVR or a conference) from whom
  neither RTP nor RTCP has come for `rtp_timeout` seconds (OCX_ENGINE_RTP_TIMEOUT) is gone: the call
  is hung up, cause `rtp-timeout`, side that party. A call on hold (by the API or a phone's
  sendonly or inactive offer) or parked is not watched, as a holding phone may rightly send
  nothing; the silence is counted again from the moment it was resumed.
- Session timers (sessiontimer.py): a leg the engine refreshes gets its UPDATE (or re-INVITE) at half
  the interval; a leg whose refresh never came, or whose refresh was answered 408 or 481, ends the
  call, cause `session-expired`.
- Its dialogs: each call's legs (Call-ID, tags, URIs, remote target, route set, CSeq) are written to
  the call index (telephony/callindex.py) when they change, and all of them every REWRITE seconds
  (entries of calls it no longer has removed), so that the edges know which calls are alive and a
  survivor can hang up the phones if this engine dies.

A survivor that finds an engine dead (server.py close_lost_calls) takes its dialogs and sends each
confirmed leg a BYE through the edge, with a CSeq above any the dead engine can have used; the
phones stop sitting in silence and the BYEs of callers' legs free their concurrent-call slots.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING

from telephony.callindex import dialogs_key, take_dialogs
from telephony.engine import sessiontimer
from telephony.engine.states import CONFIRMED, State
from telephony.sip import Response, SipError
from telephony.sip.dialog import Leg
from telephony.sip.sdp import build_sdp, parse_sdp, telephone_events

if TYPE_CHECKING:
    from telephony.engine.call import Call
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)
TICK = 0.5  # seconds between looks at the calls
REWRITE = 30.0  # seconds between rewrites of every entry (a write lost while Redis was away comes back)
CSEQ_MARGIN = 100  # a survivor's BYE is this far above the last CSeq written (written at most TICK late)
WATCHED = {State.ANSWERED: ("caller", "callee"), State.IVR: ("caller",), State.CONFERENCE: ("caller",)}
HOLDING = ("sendonly", "inactive")  # a phone that offered these holds the call: it may send nothing
FACTS = ("call_id", "local_uri", "remote_uri", "local_tag", "remote_tag", "remote_target", "route", "cseq")


def fingerprint(call: Call) -> tuple:
    """What an entry depends on, cheaply (the legs' identities and CSeqs, and the state)."""
    return (call.state, call.route is None, *((leg.call_id, leg.remote_tag, leg.cseq) for leg in call.legs()))


def dialog_entry(call: Call) -> dict:
    """What the call index keeps of a call: its client and the SIP facts of each of its legs."""
    legs = []
    for leg in call.legs():
        if leg.remote_tag is None:
            continue
        confirmed = call.state in CONFIRMED or (leg is call.caller.leg and call.state == State.CONNECTING)
        legs.append({**{name: getattr(leg, name) for name in FACTS}, "confirmed": confirmed})
    return {"client": call.route.client if call.route is not None else None, "legs": legs}


class Watch:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.published: dict[str, tuple] = {}  # call uuid -> the fingerprint of the entry written
        self.quiet_since: weakref.WeakKeyDictionary[Call, float] = weakref.WeakKeyDictionary()
        self.rewritten = time.monotonic()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self.tick(time.monotonic())
            except Exception:
                log.exception("the calls' watch failed")

    def tick(self, now: float) -> None:
        calls = self.engine.live()
        for call in calls:
            if call.state != State.ENDED:
                self.check_session(call, now)
            if call.state != State.ENDED:
                self.check_media(call, now)
        if now - self.rewritten >= REWRITE:
            self.rewritten = now
            self.published.clear()
            self.engine.background(self.prune())
        self.publish([c for c in calls if c.state != State.ENDED])

    # RTP inactivity ----------------------------------------------------------------------------------

    def check_media(self, call: Call, now: float) -> None:
        timeout = self.engine.config.rtp_timeout
        sides = WATCHED.get(call.state, ())
        holding = any(s.leg is not None and s.leg.direction in HOLDING for s in (call.caller, call.callee))
        if call.held is not None or holding or call.transferring or not sides:
            self.quiet_since[call] = now
            return
        if timeout <= 0:
            return
        quiet_from = self.quiet_since.setdefault(call, now)  # silence counts from the first look, or the resume
        for side in sides:
            media = call.side(side).media
            if media is None or media.closed:
                continue
            if now - max(media.last_heard, quiet_from) >= timeout:
                log.info("call %s: nothing heard from the %s for %.0f s", call.uuid, side, timeout)
                call.hangup(side, cause="rtp-timeout")
                return

    # Session timers ----------------------------------------------------------------------------------

    def check_session(self, call: Call, now: float) -> None:
        for leg in (call.caller.leg, call.callee.leg):
            timer = leg.session if leg is not None else None
            if timer is None:
                continue
            if timer.expired(now):
                log.info("call %s: the %s's session expired", call.uuid, leg.name)
                call.hangup(leg.name, cause="session-expired")
                return
            if timer.refresh_due(now):
                self.refresh(call, leg, timer)

    def refresh(self, call: Call, leg: Leg, timer: sessiontimer.SessionTimer) -> None:
        """Refresh the session of one leg: UPDATE without a body when the phone allows it, else a
        re-INVITE offering the SDP the leg has (same version: nothing changes)."""
        ua, headers = call.ua, timer.request_headers()
        method = "UPDATE" if timer.by_update and (not leg.allow or "UPDATE" in leg.allow) else "INVITE"
        body = b""
        if method == "INVITE":
            side = call.side(leg.name)
            media, codec, offered = side.media, side.codec, side.offered
            if media is None or codec is None:
                timer.by_update = True
                method = "UPDATE"
            else:
                direction = {"sendonly": "recvonly", "inactive": "inactive"}.get(leg.direction, "sendrecv")
                body = build_sdp(call.engine.media.address, media.port, [codec, *telephone_events(offered, codec)],
                                 session_id=call.uuid.int % 10**9, version=leg.sdp_version,
                                 direction=direction)  # fmt: skip
                headers.append(("Content-Type", "application/sdp"))
        timer.refreshing = True
        request = leg.request(method, ua, headers=headers, body=body)

        def on_response(response: Response) -> None:
            if response.status < 200:
                return
            if method == "INVITE" and response.status < 300:
                ua.ack_2xx(leg, response)
                if response.body:
                    try:
                        address = parse_sdp(response.body).audio_address()
                    except SipError:
                        address = None
                    media = call.side(leg.name).media
                    if address is not None and media is not None and address != media.remote:
                        media.set_remote(address)
            if leg.session is not timer or call.state == State.ENDED:
                return
            timer.refreshing = False
            if response.status < 300:
                sessiontimer.answered(response, timer)
            elif response.status in (408, 481):  # the far side is gone or has no such dialog (RFC 4028 10)
                call.hangup(leg.name, cause="session-expired")
            elif method == "UPDATE" and response.status in (405, 501):
                timer.by_update = False  # at once by re-INVITE
            elif response.status == 422:
                timer.interval = max(timer.interval, sessiontimer.min_se_of(response))
            else:
                timer.retry_at = time.monotonic() + sessiontimer.RETRY

        ua.request(request, on_response)

    # Dialogs in the call index -----------------------------------------------------------------------

    def publish(self, calls: list[Call]) -> None:
        index, seen = self.engine.callindex, set()
        for call in calls:
            key = str(call.uuid)
            seen.add(key)
            mark = fingerprint(call)
            if self.published.get(key) == mark:
                continue
            entry = dialog_entry(call)
            if entry["legs"]:
                index.dialog(key, entry)
                self.published[key] = mark
        for key in [k for k in self.published if k not in seen]:
            index.dialog_ended(key)
            del self.published[key]

    async def prune(self) -> None:
        """Remove the entries of calls this engine no longer has (an HDEL lost while Redis was away)."""
        key = dialogs_key(self.engine.config.redis_prefix, self.engine.id)
        try:
            written = {field.decode() for field in await self.engine.redis.hkeys(key)}
        except Exception:  # Redis away: next time
            log.exception("could not read this engine's dialogs")
            return
        live = {str(c.uuid) for c in self.engine.live()}
        for stale in written - live:
            self.engine.callindex.dialog_ended(stale)


async def end_lost_calls(engine: Engine, dead_id: str) -> int:
    """A survivor's BYE to each confirmed leg of a dead engine's calls; how many were sent."""
    sent = 0
    for entry in await take_dialogs(engine.redis, engine.config.redis_prefix, dead_id):
        for facts in entry.get("legs", ()):
            if not facts.get("confirmed"):
                continue
            try:
                leg = Leg(**{name: facts[name] for name in FACTS})
            except (KeyError, TypeError):
                log.warning("unreadable leg of a call of engine %s: %r", dead_id, facts)
                continue
            bye = leg.request("BYE", engine.ua, cseq=int(leg.cseq) + CSEQ_MARGIN,
                              headers=[("Reason", 'SIP;cause=503;text="engine lost"')])  # fmt: skip
            engine.ua.request(bye, lambda response: None)
            sent += 1
    return sent
