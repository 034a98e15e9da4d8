"""A call's states and the transitions between them: the one place that says which exist.

    ROUTING     the dial plan runs; for a call the engine places itself, the first line rings
    RINGING     the callee's leg rings; the caller has not been answered (provisional answers pass);
                a forwarding (busy, not answered...) routes it again
    CONNECTING  the engine's own first leg answered (click-to-call: the user), the callee rings
    ANSWERED    both sides talk through the engine's relay or mixer (one may be on hold)
    PARKED      one party waits in a park slot hearing music; the other side is empty
    IVR         an application talks to the caller alone: prompts, keys, recording (or to the callee
                of a call the engine placed out itself, once it answered: a notification's message)
    CONFERENCE  the caller's leg is in a conference's mixer
    ENDED       over; the record is closed (or was never the call's: the leg joined another call)

Which requests each state accepts, and what the others get, is the call core's table
(telephony/engine/call.py, REQUESTS); this module holds the graph only.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    ROUTING = "routing"
    RINGING = "ringing"
    CONNECTING = "connecting"
    ANSWERED = "answered"
    PARKED = "parked"
    IVR = "ivr"
    CONFERENCE = "conference"
    ENDED = "ended"


S = State
TRANSITIONS: dict[State, frozenset[State]] = {
    S.ROUTING: frozenset({S.RINGING, S.CONNECTING, S.IVR, S.CONFERENCE, S.ENDED}),
    S.RINGING: frozenset({S.ANSWERED, S.ROUTING, S.IVR, S.ENDED}),  # (ROUTING again: a forwarding)
    S.CONNECTING: frozenset({S.ANSWERED, S.ENDED}),
    S.ANSWERED: frozenset({S.PARKED, S.IVR, S.ENDED}),  # (IVR: the callee left, the caller rates the call)
    S.PARKED: frozenset({S.ANSWERED, S.ENDED}),
    S.IVR: frozenset({S.CONFERENCE, S.ANSWERED, S.ENDED}),
    S.CONFERENCE: frozenset({S.ENDED}),
    S.ENDED: frozenset(),
}
UNANSWERED = frozenset({S.ROUTING, S.RINGING, S.CONNECTING})  # a hang-up refuses or cancels
CONFIRMED = frozenset({S.ANSWERED, S.PARKED, S.IVR, S.CONFERENCE})  # every leg in it has its dialog
ALONE = frozenset({S.PARKED, S.IVR, S.CONFERENCE})  # one party, with the engine (or a mixer) for company


class IllegalTransition(RuntimeError):
    """A transition the graph does not have: a bug in the engine, never a phone's doing."""
