"""Operator accounts in the god, brand and client portals."""

from __future__ import annotations

import pytest

from tenants.models import Role, User
from tests.pages import errors_above_form, field_error, messages_of

NEW_PASSWORD = "a-fresh-password-42"

OPERATOR_FORM = {"name": "New Op", "email": "new.op@example.com", "password": NEW_PASSWORD}


@pytest.mark.parametrize(
    ("account_name", "form", "role", "scope"),
    [
        ("god", {"role": "brand", "brand": "{brand_b}"}, Role.BRAND, ("brand_id", "brand_b")),
        ("god", {"role": "god"}, Role.GOD, None),
        ("brand_a_op", {"role": "client", "client": "{client_a2}"}, Role.CLIENT, ("client_id", "client_a2")),
        ("brand_a_op", {"role": "brand"}, Role.BRAND, ("brand_id", "brand_a")),
        ("client_a1_op", {}, Role.CLIENT, ("client_id", "client_a1")),
    ],
)
def test_operators_create_operators_in_their_scope(world, portal, account_name, form, role, scope):
    ids = {name: getattr(world, name).pk for name in ("brand_b", "client_a2")}
    data = {**OPERATOR_FORM, **{k: v.format(**ids) for k, v in form.items()}}
    response = portal(getattr(world, account_name)).post("/operators/new/", data)
    assert response.status_code == 302, response.content.decode()
    account = User.objects.get(email="new.op@example.com")
    assert account.role == role and account.check_password(NEW_PASSWORD)
    if scope:
        assert getattr(account, scope[0]) == getattr(world, scope[1]).pk


@pytest.mark.parametrize(
    ("account_name", "form", "field", "text"),
    [
        ("brand_a_op", {"role": "client", "client": "{client_b1}"}, "client", "valid choice"),
        ("brand_a_op", {"role": "god"}, "role", "valid choice"),
        ("god", {"role": "brand"}, "brand", "Choose the brand"),
        ("client_a1_op", {"password": "short"}, "password", "too short"),
        ("client_a1_op", {"email": "user@client-a1.example"}, "email", "already exists"),
        ("client_a1_op", {"email": "not-an-email"}, "email", "valid email"),
    ],
)
def test_a_bad_operator_form_is_shown_again_with_the_error(world, portal, account_name, form, field, text):
    data = {**OPERATOR_FORM, "role": "client", **{k: v.format(client_b1=world.client_b1.pk) for k, v in form.items()}}
    response = portal(getattr(world, account_name)).post("/operators/new/", data)
    assert response.status_code == 200
    shown = field_error(response, field) if field else errors_above_form(response)
    assert text in shown, response.content.decode()
    assert not User.objects.filter(email="new.op@example.com").exists()


def test_a_new_operator_shows_every_bad_field_at_once(world, portal):
    form = {"role": "brand", "name": "", "email": "user@client-a1.example", "password": "short"}
    response = portal(world.god).post("/operators/new/", form)
    assert response.status_code == 200
    assert "required" in field_error(response, "name")
    assert "already exists" in field_error(response, "email")
    assert "too short" in field_error(response, "password")
    assert "Choose the brand" in field_error(response, "brand")


def test_an_edited_operator_shows_every_bad_field_at_once(world, portal):
    form = {"name": "", "email": "user@client-a1.example", "password": "short", "is_active": "on"}
    response = portal(world.brand_a_op).post(f"/operators/{world.client_a1_op.pk}/", form)
    assert response.status_code == 200
    assert "required" in field_error(response, "name")
    assert "already exists" in field_error(response, "email")
    assert "too short" in field_error(response, "password")
    assert User.objects.get(pk=world.client_a1_op.pk).email == world.client_a1_op.email


def test_an_operator_is_edited_deactivated_and_deleted(world, portal):
    http = portal(world.brand_a_op)
    url = f"/operators/{world.client_a1_op.pk}/"
    form = {"name": "Renamed", "email": world.client_a1_op.email, "password": NEW_PASSWORD}
    assert http.post(url, form).status_code == 302  # is_active unticked: deactivated
    account = User.objects.get(pk=world.client_a1_op.pk)
    assert account.name == "Renamed" and not account.is_active and account.check_password(NEW_PASSWORD)

    confirm = http.get(f"{url}delete/")
    assert confirm.status_code == 200 and "admin@client-a1.example" in confirm.content.decode()
    assert http.post(f"{url}delete/").status_code == 302
    assert not User.objects.filter(pk=world.client_a1_op.pk).exists()


def test_an_operator_cannot_delete_itself(world, portal):
    response = portal(world.brand_a_op).post(f"/operators/{world.brand_a_op.pk}/delete/", follow=True)
    assert "You cannot delete your own account." in messages_of(response)
    assert User.objects.filter(pk=world.brand_a_op.pk).exists()


def test_client_operators_list_only_their_client_operators(world, portal):
    page = portal(world.client_a1_op).get("/operators/").content.decode()
    assert "admin@client-a1.example" in page
    assert "user@client-a1.example" not in page and "admin@client-a2.example" not in page
