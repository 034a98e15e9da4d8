"""The one place the engine runs a destination (telephony/destinations.py says what one is): a
number's, a forwarding's, a schedule's. Each kind's runner is registered with `runs` by the module
that owns the kind: "hangup" here, "user" by the forwarding application (a user's devices ring,
then their forwarding says where the call goes), "conference" by the conference application,
"external" by the network application; a new kind is one new module.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from telephony.engine.application import Incoming, Prompter

if TYPE_CHECKING:
    from telephony.engine.call import Call

DestinationRunner = Callable[["Call", str, Incoming], Awaitable[None]]
_runners: dict[str, DestinationRunner] = {}
log = logging.getLogger(__name__)
# Destinations one call may be sent to in all. Each kind bounds its own chains (MAX_MENUS, MAX_ROUTES,
# MAX_GROUPS, MAX_FORWARDS) and the services refuse a destination that points at itself, but queues,
# groups, menus and rule sets lead into each other: two full queues sending callers to each other
# would pass one caller round at once, for ever, one coroutine deeper each time.
MAX_DESTINATIONS = 50


def runs(kind: str):
    """Decorator: the coroutine that sends a call to a destination of `kind` (with its target)."""

    def register(runner: DestinationRunner) -> DestinationRunner:
        _runners[kind] = runner
        return runner

    return register


async def run(call: Call, kind: str, target: str, incoming: Incoming) -> None:
    """Send the call where (kind, target) says; a kind no runner knows, or none, refuses it (404). A call
    that runs such a destination elsewhere (`Call.hands_back`) gives it away instead."""
    if call.hands_back(kind, target):
        return
    call.destinations_run += 1
    if call.destinations_run > MAX_DESTINATIONS:
        log.warning("call %s: sent to %s destinations, ended", call.uuid, MAX_DESTINATIONS)
        if not call.record_opened:
            call.open_record(call.route or call.route_alone(incoming), incoming.dialled)
        call.hangup("engine", cause="destination-loop")
        return
    runner = _runners.get(kind)
    if runner is None:
        call.refuse(incoming, 404, "Not In Service")
        return
    await runner(call, target, incoming)


@runs("hangup")
async def _hangup(call: Call, target: str, incoming: Incoming) -> None:
    """Answer, say the message (closed, goodbye, or nothing), hang up."""
    call.open_record(call.route_alone(incoming), incoming.dialled)
    if not target:
        call.end_before_answer(480, "Temporarily Unavailable")
        return
    if not await call.answer_alone(incoming.offer):
        return
    prompter = Prompter(call)
    call.take(prompter)
    await prompter.play(*([target, "goodbye"] if target != "goodbye" else ["goodbye"]))
    call.hangup("engine", cause=target)
