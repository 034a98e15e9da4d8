"""Call pickup (intercept): *8 answers the client's oldest ringing call, **<ext> the call ringing line
<ext>, for lines granted intercept. The edge sends such an INVITE to the engine the call index names;
the picking-up caller's leg becomes the ringing call's callee side, the ringing phone is cancelled,
and this caller's own call object ends without a record (the call it joined has one).
"""

from __future__ import annotations

from telephony import features
from telephony.engine.application import Incoming, answered, feature
from telephony.engine.call import Call
from telephony.engine.states import State
from telephony.sip.sdp import build_sdp

S = State
OLDEST = features.FeatureCode("*8", "pickup", locate_empty=features.OLDEST_RINGING)
DIRECTED = features.FeatureCode("**", "pickup", features.DIGITS, locate="ring:")


@feature(OLDEST, DIRECTED)
async def pickup(call: Call, incoming: Incoming) -> None:
    call.route_alone(incoming)
    caller, number = incoming.caller, incoming.argument
    if caller is None:
        return call.refuse(incoming, 403, "Unknown Caller")
    if not caller.may_intercept:
        return call.refuse(incoming, 403, "Intercept Not Allowed")
    ringing = [c for c in call.engine.live() if c is not call and c.state == S.RINGING and c.route is not None
               and c.route.client == incoming.plan.client and c.route.callee is not None
               and c.caller.media is not None and (not number or c.route.callee.number == number)]  # fmt: skip
    if not ringing:
        return call.refuse(incoming, 404, "Nothing To Pick Up")
    target = min(ringing, key=lambda c: c.started_at)
    plan = await call.join_media(incoming, target.caller.offered,
                                 lambda: target.state == S.RINGING and not target.transferring,
                                 "Nothing To Pick Up")  # fmt: skip
    if plan is not None:
        _picked_up_by(target, call, incoming.caller, plan)


def _picked_up_by(call: Call, joining: Call, party, plan) -> None:
    """The ringing `call` is answered by `joining`'s caller."""
    codec, joining_codec, to_joining, to_caller = plan
    call.stop_ringing()
    if call.callee.tx is not None:
        call.callee.tx.cancel()
    caller = call.caller
    caller.fill(caller.leg, caller.media, codec, caller.offered)
    call.caller_answer(build_sdp(call.engine.media.address, caller.media.port, caller.codecs(),
                                 session_id=call.uuid.int % 10**9))  # fmt: skip
    call.adopt(joining, "callee", joining_codec, to_joining, to_caller)
    call.move(S.ANSWERED)
    call.answered(by=party.number)
    call.log_leg("callee", call.callee.leg.call_id, intercepted_by=party.number)
    call.seat("pickup", caller=call.route.caller, callee=party)
    call.engine.event(call, "call.intercepted", by=party.number)
    call.engine.event(call, "call.answered")
    answered(call)  # (the two parties talk: call recording, where the policy says so)
