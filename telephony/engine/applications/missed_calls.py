"""Missed calls: a phone's or the network's call to a user's line that nobody answered (no answer, busy,
or the caller gave up while it rang), or that the user's box answered but that left no message (the
caller hung up before the beep, or said less than a second), is told to voicemail's mail task, which
mails the user when their box says so (voicemail/tasks.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from records.models import Cdr
from telephony.engine.application import at_end
from telephony.engine.applications.clicktocall import OriginatedCall
from telephony.engine.applications.voicemail import Leaving

if TYPE_CHECKING:
    from telephony.engine.call import Call

log = logging.getLogger(__name__)
MISSED = frozenset({Cdr.Disposition.NO_ANSWER, Cdr.Disposition.BUSY, Cdr.Disposition.CANCELLED})
# A call the box answered is a missed call when no message of it has a row this many seconds after it
# ended (the engine writes the row at once, and retries while PostgreSQL is away).
MESSAGE_ROW_WAIT = 15


@at_end
def missed_call(call: Call, disposition: str) -> None:
    route = call.route
    if route is None or route.callee is None or not route.callee.account or isinstance(call, OriginatedCall):
        return  # the engine's own calls are nobody's miss
    if call.answered_at is None:
        if disposition not in MISSED:
            return
        later = 0
    elif isinstance(call.app, Leaving):
        later = MESSAGE_ROW_WAIT  # a box answered for the user: missed unless a message was kept
    else:
        return
    caller = route.caller
    fields = {"client_id": route.client, "number": route.callee.number, "caller_number": caller.number if caller
              else "", "caller_name": caller.name if caller else "", "at": call.started_at.isoformat(),
              "call_uuid": str(call.uuid)}  # fmt: skip
    call.engine.background(asyncio.to_thread(_queue, fields, later))


def _queue(fields: dict, later: int) -> None:
    from voicemail.tasks import missed_call_mail

    try:
        missed_call_mail.apply_async(kwargs=fields, countdown=later)
    except Exception:  # the broker away: the call's record is there, its mail is lost (said here)
        log.exception("could not queue the missed call mail %s", fields)
