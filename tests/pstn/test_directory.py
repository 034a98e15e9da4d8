"""The edges' copy of the phone network (pstn/directory.py): each change writes its own part after
the commit (never looking up DNS in the request), the whole is rebuilt with the SIP directory, and
only assigned numbers of enabled carriers are in it."""

from __future__ import annotations

import json
import socket
import time

import pytest

from billing.models import Carrier
from billing.services import carrier_create
from config.redis_store import get_redis, rkey
from pstn.directory import GATEWAYS, did_key
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute
from pstn.services import number_bulk_add
from telephony.directory import sip_directory_sync
from tests.waiting import wait_for


@pytest.fixture(autouse=True)
def _edges_copy_as_it_was():
    """What a test writes of its own rows (rolled back afterwards) must not outlive it: no rebuild
    comes after a change any more, and the next tests' edges read the same keys (a left-over gateway
    entry of 127.0.0.1 would take their carriers' calls for its carrier's)."""
    redis = get_redis()
    gateways, dids = redis.get(rkey(GATEWAYS)), set(redis.scan_iter(match=rkey("pstn:did", "*")))
    yield
    if gateways is None:
        redis.delete(rkey(GATEWAYS))
    else:
        redis.set(rkey(GATEWAYS), gateways)
    added = set(redis.scan_iter(match=rkey("pstn:did", "*"))) - dids
    if added:
        redis.delete(*added)


def test_gateways_and_assigned_numbers_reach_redis_and_come_back_after_a_rebuild(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        carrier = Carrier.objects.create(name="dir-test", number_format="digits", country="DE")
        Gateway.objects.create(carrier=carrier, name="a", host="192.0.2.10", inbound_networks="192.0.2.0/28\nbad")
        Gateway.objects.create(carrier=carrier, name="b", host="192.0.2.20", enabled=False)
        Number.objects.create(brand=world.brand_a, e164="+4930111", carrier=carrier, client=world.client_a1,
                              destination_kind="user", destination_target="101")  # fmt: skip
        Number.objects.create(brand=world.brand_a, e164="+4930222", carrier=carrier)  # free: not routable
    redis = get_redis()
    gateways = [g for g in json.loads(redis.get(rkey(GATEWAYS))) if g["carrier"] == carrier.pk]
    assert [(g["networks"], g["format"], g["country"]) for g in gateways] == [(["192.0.2.0/28"], "digits", "DE")]
    numbers = {k.decode(): json.loads(v) for k, v in redis.hgetall(did_key(carrier.pk)).items()}
    assert list(numbers) == ["4930111"]  # as this carrier writes it
    assert numbers["4930111"]["client"] == world.client_a1.pk and numbers["4930111"]["e164"] == "+4930111"

    redis.delete(rkey(GATEWAYS), did_key(carrier.pk))
    sip_directory_sync()
    assert redis.hlen(did_key(carrier.pk)) == 1 and carrier.pk in {
        g["carrier"] for g in json.loads(redis.get(rkey(GATEWAYS)))
    }

    with django_capture_on_commit_callbacks(execute=True):
        carrier.enabled = False
        carrier.save()
    assert not redis.exists(did_key(carrier.pk))
    assert carrier.pk not in {g["carrier"] for g in json.loads(redis.get(rkey(GATEWAYS)))}


def test_a_change_to_a_route_or_a_policy_tells_the_engines(world, django_capture_on_commit_callbacks):
    listener = get_redis().pubsub()
    listener.subscribe(rkey("sip:invalidate"))
    listener.get_message(timeout=1)  # the subscription's confirmation
    with django_capture_on_commit_callbacks(execute=True):
        route = OutboundRoute.objects.create(brand=world.brand_a, name="announced", pattern="49")
    heard = wait_for(lambda: listener.get_message(timeout=0.2), "the announcement")
    assert heard["data"] == b"pstn"
    with django_capture_on_commit_callbacks(execute=True):
        OutboundPolicy.objects.update_or_create(client=world.client_a1, defaults={"allow_international": True})
    assert wait_for(lambda: listener.get_message(timeout=0.2), "the announcement")["data"] == b"pstn"
    listener.close()
    route.delete()


def _entries(carrier) -> dict[int, dict]:
    return {g["gateway"]: g for g in json.loads(get_redis().get(rkey(GATEWAYS))) if g["carrier"] == carrier.pk}


def test_a_gateway_change_writes_its_own_entry_and_nothing_else(world, django_capture_on_commit_callbacks):
    redis = get_redis()
    with django_capture_on_commit_callbacks(execute=True):
        carrier = Carrier.objects.create(name="incremental", country="DE")
        first = Gateway.objects.create(carrier=carrier, name="first", host="192.0.2.10")
        second = Gateway.objects.create(carrier=carrier, name="second", host="192.0.2.20")
        Number.objects.create(brand=world.brand_a, e164="+4930333", carrier=carrier, client=world.client_a1)
    # Marks a whole rewrite would lose: in the other gateway's entry, and in the carrier's did hash.
    held = json.loads(redis.get(rkey(GATEWAYS)))
    for entry in held:
        if entry["gateway"] == second.pk:
            entry["mark"] = "kept"
    redis.set(rkey(GATEWAYS), json.dumps(held))
    redis.hset(did_key(carrier.pk), "mark", "kept")

    with django_capture_on_commit_callbacks(execute=True):
        first.host = "192.0.2.11"
        first.save()
    entries = _entries(carrier)
    assert entries[first.pk]["host"] == "192.0.2.11" and entries[first.pk]["networks"] == ["192.0.2.11/32"]
    assert entries[second.pk]["mark"] == "kept"
    assert redis.hget(did_key(carrier.pk), "mark") == b"kept"
    others = [g for g in json.loads(redis.get(rkey(GATEWAYS))) if g["carrier"] != carrier.pk]
    assert others == [g for g in held if g["carrier"] != carrier.pk]  # other carriers' entries as they were

    with django_capture_on_commit_callbacks(execute=True):
        first.enabled = False
        first.save()
    assert set(_entries(carrier)) == {second.pk}
    with django_capture_on_commit_callbacks(execute=True):
        second.delete()
    assert _entries(carrier) == {}
    assert redis.hget(did_key(carrier.pk), "mark") == b"kept"


def test_a_number_moving_between_carriers_moves_between_their_did_sets(world, django_capture_on_commit_callbacks):
    redis = get_redis()
    with django_capture_on_commit_callbacks(execute=True):
        plus = Carrier.objects.create(name="writes plus", number_format="plus")
        national = Carrier.objects.create(name="writes national", number_format="national", country="DE")
        number = Number.objects.create(brand=world.brand_a, e164="+493012345", carrier=plus, client=world.client_a1)
        Number.objects.create(brand=world.brand_a, e164="+493099999", carrier=national, client=world.client_a1)
    redis.hset(did_key(national.pk), "mark", "kept")
    assert redis.hexists(did_key(plus.pk), "+493012345")

    with django_capture_on_commit_callbacks(execute=True):
        number.carrier = national
        number.save()
    assert not redis.hexists(did_key(plus.pk), "+493012345")
    moved = json.loads(redis.hget(did_key(national.pk), "03012345"))  # as the new carrier writes it
    assert moved["number"] == number.pk and moved["client"] == world.client_a1.pk
    assert redis.hget(did_key(national.pk), "mark") == b"kept" and redis.hexists(did_key(national.pk), "03099999")

    with django_capture_on_commit_callbacks(execute=True):
        number.client = None  # free again: not routable
        number.save()
    assert not redis.hexists(did_key(national.pk), "03012345")
    with django_capture_on_commit_callbacks(execute=True):
        number.client = world.client_a1
        number.save()
    assert redis.hexists(did_key(national.pk), "03012345")
    with django_capture_on_commit_callbacks(execute=True):
        number.delete()
    assert not redis.hexists(did_key(national.pk), "03012345") and redis.hexists(did_key(national.pk), "03099999")


def test_numbers_added_in_bulk_for_a_client_are_routable_at_once(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        carrier = carrier_create(actor=world.brand_a_op, name="bulk", country="DE")
    with django_capture_on_commit_callbacks(execute=True):
        number_bulk_add(actor=world.brand_a_op, brand=world.brand_a, carrier=carrier,
                        numbers="+493055500000-+493055500001", client=world.client_a1)  # fmt: skip
    assert set(get_redis().hkeys(did_key(carrier.pk))) == {b"+493055500000", b"+493055500001"}


SLOW_NAME = "sip.slow-resolver.example"


@pytest.fixture
def slow_resolver(monkeypatch):
    """A resolver that takes 3 s to say a name does not exist (DNS is outside the platform: a carrier's
    name server that does not answer); other names resolve as usual."""
    real_gethostbyname, real_getaddrinfo = socket.gethostbyname, socket.getaddrinfo

    def gethostbyname(host):
        if host == SLOW_NAME:
            time.sleep(3)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_gethostbyname(host)

    def getaddrinfo(host, *args, **kwargs):
        if host == SLOW_NAME:
            time.sleep(3)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "gethostbyname", gethostbyname)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_saving_request_does_not_wait_for_dns(world, api, pstn, slow_resolver, django_capture_on_commit_callbacks):
    http = api(world.brand_a_op)
    assert http.get(f"/api/v1/gateways/{pstn.gateway_a.pk}/").status_code == 200  # (the first request's imports)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        answer = http.post("/api/v1/gateways/", {"carrier": pstn.carrier_a.pk, "name": "by-name", "host": SLOW_NAME},
                           format="json")  # fmt: skip
    took = time.monotonic() - started
    assert answer.status_code == 201, answer.content
    assert took < 1.5, f"the request took {took:.1f} s"
    entry = _entries(pstn.carrier_a)[answer.json()["id"]]
    # (the edges look the name up, and trust the addresses it has there: no networks of its own here)
    assert (entry["host"], entry["networks"], entry["srv"]) == (SLOW_NAME, [], True)
