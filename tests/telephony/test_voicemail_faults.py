"""A message left while PostgreSQL is away is never lost: the engine reads the box with the dial plan,
records the message, keeps a note of it beside the file, and writes its row once the database is back;
an engine killed before that leaves the note, and the next engine on the host writes the row.

The engine under test reaches PostgreSQL through a TCP forwarder the test cuts and restores
(tests/telephony/tcpcut.py), as tests/telephony/test_engine_faults.py does."""

from __future__ import annotations

import signal

import pytest

from tests.sip.audio import heard_ms
from tests.telephony import test_engine_faults as faults
from tests.telephony.conftest import database_url
from tests.telephony.test_engine_faults import forget, start_engine, through
from tests.telephony.test_voicemail import SPOKEN, VOICEMAIL_DIR, _voicemail, forward, leave, messages  # noqa: F401
from tests.waiting import wait_for

pg_cut, started, two_lines = faults.pg_cut, faults.started, faults.two_lines  # that module's fixtures, here too


def notes() -> list:
    return sorted(VOICEMAIL_DIR.glob("*/*/*.json"))


@pytest.mark.parametrize("then", ["database-back", "engine-killed"])
def test_a_message_left_while_postgresql_is_away_gets_its_row_later(
    world, two_lines, edge, pg_cut, started, tmp_path, then
):
    caller, callee, domain = two_lines
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    env = {"OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR)}
    first = start_engine(edge, database=through(pg_cut), spool=tmp_path / "spool", **env)
    started.append(first)
    caller.call("warm", f"sip:102@{domain}")  # the dial plan (and the boxes with it) cached, then cut short
    caller.wait_call_state("warm", "confirmed", timeout=20)
    caller.hangup("warm")
    caller.wait_call_state("warm", "disconnected")

    pg_cut.cut()
    leave(caller, domain, skip=True)
    assert messages(world, "102") == [], "no row while the database is away"
    [note] = wait_for(notes, "the message's note beside its file")
    assert note.with_suffix(".wav").exists()
    if then == "engine-killed":
        engine_id = first.info().id
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        pg_cut.restore()
        started.append(start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env))
        forget(engine_id)
    else:
        pg_cut.restore()
    [message] = wait_for(lambda: messages(world, "102"), "the message's row once the database is back", timeout=15)
    assert message.caller_number == "101" and heard_ms(message.path, SPOKEN) >= 1000
    wait_for(lambda: not notes(), "the note removed once the row is written")


def test_a_message_cut_by_its_engine_dying_is_kept_by_the_next_engine(world, two_lines, edge, started, tmp_path):
    caller, callee, domain = two_lines
    forward(world, busy_kind="voicemail", busy_target="102")
    callee.set_incoming("102", answer=486)
    env = {"OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR)}
    first = start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env)
    started.append(first)
    caller.call("c1", f"sip:102@{domain}")
    caller.wait_call_state("c1", "confirmed", timeout=20)
    caller.dtmf("c1", "1")  # the greeting skipped
    wait_for(lambda: list(VOICEMAIL_DIR.glob("*/*/20*.wav")), "the message's recording begun", timeout=15)
    caller.play_tone("c1", [SPOKEN], 2500)
    caller.wait_tone_done("c1")
    engine_id = first.info().id
    first.process.send_signal(signal.SIGKILL)  # while the caller still talks
    first.process.wait()
    caller.hangup("c1")
    assert messages(world, "102") == []
    started.append(start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env))
    [message] = wait_for(lambda: messages(world, "102"), "the message's row from the next engine", timeout=25)
    assert message.caller_number == "101" and message.seconds >= 1.5  # up to the last whole second written
    assert heard_ms(message.path, SPOKEN) >= 1500, "what was said up to the engine's death"
    wait_for(lambda: not notes(), "the note removed once the row is written")
    forget(engine_id)
