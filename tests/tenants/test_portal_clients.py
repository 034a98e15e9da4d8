"""Client companies in the brand and god portals, and a client's own settings page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tenants.utils import schema_exists

from tenants.models import Client, Domain
from tenants.services import client_primary_domain
from tests.conftest import PASSWORD
from tests.pages import errors_above_form, field_error, messages_of

CLIENT_FORM = {"name": "Initech", "slug": "initech", "kind": "pbx", "max_calls": "5", "timezone": "Europe/Paris"}


def test_a_brand_operator_creates_a_client_with_its_schema(world, portal):
    response = portal(world.brand_a_op).post("/clients/new/", CLIENT_FORM)
    client = Client.objects.get(slug="initech")
    assert response.status_code == 302 and response["Location"] == f"/clients/{client.pk}/"
    assert client.brand == world.brand_a and client.max_calls == 5 and client.timezone == "Europe/Paris"
    assert schema_exists(client.schema_name)
    assert Domain.objects.get(tenant=client).domain == "initech.brand-a.localhost"
    assert client.sip_domain == "initech.brand-a.localhost"
    connection.set_schema_to_public()
    detail = portal(world.brand_a_op).get(response["Location"])
    assert "initech.brand-a.localhost" in detail.content.decode()
    assert portal(host="initech.brand-a.localhost").get("/login/").status_code == 200


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"slug": "client-a1"}, "slug", "already has a client"),
        ({"name": "Client a2"}, "name", "already has a client"),
        ({"slug": "bad slug"}, "slug", "lower-case letters"),
        ({"slug": "client_a1", "domain": "x.example.com"}, "slug", "lower-case letters"),
        ({"domain": "brand-b.localhost"}, "domain", "already in use"),
        ({"domain": "no_underscores.example"}, "domain", "host name"),
        ({"sip_domain": "client-b1.brand-b.localhost"}, "sip_domain", "already exists"),
        ({"max_calls": "0"}, "max_calls", "greater than or equal to 1"),
        ({"timezone": "Mars/Base"}, "timezone", "valid choice"),
    ],
)
def test_a_bad_client_form_shows_the_error_next_to_the_field(world, portal, changes, field, text):
    response = portal(world.brand_a_op).post("/clients/new/", {**CLIENT_FORM, **changes})
    assert response.status_code == 200
    assert text in field_error(response, field), response.content.decode()
    assert not Client.objects.filter(name="Initech").exists()


def test_god_picks_the_brand_of_a_new_client_among_all_brands(world, portal):
    http = portal(world.god)
    missing = http.post("/clients/new/", CLIENT_FORM)
    assert missing.status_code == 200 and "required" in field_error(missing, "brand")
    page = http.get("/clients/new/").content.decode()
    assert "Brand A" in page and "Brand B" in page


def test_the_brand_edits_a_client_contract_and_domain(world, portal):
    http = portal(world.brand_a_op)
    url = f"/clients/{world.client_a1.pk}/"
    form = {"name": "Client a1", "kind": "pbx", "max_calls": "25", "timezone": "UTC", "domain": "a1.example.com"}
    taken = http.post(url, {**form, "domain": "client-a2.brand-a.localhost"})
    assert taken.status_code == 200 and "already in use" in field_error(taken, "domain")
    assert Client.objects.get(pk=world.client_a1.pk).max_calls == 10  # nothing half-saved

    assert http.post(url, form).status_code == 302
    client = Client.objects.get(pk=world.client_a1.pk)
    assert client.max_calls == 25 and client.domains.get(is_primary=True).domain == "a1.example.com"


def test_the_client_list_filters_by_status_and_shows_the_brand_to_god(world, portal):
    Client.objects.filter(pk=world.client_a2.pk).update(status=Client.Status.SUSPENDED)
    page = portal(world.god).get("/clients/?status=suspended").content.decode()
    assert "Client a2" in page and "Client a1" not in page and ">Brand</a></th>" in page
    brand_page = portal(world.brand_a_op).get("/clients/").content.decode()
    assert ">Brand</a></th>" not in brand_page and "Client b1" not in brand_page


def test_suspend_and_activate_from_the_client_page(world, portal):
    brand = portal(world.brand_a_op)
    response = brand.post(f"/clients/{world.client_a1.pk}/suspend/", follow=True)
    assert "Client Client a1 is suspended: its sign-in and API are closed." in messages_of(response)
    assert Client.objects.get(pk=world.client_a1.pk).status == Client.Status.SUSPENDED
    assert '<span class="badge suspended">Suspended</span>' in response.content.decode()

    response = brand.post(f"/clients/{world.client_a1.pk}/activate/", follow=True)
    assert "Client Client a1 is active again." in messages_of(response)
    assert Client.objects.get(pk=world.client_a1.pk).status == Client.Status.ACTIVE
    login = portal(host=world.host_of(world.user_a1)).post(
        "/login/", {"username": world.user_a1.email, "password": PASSWORD}
    )
    assert login.status_code == 302 and login["Location"] == "/"


def test_a_suspended_client_host_answers_403_and_its_users_cannot_sign_in(world, portal):
    portal(world.brand_a_op).post(f"/clients/{world.client_a1.pk}/suspend/")
    signed_in = portal(world.client_a1_op).get("/")
    assert signed_in.status_code == 403 and "This account is suspended" in signed_in.content.decode()
    login = portal(host=world.host_of(world.user_a1)).post(
        "/login/", {"username": world.user_a1.email, "password": PASSWORD}
    )
    assert login.status_code == 403 and "_auth_user_id" not in login.wsgi_request.session


def test_delete_is_reversible(world, portal):
    brand = portal(world.brand_a_op)
    brand.post(f"/clients/{world.client_a2.pk}/delete/")
    assert Client.objects.get(pk=world.client_a2.pk).status == Client.Status.DELETED
    assert portal(world.client_a2_op).get("/login/").status_code == 404  # the host is gone
    assert "Client a2" in brand.get("/clients/?status=deleted").content.decode()
    brand.post(f"/clients/{world.client_a2.pk}/activate/")
    assert portal(world.client_a2_op).get("/").status_code == 200


def test_god_hard_deletes_a_deleted_client_after_typing_its_short_name(world, portal):
    god = portal(world.god)
    created = god.post("/clients/new/", {**CLIENT_FORM, "brand": world.brand_b.pk})
    client = Client.objects.get(slug="initech")
    assert created.status_code == 302 and client.brand == world.brand_b
    connection.set_schema_to_public()
    url = f"/clients/{client.pk}/hard-delete/"

    active = god.post(url, {"confirm": "initech"})
    assert active.status_code == 200 and "Delete the client first" in errors_above_form(active)
    assert f'href="{url}"' not in god.get(f"/clients/{client.pk}/").content.decode()

    god.post(f"/clients/{client.pk}/delete/")
    assert f'href="{url}"' in god.get(f"/clients/{client.pk}/").content.decode()
    assert god.get(url).status_code == 200
    wrong = god.post(url, {"confirm": "initech-typo"})
    assert wrong.status_code == 200 and "Type the client's short name (initech)" in field_error(wrong, "confirm")
    assert schema_exists(client.schema_name)

    done = god.post(url, {"confirm": "initech"})
    assert done.status_code == 302 and done["Location"] == "/clients/"
    assert not Client.objects.filter(pk=client.pk).exists() and not schema_exists(client.schema_name)


def test_a_client_operator_changes_its_settings(world, portal):
    http = portal(world.client_a1_op)
    bad = http.post("/settings/", {"timezone": "Europe/Berlin", "primary_colour": "blue"})
    assert bad.status_code == 200 and "#rrggbb" in field_error(bad, "primary_colour")
    ok = http.post("/settings/", {"timezone": "Europe/Berlin", "primary_colour": "#223344"})
    assert ok.status_code == 302
    client = Client.objects.get(pk=world.client_a1.pk)
    assert client.timezone == "Europe/Berlin" and client.primary_colour == "#223344"


def test_the_brand_chooses_the_digest_algorithms_of_a_clients_phones(world, portal):
    http = portal(world.brand_a_op)
    url = f"/clients/{world.client_a1.pk}/"
    assert 'name="sip_digest"' in http.get(url).content.decode()
    form = {"name": "Client a1", "kind": "pbx", "max_calls": "10", "sip_digest": "sha256", "timezone": "UTC",
            "domain": client_primary_domain(world.client_a1)}  # fmt: skip
    assert http.post(url, form).status_code == 302
    assert Client.objects.get(pk=world.client_a1.pk).sip_digest_algorithms == ["SHA-256"]


def test_a_new_client_shows_every_bad_field_at_once(world, portal):
    bad = {**CLIENT_FORM, "name": "Client a2", "slug": "bad slug", "max_calls": "0", "domain": "brand-b.localhost",
           "sip_domain": "client-b1.brand-b.localhost"}  # fmt: skip
    response = portal(world.brand_a_op).post("/clients/new/", bad)
    assert response.status_code == 200
    assert "already has a client" in field_error(response, "name")
    assert "lower-case letters" in field_error(response, "slug")
    assert "greater than or equal to 1" in field_error(response, "max_calls")
    assert "already in use" in field_error(response, "domain")
    assert "already exists" in field_error(response, "sip_domain")
    assert not Client.objects.filter(slug="bad-slug").exists()


def test_client_forms_show_a_bad_logo_with_the_other_errors(world, portal):
    """The brand's page of a client, and the client's own settings: a bad logo hides nothing."""
    url = f"/clients/{world.client_a1.pk}/"
    form = {"name": "Client a2", "kind": "pbx", "max_calls": "0", "timezone": "UTC", "accent_colour": "red",
            "domain": "client-a2.brand-a.localhost", "logo": SimpleUploadedFile("x.gif", b"GIF89a")}  # fmt: skip
    response = portal(world.brand_a_op).post(url, form)
    assert response.status_code == 200
    for field, text in [("logo", "PNG or JPEG"), ("name", "already has a client"), ("max_calls", "greater than"),
                        ("accent_colour", "#rrggbb"), ("domain", "already in use")]:  # fmt: skip
        assert text in field_error(response, field), field

    own = {"timezone": "Mars/Base", "primary_colour": "blue", "logo": SimpleUploadedFile("x.gif", b"GIF89a")}
    response = portal(world.client_a1_op).post("/settings/", own)
    assert response.status_code == 200
    assert "valid choice" in field_error(response, "timezone")
    assert "#rrggbb" in field_error(response, "primary_colour")
    assert "PNG or JPEG" in field_error(response, "logo")
    assert Client.objects.get(pk=world.client_a1.pk).name == "Client a1"
