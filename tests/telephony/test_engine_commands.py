"""Commands to a real call engine (`manage.py call_engine`) over the channel layer: a malformed one
is answered `bad-command` and the engine goes on; an engine's refusal reaches the API as the code
it documents."""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync
from django.utils import timezone

from records.models import Cdr
from telephony.commands import Answer, Code
from telephony.control import _ask, live_engines


def engine_id(engine) -> str:
    return next(e.id for e in live_engines().values() if e.port == engine.port)


def ask(engine, message: dict) -> Answer:
    return Answer.from_message(async_to_sync(_ask)(engine_id(engine), message, 5.0))


def test_a_malformed_command_is_answered_bad_command_and_the_engine_goes_on(engine):
    for message in (
        {"type": "engine.explode"},
        {"type": "engine.originate", "client": "acme", "extension": 1, "to": "102"},
        {"type": "engine.hold", "call": str(uuid.uuid4()), "held": "nobody"},
        {"type": "engine.conference", "client": 1, "conference": "1", "action": "mute"},
    ):
        answer = ask(engine, message)
        assert (answer.ok, answer.code) == (False, Code.BAD_COMMAND), (message, answer)
    assert ask(engine, {"type": "engine.calls"}) == Answer.done(calls=[])


def test_a_call_the_engine_does_not_hold_is_refused_with_the_apis_code(world, api, engine):
    record = Cdr.objects.create(
        brand_id=world.brand_a.pk, client_id=world.client_a1.pk, call_uuid=uuid.uuid4(), engine=engine_id(engine),
        direction="internal", caller_number="101", callee_number="102", started_at=timezone.now(),
        account_id=world.user_a1.pk,
    )  # fmt: skip
    refused = ask(engine, {"type": "engine.resume", "call": str(record.call_uuid)})
    assert (refused.ok, refused.code) == (False, Code.NO_SUCH_CALL)
    for action in ("hangup", "hold", "resume", "park"):
        answer = api(world.user_a1).post(f"/api/v1/calls/{record.call_uuid}/{action}/")
        assert (answer.status_code, answer.json()["code"]) == (409, "call-ended"), (action, answer.json())
