"""The REST API as its users meet it: CRUD per role, field errors, suspension, tokens, docs."""

from __future__ import annotations

import json

from django.db import connection
from django_tenants.utils import schema_exists

from config.redis_store import get_redis, rkey
from tenants.models import ApiToken, AuditEvent, Client, User


def test_god_creates_a_brand_and_a_brand_creates_a_client_with_its_schema(world, api):
    god = api(world.god)
    response = god.post("/api/v1/brands/", {"name": "Brand C", "domain": "brand-c.localhost"}, format="json")
    assert response.status_code == 201, response.content
    brand_id = response.json()["id"]

    created = god.post(
        "/api/v1/operators/",
        {
            "role": "brand",
            "brand": brand_id,
            "email": "ops@brand-c.example",
            "name": "Ops C",
            "password": "a-long-password-9",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    brand_op = User.objects.get(email="ops@brand-c.example")

    response = api(brand_op).post(
        "/api/v1/clients/",
        {"name": "Initech", "slug": "initech", "kind": "pbx", "max_calls": 5, "timezone": "Europe/Paris"},
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["domain"] == "initech.brand-c.localhost"
    assert data["sip_domain"] == "initech.brand-c.localhost"
    assert data["brand"] == brand_id
    client = Client.objects.get(pk=data["id"])
    assert schema_exists(client.schema_name)
    assert AuditEvent.objects.filter(action="client.create", client=client, actor=brand_op).exists()


def test_bad_input_answers_400_with_the_field_named(world, api):
    god = api(world.god)
    cases = [
        ("/api/v1/brands/", {"name": "X", "domain": "Not A Host!"}, "domain"),
        ("/api/v1/brands/", {"name": "Brand A", "domain": "fresh.localhost"}, "name"),
        ("/api/v1/brands/", {"name": "Y", "domain": world.brand_b.domain}, "domain"),
        ("/api/v1/brands/", {"name": "Z", "domain": world.client_a1.sip_domain}, "domain"),
        ("/api/v1/brands/", {"name": "W", "domain": "localhost"}, "domain"),
        ("/api/v1/brands/", {"name": "V", "domain": "v.localhost", "primary_colour": "red"}, "primary_colour"),
        (
            "/api/v1/clients/",
            {"name": "Q", "slug": "q", "brand": world.brand_a.pk, "timezone": "Mars/Base"},
            "timezone",
        ),
        ("/api/v1/clients/", {"name": "Q", "slug": "bad slug", "brand": world.brand_a.pk}, "slug"),
        ("/api/v1/clients/", {"name": "Q", "slug": world.client_a1.slug, "brand": world.brand_a.pk}, "slug"),
        ("/api/v1/clients/", {"name": "Q", "slug": "q"}, "brand"),
        ("/api/v1/clients/", {"name": "Q", "slug": "q", "brand": 999999}, "brand"),
        ("/api/v1/clients/", {"name": "Q", "slug": "q", "brand": world.brand_a.pk, "max_calls": -1}, "max_calls"),
        ("/api/v1/operators/", {"role": "god", "email": "nope", "name": "N", "password": "a-long-password-9"}, "email"),
        ("/api/v1/operators/", {"role": "god", "email": "n@x.example", "name": "N", "password": "short"}, "password"),
        (
            "/api/v1/operators/",
            {"role": "god", "email": world.user_a1.email, "name": "N", "password": "a-long-password-9"},
            "email",
        ),
        (
            "/api/v1/operators/",
            {"role": "brand", "email": "n@x.example", "name": "N", "password": "a-long-password-9"},
            "brand",
        ),
    ]
    for url, payload, field in cases:
        response = god.post(url, payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        body = response.json()
        assert body["code"] == "invalid"
        assert field in body["fields"], (payload, body)


def test_malformed_json_is_a_400_not_a_500(world, api):
    response = api(world.god).post("/api/v1/brands/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse-error"


def test_json_nested_too_deep_is_a_400_not_a_500(world, api):
    """Python's JSON decoder gives up on deep nesting with a RecursionError, which is no ValueError."""
    deep = "[" * 100_000 + "]" * 100_000
    op = world.client_a1_op
    for account, path in (
        (op, "/api/v1/routes/"),
        (op, "/api/v1/queues/"),
        (op, "/api/v1/ring-groups/"),
        (op, "/api/v1/widgets/"),
        (op, "/api/v1/voicemail/boxes/"),
        (world.god, "/api/v1/brands/"),
    ):
        response = api(account).post(path, deep, content_type="application/json")
        assert response.status_code == 400, path
        assert response.json()["code"] == "parse-error", path


def test_client_operator_manages_users_and_gets_the_sip_secret_once(world, api):
    http = api(world.client_a1_op)
    response = http.post(
        "/api/v1/users/",
        {"email": "new@client-a1.example", "name": "New Person", "password": "a-long-password-9", "number": "150"},
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["sip_username"] == "150"
    assert len(created["sip_secret"]) >= 16
    again = http.get(f"/api/v1/users/{created['id']}/").json()
    assert again["sip_secret"] is None

    duplicate = http.post(
        "/api/v1/users/",
        {"email": "other@client-a1.example", "name": "Other", "password": "a-long-password-9", "number": "150"},
        format="json",
    )
    assert duplicate.status_code == 400
    assert "number" in duplicate.json()["fields"]
    bad = http.post(
        "/api/v1/users/",
        {"email": "x@client-a1.example", "name": "X", "password": "a-long-password-9", "number": "12345"},
        format="json",
    )
    assert bad.status_code == 400 and "number" in bad.json()["fields"]

    reset = http.post(f"/api/v1/users/{created['id']}/reset-secret/", {}, format="json")
    assert reset.status_code == 200
    assert reset.json()["sip_secret"] not in (None, created["sip_secret"])

    assert http.delete(f"/api/v1/users/{created['id']}/").status_code == 204
    assert not User.objects.filter(email="new@client-a1.example").exists()


def test_users_are_invisible_on_brand_and_platform_hosts(world, api):
    assert api(world.god).get("/api/v1/users/").json()["count"] == 0
    assert api(world.brand_a_op).get("/api/v1/users/").json()["count"] == 0


def test_user_sees_own_sip_credentials_and_cannot_manage_others(world, api):
    http = api(world.user_a1)
    sip = http.get("/api/v1/me/sip/").json()
    assert sip["domain"] == world.client_a1.sip_domain
    assert sip["username"] == "101"
    assert "secret" not in sip
    listing = http.get("/api/v1/users/").json()
    assert [u["email"] for u in listing["results"]] == [world.user_a1.email]
    forbidden = http.post(
        "/api/v1/users/",
        {"email": "z@client-a1.example", "name": "Z", "password": "a-long-password-9", "number": "160"},
        format="json",
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "not-allowed"
    assert api(world.client_a1_op).get("/api/v1/me/sip/").status_code == 404


def test_suspending_a_client_closes_its_tokens_and_activation_reopens_them(world, api):
    user_api = api(world.user_a1)
    assert user_api.get("/api/v1/me/").status_code == 200
    brand = api(world.brand_a_op)
    assert brand.post(f"/api/v1/clients/{world.client_a1.pk}/suspend/").json()["status"] == "suspended"
    refused = user_api.get("/api/v1/me/")
    assert refused.status_code == 403
    assert refused.json()["code"] == "client-suspended"
    assert brand.post(f"/api/v1/clients/{world.client_a1.pk}/activate/").json()["status"] == "active"
    assert user_api.get("/api/v1/me/").status_code == 200


def test_delete_is_reversible_and_hard_delete_needs_god_and_confirmation(world, api):
    brand = api(world.brand_a_op)
    client = world.client_a2
    assert brand.delete(f"/api/v1/clients/{client.pk}/").status_code == 204
    assert api(host=world.host_of(world.client_a2_op)).get("/login/").status_code == 404  # host gone
    assert brand.post(f"/api/v1/clients/{client.pk}/hard-delete/", {"confirm": client.slug}).status_code == 403
    god = api(world.god)
    wrong = god.post(f"/api/v1/clients/{client.pk}/hard-delete/", {"confirm": "nope"}, format="json")
    assert wrong.status_code == 400 and "confirm" in wrong.json()["fields"]
    assert (
        god.post(f"/api/v1/clients/{client.pk}/hard-delete/", {"confirm": client.slug}, format="json").status_code
        == 204
    )
    connection.set_schema_to_public()
    assert not Client.objects.filter(pk=client.pk).exists()
    assert not schema_exists(client.schema_name)
    assert not User.objects.filter(client_id=client.pk).exists()


def test_frozen_client_fields_are_refused(world, api):
    response = api(world.brand_a_op).patch(
        f"/api/v1/clients/{world.client_a1.pk}/", {"sip_domain": "other.example"}, format="json"
    )
    assert response.status_code == 400 and "sip_domain" in response.json()["fields"]
    own = api(world.client_a1_op).patch(f"/api/v1/clients/{world.client_a1.pk}/", {"max_calls": 999}, format="json")
    assert own.status_code == 403
    ok = api(world.client_a1_op).patch(
        f"/api/v1/clients/{world.client_a1.pk}/", {"timezone": "Europe/Berlin"}, format="json"
    )
    assert ok.status_code == 200 and ok.json()["timezone"] == "Europe/Berlin"


def test_tokens_are_listed_without_keys_and_revocation_is_immediate(world, api):
    http = api(world.brand_a_op)
    created = http.post("/api/v1/tokens/", {"name": "billing export"}, format="json").json()
    key = created["key"]
    assert key.startswith("ocx_") and created["prefix"] == key[4:12]
    listed = http.get("/api/v1/tokens/").json()["results"]
    assert all(t["key"] is None for t in listed)
    assert ApiToken.objects.filter(key_hash__contains=key).count() == 0  # only the hash is stored

    second = api(host=world.brand_a.domain)
    second.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert second.get("/api/v1/me/").status_code == 200
    assert http.delete(f"/api/v1/tokens/{created['id']}/").status_code == 204
    assert second.get("/api/v1/me/").status_code == 401


def test_password_change_needs_the_current_password(world, api):
    http = api(world.user_a1)
    wrong = http.post("/api/v1/me/password/", {"current_password": "nope", "new_password": "another-password-7"})
    assert wrong.status_code == 400 and "current_password" in wrong.json()["fields"]
    weak = http.post("/api/v1/me/password/", {"current_password": "test-password-1", "new_password": "123"})
    assert weak.status_code == 400 and "password" in weak.json()["fields"]
    ok = http.post(
        "/api/v1/me/password/", {"current_password": "test-password-1", "new_password": "another-password-7"}
    )
    assert ok.status_code == 204
    world.user_a1.refresh_from_db()
    assert world.user_a1.check_password("another-password-7")


def test_unknown_hosts_are_not_served(api):
    assert api(host="unknown.example").get("/api/v1/me/").status_code == 404


def test_openapi_schema_and_offline_docs(world, api, portal):
    schema = api(world.god).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/brands/",
        "/api/v1/clients/",
        "/api/v1/operators/",
        "/api/v1/users/",
        "/api/v1/tokens/",
        "/api/v1/me/sip/",
    ):
        assert path in paths
    docs = portal(world.god).get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html  # served locally, works offline
    assert "cdn." not in html
    asset = portal(world.god).get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200


def test_a_brand_portal_answers_on_its_other_domains_and_they_stay_unique(world, api):
    god = api(world.god)
    response = god.patch(
        f"/api/v1/brands/{world.brand_a.pk}/", {"aliases": ["portal.brand-a.localhost", "BRAND-A2.localhost"]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["aliases"] == ["brand-a2.localhost", "portal.brand-a.localhost"]
    alias_api = api(world.brand_a_op, host="portal.brand-a.localhost")
    assert alias_api.get("/api/v1/me/").json()["email"] == world.brand_a_op.email

    taken = god.patch(f"/api/v1/brands/{world.brand_b.pk}/", {"aliases": ["portal.brand-a.localhost"]}, format="json")
    assert taken.status_code == 400 and "aliases" in taken.json()["fields"]
    as_main = god.post("/api/v1/brands/", {"name": "C", "domain": "brand-a2.localhost"}, format="json")
    assert as_main.status_code == 400 and "domain" in as_main.json()["fields"]
    as_client = api(world.brand_a_op).post(
        "/api/v1/clients/", {"name": "Alias Co", "slug": "alias-co", "domain": "brand-a2.localhost"}, format="json"
    )
    assert as_client.status_code == 400 and "domain" in as_client.json()["fields"]

    # Promoting an alias to the main domain keeps one row per host; clearing the list frees them.
    promoted = god.patch(f"/api/v1/brands/{world.brand_a.pk}/", {"domain": "brand-a2.localhost"}, format="json")
    assert promoted.json()["aliases"] == ["portal.brand-a.localhost"]
    cleared = god.patch(f"/api/v1/brands/{world.brand_a.pk}/", {"aliases": []}, format="json")
    assert cleared.json()["aliases"] == []
    assert api(world.brand_a_op, host="portal.brand-a.localhost").get("/api/v1/me/").status_code == 404


def test_operator_renames_and_deactivates_an_employee_through_the_api(world, api, django_capture_on_commit_callbacks):
    extension = world.extension_of(world.user_a1b)
    http = api(world.client_a1_op)
    with django_capture_on_commit_callbacks(execute=True):
        response = http.patch(
            f"/api/v1/users/{extension.pk}/",
            {"name": "Leaving Person", "email": "Leaving@client-a1.example", "is_active": False},
            format="json",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["email"], body["is_active"]) == ("Leaving Person", "leaving@client-a1.example", False)
    account = User.objects.get(pk=world.user_a1b.pk)
    assert (account.name, account.email, account.is_active) == ("Leaving Person", "leaving@client-a1.example", False)
    # The SIP directory the edge reads follows: the line no longer authenticates.
    record = get_redis().hget(rkey("sip:cred", world.client_a1.pk), extension.sip_username)
    assert json.loads(record)["active"] is False
    # The account's API token stops working too.
    assert api(world.user_a1b).get("/api/v1/me/").status_code == 401


def test_fields_that_cannot_change_are_refused_not_ignored(world, api):
    extension = world.extension_of(world.user_a1)
    client_op, god = api(world.client_a1_op), api(world.god)
    cases = [
        (api(world.user_a1), "/api/v1/me/", {"role": "god"}, "role"),
        (api(world.user_a1), "/api/v1/me/", {"client": world.client_b1.pk}, "client"),
        (api(world.user_a1), "/api/v1/me/", {"password": "a-long-password-9"}, "password"),  # has its own endpoint
        (god, f"/api/v1/operators/{world.client_a1_op.pk}/", {"role": "god"}, "role"),
        (god, f"/api/v1/operators/{world.client_a1_op.pk}/", {"client": world.client_a2.pk}, "client"),
        (god, f"/api/v1/clients/{world.client_a1.pk}/", {"status": "deleted"}, "status"),
        (client_op, f"/api/v1/users/{extension.pk}/", {"account_id": world.user_a1b.pk}, "account_id"),
        (client_op, f"/api/v1/users/{extension.pk}/", {"role": "client"}, "role"),
    ]
    for http, url, payload, field in cases:
        response = http.patch(url, payload, format="json")
        assert response.status_code == 400, (url, payload, response.content)
        assert field in response.json()["fields"], (url, payload, response.json())
    world.user_a1.refresh_from_db()
    assert world.user_a1.role == "user" and world.user_a1.client_id == world.client_a1.pk
    # Repeating a current value is not a change, and the rest of the request applies.
    same = god.patch(
        f"/api/v1/operators/{world.client_a1_op.pk}/", {"role": "client", "name": "Admin A1"}, format="json"
    )
    assert same.status_code == 200, same.content
    assert User.objects.get(pk=world.client_a1_op.pk).name == "Admin A1"


def test_the_brand_sets_a_clients_sip_digest_and_the_sip_directory_carries_it(
    world, api, django_capture_on_commit_callbacks
):
    import json

    from config.redis_store import get_redis, rkey

    url = f"/api/v1/clients/{world.client_a1.pk}/"
    assert api(world.brand_a_op).get(url).json()["sip_digest"] == ""  # the platform's default
    with django_capture_on_commit_callbacks(execute=True):
        ok = api(world.brand_a_op).patch(url, {"sip_digest": "sha256+md5"}, format="json")
    assert ok.status_code == 200 and ok.json()["sip_digest"] == "sha256+md5"
    record = json.loads(get_redis().hget(rkey("sip:domain"), world.client_a1.sip_domain))
    assert record["digest"] == ["SHA-256", "MD5"]  # what the edge offers the client's phones, preferred first
    bad = api(world.brand_a_op).patch(url, {"sip_digest": "sha1"}, format="json")
    assert bad.status_code == 400 and "sip_digest" in bad.json()["fields"]
    own = api(world.client_a1_op).patch(url, {"sip_digest": "md5"}, format="json")
    assert own.status_code == 403
