"""Each operator portal as its operators see it: pages, navigation, roles, lists, account and status."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from config.redis_store import get_redis
from telephony.engine_registry import EngineInfo, engine_heartbeat, engine_withdraw
from tenants.forms import TokenForm
from tenants.models import ApiToken, Role, User
from tenants.tasks import HEARTBEAT_KEY
from tenants.views.common import errors_to_form
from tests.conftest import PASSWORD
from tests.pages import errors_above_form, field_error, title_of

NEW_PASSWORD = "a-fresh-password-42"


PAGES = {
    "god": [
        ("/", "Dashboard"),
        ("/brands/", "Brands"),
        ("/brands/new/", "New brand"),
        ("/brands/{brand_a}/", "Brand Brand A"),
        ("/clients/", "Clients"),
        ("/clients/?status=deleted&q=client", "Clients"),
        ("/clients/new/", "New client"),
        ("/clients/{client_a1}/", "Client Client a1"),
        ("/operators/", "Operators"),
        ("/operators/new/", "New operator"),
        ("/operators/{brand_a_op}/", "Operator ops@brand-a.example"),
        ("/status/", "Platform status"),
        ("/account/", "My account"),
        ("/account/password/", "Change password"),
        ("/account/tokens/", "API tokens"),
    ],
    "brand_a_op": [
        ("/", "Dashboard"),
        ("/clients/", "Clients"),
        ("/clients/new/", "New client"),
        ("/clients/{client_a1}/", "Client Client a1"),
        ("/operators/", "Operators"),
        ("/operators/new/", "New operator"),
        ("/operators/{client_a1_op}/", "Operator admin@client-a1.example"),
        ("/settings/", "Brand settings"),
        ("/account/", "My account"),
        ("/account/tokens/", "API tokens"),
    ],
    "client_a1_op": [
        ("/", "Dashboard"),
        ("/operators/", "Operators"),
        ("/operators/new/", "New operator"),
        ("/settings/", "Settings"),
        ("/account/", "My account"),
        ("/account/password/", "Change password"),
    ],
}


@pytest.mark.parametrize("account_name", list(PAGES))
def test_each_operator_page_renders_with_its_title(world, portal, account_name):
    http = portal(getattr(world, account_name))
    ids = {name: getattr(world, name).pk for name in ("brand_a", "client_a1", "brand_a_op", "client_a1_op")}
    for url, title in PAGES[account_name]:
        response = http.get(url.format(**ids))
        assert response.status_code == 200, url
        assert title_of(response) == title, url


def test_dashboards_count_within_scope(world, portal):
    god = portal(world.god).get("/").content.decode()
    assert re.search(r"<b>2</b> brands", god) and re.search(r"<b>3</b> clients", god)
    brand = portal(world.brand_a_op).get("/").content.decode()
    assert re.search(r"<b>2</b> clients", brand) and "Client a1" in brand and "Client b1" not in brand


def test_nav_depends_on_the_portal_and_marks_the_current_page(world, portal):
    page = portal(world.brand_a_op).get("/clients/").content.decode()
    assert '<a href="/clients/" class="active" aria-current="page">Clients</a>' in page
    assert 'href="/brands/"' not in page and 'href="/status/"' not in page
    god = portal(world.god).get("/status/").content.decode()
    assert '<a href="/status/" class="active" aria-current="page">Status</a>' in god


@pytest.mark.parametrize(
    ("account_name", "url"),
    [
        ("brand_a_op", "/brands/"),
        ("brand_a_op", "/status/"),
        ("brand_a_op", "/clients/{client_a1}/hard-delete/"),
        ("client_a1_op", "/clients/"),
        ("client_a1_op", "/phone/"),
        ("user_a1", "/users/"),
        ("user_a1", "/operators/"),
        ("user_a1", "/settings/"),
    ],
)
def test_a_role_gets_404_on_pages_that_are_not_its_own(world, portal, account_name, url):
    response = portal(getattr(world, account_name)).get(url.format(client_a1=world.client_a1.pk))
    assert response.status_code == 404


def test_pages_ask_anonymous_visitors_to_sign_in(world, portal):
    response = portal(host="brand-a.localhost").get("/clients/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_lists_are_searchable_and_paginated(world, portal):
    for n in range(30):
        User.objects.create_user(
            f"extra{n:02}@client-a1.example", None, name=f"Extra {n}", role=Role.CLIENT, client=world.client_a1
        )
    http = portal(world.client_a1_op)
    first = http.get("/operators/").content.decode()
    assert "Page 1 of 2" in first and "31 in all" in first and "extra24@" not in first
    second = http.get("/operators/?page=2").content.decode()
    assert "extra29@client-a1.example" in second and "admin@client-a1.example" not in second
    found = http.get("/operators/?q=extra07").content.decode()
    assert "extra07@client-a1.example" in found and "extra08@" not in found and "1 in all" in found


# Account ---------------------------------------------------------------------------------------


def test_profile_and_password_change(world, portal):
    http = portal(world.brand_a_op)
    assert http.post("/account/", {"name": "Brand Ops", "email": "ops@brand-a.example"}).status_code == 302
    assert User.objects.get(pk=world.brand_a_op.pk).name == "Brand Ops"
    taken = http.post("/account/", {"name": "Brand Ops", "email": world.god.email})
    assert taken.status_code == 200 and "already exists" in field_error(taken, "email")

    wrong_old = http.post(
        "/account/password/", {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert wrong_old.status_code == 200 and "incorrect" in field_error(wrong_old, "old_password")
    short = http.post(
        "/account/password/", {"old_password": PASSWORD, "new_password1": "short", "new_password2": "short"}
    )
    assert short.status_code == 200 and "too short" in field_error(short, "new_password2")
    ok = http.post(
        "/account/password/", {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert ok.status_code == 302
    assert User.objects.get(pk=world.brand_a_op.pk).check_password(NEW_PASSWORD)
    assert http.get("/").status_code == 200  # still signed in


def test_an_api_token_key_is_shown_once_and_revoked(world, portal):
    http = portal(world.client_a1_op)
    created = http.post("/account/tokens/", {"name": "CRM sync"}, follow=True)
    key = re.search(r'<p class="secret">(ocx_[^<]+)</p>', created.content.decode()).group(1)
    assert "it will not be shown again" in created.content.decode()
    assert key not in http.get("/account/tokens/").content.decode()

    api = portal(host=world.host_of(world.client_a1_op))
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").json()["email"] == world.client_a1_op.email
    token = ApiToken.objects.get(user=world.client_a1_op, name="CRM sync")
    assert http.post(f"/account/tokens/{token.pk}/revoke/").status_code == 302
    assert api.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401


# Sign-in and status ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account_name", "host_of"), [("brand_b_op", "brand_a_op"), ("god", "client_a1_op"), ("client_a1_op", "god")]
)
def test_the_login_page_refuses_accounts_of_another_portal(world, portal, account_name, host_of):
    account = getattr(world, account_name)
    response = portal(host=world.host_of(getattr(world, host_of))).post(
        "/login/", {"username": account.email, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "Please enter a correct email and password" in errors_above_form(response)
    assert "_auth_user_id" not in response.wsgi_request.session


def test_the_status_page_reports_the_services(world, portal):
    cache.set(HEARTBEAT_KEY, time.time() - 5)
    page = portal(world.god).get("/status/").content.decode()
    rows = dict(re.findall(r"<td>([^<]+)</td>\s*<td><span class=\"badge (up|down)\">", page))
    assert rows == {"PostgreSQL": "up", "Redis": "up", "Celery": "up", "Channel layer": "up"}
    assert "PostgreSQL 1" in page and "Redis " in page and "Last heartbeat 5 s ago" in page
    for package in ("Python", "Django", "django-tenants", "djangorestframework", "channels", "celery"):
        assert f"<dt>{package}</dt>" in page

    cache.set(HEARTBEAT_KEY, time.time() - 300)
    stale = portal(world.god).get("/status/").content.decode()
    cache.delete(HEARTBEAT_KEY)
    assert re.search(r"<td>Celery</td>\s*<td><span class=\"badge down\">", stale)


def test_service_errors_land_on_the_matching_field_or_above_the_form():
    form = TokenForm({"name": "CRM"})
    assert form.is_valid()
    errors_to_form(form, ValidationError({"name": "Taken.", "sip_domain": "In use.", NON_FIELD_ERRORS: "Whole."}))
    assert form.errors["name"] == ["Taken."]
    assert form.non_field_errors() == ["Sip domain: In use.", "Whole."]
    plain = TokenForm({"name": "CRM"})
    assert plain.is_valid()
    errors_to_form(plain, ValidationError("Delete the client first."))
    assert plain.non_field_errors() == ["Delete the client first."]


def test_the_status_page_lists_the_sip_edges_and_call_engines_with_their_load(world, portal):
    redis_client, prefix = get_redis(), settings.OCX_REDIS_PREFIX
    engine = EngineInfo("status-test-engine", "127.0.0.1", 5999, calls=7, capacity=400, free_ports=4990,
                        conferences=2, participants=31, conference_capacity=500)  # fmt: skip
    engine_heartbeat(redis_client, prefix, engine)
    edge = {"id": "status-test-edge", "at": time.time(), "host": "127.0.0.1", "port": 5998}
    redis_client.set(f"{prefix}:edge:status-test-edge", json.dumps(edge), ex=15)
    try:
        page = portal(world.god).get("/status/").content.decode()
    finally:
        engine_withdraw(redis_client, prefix, engine.id)
        redis_client.delete(f"{prefix}:edge:status-test-edge")
    engines = page.split('id="engines"')[1].split("</table>")[0]
    row = engines.split("status-test-engine")[1].split("</tr>")[0]
    cells = re.findall(r"<td>([^<]*)</td>", row)
    assert cells[:6] == ["127.0.0.1:5999", "7 / 400", "2", "31", "469", "4990"], cells
    assert "taking calls" in row
    assert "status-test-edge" in page.split('id="edges"')[1].split("</table>")[0]
    assert portal(world.brand_a_op).get("/status/").status_code in (403, 404), "the operator's page only"


@pytest.mark.parametrize(
    "account_name, url",
    [("client_a1_op", "/users/"), ("client_a1_op", "/calls/"), ("user_a1", "/calls/"), ("god", "/clients/")],
)
def test_a_search_with_a_nul_byte_is_searched_without_it(world, portal, account_name, url):
    """PostgreSQL text holds no NUL: a ?q= carrying one answered 500."""
    response = portal(getattr(world, account_name)).get(url, {"q": "Us\x00er"})
    assert response.status_code == 200
    assert b"Us\x00er" not in response.content
