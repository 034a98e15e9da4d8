"""Busy lamps survive their engines: the watcher's subscription is in Redis, so an engine that never saw
the SUBSCRIBE tells it of a call, a refresh sent to a dead engine is answered by a live one, and the
calls of an engine that died leave the lamps once a survivor finds it dead."""

from __future__ import annotations

import signal

from tests.telephony import test_engine_faults as faults
from tests.telephony.conftest import SECRET, database_url
from tests.telephony.test_busy_lamps import _dialogs, _no_watchers_left, _notifies, _subscribe, _watch  # noqa: F401
from tests.telephony.test_engine_faults import forget, start_engine

started, two_lines = faults.started, faults.two_lines  # that module's fixtures, here too


def test_a_watch_outlives_the_engine_that_answered_it(world, two_lines, sip_lines, sip_client, edge, started,
                                                      tmp_path):  # fmt: skip
    caller, callee, domain = two_lines
    first = start_engine(edge, database=database_url(), spool=tmp_path / "spool")
    started.append(first)
    sip_lines(world.user_a1c, SECRET)
    desk = sip_client(world.user_a1c)
    dialog, _ = _watch(desk, f"sip:102@{domain}", expires=120)
    assert dialog.engine == f"sip:engine@127.0.0.1:{first.port}"

    engine_id = first.info().id
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    forget(engine_id)
    second = start_engine(edge, database=database_url(), spool=tmp_path / "spool")
    started.append(second)

    caller.call("c1", f"sip:102@{domain}")  # through the engine that never saw the SUBSCRIBE
    callee.wait_call_state(callee.wait_incoming()["call"], "confirmed")
    _notifies(desk, until=lambda n: ("recipient", "confirmed") in _dialogs(n))

    _subscribe(desk, dialog.engine, dialog, expires=120)  # a refresh to the dead engine: a live one answers
    answer = desk.expect(200)
    assert answer.get("Contact") == f"<sip:engine@127.0.0.1:{second.port}>"
    assert _dialogs(_notifies(desk, count=1)[0]) == [("recipient", "confirmed")]
    caller.hangup("c1")
    _notifies(desk, until=lambda n: ("recipient", "terminated") in _dialogs(n))


def test_the_calls_of_a_dead_engine_leave_the_lamps(world, two_lines, sip_lines, sip_client, edge, started, tmp_path):
    caller, callee, domain = two_lines
    first = start_engine(edge, database=database_url(), spool=tmp_path / "a", OCX_ENGINE_LOST_AFTER="6")
    started.append(first)
    sip_lines(world.user_a1c, SECRET)
    desk = sip_client(world.user_a1c)
    _watch(desk, f"sip:102@{domain}", expires=300)
    caller.call("c1", f"sip:102@{domain}")
    callee.wait_call_state(callee.wait_incoming()["call"], "confirmed")
    _notifies(desk, until=lambda n: ("recipient", "confirmed") in _dialogs(n))

    first.process.send_signal(signal.SIGKILL)  # the lamp stays lit: nobody said the call ended
    first.process.wait()
    # (a survivor looks for dead engines lost_after/3 after it starts: by then the edge knows it, so the
    # NOTIFYs it sends are an engine's, not a stranger's)
    survivor = start_engine(edge, database=database_url(), spool=tmp_path / "b", OCX_ENGINE_LOST_AFTER="6")
    started.append(survivor)
    told = _notifies(desk, until=lambda n: ("recipient", "terminated") in _dialogs(n), timeout=20)
    assert _dialogs(told[-1]) == [("recipient", "terminated")]
