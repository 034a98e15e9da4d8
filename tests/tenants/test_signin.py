"""Brute-force protection: wrong passwords lock the account and the address (tenants/signin.py),
operators see the lock and lift it, and a password change can revoke everything else."""

from __future__ import annotations

import threading
import time

import pytest
from django.test import Client as HttpClient

from tenants.models import ApiToken, AuditEvent
from tenants.signin import SignInLocked, signin_check, signin_failed
from tests.conftest import PASSWORD
from tests.pages import errors_above_form, field_error, messages_of

LIMITS = {"account_failures": 3, "address_failures": 6, "window": 900, "lockout": 900}


@pytest.fixture
def limits(settings):
    settings.OCX_SIGNIN = LIMITS


def _browser(world, account, address: str = "198.51.100.7") -> HttpClient:
    return HttpClient(HTTP_HOST=world.host_of(account), REMOTE_ADDR=address)


def _sign_in(http: HttpClient, email: str, password: str):
    return http.post("/login/", {"username": email, "password": password})


def _signed_in(response) -> bool:
    return "_auth_user_id" in response.wsgi_request.session


def test_wrong_passwords_lock_the_account_even_for_the_right_password(world, limits):
    account = world.client_a1_op
    for _ in range(LIMITS["account_failures"]):
        failed = _sign_in(_browser(world, account), account.email, "not-the-password")
        assert "Please enter a correct email and password" in errors_above_form(failed)
    right = _sign_in(_browser(world, account), account.email, PASSWORD)
    assert right.status_code == 200 and not _signed_in(right)
    assert "Too many failed sign-ins: try again in 15 minutes" in errors_above_form(right)
    # From another address too: the account itself is locked.
    elsewhere = _sign_in(_browser(world, account, "203.0.113.9"), account.email, PASSWORD)
    assert not _signed_in(elsewhere)
    # Another account from the first address still signs in (the address is under its own limit).
    other = _sign_in(_browser(world, world.client_a2_op), world.client_a2_op.email, PASSWORD)
    assert _signed_in(other)


def test_a_right_password_starts_the_count_again(world, limits):
    account = world.brand_a_op
    for _ in range(2):
        for _ in range(LIMITS["account_failures"] - 1):
            _sign_in(_browser(world, account, "203.0.113.1"), account.email, "not-the-password")
        assert _signed_in(_sign_in(_browser(world, account, "203.0.113.2"), account.email, PASSWORD))


def test_one_address_trying_many_accounts_is_locked(world, limits):
    tried = [world.god, world.brand_a_op, world.brand_b_op]
    for account in tried * 2:  # 6 failures from one address, 2 per account: no account reaches 3
        _sign_in(_browser(world, account, "192.0.2.66"), account.email, "not-the-password")
    locked = _sign_in(_browser(world, world.god, "192.0.2.66"), world.god.email, PASSWORD)
    assert not _signed_in(locked) and "Too many failed sign-ins" in errors_above_form(locked)
    assert _signed_in(_sign_in(_browser(world, world.god, "192.0.2.67"), world.god.email, PASSWORD))


def test_operators_above_see_the_lock_and_lift_it(world, portal, limits):
    locked_op, locked_user = world.client_a1_op, world.user_a1b
    for account in (locked_op, locked_user):
        for _ in range(LIMITS["account_failures"]):
            _sign_in(_browser(world, account, "198.51.100.20"), account.email, "not-the-password")

    brand = portal(world.brand_a_op)
    listing = brand.get("/operators/").content.decode()
    row = listing[listing.index(locked_op.email) :].split("</tr>")[0]
    assert "locked, 15 min left" in row
    assert f'action="/operators/{locked_op.pk}/unlock/"' in row
    other_row = listing[listing.index(world.client_a2_op.email) :].split("</tr>")[0]
    assert "locked" not in other_row

    client_op = portal(world.client_a2_op)  # another client's operator may not lift it
    assert client_op.post(f"/operators/{locked_op.pk}/unlock/").status_code == 404

    done = brand.post(f"/operators/{locked_op.pk}/unlock/", follow=True)
    assert f"{locked_op.email} may sign in again." in messages_of(done)
    assert AuditEvent.objects.filter(action="account.unlock", actor=world.brand_a_op).exists()
    assert _signed_in(_sign_in(_browser(world, locked_op, "198.51.100.21"), locked_op.email, PASSWORD))

    # The client's users page shows the employee's lock; its operator lifts it.
    extension = world.extension_of(locked_user)
    users = portal(world.client_a1_op)
    users_page = users.get("/users/").content.decode()
    assert "locked, 15 min left" in users_page[users_page.index(locked_user.email) :].split("</tr>")[0]
    assert users.post(f"/users/{extension.pk}/unlock/").status_code == 302
    assert "locked" not in users.get(f"/users/{extension.pk}/").content.decode().split("<h2>Phone settings")[0]
    assert _signed_in(_sign_in(_browser(world, locked_user, "198.51.100.22"), locked_user.email, PASSWORD))


def test_guessing_the_current_password_of_a_password_change_is_throttled_too(world, api, portal, limits):
    http = api(world.user_a1)
    for _ in range(LIMITS["account_failures"]):
        wrong = http.post("/api/v1/me/password/", {"current_password": "nope", "new_password": "another-password-7"})
        assert wrong.status_code == 400
    locked = http.post(
        "/api/v1/me/password/", {"current_password": PASSWORD, "new_password": "another-password-7"}, format="json"
    )
    assert locked.status_code == 429 and locked.json()["code"] == "locked"
    world.user_a1.refresh_from_db()
    assert world.user_a1.check_password(PASSWORD)
    page = portal(world.user_a1).post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "another-password-7", "new_password2": "another-password-7"},
    )
    assert "Too many failed sign-ins" in field_error(page, "old_password")


def test_a_password_change_can_revoke_the_api_tokens_and_ends_other_sessions(world, api, portal):
    account = world.client_a1_op
    other_session = portal(account)
    assert other_session.get("/operators/").status_code == 200
    stay = api(account)
    assert stay.get("/api/v1/me/").status_code == 200
    changed = portal(account).post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-password-7",
            "new_password2": "another-password-7",
            "sign_out_elsewhere": "on",
        },
        follow=True,
    )
    assert "Password changed; 1 API token revoked." in messages_of(changed)
    assert not ApiToken.objects.filter(user=account).exists()
    assert stay.get("/api/v1/me/").status_code == 401
    assert other_session.get("/operators/").status_code == 302  # back to the login page

    # Through the API: every token but the calling one.
    first, second = api(account), api(account)
    response = first.post(
        "/api/v1/me/password/",
        {"current_password": "another-password-7", "new_password": "a-third-password-8", "sign_out_elsewhere": True},
        format="json",
    )
    assert response.status_code == 204, response.content
    assert first.get("/api/v1/me/").status_code == 200
    assert second.get("/api/v1/me/").status_code == 401


def test_the_api_shows_the_lock_and_lifts_it(world, api, limits):
    for account in (world.client_a1_op, world.user_a1b):
        for _ in range(LIMITS["account_failures"]):
            _sign_in(_browser(world, account, "198.51.100.30"), account.email, "not-the-password")
    brand = api(world.brand_a_op)
    url = f"/api/v1/operators/{world.client_a1_op.pk}/"
    assert 840 < brand.get(url).json()["signin_locked_seconds"] <= 900
    assert api(world.client_a2_op).post(f"{url}unlock/").status_code == 404  # not in its scope
    unlocked = brand.post(f"{url}unlock/")
    assert unlocked.status_code == 200 and unlocked.json()["signin_locked_seconds"] == 0

    extension = world.extension_of(world.user_a1b)
    users = api(world.client_a1_op)
    assert users.get(f"/api/v1/users/{extension.pk}/").json()["signin_locked_seconds"] > 0
    assert users.post(f"/api/v1/users/{extension.pk}/unlock/").json()["signin_locked_seconds"] == 0
    assert _signed_in(_sign_in(_browser(world, world.user_a1b, "198.51.100.31"), world.user_a1b.email, PASSWORD))


def test_parallel_guesses_get_no_more_tries_than_sequential_ones(world, limits):
    """Forty guesses at once (each as slow as a password hash) pass the check at most as often as the
    limit allows: the attempt is counted before the password is checked, not after."""
    email, passed, start = world.client_a2_op.email, [], threading.Barrier(40)

    def guess(n: int) -> None:
        start.wait()
        try:
            signin_check(email=email, address=f"192.0.2.{n}")
        except SignInLocked:
            return
        passed.append(n)
        time.sleep(0.05)  # the password hash
        signin_failed(email=email, address=f"192.0.2.{n}")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(passed) == LIMITS["account_failures"]
    with pytest.raises(SignInLocked):
        signin_check(email=email, address="192.0.2.200")
