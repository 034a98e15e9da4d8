"""SIP bans in the portals: god sees and releases every ban, a brand its own clients' lines' bans."""

from __future__ import annotations

from django.conf import settings

from config.redis_store import get_redis
from telephony.edge.guard import auth_ban_key, ip_ban_key
from tests.waiting import wait_for


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


def test_address_rules_are_scoped_and_validated_in_the_portal(world, portal):
    from tenants.models import SipAddressRule

    god = portal(world.god)
    assert god.post("/protection/", {"network": "198.51.100.0/24", "action": "deny"}).status_code == 302
    global_rule = SipAddressRule.objects.get(client=None)
    assert str(global_rule) == "deny 198.51.100.0/24"
    bad = god.post("/protection/", {"network": "not-a-network", "action": "deny"})
    assert bad.status_code == 200 and "such as 203.0.113.0/24" in bad.content.decode()

    brand = portal(world.brand_a_op)
    assert brand.post("/protection/", {"client": world.client_a1.pk, "network": "203.0.113.5", "action": "allow"}
                      ).status_code == 302  # fmt: skip
    assert SipAddressRule.objects.get(client=world.client_a1).network == "203.0.113.5/32"
    foreign = brand.post("/protection/", {"client": world.client_b1.pk, "network": "203.0.113.6", "action": "deny"})
    assert foreign.status_code == 200 and not SipAddressRule.objects.filter(client=world.client_b1).exists()
    page = brand.get("/protection/").content.decode()
    assert "203.0.113.5/32" in page and "198.51.100.0/24" not in page
    assert brand.post(f"/protection/rules/{global_rule.pk}/delete/").status_code == 404
    assert SipAddressRule.objects.filter(pk=global_rule.pk).exists()


def test_an_address_rule_form_shows_every_bad_field_at_once(world, portal):
    from tests.pages import field_error

    answer = portal(world.brand_a_op).post("/protection/", {"client": "", "network": "not-a-network", "action": "deny"})
    assert answer.status_code == 200
    assert "required" in field_error(answer, "client")
    assert "such as 203.0.113.0/24" in field_error(answer, "network")


def test_the_edge_applies_global_and_client_rules(world, sip_lines, sip_client):
    from telephony.directory import sip_directory_sync
    from telephony.services import sip_rule_create, sip_rule_delete

    secret = "rules-secret-123"
    sip_lines(world.user_a1, secret)
    deny = sip_rule_create(actor=world.god, client=None, network="127.0.0.12", action="deny")
    allow = sip_rule_create(actor=world.brand_a_op, client=world.client_a1, network="10.0.0.0/8", action="allow")
    sip_directory_sync()  # in the test's transaction the on-commit publication does not run
    try:
        denied = sip_client(world.user_a1, bind_ip="127.0.0.12")

        def ignored() -> bool:  # not even challenged
            denied.send_raw(denied.register_message())
            return denied.receive(timeout=0.5) is None

        # The edge reloads its global rules on the published "acl": the address is ignored once it has.
        wait_for(ignored, "the edge ignores an address its global rules deny")
        assert sip_client(world.user_a1).register(secret).status == 403  # outside the client's allow list
        sip_rule_delete(actor=world.brand_a_op, rule=allow)
        sip_directory_sync()
        assert sip_client(world.user_a1).register(secret).status == 200
    finally:
        sip_rule_delete(actor=world.god, rule=deny)
        sip_directory_sync()
