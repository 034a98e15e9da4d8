"""A feature application added as one module (tests/telephony/echo_application.py, loaded through
OCX_ENGINE_APPLICATIONS), run by a real engine for a real phone; and the feature code table."""

from __future__ import annotations

import pytest

from telephony import features
from tests.sip.audio import assert_heard
from tests.telephony.conftest import cdr_of

ENGINE_SETTINGS = {"OCX_ENGINE_APPLICATIONS": "tests.telephony.echo_application"}


def test_a_phone_hears_itself_through_an_application_that_only_the_tests_have(world, lines, tmp_path):
    caller, _, domain = lines
    caller.call("c1", f"sip:*43@{domain}")
    caller.wait_call_state("c1", "confirmed")
    heard = tmp_path / "echo.wav"
    caller.record("c1", heard)
    caller.play_tone("c1", [1000], 600)
    caller.wait_tone_done("c1")
    caller.hangup("c1")
    caller.wait_recorded("c1")
    assert_heard(heard, 1000, loud_at_least_ms=300)
    cdr = cdr_of(world, callee_number="*43")
    assert (cdr.disposition, cdr.caller_number, cdr.hangup_cause, cdr.hangup_side) == (
        "answered",
        "101",
        "bye",
        "caller",
    )


@pytest.mark.parametrize(
    ("dialled", "kind", "argument", "field"),
    [
        ("*8", "pickup", "", features.OLDEST_RINGING),
        ("**102", "pickup", "102", "ring:102"),
        ("*713", "retrieve", "3", "park:3"),
        ("*81102", "monitor", "102", "line:102"),
        ("*83102", "barge", "102", "line:102"),
        ("*88", "conference", "", None),
        ("*88123", "conference", "123", "conf:123"),
        ("*8912", "record-message", "12", None),
        ("*70", "park", "", None),
    ],
)
def test_the_feature_table_says_what_a_code_is_and_where_its_call_is(dialled, kind, argument, field):
    from telephony.engine import application

    application.load()
    code, found = features.match(dialled)
    assert (code.kind, found, features.index_field(code, found)) == (kind, argument, field)


@pytest.mark.parametrize("dialled", ["*71", "*89", "*8x", "**", "*81", "102", ""])
def test_what_is_not_a_complete_code_is_no_code(dialled):
    from telephony.engine import application

    application.load()
    assert features.match(dialled) is None


def test_a_prefix_belongs_to_one_application():
    from telephony.engine import application

    application.load()
    with pytest.raises(ValueError, match="registered twice"):
        features.register(features.FeatureCode("*88", "something-else"))
