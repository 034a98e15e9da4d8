"""A person sets up a second factor in a real browser and signs in with it (the platform that
`platform/run.py` started; the codes come from pyotp, as an authenticator app computes them)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT
from tests.e2e.test_browser import browser, page, shot  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser
PASSWORD = "browser-password-7"


def _new_god_account(running_platform) -> str:
    """An account of its own (the demo accounts stay as other browser tests expect them)."""
    email = f"mfa-{uuid.uuid4().hex[:8]}@opencentrex.example"
    code = (
        "from tenants.models import Role, User; "
        f"User.objects.create_user({email!r}, {PASSWORD!r}, name='Second Factor', role=Role.GOD)"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=running_platform.env,
                   check=True, capture_output=True, timeout=60)  # fmt: skip
    return email


def _password_step(page, running_platform, email: str) -> None:  # noqa: F811 (a tab, not the fixture)
    page.goto(running_platform.url("localhost", "/login/"))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_sign_in_with_a_second_factor(page, running_platform):  # noqa: F811 (the page fixture)
    email = _new_god_account(running_platform)
    _password_step(page, running_platform, email)
    expect(page.locator("form.signout")).to_be_visible()

    page.goto(running_platform.url("localhost", "/account/second-factor/"))
    page.click("text=Set up a second factor")
    qr = page.locator("img.qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code (an SVG data URI) is drawn"
    totp = pyotp.TOTP(page.locator("#otp-secret").inner_text().strip())
    page.fill("input[name=code]", totp.now())
    page.click("text=Turn it on")
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    shot(page, "account-second-factor-on")

    page.click("form.signout button")
    expect(page.locator("ul.messages")).to_contain_text("You have signed out.")

    _password_step(page, running_platform, email)
    expect(page).to_have_url(running_platform.url("localhost", "/login/code/"))
    expect(page.locator("form.signout")).to_have_count(0)
    page.fill("input[name=code]", "000000" if totp.at(time.time() + 30) != "000000" else "111111")
    page.click("button[type=submit]")
    expect(page.locator("#code-error")).to_contain_text("That code is not right")
    shot(page, "account-second-factor-code")
    page.fill("input[name=code]", totp.at(time.time() + 30))  # the next step's: the current one was used
    page.click("button[type=submit]")
    expect(page.locator("form.signout")).to_be_visible()
    expect(page).to_have_url(running_platform.url("localhost", "/"))
