"""The second factor: set up with an authenticator app (pyotp computes the codes here), sign-in asks
for the code after the password, recovery codes work once, wrong codes are throttled, operators
require it for their scope and reset it; and the sign-in page says when one signed out."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client as HttpClient

from config.asgi import application
from tenants.events import CLOSE_SECOND_FACTOR
from tenants.models import AuditEvent, RecoveryCode, Role, SecondFactor, SecondFactorRule
from tenants.second_factor import WRONG_CODE
from tests.conftest import PASSWORD
from tests.pages import errors_above_form, field_error, messages_of

PAGE = "/account/second-factor/"


def _browser(world, account, address: str = "198.51.100.30") -> HttpClient:
    return HttpClient(HTTP_HOST=world.host_of(account), REMOTE_ADDR=address)


def _signed_in(http: HttpClient) -> bool:
    return "_auth_user_id" in http.session


def _password_step(world, account, address: str = "198.51.100.30") -> tuple[HttpClient, object]:
    http = _browser(world, account, address)
    return http, http.post("/login/", {"username": account.email, "password": PASSWORD})


def _set_up(portal, account) -> tuple[pyotp.TOTP, list[str]]:
    """Turn the second factor on through the account page, as a person would: the secret from the
    page into the app (pyotp), the app's code back; the recovery codes the page shows once."""
    http = portal(account)
    assert "Set up a second factor" in http.get(PAGE).content.decode()
    http.post(PAGE, {"action": "begin"})
    page = http.get(PAGE).content.decode()
    assert re.search(r'<img class="qr" src="data:image/svg\+xml', page), "the QR code is an inline SVG image"
    totp = pyotp.TOTP(re.search(r'id="otp-secret">([A-Z2-7]+)<', page).group(1))
    wrong = http.post(PAGE, {"action": "confirm", "code": f"{(int(totp.now()) + 1) % 1000000:06d}"})
    assert field_error(wrong, "code") == WRONG_CODE
    assert not SecondFactor.objects.filter(user=account, confirmed_at__isnull=False).exists()
    done = http.post(PAGE, {"action": "confirm", "code": totp.now()}, follow=True)
    assert "Second factor on: sign-ins now ask for a code from your app." in messages_of(done)
    codes = re.findall(r'<code class="secret">([0-9a-f]{8}-[0-9a-f]{8})</code>', done.content.decode())
    assert len(codes) == 10
    assert re.findall(r'<code class="secret">', http.get(PAGE).content.decode()) == [], "recovery codes shown once"
    return totp, codes


def _next_code(totp: pyotp.TOTP) -> str:
    """The app's code of the next 30-second step (accepted for clock drift): the current one was used."""
    return totp.at(time.time() + 30)


def test_set_up_then_sign_in_with_a_code_after_the_password(world, portal):
    account = world.user_a1
    totp, _ = _set_up(portal, account)
    factor = SecondFactor.objects.get(user=account)
    assert totp.secret not in factor.secret, "the secret is encrypted at rest"
    assert AuditEvent.objects.filter(action="account.second_factor.setup", actor=account).exists()

    http, step = _password_step(world, account)
    assert step.status_code == 302 and step["Location"] == "/login/code/"
    assert not _signed_in(http), "the password alone does not sign in"
    assert http.get("/").status_code == 302
    wrong = http.post("/login/code/", {"code": "000000" if _next_code(totp) != "000000" else "111111"})
    assert field_error(wrong, "code") == WRONG_CODE and not _signed_in(http)
    code = _next_code(totp)
    right = http.post("/login/code/", {"code": code})
    assert right.status_code == 302 and _signed_in(http)
    assert http.get("/").status_code == 200

    # The same code does not open a second session (it was used).
    again, _ = _password_step(world, account, "198.51.100.31")
    replay = again.post("/login/code/", {"code": code})
    assert field_error(replay, "code") == WRONG_CODE and not _signed_in(again)


def test_a_recovery_code_signs_in_once(world, portal):
    account = world.client_a1_op
    _, codes = _set_up(portal, account)
    http, _ = _password_step(world, account)
    assert http.post("/login/code/", {"code": codes[3].upper().replace("-", " ")}).status_code == 302
    assert _signed_in(http)
    assert RecoveryCode.objects.filter(user=account, used_at__isnull=False).count() == 1
    again, _ = _password_step(world, account)
    assert field_error(again.post("/login/code/", {"code": codes[3]}), "code") == WRONG_CODE
    assert not _signed_in(again)
    assert "9 recovery codes left" in portal(account).get(PAGE).content.decode()


def test_wrong_codes_are_throttled_even_before_the_right_one(world, portal, settings):
    settings.OCX_SECOND_FACTOR = {"account_failures": 3, "address_failures": 50, "window": 900, "lockout": 900}
    account = world.brand_a_op
    totp, _ = _set_up(portal, account)
    for n in range(3):
        http, _ = _password_step(world, account, f"198.51.100.{40 + n}")
        assert field_error(http.post("/login/code/", {"code": "12345x"}), "code") == WRONG_CODE
    http, _ = _password_step(world, account, "198.51.100.50")
    locked = http.post("/login/code/", {"code": _next_code(totp)})
    assert "Too many failed sign-ins: try again in 15 minutes" in errors_above_form(locked)
    assert not _signed_in(http)


def test_the_code_step_does_not_wait_forever(world, portal):
    account = world.user_a1b
    _set_up(portal, account)
    http, _ = _password_step(world, account)
    session = http.session
    pending = session["ocx-second-factor-pending"]
    pending["at"] -= 301
    session["ocx-second-factor-pending"] = pending
    session.save()
    late = http.post("/login/code/", {"code": "123456"}, follow=True)
    assert "Sign in again: the code was not given in time." in messages_of(late)
    assert late.redirect_chain[-1][0] == "/login/" and not _signed_in(http)


def test_an_operator_requires_a_second_factor_for_their_scope(world, portal, api):
    operator, user = world.client_a1_op, world.user_a1b
    saved = portal(operator).post(PAGE, {"action": "rule", "required": "on"}, follow=True)
    assert "Saved." in messages_of(saved)
    assert SecondFactorRule.objects.filter(scope=f"client:{world.client_a1.pk}").exists()
    assert AuditEvent.objects.filter(action="second_factor.require", actor=operator).exists()

    # Signing in works, and every page then sends the account to set up its second factor.
    http, _ = _password_step(world, user)
    assert _signed_in(http)
    sent = http.get("/", follow=True)
    assert sent.redirect_chain[-1][0] == PAGE
    assert "Your operator requires a second factor: set it up to go on." in messages_of(sent)
    assert http.get("/api/v1/me/").json()["code"] == "second-factor-required"
    # API tokens are not affected.
    assert api(user).get("/api/v1/me/").status_code == 200
    # Another client's accounts are not covered.
    assert portal(world.user_b1).get("/").status_code == 200
    # Once set up, the pages open.
    _set_up(portal, user)
    assert portal(user).get("/").status_code == 200


def test_an_authorization_header_does_not_lift_the_rule_from_a_session(world, portal):
    """Only a real API token is outside the rule: a session that adds any Authorization header (not a
    token) to its requests is still sent to set up its second factor, on pages and in the API."""
    portal(world.client_a1_op).post(PAGE, {"action": "rule", "required": "on"})
    http, _ = _password_step(world, world.user_a1b)
    assert _signed_in(http)
    for header in ("Basic eDp5", "Anything", "Token"):
        assert http.get("/", HTTP_AUTHORIZATION=header)["Location"] == PAGE, header
        answer = http.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
        assert answer.status_code in (401, 403) and "email" not in answer.json(), header


@pytest.mark.parametrize(
    "operator_name, covered_name, free_name",
    [("brand_a_op", "user_a1", "user_b1"), ("god", "brand_b_op", None)],
)
def test_brand_and_platform_rules_cover_their_scope(world, portal, operator_name, covered_name, free_name):
    portal(getattr(world, operator_name)).post(PAGE, {"action": "rule", "required": "on"})
    assert portal(getattr(world, covered_name)).get("/")["Location"] == PAGE
    if free_name:
        assert portal(getattr(world, free_name)).get("/").status_code == 200
    portal(getattr(world, operator_name)).post(PAGE, {"action": "rule"})
    assert portal(getattr(world, covered_name)).get("/").status_code == 200


def test_removal_by_its_owner_and_reset_by_an_operator(world, portal):
    account = world.user_a1c
    totp, _ = _set_up(portal, account)
    wrong = portal(account).post(PAGE, {"action": "remove", "code": "000001"})
    assert field_error(wrong, "code") == WRONG_CODE and SecondFactor.objects.filter(user=account).exists()
    removed = portal(account).post(PAGE, {"action": "remove", "code": _next_code(totp)}, follow=True)
    assert "Second factor off: sign-ins ask for your password only." in messages_of(removed)
    assert not SecondFactor.objects.filter(user=account).exists()
    assert not RecoveryCode.objects.filter(user=account).exists()
    assert AuditEvent.objects.filter(action="account.second_factor.remove", actor=account).exists()

    _set_up(portal, account)
    reset_url = f"/accounts/{account.pk}/second-factor/reset/"
    detail = f"/users/{world.extension_of(account).pk}/"
    assert f'action="{reset_url}"' in portal(world.client_a1_op).get(detail).content.decode(), (
        "the user's page offers it"
    )
    assert portal(world.client_b1_op).post(reset_url).status_code == 404, "another client's operator"
    assert portal(world.user_a1).post(reset_url).status_code == 404, "an employee"
    assert SecondFactor.objects.filter(user=account).exists()
    done = portal(world.client_a1_op).post(reset_url, {"back": detail}, follow=True)
    assert done.redirect_chain[-1][0] == detail
    assert f"Second factor of {account.email} reset: they sign in with their password." in messages_of(done)
    assert not SecondFactor.objects.filter(user=account).exists()
    assert f'action="{reset_url}"' not in done.content.decode()
    assert AuditEvent.objects.filter(action="account.second_factor.reset", actor=world.client_a1_op).exists()
    # A brand's operator page of one of its operators shows it too.
    _set_up(portal, world.brand_a_op)
    page = portal(world.god).get(f"/operators/{world.brand_a_op.pk}/").content.decode()
    assert f'action="/accounts/{world.brand_a_op.pk}/second-factor/reset/"' in page
    http, _ = _password_step(world, account)
    assert _signed_in(http), "back to the password alone"


def test_the_sign_in_page_says_when_one_signed_out_or_the_session_ended(world):
    account = world.user_a1
    http, _ = _password_step(world, account)
    out = http.post("/logout/", follow=True)
    assert "You have signed out." in messages_of(out) and not _signed_in(http)
    assert "Your session has ended" not in out.content.decode()

    http, signed_in = _password_step(world, account)
    assert signed_in.cookies["ocx_signed_in"]["max-age"] > signed_in.cookies["ocx_session"]["max-age"]
    Session.objects.filter(session_key=http.session.session_key).delete()  # it expired on the server
    ended = http.get("/", follow=True)
    assert ended.redirect_chain[-1][0].startswith("/login/")
    assert "Your session has ended: sign in again." in messages_of(ended)
    assert "Your session has ended" not in http.get("/login/").content.decode(), "said once"
    assert "signed out" not in _browser(world, account).get("/login/").content.decode(), "not to a new visitor"


def _socket(http: HttpClient, host: str) -> WebsocketCommunicator:
    cookie = f"{settings.SESSION_COOKIE_NAME}={http.cookies[settings.SESSION_COOKIE_NAME].value}".encode()
    headers = [(b"host", host.encode()), (b"origin", f"http://{host}".encode()), (b"cookie", cookie)]
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


@pytest.mark.parametrize(
    "operator_name, account_name",
    [("client_a1_op", "user_a1b"), ("client_a1_op", "client_a1_op"), ("brand_a_op", "brand_a_op"), ("god", "god")],
)
def test_sockets_follow_the_rule_as_pages_do(world, portal, monkeypatch, operator_name, account_name):
    """The live socket (every live page's: dashboards, calls, conferences, a line's phones) is refused
    before it opens to a session that the rule sends to the set-up page; once the account signed in
    with its second factor the socket opens, and an operator's dashboard gets its figures."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)  # the test's own connection
    monkeypatch.setattr("tenants.consumers.close_old_connections", lambda: None)
    account = getattr(world, account_name)
    host = world.host_of(account)
    portal(getattr(world, operator_name)).post(PAGE, {"action": "rule", "required": "on"})
    stopped, _ = _password_step(world, account)
    assert stopped.get("/")["Location"] == PAGE

    async def refused():
        ws = _socket(stopped, host)
        assert await ws.connect() == (False, CLOSE_SECOND_FACTOR)

    async_to_sync(refused)()

    totp, _ = _set_up(portal, account)
    http, _ = _password_step(world, account, "198.51.100.32")
    assert http.post("/login/code/", {"code": _next_code(totp)}).status_code == 302 and _signed_in(http)
    assert http.get("/").status_code == 200

    async def allowed():
        ws = _socket(http, host)
        assert (await ws.connect())[0]
        if account.role != Role.USER:
            await ws.send_json_to({"watch": "dashboard"})
            assert (await ws.receive_json_from(timeout=5))["type"] == "dashboard.figures"
        await ws.disconnect()

    async_to_sync(allowed)()


def test_only_operators_are_offered_a_rule(world, portal):
    """An employee has no scope to require a second factor for: their page offers no rule."""
    assert 'name="action" value="rule"' not in portal(world.user_a1).get(PAGE).content.decode()
    assert 'name="action" value="rule"' in portal(world.client_a1_op).get(PAGE).content.decode()
