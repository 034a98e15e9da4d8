"""Missed calls: a phone's or the network's call to a user's line that nobody answered (no answer, busy,
or the caller gave up while it rang) and that left no message (a box answering is an answer) is told
to voicemail's mail task, which mails the user when their box says so (voicemail/tasks.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from records.models import Cdr
from telephony.engine.application import at_end
from telephony.engine.applications.clicktocall import OriginatedCall

if TYPE_CHECKING:
    from telephony.engine.call import Call

log = logging.getLogger(__name__)
MISSED = frozenset({Cdr.Disposition.NO_ANSWER, Cdr.Disposition.BUSY, Cdr.Disposition.CANCELLED})


@at_end
def missed_call(call: Call, disposition: str) -> None:
    route = call.route
    if route is None or route.callee is None or not route.callee.account or call.answered_at is not None:
        return
    if disposition not in MISSED or isinstance(call, OriginatedCall):  # the engine's own calls are nobody's miss
        return
    caller = route.caller
    fields = {"client_id": route.client, "number": route.callee.number, "caller_number": caller.number if caller
              else "", "caller_name": caller.name if caller else "", "at": call.started_at.isoformat()}  # fmt: skip
    call.engine.background(asyncio.to_thread(_queue, fields))


def _queue(fields: dict) -> None:
    from voicemail.tasks import missed_call_mail

    try:
        missed_call_mail.delay(**fields)
    except Exception:  # the broker away: the call's record is there, its mail is lost (said here)
        log.exception("could not queue the missed call mail %s", fields)
