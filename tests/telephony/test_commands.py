"""The engines' commands and answers (telephony/commands.py): every command survives the channel
layer's round trip, a malformed message is a `bad-command` answer (never an exception), an answer's
code is one of the closed set and the API has one error for each."""

from __future__ import annotations

import pytest

from telephony import commands
from telephony.commands import COMMANDS, Answer, BadCommand, Code, parse
from telephony.control import API_ERRORS, refusal
from telephony.engine_registry import EngineInfo, by_load, least_busy
from tenants.errors import CallEnded, EngineUnavailable, NotPossible

CALL = "5f0e6a1c-7d2b-4f7e-9a59-0c1d2e3f4a5b"
EXAMPLES = [
    commands.Hangup(call=CALL),
    commands.Hold(call=CALL, held="caller"),
    commands.Resume(call=CALL),
    commands.Transfer(call=CALL, leaving="callee", to="103"),
    commands.Park(call=CALL, parked="callee"),
    commands.Join(call=CALL, other="0b8d0a8e-3b8f-4e43-8a8e-2f1d4c5b6a70"),
    commands.Supervise(call=CALL, number="104", mode="whisper", agent="caller"),
    commands.Retrieve(call=CALL, number="105"),
    commands.Record(call=CALL, action="pause"),
    commands.Originate(client=7, extension=12, to="102"),
    commands.Notify(client=7, target=3, number="102", message="/var/messages/7/1.wav", digit="5"),
    commands.ListCalls(),
    commands.ListConferences(client=7),
    commands.ListConferences(),
    commands.ConferenceAction(client=7, conference="1234", action="dial-out", number="102"),
    commands.ConferenceAction(client=7, conference="1234", action="kick", participant="p3"),
    commands.SendText(client=7, sender=12, to="102", text="Lunch at 1? Café downstairs"),
]


def test_every_command_type_has_an_example_here():
    assert {type(c) for c in EXAMPLES} == set(COMMANDS.values())


@pytest.mark.parametrize("command", EXAMPLES, ids=lambda c: type(c).__name__)
def test_a_command_survives_the_round_trip_through_a_message(command):
    message = command.to_message()
    assert message["type"] == command.type
    assert parse({**message, "reply_to": "engine-reply.x"}) == command
    assert parse(message) == command  # a message rebuilt from a command is the same command


def test_the_message_names_are_those_the_engines_always_took():
    assert commands.Join(call=CALL, other="x").to_message() == {"type": "engine.join", "call": CALL, "with": "x"}
    assert commands.Hold(call=CALL).to_message() == {"type": "engine.hold", "call": CALL, "held": "callee"}


@pytest.mark.parametrize(
    "message",
    [
        {"type": "engine.explode"},
        {},
        {"type": None},
        {"type": "engine.hold", "held": "callee"},  # which call?
        {"type": "engine.hold", "call": CALL, "held": "nobody"},
        {"type": "engine.transfer", "call": CALL, "leaving": "caller"},  # to whom?
        {"type": "engine.originate", "client": "acme", "extension": 1, "to": "102"},
        {"type": "engine.originate", "client": 1, "extension": [1], "to": "102"},
        {"type": "engine.notify", "client": 1, "target": 1, "number": "102", "message": "m", "digit": "12"},
        {"type": "engine.text", "client": 1, "sender": 1, "to": "102", "text": "  "},  # nothing to send
        {"type": "engine.supervise", "call": CALL, "number": "104", "mode": "spy", "agent": "callee"},
        {"type": "engine.record", "call": CALL, "action": "rewind"},
        {"type": "engine.conference", "client": 1, "conference": "1", "action": "explode"},
        {"type": "engine.conference", "client": 1, "conference": "1", "action": "mute"},  # who?
        {"type": "engine.conference", "client": 1, "conference": "1", "action": "dial-out", "number": "1x"},
        {"type": "engine.conference", "action": "show"},
    ],
)
def test_a_malformed_message_is_a_bad_command_answer_not_an_exception(message):
    answer = parse(message)
    assert isinstance(answer, Answer)
    assert (answer.ok, answer.code) == (False, Code.BAD_COMMAND) and answer.detail
    assert Answer.from_message(answer.to_message()) == answer


def test_parse_takes_anything_the_channel_layer_could_carry():
    for message in (None, [], "engine.hangup", 42):
        assert parse(message).code == Code.BAD_COMMAND


def test_a_command_that_is_not_valid_cannot_be_sent():
    with pytest.raises(BadCommand) as bad:
        commands.ConferenceAction(client=1, conference="1", action="mute").to_message()
    assert set(bad.value.problems) == {"participant"}


def test_answers_carry_their_data_and_a_code_of_the_closed_set_only():
    done = Answer.done(slot=3)
    assert done.to_message() == {"type": "engine.reply", "ok": True, "code": None, "detail": "", "slot": 3}
    assert Answer.from_message(done.to_message()) == done and done["slot"] == 3
    refused = Answer.refused(Code.NO_SUCH_PARTICIPANT, "no such participant")
    assert refused.to_message()["code"] == "no-such-participant"
    assert Answer.from_message(refused.to_message()) == refused
    with pytest.raises(ValueError):
        Answer(False, "it-broke")
    with pytest.raises(ValueError):
        Answer(True, Code.NOT_POSSIBLE)
    # An engine of another version answering a code this side does not know: refused all the same.
    other = Answer.from_message({"type": "engine.reply", "ok": False, "code": "new-reason", "detail": "why"})
    assert (other.ok, other.code, other.detail) == (False, Code.NOT_POSSIBLE, "why")


def test_the_api_has_one_error_for_each_code():
    assert set(API_ERRORS) == set(Code)
    expected = {Code.NO_SUCH_CALL: CallEnded, Code.ENGINE_UNAVAILABLE: EngineUnavailable,
                Code.BAD_COMMAND: EngineUnavailable, Code.NOT_ON_HOLD: NotPossible}  # fmt: skip
    for code, error in expected.items():
        assert API_ERRORS[code] is error
    problem = refusal(Answer.refused(Code.NOT_ON_HOLD, "the call is not on hold"), "Not possible")
    assert (problem.status, problem.code, problem.message) == (
        409,
        "not-possible",
        "Not possible: the call is not on hold.",
    )
    # An engine's own sentence keeps one final period, not two.
    unknown = parse({"type": "engine.reboot"})
    assert refusal(unknown, "Not sent").message == "Not sent: Unknown command 'engine.reboot'."


def test_every_choice_of_engine_follows_one_ordering():
    idle_no_db = EngineInfo("a", "h", 1, calls=0, capacity=10, database=False, at=1)
    half = EngineInfo("b", "h", 2, calls=5, capacity=10, at=1)
    quarter = EngineInfo("c", "h", 3, calls=50, capacity=200, at=1)
    full = EngineInfo("d", "h", 4, calls=10, capacity=10, at=1)
    draining = EngineInfo("e", "h", 5, calls=0, capacity=10, draining=True, at=1)
    engines = [idle_no_db, half, quarter, full, draining]
    assert by_load(engines) == [quarter, half, idle_no_db]  # share of capacity; without PostgreSQL last
    assert least_busy(engines) == quarter
    # Calls handed out since the heartbeat count (the edge's burst, a campaign's round).
    assert least_busy(engines, {"c": 60}) == half
    assert by_load(engines, {"b": 5, "c": 150}) == [idle_no_db]
    assert least_busy([full, draining]) is None


def test_every_command_and_conference_action_has_its_handler_in_the_engine():
    from telephony.engine.server import CALL_HANDLERS, CONFERENCE_ACTIONS, HANDLERS

    assert set(CONFERENCE_ACTIONS) == set(commands.ACTIONS)
    assert set(HANDLERS) | set(CALL_HANDLERS) == set(COMMANDS.values())
