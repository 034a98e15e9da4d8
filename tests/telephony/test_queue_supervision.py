"""Queue supervisors with real phones (pjsua2) through the edge and a real engine: 101 calls the queue
(600), agent 102 answers; 103, made supervisor of the queue by the client's operator, sees the call
in the API and the portal and joins it from there (103's phone rings first), switches from monitor
to barge by key, and the agent hears the supervision tone. A supervisor of another queue, a user
who supervises nothing, another client's user and the operator's own token see nothing of it (404);
an agent's line exempt from supervision is never joined."""
# ruff: noqa: F811 (the queue fixture comes from test_queues)

from __future__ import annotations

import time

from django.conf import settings
from django_tenants.utils import tenant_context

from config.redis_store import get_redis
from records.models import Cdr
from telephony.callindex import live_calls
from tests.sip.audio import CANDIDATES, dominant, heard_ms, loud_ms, read_wav
from tests.telephony.conftest import cdr_of
from tests.telephony.test_queues import call_queue, queue  # noqa: F401 (queue: a fixture)
from tests.waiting import committed, wait_for

LIST = "/api/v1/queues/supervision/"


def ruled_ms(path, freq: int) -> int:
    """Loud 20 ms windows whose strongest tone is `freq` (which need not be one of audio.CANDIDATES)."""
    rate, samples = read_wav(path)
    window, candidates = rate // 50, [*CANDIDATES, freq]
    parts = (samples[start : start + window] for start in range(0, len(samples) - window + 1, window))
    return 20 * sum(bool(loud_ms(rate, part)) and dominant(rate, part, candidates)[0] == freq for part in parts)


def answered(caller, agent, domain) -> tuple[str, str]:
    """101 calls the queue and 102 answers: the agent's call label and the call's id."""
    call_queue(caller, domain)
    taken = agent.wait_incoming(timeout=15)["call"]
    agent.wait_call_state(taken, "confirmed")
    live = Cdr.objects.filter(caller_number="101", ended_at__isnull=True).exclude(
        callee_number="102"
    )  # (not the offer's)
    return taken, str(live.latest("started_at").call_uuid)


def test_a_queue_supervisor_monitors_an_agent_then_barges_by_key(world, lines, third, queue, api, tmp_path):
    caller, agent, domain = lines
    queue(members=(("102", 0, 0),), logged_in=("102",), supervisors=["103"], supervision_tone=True)
    taken, call_id = answered(caller, agent, domain)
    at_agent, at_caller = tmp_path / "agent.wav", tmp_path / "caller.wav"
    agent.record(taken, at_agent)
    caller.record("c1", at_caller)
    me = api(world.user_a1c)
    calls = wait_for(lambda: me.get(LIST).json() or None, "the agent's call listed", 5)
    assert [(c["call"], c["agent"], c["agent_side"], c["other"]) for c in calls] == [(call_id, "102", "callee", "101")]
    assert me.get(f"{LIST}{call_id}/").json()["agent"] == "102"

    joined = me.post(f"{LIST}{call_id}/supervise/", {"mode": "monitor"})  # 103's phone rings first
    assert joined.status_code == 200, joined.json()
    mine = third.wait_incoming()["call"]
    third.wait_call_state(mine, "confirmed")
    third.play_tone(mine, [1000], 400)  # monitoring: nobody hears it
    third.wait_tone_done(mine)
    third.dtmf(mine, "3")

    def mode():
        live = live_calls(get_redis(), settings.OCX_REDIS_PREFIX, world.client_a1.pk).get(call_id) or {}
        return next((s["mode"] for s in live.get("supervisors", [])), None)

    wait_for(lambda: mode() == "barge", "the supervisor barges in after pressing 3", 5)
    third.play_tone(mine, [1000], 400)  # barging: both hear it
    third.wait_tone_done(mine)
    time.sleep(0.3)  # the last packets' way through the jitter buffers
    caller.hangup("c1")
    agent.wait_call_state(taken, "disconnected")
    third.wait_call_state(mine, "disconnected")
    caller.wait_recorded("c1")
    agent.wait_recorded(taken)
    assert ruled_ms(at_agent, 1400) >= 200, "the agent hears the supervision tone"
    assert 250 <= heard_ms(at_caller, 1000) <= 560, "the caller hears the supervisor once barging only"
    (supervised,) = cdr_of(world, call_uuid=call_id).supervisions
    assert (supervised["supervisor"], supervised["mode"]) == ("103", "barge")
    assert [m["mode"] for m in supervised["modes"]] == ["barge"]


def test_supervision_is_for_the_supervisors_queues_only_and_never_for_exempt_lines(
    world, lines, third, queue, api, portal
):
    from queues.services import queue_save
    from telephony.models import Extension
    from telephony.services import extension_update

    caller, agent, domain = lines

    with tenant_context(world.client_a1):  # (the test's own connection holds the line's row: sip_lines)
        line = Extension.objects.get(number="102")
        extension_update(actor=world.client_a1_op, client=world.client_a1, extension=line, supervision_exempt=True)
    support = queue(members=(("102", 0, 0),), logged_in=("102",))  # 102's queue: nobody supervises it
    queue(name="Sales", number="601", members=(), logged_in=(), supervisors=["103"])  # 103's queue: not 102's
    taken, call_id = answered(caller, agent, domain)

    for who in (world.user_a1c, world.user_a1, world.user_b1):
        http = api(who)
        assert http.get(LIST).json() == [], who
        assert http.get(f"{LIST}{call_id}/").status_code == 404, who
        assert http.post(f"{LIST}{call_id}/supervise/", {"mode": "monitor"}).status_code == 404, who
    assert api(world.client_a1_op).get(LIST).status_code == 404
    page = portal(world.user_a1c).get("/phone/supervision/").content.decode()
    assert "No call of your queues" in page and call_id not in page
    assert portal(world.user_a1).post("/phone/supervision/", {"call": call_id, "mode": "barge"}).status_code == 404

    committed(queue_save, actor=world.client_a1_op, client=world.client_a1, queue=support, supervisors=["103"])
    assert [c["call"] for c in api(world.user_a1c).get(LIST).json()] == [call_id]
    assert call_id in portal(world.user_a1c).get("/phone/supervision/").content.decode()
    refused = api(world.user_a1c).post(f"{LIST}{call_id}/supervise/", {"mode": "monitor"})
    assert refused.status_code == 409 and "exempt" in refused.json()["detail"], refused.json()
    bad = api(world.user_a1c).post(f"{LIST}{call_id}/supervise/", {"mode": "spy"})
    assert bad.status_code == 400 and set(bad.json()["fields"]) == {"mode"}
    assert not any(e.get("event") == "incoming" for e in third.events()), "the supervisor's phone never rang"
    caller.hangup("c1")
    agent.wait_call_state(taken, "disconnected")
