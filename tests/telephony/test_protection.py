"""SIP bans in the portals: god sees and releases every ban, a brand its own clients' lines' bans."""

from __future__ import annotations

from django.conf import settings

from config.redis_store import get_redis
from telephony.edge.guard import auth_ban_key, ip_ban_key


def _ban(key: str) -> None:
    get_redis().set(key, "1", ex=600)


def test_god_sees_every_ban_and_a_release_reaches_the_edges(world, portal, sip_lines):
    prefix = settings.OCX_REDIS_PREFIX
    flood, guess = (
        ip_ban_key(prefix, "198.51.100.7"),
        auth_ban_key(prefix, world.client_b1.sip_domain, "101", "203.0.113.9"),
    )
    _ban(flood), _ban(guess)
    page = portal(world.god).get("/protection/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "198.51.100.7" in body and f"101@{world.client_b1.sip_domain}" in body

    pubsub = get_redis().pubsub()
    pubsub.subscribe(f"{prefix}:sip:bans")
    pubsub.get_message(timeout=1)  # the subscription confirmation
    response = portal(world.god).post("/protection/release/", {"key": guess})
    assert response.status_code == 302
    assert not get_redis().exists(guess)
    message = pubsub.get_message(timeout=2)
    assert message["data"].decode() == f"release auth {world.client_b1.sip_domain} 101 203.0.113.9"
    pubsub.close()


def test_a_brand_sees_and_releases_only_its_clients_line_bans(world, portal, sip_lines):
    prefix = settings.OCX_REDIS_PREFIX
    own = auth_ban_key(prefix, world.client_a1.sip_domain, "101", "203.0.113.10")
    other = auth_ban_key(prefix, world.client_b1.sip_domain, "101", "203.0.113.11")
    flood = ip_ban_key(prefix, "198.51.100.8")
    for key in (own, other, flood):
        _ban(key)
    body = portal(world.brand_a_op).get("/protection/").content.decode()
    assert "203.0.113.10" in body
    assert "203.0.113.11" not in body and "198.51.100.8" not in body

    assert portal(world.brand_a_op).post("/protection/release/", {"key": other}).status_code == 404
    assert portal(world.brand_a_op).post("/protection/release/", {"key": flood}).status_code == 404
    assert get_redis().exists(other) and get_redis().exists(flood)
    assert portal(world.brand_a_op).post("/protection/release/", {"key": own}).status_code == 302
    assert not get_redis().exists(own)
    assert portal(world.client_a1_op).get("/protection/").status_code == 404
