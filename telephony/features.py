"""Feature codes: what a dialled `*...` string means, in one table that the engine's applications fill.

Each application registers the codes it answers (telephony/engine/applications/): the code's prefix,
whether digits follow it, and the call index field that names the engine holding the call the code
is about (telephony/callindex.py), so that the edge sends such an INVITE there. The edge reads the
same table (it loads the applications at start); a code with no index field goes to the least-busy
engine. The built-in codes:

    *8          pick up the client's oldest ringing call              pickup.py
    **<ext>     pick up the call ringing extension <ext>              pickup.py
    *70         (as a transfer target) park the other party           transfer.py
    *71<slot>   retrieve the call parked in <slot>                    transfer.py
    *81<ext>, *82<ext>, *83<ext>   monitor, whisper to, barge into    supervision.py
    *88, *88<id>                   join a conference                  conference.py
    *89<id>                        record library message <id>        library.py
    *72<number>, *73               forward every call (to), stop it   forwarding.py
    *78, *79                       do-not-disturb on, off             forwarding.py
    *97                            one's own voicemail box            voicemail.py
    *98                            any voicemail box (its PIN)        voicemail.py
    *45, *46                       log in to / out of all my queues   queues.py
    *47, *48                       pause in my queues, end the pause  queues.py

Keys during an answered call (not dialled codes, so not in the table), recording.py:

    *1          start or stop recording (where the party's line may record on demand)
    *2          pause or resume the call's recording (card numbers); any of the client's lines

Django-free.
"""

from __future__ import annotations

from dataclasses import dataclass

NONE, DIGITS, OPTIONAL = "none", "digits", "optional"  # what may follow a code's prefix
OLDEST_RINGING = "oldest-ringing"  # a code's index field meaning: the client's oldest ringing call


@dataclass(frozen=True)
class FeatureCode:
    prefix: str
    kind: str  # the application's name for what the code asks (several codes may share one)
    argument: str = NONE  # NONE: the code alone; DIGITS: digits must follow; OPTIONAL: either
    locate: str | None = None  # the call index field prefix that finds the engine: "ring:" -> ring:<argument>
    locate_empty: str | None = None  # the same for the code without digits (None: any engine)
    transfer_target: bool = False  # dialled as a transfer's target rather than as a call of its own

    def argument_of(self, dialled: str) -> str | None:
        """The digits after the prefix when `dialled` is this code, else None."""
        if not dialled.startswith(self.prefix):
            return None
        rest = dialled[len(self.prefix) :]
        if not rest:
            return "" if self.argument in (NONE, OPTIONAL) else None
        return rest if self.argument in (DIGITS, OPTIONAL) and rest.isdigit() else None


_codes: dict[str, FeatureCode] = {}  # prefix -> code


def register(*codes: FeatureCode) -> None:
    """Add codes to the table (an application module does it when it is imported). A prefix is
    registered once: a second application claiming it is a configuration error."""
    for code in codes:
        known = _codes.get(code.prefix)
        if known is not None and known != code:
            raise ValueError(f"feature code {code.prefix} is registered twice ({known.kind}, {code.kind})")
        _codes[code.prefix] = code


def match(dialled: str) -> tuple[FeatureCode, str] | None:
    """The code `dialled` is and its argument (longest prefix first), or None."""
    for prefix in sorted(_codes, key=len, reverse=True):
        code = _codes[prefix]
        argument = code.argument_of(dialled)
        if argument is not None:
            return code, argument
    return None


def index_field(code: FeatureCode, argument: str) -> str | None:
    """The call index field that locates the call a code asks for (None: no call is named)."""
    locate = code.locate if argument else code.locate_empty
    return f"{locate}{argument}" if locate else None


def codes() -> list[FeatureCode]:
    return sorted(_codes.values(), key=lambda c: c.prefix)
