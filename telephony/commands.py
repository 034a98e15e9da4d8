"""The commands the call engines take over the channel layer and the answers they give: one small
type per command, imported by both sides (the API, portals and Celery tasks send them; the engine's
dispatch table in telephony/engine/server.py takes them), and one Answer whose error `code` is one
of a closed set of stable strings (Code). The API turns each code into its HTTP error in one place
(telephony.control.API_ERRORS); `detail` is English for people and never parsed.

A message that is not a valid command (an unknown type, a missing or wrong field) is parsed into an
Answer with code `bad-command`, never an exception in the engine. Django-free.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar


class Code(StrEnum):
    """Why an engine (or the road to it) refused a command. Closed: an Answer takes no other code."""

    BAD_COMMAND = "bad-command"  # not a command this engine knows, or a field missing or invalid
    ENGINE_UNAVAILABLE = "engine-unavailable"  # the engine is gone or did not answer in time
    NO_SUCH_CALL = "no-such-call"  # the engine holds no live call with this id
    NOT_ANSWERED = "not-answered"  # hold: the call is not answered (or already on hold)
    NOT_ON_HOLD = "not-on-hold"  # resume: nobody is held
    NO_LINE_IN_COMMON = "no-line-in-common"  # join: the two calls share no line
    NOT_POSSIBLE = "not-possible"  # transfer, park, supervise, retrieve failed; `detail` says why
    CONFERENCE_NOT_RUNNING = "conference-not-running"
    NO_SUCH_ROOM = "no-such-room"  # dial-out, trigger: no such room, or its conference runs on another engine
    NO_SUCH_PARTICIPANT = "no-such-participant"
    NO_NUMBERS_TO_CALL = "no-numbers-to-call"  # trigger: the room's call-out list is empty


class BadCommand(ValueError):
    """A message that is no valid command; `problems` names the fields (field -> message)."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Answer:
    """An engine's answer: ok, or a code from Code with a detail for people; `data` carries what a
    command answers (a call id, a slot, a conference...)."""

    ok: bool
    code: Code | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.ok and self.code is not None:
            raise ValueError("an answer that is ok has no error code")
        if not self.ok:
            object.__setattr__(self, "code", Code(self.code))  # ValueError for a code outside the set

    @classmethod
    def done(cls, **data) -> Answer:
        return cls(True, data=data)

    @classmethod
    def refused(cls, code: Code, detail: str = "") -> Answer:
        return cls(False, code, detail)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def to_message(self) -> dict:
        return {**self.data, "type": "engine.reply", "ok": self.ok, "code": self.code and str(self.code),
                "detail": self.detail}  # fmt: skip

    @classmethod
    def from_message(cls, message: dict) -> Answer:
        data = {k: v for k, v in message.items() if k not in ("type", "ok", "code", "detail")}
        detail = str(message.get("detail") or "")
        if message.get("ok") is True:
            return cls(True, data=data, detail=detail)
        try:
            code = Code(message.get("code"))
        except ValueError:  # an engine of another version: refused all the same, the reason kept for people
            return cls(False, Code.NOT_POSSIBLE, detail or f"refused ({message.get('code')!r})")
        return cls(False, code, detail, data)


# Commands ----------------------------------------------------------------------------------------

SIDES = ("caller", "callee")


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Command:
    """A command to an engine; `type` is its message type. Subclasses declare their fields and check
    them in problems(); `answers_later` commands ring a phone and answer when it is done."""

    type: ClassVar[str] = ""
    answers_later: ClassVar[bool] = False

    def problems(self) -> dict[str, str]:
        """Field -> message for each invalid field (empty: a valid command)."""
        return {}

    def to_message(self) -> dict:
        problems = self.problems()
        if problems:
            raise BadCommand(problems)
        return {**asdict(self), "type": self.type}

    @classmethod
    def from_message(cls, message: dict) -> Command:
        """The command in a message; BadCommand when it is none (parse() makes that an Answer)."""
        values, problems = {}, {}
        for f in fields(cls):
            if f.name in message and message[f.name] is not None:
                kind = f.type if isinstance(f.type, str) else f.type.__name__
                try:
                    values[f.name] = int(message[f.name]) if kind.startswith("int") else _text(message[f.name])
                except (TypeError, ValueError):
                    problems[f.name] = "Not a number."
            elif f.default is MISSING and f.default_factory is MISSING:
                problems[f.name] = "Missing."
        if problems:
            raise BadCommand(problems)
        command = cls(**values)
        problems = command.problems()
        if problems:
            raise BadCommand(problems)
        return command


@dataclass(frozen=True)
class CallCommand(Command):
    """A command about one live call the engine holds (its record's call_uuid)."""

    call: str

    def problems(self) -> dict[str, str]:
        return {} if self.call else {"call": "Name the call."}


@dataclass(frozen=True)
class Hangup(CallCommand):
    type: ClassVar[str] = "engine.hangup"


@dataclass(frozen=True)
class Hold(CallCommand):
    type: ClassVar[str] = "engine.hold"
    held: str = "callee"

    def problems(self) -> dict[str, str]:
        return {**super().problems(), **({} if self.held in SIDES else {"held": "Choose caller or callee."})}


@dataclass(frozen=True)
class Resume(CallCommand):
    type: ClassVar[str] = "engine.resume"


@dataclass(frozen=True)
class Transfer(CallCommand):
    """Blind transfer: `leaving` goes, the other party is connected to `to`."""

    type: ClassVar[str] = "engine.transfer"
    answers_later: ClassVar[bool] = True
    leaving: str = "caller"
    to: str = ""

    def problems(self) -> dict[str, str]:
        found = super().problems()
        if self.leaving not in SIDES:
            found["leaving"] = "Choose caller or callee."
        if not self.to:
            found["to"] = "Name the number to transfer to."
        return found


@dataclass(frozen=True)
class Park(CallCommand):
    type: ClassVar[str] = "engine.park"
    answers_later: ClassVar[bool] = True
    parked: str = "caller"

    def problems(self) -> dict[str, str]:
        return {**super().problems(), **({} if self.parked in SIDES else {"parked": "Choose caller or callee."})}


@dataclass(frozen=True)
class Join(CallCommand):
    """Attended transfer: the line in both calls leaves them (`with` is the consultation call)."""

    type: ClassVar[str] = "engine.join"
    other: str = ""

    def to_message(self) -> dict:
        message = super().to_message()
        message["with"] = message.pop("other")
        return message

    @classmethod
    def from_message(cls, message: dict) -> Command:
        return super().from_message({**message, "other": message.get("with")})

    def problems(self) -> dict[str, str]:
        return {**super().problems(), **({} if self.other else {"other": "Name the consultation call."})}


SUPERVISION_MODES = ("monitor", "whisper", "barge")


@dataclass(frozen=True)
class Supervise(CallCommand):
    """Ring line `number` and join it to the call as monitor, whisper (to `agent`) or barge."""

    type: ClassVar[str] = "engine.supervise"
    answers_later: ClassVar[bool] = True
    number: str = ""
    mode: str = "monitor"
    agent: str = "callee"
    granted: int = 0  # 1: a queue's supervisor, checked by the API (the line needs no permission of its own)

    def problems(self) -> dict[str, str]:
        found = super().problems()
        if not self.number.isdigit():
            found["number"] = "Name the supervisor's line."
        if self.mode not in SUPERVISION_MODES:
            found["mode"] = f"Choose one of: {', '.join(SUPERVISION_MODES)}."
        if self.agent not in SIDES:
            found["agent"] = "Choose caller or callee."
        return found


@dataclass(frozen=True)
class Retrieve(CallCommand):
    """Ring line `number` and give it the parked call."""

    type: ClassVar[str] = "engine.retrieve"
    answers_later: ClassVar[bool] = True
    number: str = ""

    def problems(self) -> dict[str, str]:
        return {**super().problems(), **({} if self.number.isdigit() else {"number": "Name the retrieving line."})}


RECORD_ACTIONS = ("start", "pause", "resume", "stop")


@dataclass(frozen=True)
class Record(CallCommand):
    """Call recording: start, pause (silence in the file meanwhile), resume or stop."""

    type: ClassVar[str] = "engine.record"
    action: str = "start"

    def problems(self) -> dict[str, str]:
        found = super().problems()
        if self.action not in RECORD_ACTIONS:
            found["action"] = f"Choose one of: {', '.join(RECORD_ACTIONS)}."
        return found


@dataclass(frozen=True)
class Originate(Command):
    """Click-to-call: ring line `extension` (its id) of `client`, then call `to` once answered: an
    extension, or for a web site's widget (`widget`, its id) a number of the phone network (E.164)."""

    type: ClassVar[str] = "engine.originate"
    client: int
    extension: int
    to: str
    widget: int = 0

    def problems(self) -> dict[str, str]:
        return {} if self.to else {"to": "Name the number to call."}


@dataclass(frozen=True)
class Notify(Command):
    """A notification call: `number` hears `message` (a WAV path) and confirms with `digit`."""

    type: ClassVar[str] = "engine.notify"
    client: int
    target: int
    number: str
    message: str
    digit: str = "1"

    def problems(self) -> dict[str, str]:
        found = {}
        if not self.number:
            found["number"] = "Name the number to call."
        if len(self.digit) != 1 or self.digit not in "0123456789*#":
            found["digit"] = "One key: 0-9, * or #."
        return found


@dataclass(frozen=True)
class SendText(Command):
    """A text to a line's phones (SIP MESSAGE) written as from line `sender` (its id) of `client`: the way
    the portal's instant messages reach a colleague's phones. Answered once a phone took it (or not)."""

    type: ClassVar[str] = "engine.text"
    answers_later: ClassVar[bool] = True
    client: int
    sender: int
    to: str
    text: str

    def problems(self) -> dict[str, str]:
        found = {}
        if not self.to:
            found["to"] = "Name the extension."
        if not self.text.strip():
            found["text"] = "Write something."
        return found


@dataclass(frozen=True)
class ListCalls(Command):
    type: ClassVar[str] = "engine.calls"


@dataclass(frozen=True)
class ListConferences(Command):
    """The conferences the engine runs, of one client or (None) of all."""

    type: ClassVar[str] = "engine.conferences"
    client: int | None = None


ACTIONS = ("show", "mute", "unmute", "kick", "mute-all", "unmute-all", "lock", "unlock", "record", "stop-record",
           "end", "dial-out", "trigger")  # fmt: skip
STARTING = ("dial-out", "trigger")  # these start the conference when it does not run
PARTICIPANT_ACTIONS = ("mute", "unmute", "kick")


@dataclass(frozen=True)
class ConferenceAction(Command):
    """Live control of a room's conference; the only place its actions are checked."""

    type: ClassVar[str] = "engine.conference"
    client: int
    conference: str
    action: str = "show"
    participant: str = ""
    number: str = ""

    def problems(self) -> dict[str, str]:
        found = {}
        if self.action not in ACTIONS:
            found["action"] = f"Choose one of: {', '.join(ACTIONS)}."
        if self.action in PARTICIPANT_ACTIONS and not self.participant:
            found["participant"] = "Name the participant (its id in the conference)."
        if self.action == "dial-out" and not (self.number.isdigit() and 2 <= len(self.number) <= 4):
            found["number"] = "Dial out to an extension number: 2 to 4 digits."
        return found


_ALL = (Hangup, Hold, Resume, Transfer, Park, Join, Supervise, Retrieve, Originate, Notify, ListCalls, ListConferences,
        ConferenceAction, Record, SendText)  # fmt: skip
COMMANDS: dict[str, type[Command]] = {c.type: c for c in _ALL}


def parse(message: dict) -> Command | Answer:
    """The command in a message from the channel layer, or the `bad-command` Answer to give back."""
    kind = message.get("type") if isinstance(message, dict) else None
    command_type = COMMANDS.get(kind)
    if command_type is None:
        return Answer.refused(Code.BAD_COMMAND, f"Unknown command {kind!r}.")
    try:
        return command_type.from_message(message)
    except BadCommand as bad:
        return Answer.refused(Code.BAD_COMMAND, f"{kind}: {bad}")
