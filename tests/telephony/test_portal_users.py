"""The client portal's users pages (operators) and an employee's own pages, as people use them."""

from __future__ import annotations

import re

import pytest
from django_tenants.utils import tenant_context

from telephony.models import Extension
from telephony.services import sip_ha1
from tenants.models import User
from tests.conftest import PASSWORD
from tests.pages import field_error, secret_on, title_of

NEW_USER = {"name": "Nina North", "email": "nina@client-a1.example", "password": "nina-password-77", "number": "150"}


def extension(world, **lookup) -> Extension | None:
    with tenant_context(world.client_a1):
        return Extension.objects.select_related("account").filter(**lookup).first()


def registers_with(world, ext: Extension, secret: str) -> bool:
    """Whether a phone with this secret would pass digest auth: the stored HA1 matches."""
    return sip_ha1(ext.sip_username, world.client_a1.sip_domain, secret)[0] == ext.ha1_md5


def test_operator_pages_render_with_their_titles(world, portal):
    http = portal(world.client_a1_op)
    ext = world.extension_of(world.user_a1)
    for url, title in [
        ("/users/", "Users"),
        ("/users/?q=101", "Users"),
        ("/users/new/", "New user"),
        (f"/users/{ext.pk}/", "User 101 User a1"),
        (f"/users/{ext.pk}/edit/", "Edit user 101"),
        (f"/users/{ext.pk}/delete/", "Delete user 101"),
    ]:
        response = http.get(url)
        assert response.status_code == 200, url
        assert title_of(response) == title, url


def test_the_user_list_is_searchable(world, portal):
    http = portal(world.client_a1_op)
    everyone = http.get("/users/").content.decode()
    assert "user@client-a1.example" in everyone and "user2@client-a1.example" in everyone
    found = http.get("/users/?q=user2").content.decode()
    assert "user2@client-a1.example" in found and "user@client-a1.example" not in found
    assert "user@client-b1.example" not in everyone


def test_creating_a_user_shows_the_sip_secret_once(world, portal):
    http = portal(world.client_a1_op)
    created = http.post("/users/new/", NEW_USER)
    ext = extension(world, number="150")
    assert created.status_code == 302 and created["Location"] == f"/users/{ext.pk}/"
    assert ext.account.email == "nina@client-a1.example" and ext.display_name == "Nina North"
    assert ext.sip_username == "150"

    first = http.get(created["Location"])
    secret = secret_on(first)
    assert secret and registers_with(world, ext, secret)
    assert "Copy it now: it will not be shown again." in first.content.decode()
    assert "no-store" in first["Cache-Control"]
    reload = http.get(created["Location"])
    assert secret_on(reload) is None and secret not in reload.content.decode()

    login = portal(host=world.host_of(world.user_a1)).post(
        "/login/", {"username": NEW_USER["email"], "password": NEW_USER["password"]}
    )
    assert login.status_code == 302


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"number": "101"}, "number", "already"),
        ({"number": "12345"}, "number", "at most 4 characters"),
        ({"number": "1x"}, "number", "2 to 4 digits"),
        ({"email": "user@client-b1.example"}, "email", "already exists"),
        ({"password": "short"}, "password", "too short"),
        ({"sip_username": "102"}, "sip_username", "already"),
        ({"sip_username": "bad name!"}, "sip_username", "letters, digits"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_a_bad_user_form_shows_the_error_next_to_the_field(world, portal, changes, field, text):
    response = portal(world.client_a1_op).post("/users/new/", {**NEW_USER, **changes})
    assert response.status_code == 200
    assert text in field_error(response, field), response.content.decode()
    assert not User.objects.filter(name="Nina North").exists()
    assert extension(world, display_name="Nina North") is None


def test_an_operator_edits_a_user_and_their_line(world, portal):
    http = portal(world.client_a1_op)
    ext = world.extension_of(world.user_a1b)
    form = {"number": "120", "display_name": "Reception", "name": "Rita", "email": "rita@client-a1.example"}
    assert http.post(f"/users/{ext.pk}/edit/", {**form, "password": "rita-password-55"}).status_code == 302
    ext = extension(world, pk=ext.pk)
    assert (ext.number, ext.display_name) == ("120", "Reception")
    assert (ext.account.name, ext.account.email, ext.account.is_active) == ("Rita", "rita@client-a1.example", False)
    assert ext.account.check_password("rita-password-55")


def test_a_failed_user_edit_changes_nothing(world, portal):
    """The line and the account are saved together: a refused number leaves the name as it was."""
    http = portal(world.client_a1_op)
    ext = world.extension_of(world.user_a1b)
    form = {
        "number": "101",
        "display_name": "User a1b",
        "name": "Changed",
        "email": world.user_a1b.email,
        "is_active": "on",
    }
    response = http.post(f"/users/{ext.pk}/edit/", form)
    assert response.status_code == 200 and "already" in field_error(response, "number")
    assert User.objects.get(pk=world.user_a1b.pk).name == "User a1b"
    taken = http.post(f"/users/{ext.pk}/edit/", {**form, "number": "102", "email": world.client_a1_op.email})
    assert taken.status_code == 200 and "already exists" in field_error(taken, "email")


def test_an_operator_resets_a_secret_shown_once(world, portal):
    http = portal(world.client_a1_op)
    ext = world.extension_of(world.user_a1)
    response = http.post(f"/users/{ext.pk}/reset-secret/", {"sip_username": "alice.a1"}, follow=True)
    secret = secret_on(response)
    ext = extension(world, pk=ext.pk)
    assert secret and ext.sip_username == "alice.a1" and registers_with(world, ext, secret)
    assert secret_on(http.get(f"/users/{ext.pk}/")) is None

    taken = http.post(f"/users/{ext.pk}/reset-secret/", {"sip_username": "102"}, follow=True)
    assert secret_on(taken) is None and extension(world, pk=ext.pk).ha1_md5 == ext.ha1_md5
    assert any("already exists" in str(m) for m in taken.context["messages"])


def test_deleting_a_user_removes_the_line_and_the_login(world, portal):
    http = portal(world.client_a1_op)
    ext = world.extension_of(world.user_a1b)
    confirm = http.get(f"/users/{ext.pk}/delete/")
    assert confirm.status_code == 200 and "user2@client-a1.example" in confirm.content.decode()
    assert http.post(f"/users/{ext.pk}/delete/").status_code == 302
    assert extension(world, pk=ext.pk) is None
    assert not User.objects.filter(pk=world.user_a1b.pk).exists()


def test_client_operator_dashboard_counts_its_users(world, portal):
    page = portal(world.client_a1_op).get("/").content.decode()
    assert re.search(r"<b>3</b> users", page) and "client-a1.brand-a.localhost" in page


# The employee's own pages ----------------------------------------------------------------------


def test_an_employee_sees_their_profile_and_phone_settings(world, portal):
    http = portal(world.user_a1)
    home = http.get("/")
    assert home.status_code == 200 and title_of(home) == "Home"
    assert "user@client-a1.example" in home.content.decode() and "<dd>101</dd>" in home.content.decode()
    nav = home.content.decode()
    assert 'href="/phone/"' in nav and 'href="/users/"' not in nav and 'href="/operators/"' not in nav

    phone = http.get("/phone/")
    assert phone.status_code == 200 and title_of(phone) == "My phone"
    facts = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]*)</dd>", phone.content.decode()))
    assert facts["Extension"] == "101"
    assert facts["SIP user name"] == world.extension_of(world.user_a1).sip_username
    assert facts["SIP domain"] == world.client_a1.sip_domain
    assert facts["Outbound proxy"]
    assert secret_on(phone) is None


def test_an_employee_resets_their_secret_and_sees_it_once(world, portal):
    http = portal(world.user_a1)
    before = world.extension_of(world.user_a1).ha1_md5
    response = http.post("/phone/reset-secret/", follow=True)
    secret = secret_on(response)
    ext = world.extension_of(world.user_a1)
    assert secret and ext.ha1_md5 != before and registers_with(world, ext, secret)
    assert "it will not be shown again" in response.content.decode()
    assert secret_on(http.get("/phone/")) is None


def test_an_employee_edits_their_profile_and_password(world, portal):
    http = portal(world.user_a1)
    assert http.get("/account/").status_code == 200
    assert http.post("/account/", {"name": "Alice", "email": world.user_a1.email}).status_code == 302
    assert User.objects.get(pk=world.user_a1.pk).name == "Alice"
    form = {"old_password": PASSWORD, "new_password1": "alice-password-66", "new_password2": "alice-password-66"}
    assert http.post("/account/password/", form).status_code == 302
    assert http.get("/phone/").status_code == 200


@pytest.mark.parametrize(
    "url", ["/users/", "/users/new/", "/users/{pk}/", "/users/{pk}/edit/", "/operators/", "/settings/"]
)
def test_an_employee_gets_404_on_operator_pages(world, portal, url):
    pk = world.extension_of(world.user_a1).pk
    assert portal(world.user_a1).get(url.format(pk=pk)).status_code == 404
    assert portal(world.user_a1).post(url.format(pk=pk), NEW_USER).status_code == 404


def test_every_bad_field_of_a_new_user_shows_its_error_in_one_submission(world, portal):
    """Empty name, extension 1a, a used e-mail and a short password: four errors at once, the values
    kept; the SIP user name left empty follows the extension, so it gets no error of its own."""
    bad = {"name": "", "number": "1a", "email": "user@client-b1.example", "password": "short", "sip_username": ""}
    response = portal(world.client_a1_op).post("/users/new/", {**NEW_USER, **bad})
    assert response.status_code == 200
    assert "required" in field_error(response, "name")
    assert "2 to 4 digits" in field_error(response, "number")
    assert "already exists" in field_error(response, "email")
    assert "too short" in field_error(response, "password")
    assert field_error(response, "sip_username") == ""
    page = response.content.decode()
    assert 'value="1a"' in page and 'value="user@client-b1.example"' in page
    assert extension(world, number="1a") is None


def test_an_edited_user_shows_every_bad_field_at_once(world, portal):
    ext = world.extension_of(world.user_a1b)
    form = {"number": "101", "display_name": "", "name": "", "email": world.client_a1_op.email, "password": "short"}
    response = portal(world.client_a1_op).post(f"/users/{ext.pk}/edit/", form)
    assert response.status_code == 200
    assert "already" in field_error(response, "number")
    assert "required" in field_error(response, "display_name")
    assert "required" in field_error(response, "name")
    assert "already exists" in field_error(response, "email")
    assert "too short" in field_error(response, "password")


def test_ones_own_profile_shows_every_bad_field_at_once(world, portal):
    response = portal(world.user_a1).post("/account/", {"name": "", "email": world.client_a1_op.email})
    assert response.status_code == 200
    assert "required" in field_error(response, "name")
    assert "already exists" in field_error(response, "email")


def test_call_permissions_show_on_the_users_list_and_page(world, portal):
    http = portal(world.client_a1_op)
    rows = {
        re.search(r">(\d+)</a>", row)[1]: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
        for row in re.findall(r"<tr>(.*?)</tr>", http.get("/users/").content.decode(), re.S)
        if re.search(r">(\d+)</a>", row)  # (the header's links are the columns' sort links)
    }
    assert "intercept" in rows["103"] and "barge, monitor, whisper" in rows["103"]
    assert "intercept" not in rows["101"] and " none " in rows["101"]
    third = extension(world, number="103")
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", http.get(f"/users/{third.pk}/").content.decode()))
    assert "Call permissions intercept barge, monitor, whisper" in page
    first = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", http.get(f"/users/{extension(world, number='101').pk}/").content.decode())
    )
    assert "Call permissions none" in first and "not registered" in first
