"""The edges' copy of the phone network (pstn/directory.py): written after every change, rebuilt
with the SIP directory, and only assigned numbers of enabled carriers in it."""

from __future__ import annotations

import json

from billing.models import Carrier
from config.redis_store import get_redis, rkey
from pstn.directory import GATEWAYS, did_key
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute
from telephony.directory import sip_directory_sync
from tests.waiting import wait_for


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
