"""Message waiting survives its engine: a phone subscribes through the edge to one engine, that engine
is killed, and a message left through the next engine still lights the phone's lamp (the subscription's
dialog is in Redis, not in the engine that answered it; any engine NOTIFYs along its route); the
phone's refresh, sent to the engine that is gone, is answered by a live one."""

from __future__ import annotations

import signal
import uuid

from tests.telephony import test_engine_faults as faults
from tests.telephony.conftest import SECRET, database_url
from tests.telephony.sipclient import Call
from tests.telephony.test_engine_faults import forget, start_engine
from tests.telephony.test_voicemail import VOICEMAIL_DIR, _voicemail, forward, leave, with_greetings  # noqa: F401
from tests.telephony.test_voicemail_notices import _answer_and_notify, _lamp, _subscribe

started, two_lines = faults.started, faults.two_lines  # that module's fixtures, here too


def test_a_subscription_outlives_the_engine_that_answered_it(world, two_lines, edge, started, phones, tmp_path):
    caller, _callee, domain = two_lines
    env = {"OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR)}
    first = start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env)
    started.append(first)
    desk = phones(name="desk")
    assert desk.register(username="102", domain=domain, secret=SECRET, proxy=f"127.0.0.1:{edge.port}", mwi=True,
                         incoming={"answer": 486})["code"] == 200  # fmt: skip
    _lamp(desk, waiting="no", voice="0/0")  # answered by the only engine

    engine_id = first.info().id
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    forget(engine_id)
    started.append(start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env))
    with_greetings(world, "102")
    forward(world, always_kind="voicemail", always_target="102")
    mark = desk.mark()
    leave(caller, domain)
    _lamp(desk, waiting="yes", voice="1/0", since=mark)  # told by the engine that never saw the SUBSCRIBE


def test_a_refresh_whose_engine_is_gone_is_answered_by_another(world, sip_lines, sip_client, edge, started, tmp_path):
    sip_lines(world.user_a1b, SECRET)
    env = {"OCX_VOICEMAIL_DIR": str(VOICEMAIL_DIR)}
    first = start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env)
    started.append(first)
    phone = sip_client(world.user_a1b)
    target = f"sip:{phone.user}@{phone.domain}"
    dialog = Call(to_uri=target, call_id=uuid.uuid4().hex, from_tag=uuid.uuid4().hex[:8])
    _subscribe(phone, target, dialog, expires=120)
    challenge = phone.expect(407).challenge("MD5", "Proxy-Authenticate")
    _subscribe(phone, target, dialog, expires=120, auth=phone.authorization(challenge, SECRET, method="SUBSCRIBE",
                                                                            uri=target))  # fmt: skip
    answer, _ = _answer_and_notify(phone)
    dialog.established(answer)
    assert answer.get("Contact") == f"<sip:engine@127.0.0.1:{first.port}>"

    engine_id = first.info().id
    first.process.send_signal(signal.SIGKILL)
    first.process.wait()
    forget(engine_id)
    second = start_engine(edge, database=database_url(), spool=tmp_path / "spool", **env)
    started.append(second)
    _subscribe(phone, f"sip:engine@127.0.0.1:{first.port}", dialog, expires=120)  # to the engine that answered
    answer, notify = _answer_and_notify(phone)
    assert answer.get("Contact") == f"<sip:engine@127.0.0.1:{second.port}>"  # the phone's next refresh goes there
    assert notify.get("Subscription-State").startswith("active")
