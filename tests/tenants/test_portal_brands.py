"""Brands in the god portal, and a brand's own settings page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tenants.models import Brand
from tests.pages import field_error, messages_of, title_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_god_creates_a_brand_with_a_logo_then_removes_the_logo(world, portal):
    http = portal(world.god)
    response = http.post(
        "/brands/new/",
        {
            "name": "Brand C",
            "domain": "brand-c.localhost",
            "primary_colour": "#112233",
            "logo": SimpleUploadedFile("l.png", PNG),
        },
    )
    brand = Brand.objects.get(name="Brand C")
    assert response.status_code == 302 and response["Location"] == f"/brands/{brand.pk}/"
    assert bytes(brand.logo) == PNG and brand.logo_type == "image/png" and brand.primary_colour == "#112233"
    assert portal(host="brand-c.localhost").get("/login/").status_code == 200
    assert portal(host="brand-c.localhost").get("/theme/logo").content == PNG

    form = {"name": "Brand C", "domain": "brand-c.localhost", "primary_colour": "#112233", "clear_logo": "on"}
    assert http.post(f"/brands/{brand.pk}/", form).status_code == 302
    brand.refresh_from_db()
    assert brand.logo is None and brand.primary_colour == "#112233"


@pytest.mark.parametrize(
    ("form", "field", "text"),
    [
        ({"name": "Brand D", "domain": "Not A Host!"}, "domain", "host name"),
        ({"name": "Brand D", "domain": "brand-b.localhost"}, "domain", "already exists"),
        ({"name": "Brand D", "domain": "client-a1.brand-a.localhost"}, "domain", "already in use"),
        ({"name": "Brand D", "domain": "localhost"}, "domain", "already in use"),
        ({"name": "Brand A", "domain": "brand-d.localhost"}, "name", "already exists"),
        ({"name": "Brand D", "domain": "brand-d.localhost", "accent_colour": "red"}, "accent_colour", "#rrggbb"),
        ({"name": "", "domain": "brand-d.localhost"}, "name", "required"),
    ],
)
def test_a_bad_brand_form_shows_the_error_next_to_the_field(world, portal, form, field, text):
    response = portal(world.god).post("/brands/new/", form)
    assert response.status_code == 200
    assert text in field_error(response, field)
    assert not Brand.objects.filter(domain="brand-d.localhost").exists()


def test_a_logo_that_is_not_an_image_is_refused(world, portal):
    response = portal(world.brand_a_op).post(
        "/settings/", {"name": "Brand A", "domain": "brand-a.localhost", "logo": SimpleUploadedFile("x.gif", b"GIF89a")}
    )
    assert response.status_code == 200 and "PNG or JPEG" in field_error(response, "logo")


def test_a_brand_operator_edits_its_own_brand_settings(world, portal):
    response = portal(world.brand_a_op).post(
        "/settings/", {"name": "Brand A Plus", "domain": "brand-a.localhost", "primary_colour": "#0a0b0c"}
    )
    assert response.status_code == 302
    brand = Brand.objects.get(pk=world.brand_a.pk)
    assert brand.name == "Brand A Plus" and brand.primary_colour == "#0a0b0c"
    assert "--primary: #0a0b0c" in portal(host="brand-a.localhost").get("/login/").content.decode()


def test_a_brand_with_clients_is_not_deleted_but_an_empty_one_is(world, portal):
    http = portal(world.god)
    refused = http.post(f"/brands/{world.brand_a.pk}/delete/", follow=True)
    assert "Delete or move this brand's clients first." in messages_of(refused)
    assert Brand.objects.filter(pk=world.brand_a.pk).exists()

    empty = Brand.objects.create(name="Empty", domain="empty.localhost")
    confirm = http.get(f"/brands/{empty.pk}/delete/")
    assert confirm.status_code == 200 and title_of(confirm) == "Delete brand Empty"
    assert http.post(f"/brands/{empty.pk}/delete/").status_code == 302
    assert not Brand.objects.filter(pk=empty.pk).exists()


def test_a_brand_operator_adds_other_domains_and_the_portal_answers_there(world, portal):
    form = {"name": "Brand A", "domain": "brand-a.localhost", "aliases": "www.brand-a.localhost\nBrand-A.example\n"}
    assert portal(world.brand_a_op).post("/settings/", form).status_code == 302
    assert sorted(world.brand_a.aliases.values_list("domain", flat=True)) == [
        "brand-a.example",
        "www.brand-a.localhost",
    ]
    login = portal(host="www.brand-a.localhost").get("/login/")
    assert login.status_code == 200 and "Sign in to Brand A" in login.content.decode()

    taken = {"name": "Brand B", "domain": "brand-b.localhost", "aliases": "www.brand-a.localhost"}
    response = portal(world.brand_b_op).post("/settings/", taken)
    assert response.status_code == 200 and "already in use" in field_error(response, "aliases")


@pytest.mark.parametrize("accent", ["red", "#12345678"])  # refused by the service, by the form's length
def test_a_bad_logo_does_not_hide_the_colour_and_domain_errors(world, portal, accent):
    form = {"name": "", "domain": "brand-b.localhost", "primary_colour": "#12", "accent_colour": accent,
            "logo": SimpleUploadedFile("x.gif", b"GIF89a")}  # fmt: skip
    response = portal(world.brand_a_op).post("/settings/", form)
    assert response.status_code == 200
    assert "PNG or JPEG" in field_error(response, "logo")
    assert "#rrggbb" in field_error(response, "primary_colour")
    assert field_error(response, "accent_colour")
    assert "already" in field_error(response, "domain")
    assert "required" in field_error(response, "name")
    assert 'value="brand-b.localhost"' in response.content.decode()
    assert Brand.objects.get(pk=world.brand_a.pk).name == "Brand A"


def test_a_new_brand_shows_every_bad_field_at_once(world, portal):
    form = {"name": "Brand A", "domain": "Not A Host!", "accent_colour": "red", "logo": SimpleUploadedFile("x", b"x")}
    response = portal(world.god).post("/brands/new/", form)
    assert response.status_code == 200
    assert "already exists" in field_error(response, "name")
    assert "host name" in field_error(response, "domain")
    assert "#rrggbb" in field_error(response, "accent_colour")
    assert "PNG or JPEG" in field_error(response, "logo")
