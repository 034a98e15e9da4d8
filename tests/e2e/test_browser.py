"""Each role signs in with a real browser and does its portal's main task.

Playwright drives Debian's Chromium (`/usr/bin/chromium`; Playwright's own browser download cannot
work here) against the platform that `platform/run.py` started with the demo data. Chromium
resolves every `*.localhost` name to the loopback address itself. Screenshots of each step land in
test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tenants.management.commands.demo import PASSWORD

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A browser tab; whatever a test does in it must not break the Content-Security-Policy."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    yield page
    context.close()
    assert not violations, violations


def csp_violations_seen(page: Page) -> list[str]:
    """Violations the page itself reported (the securitypolicyviolation events since it loaded)."""
    return page.evaluate("window.__cspViolations || []")


CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(
  e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber));
"""


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, running_platform, host: str, email: str, password: str = PASSWORD) -> None:
    page.goto(running_platform.url(host, "/login/"))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    expect(page.locator("form.signout")).to_be_visible()


def test_god_creates_a_brand_and_sees_the_platform_status(page, running_platform):
    sign_in(page, running_platform, "localhost", "god@opencentrex.example")
    page.goto(running_platform.url("localhost", "/brands/new/"))
    page.fill("input[name=name]", "Browser Brand")
    page.fill("input[name=domain]", "browser-brand.localhost")
    page.fill("input[name=primary_colour]", "#553399")
    page.click("main button[type=submit]")
    page.goto(running_platform.url("localhost", "/brands/?q=Browser"))
    expect(page.locator("main table")).to_contain_text("browser-brand.localhost")
    page.goto(running_platform.url("localhost", "/status/"))
    expect(page.locator("main")).to_contain_text("PostgreSQL")
    expect(page.locator("main")).to_contain_text("Redis")
    shot(page, "god-status")


def test_brand_creates_a_client_and_the_theme_is_the_brands(page, running_platform):
    sign_in(page, running_platform, "brand.localhost", "ops@brand.example")
    topbar = page.locator("header.topbar")
    expect(topbar).to_have_css("background-color", "rgb(15, 92, 77)")  # the demo brand's #0f5c4d
    page.goto(running_platform.url("brand.localhost", "/clients/new/"))
    page.fill("input[name=name]", "Browser Corp")
    page.fill("input[name=slug]", "browsercorp")
    page.click("main button[type=submit]")
    expect(page.locator("main")).to_contain_text("browsercorp.brand.localhost")
    shot(page, "brand-client-created")
    # The new client's portal exists at once (its schema was created with it).
    page.goto(running_platform.url("browsercorp.brand.localhost", "/login/"))
    expect(page.locator("h1")).to_contain_text("Browser Corp")


def test_client_operator_adds_a_user_and_sees_the_sip_secret_once(page, running_platform):
    host = "acme.brand.localhost"
    sign_in(page, running_platform, host, "admin@acme.example")
    page.goto(running_platform.url(host, "/users/new/"))
    page.fill("input[name=name]", "Erin Example")
    page.fill("input[name=email]", "erin@acme.example")
    page.fill("input[name=password]", "erin-password-1")
    page.fill("input[name=number]", "105")
    page.click("main button[type=submit]")
    secret = page.locator(".secret")
    expect(secret).to_be_visible()
    assert len(secret.inner_text().strip()) >= 16
    shot(page, "client-user-created")
    page.reload()
    expect(page.locator(".secret")).to_have_count(0)
    page.goto(running_platform.url(host, "/users/?q=Erin"))
    expect(page.locator("main table")).to_contain_text("105")


def test_user_reads_their_sip_credentials(page, running_platform):
    host = "acme.brand.localhost"
    sign_in(page, running_platform, host, "bob@acme.example")
    page.goto(running_platform.url(host, "/phone/"))
    main = page.locator("main")
    expect(main).to_contain_text("102")
    expect(main).to_contain_text("acme.brand.localhost")
    expect(main).to_contain_text(f"127.0.0.1:{running_platform.env['OCX_SIP_PORT']}")  # the edge's address
    shot(page, "user-phone")


def test_bad_form_input_shows_the_field_error(page, running_platform):
    host = "acme.brand.localhost"
    sign_in(page, running_platform, host, "admin@acme.example")
    page.goto(running_platform.url(host, "/users/new/"))
    page.fill("input[name=name]", "Duplicate")
    page.fill("input[name=email]", "dup@acme.example")
    page.fill("input[name=password]", "dup-password-12")
    page.fill("input[name=number]", "101")  # alice's
    page.click("main button[type=submit]")
    expect(page.locator("#number-error")).to_contain_text("101 is already in use")
    expect(page.locator("input[name=email]")).to_have_value("dup@acme.example")  # nothing typed is lost
    shot(page, "client-duplicate-extension")


def test_an_account_cannot_sign_in_on_another_portal(page, running_platform):
    page.goto(running_platform.url("brand.localhost", "/login/"))
    page.fill("input[name=username]", "alice@acme.example")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator(".errors")).to_be_visible()
    expect(page.locator("form.signout")).to_have_count(0)


def test_my_phone_page_shows_a_device_registering_live(page, running_platform):
    from tests.telephony.sipclient import SipClient

    host = "acme.brand.localhost"
    sign_in(page, running_platform, host, "bob@acme.example")
    page.goto(running_platform.url(host, "/phone/"))
    expect(page.locator("main")).to_contain_text("No device is registered")
    page.wait_for_timeout(1000)  # the page's WebSocket connects
    phone = SipClient(("127.0.0.1", int(running_platform.env["OCX_SIP_PORT"])), "102", host)
    try:
        assert phone.register("demo-sip-102").status == 200
        expect(page.locator("main")).to_contain_text(f"sip:102@127.0.0.1:{phone.port}", timeout=10_000)
        expect(page.locator("main")).to_contain_text(f"127.0.0.1:{running_platform.env['OCX_SIP_PORT']}")
        shot(page, "user-phone-registered")
    finally:
        phone.close()


@pytest.mark.parametrize(
    ("host", "email", "paths"),
    [
        ("localhost", "god@opencentrex.example", ["/", "/clients/", "/status/", "/api/docs/"]),
        ("brand.localhost", "ops@brand.example", ["/", "/clients/", "/operators/"]),
        ("acme.brand.localhost", "admin@acme.example", ["/", "/users/", "/calls/", "/conferences/", "/exports/"]),
        ("acme.brand.localhost", "bob@acme.example", ["/", "/phone/", "/account/password/"]),
    ],
)
def test_every_page_keeps_to_the_content_security_policy(page, running_platform, host, email, paths):
    """The portals send a strict policy; their own scripts and styles (nonce) still run, nothing is
    refused (the page fixture fails on any violation in the console)."""
    page.add_init_script(CSP_PROBE)
    sign_in(page, running_platform, host, email)
    for path in paths:
        response = page.goto(running_platform.url(host, path))
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
        if path == "/api/docs/":
            expect(page.locator(".swagger-ui .info")).to_be_visible()  # Swagger UI started
        else:  # the theme's colours come from the page's own inline style
            expect(page.locator("header.topbar")).not_to_have_css("background-color", "rgba(0, 0, 0, 0)")
        assert csp_violations_seen(page) == [], path
