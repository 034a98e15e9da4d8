"""Every role's pages on a phone (390 x 844) and on a laptop (1366 x 768), in a real Chromium.

Each role signs in and opens every page of its menu: the page never scrolls sideways
(document.documentElement.scrollWidth <= window.innerWidth), nothing is logged as an error in the
console, and on the phone the menu is one button that opens the links. Screenshots of each role's
dashboard at both sizes land in test-artifacts/screens/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import ARTIFACTS, browser, sign_in  # noqa: F401 (browser: the fixture)

pytestmark = pytest.mark.browser

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}
ROLES = {
    "god": ("localhost", "god@opencentrex.example"),
    "brand": ("brand.localhost", "ops@brand.example"),
    "client": ("acme.brand.localhost", "admin@acme.example"),
    "user": ("acme.brand.localhost", "bob@acme.example"),
}
SKIPPED = {"/api/docs/"}  # Swagger UI's own page, not the portal's (test_browser checks it loads)
INNER_PER_PAGE = 3  # linked pages opened from each menu page


@pytest.fixture
def sized_page(browser, request):  # noqa: F811
    """A tab of the size the test asks for; it records the console's errors and the page's uncaught ones."""
    context = browser.new_context(viewport=SIZES[request.param])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.errors = []
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


def overflow(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def too_wide(page: Page, url: str, name: str) -> dict[str, int]:
    """Open the page: {its path: its width} when it is wider than the screen (and a screenshot of it)."""
    response = page.goto(url)
    path = urlsplit(url).path
    assert response.status == 200, path
    scroll_width, screen_width = overflow(page)
    if scroll_width <= screen_width:
        return {}
    page.screenshot(path=str(ARTIFACTS / "screens" / f"too-wide-{name}{path.replace('/', '_')}.png"), full_page=True)
    return {path: scroll_width}


def linked_paths(page: Page) -> list[str]:
    """The portal pages the main part links to (no downloads, no API, nothing on another host)."""
    hrefs = page.eval_on_selector_all("main a[href^='/']", "links => links.map(a => a.getAttribute('href'))")
    paths = dict.fromkeys(urlsplit(h).path for h in hrefs)
    return [p for p in paths if not p.startswith(("/api/", "/theme/")) and not p.endswith((".csv", "/download/"))]


def menu_paths(page: Page) -> list[str]:
    hrefs = page.eval_on_selector_all("nav.mainnav a", "links => links.map(a => a.getAttribute('href'))")
    return [path for path in dict.fromkeys(urlsplit(h).path for h in hrefs) if path not in SKIPPED]


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
@pytest.mark.parametrize("role", list(ROLES))
def test_every_menu_page_fits_the_screen_without_console_errors(sized_page, running_platform, role):
    page, size = sized_page, "phone" if sized_page.viewport_size["width"] < 500 else "desktop"
    host, email = ROLES[role]
    (ARTIFACTS / "screens").mkdir(parents=True, exist_ok=True)
    assert not too_wide(page, running_platform.url(host, "/login/"), f"{role}-{size}")
    sign_in(page, running_platform, host, email)
    page.goto(running_platform.url(host, "/"))
    page.screenshot(path=str(ARTIFACTS / "screens" / f"{role}-dashboard-{size}.png"), full_page=True)

    summary, nav = page.locator("details.menu > summary"), page.locator("nav.mainnav")
    if size == "phone":  # one button, not rows of links, before the content
        expect(summary).to_be_visible()
        expect(nav).to_be_hidden()
        assert page.locator("header.topbar").bounding_box()["height"] < 70
        summary.click()
        expect(nav.locator("a").first).to_be_visible()
        assert overflow(page)[0] <= overflow(page)[1]
        page.screenshot(path=str(ARTIFACTS / "screens" / f"{role}-menu-{size}.png"))
    else:  # the row of links as before
        expect(summary).to_be_hidden()
        expect(nav.locator("a").first).to_be_visible()

    paths = menu_paths(page)
    assert len(paths) >= 5, paths
    wide, inner = {}, []
    for path in paths:  # the menu's pages, then pages they link to (new-item forms, details)
        wide.update(too_wide(page, running_platform.url(host, path), f"{role}-{size}"))
        inner.extend([p for p in linked_paths(page) if p not in paths and p not in inner][:INNER_PER_PAGE])
    for path in inner:
        wide.update(too_wide(page, running_platform.url(host, path), f"{role}-{size}"))
    assert not wide, f"pages wider than the {size}'s {SIZES[size]['width']} px: {wide}"
    assert not page.errors, page.errors


@pytest.mark.parametrize("sized_page", ["phone"], indirect=True)
def test_a_new_user_with_four_bad_fields_shows_four_errors_on_a_phone(sized_page, running_platform):
    page, host = sized_page, "acme.brand.localhost"
    sign_in(page, running_platform, host, "admin@acme.example")
    page.goto(running_platform.url(host, "/users/new/"))
    page.fill("input[name=email]", "bob@acme.example")  # taken
    page.fill("input[name=password]", "short")
    page.fill("input[name=number]", "1a")
    page.click("main button[type=submit]")
    for field, text in [("name", "required"), ("number", "2 to 4 digits"), ("email", "already exists"),
                        ("password", "too short")]:  # fmt: skip
        expect(page.locator(f"#{field}-error")).to_contain_text(text)
    expect(page.locator("#sip_username-error")).to_have_count(0)
    expect(page.locator("input[name=number]")).to_have_value("1a")
    expect(page.locator("input[name=number]")).to_have_attribute("aria-invalid", "true")
    described = page.eval_on_selector_all(  # what a screen reader reads with each field: its help and its errors
        "main form [aria-describedby]",
        "fields => fields.flatMap(f => f.getAttribute('aria-describedby').split(' '))"
        ".map(id => [id, !!document.getElementById(id)])",
    )
    assert described and all(found for _, found in described), described
    expect(page.locator("#id_number_error")).to_contain_text("2 to 4 digits")
    boxes = page.eval_on_selector_all("main form .field", "fields => fields.map(f => f.getBoundingClientRect().left)")
    assert len(set(round(left) for left in boxes)) == 1, "one column"
    assert overflow(page)[0] <= overflow(page)[1]
    (ARTIFACTS / "screens").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "screens" / "client-user-form-errors-phone.png"), full_page=True)
    assert not page.errors, page.errors
