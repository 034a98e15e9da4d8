"""A client's blocking lists in the engine (telephony/blocking.py): a carrier's call from a blocked
caller is refused as the client chose (603 Decline, 403 Forbidden, or answered with a message and
hung up), and a call of the client's (a user's, or a forwarding) to a blocked destination is refused
with 403. Either way the call's record is kept, its cause naming the entry that blocked it. Emergency
numbers are never blocked. The lists are read with the client's dial plan (its "blocking" section),
so a call costs no query; the services that change them make the engines read the plan again.
"""

from __future__ import annotations

import logging

from pstn.numbering import EMERGENCY, Dialled
from telephony.blocking import ANONYMOUS, FORBIDDEN, MESSAGE, Blocklists, blocklists_load
from telephony.engine.application import Incoming, Prompter
from telephony.engine.call import Call
from telephony.engine.dialplan import ClientPlan, section

log = logging.getLogger(__name__)

CALLER_CAUSE, DESTINATION_CAUSE = "blocked-caller", "blocked-destination"


@section("blocking")
def load_blocking(client) -> Blocklists:
    return blocklists_load()


def blocklists_of(plan: ClientPlan) -> Blocklists:
    return plan.sections.get("blocking") or Blocklists()


async def refuse_blocked_caller(call: Call, incoming: Incoming, caller_e164: str) -> bool:
    """True when the caller (E.164, "" when anonymous) is blocked: the call was refused as the client
    chose, and its record says which entry refused it."""
    lists = blocklists_of(incoming.plan)
    entry = lists.caller_block(caller_e164)
    if entry is None:
        return False
    cause = f"{CALLER_CAUSE} {entry}"
    log.info("call %s: caller %s refused by client %s's list (%s)", call.uuid, caller_e164 or "anonymous",
             incoming.plan.client, entry)  # fmt: skip
    call.open_record(call.route_alone(incoming), incoming.dialled)
    if lists.action != MESSAGE:
        status, reason = (403, "Forbidden") if lists.action == FORBIDDEN else (603, "Decline")
        call.end_before_answer(status, reason, cause=cause)
        return True
    if not await call.answer_alone(incoming.offer):
        return True
    prompter = Prompter(call)
    call.take(prompter)
    await prompter.play("anonymous_not_accepted" if entry == ANONYMOUS else "call_not_accepted", "goodbye")
    call.hangup("engine", cause=cause)
    return True


def refuse_blocked_destination(call: Call, plan: ClientPlan, dialled: Dialled) -> bool:
    """True when the client blocks calls to the number dialled (never an emergency number): the call
    was refused with 403 and its (open) record says which entry refused it."""
    if dialled.kind == EMERGENCY:
        return False
    entry = blocklists_of(plan).destination_block(dialled.e164)
    if entry is None:
        return False
    call.end_before_answer(403, "Blocked By The Company", cause=f"{DESTINATION_CAUSE} {entry}")
    return True
