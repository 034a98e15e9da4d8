"""Every role's pages on a phone (390 x 844) and on a laptop (1366 x 768), in a real Chromium.

Each role signs in and opens every page of its menu, then walks its main tasks: a detail page and a
create or edit form of each kind of object it looks after (TASKS; walk_data.py adds one of each kind
to the demo data), and submits one form with errors. The page never scrolls sideways
(document.documentElement.scrollWidth <= window.innerWidth), nothing is logged as an error in the
console, and on the phone the menu is one button that opens the links. Screenshots of each role's
dashboard at both sizes land in test-artifacts/screens/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.conf import settings
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
# Each role's main tasks: a path, then the first link of each page (in <main>) matching each pattern in
# turn: ("/users/", r"/users/\d+/$") opens the users list, then the first user's page.
DETAIL = r"^/{}/\d+/$"
ACCOUNT = ["/account/", "/account/password/", "/account/tokens/", "/account/second-factor/"]
PROVIDER = [  # what the platform and a brand look after
    ("/clients/", DETAIL.format("clients")), "/clients/new/",
    ("/operators/", DETAIL.format("operators")), "/operators/new/",
    ("/rating/carriers/", r"^/rating/carriers/\d+/$"), "/rating/carriers/new/",
    ("/rating/", r"^/rating/decks/\d+/$"), "/rating/decks/new/",
    ("/rating/plans/", r"^/rating/plans/\d+/$"),
    ("/statements/", r"^/statements/\d+/[^/]+/$"),
    ("/exports/pushes/", r"^/exports/pushes/\d+/$", r"^/exports/pushes/\d+/edit/$"), "/exports/pushes/new/",
]  # fmt: skip
TASKS = {
    "god": [*PROVIDER, ("/brands/", DETAIL.format("brands")), "/brands/new/", *ACCOUNT],
    "brand": [
        *PROVIDER, ("/numbers/", DETAIL.format("numbers")), "/numbers/new/",
        ("/routes/", DETAIL.format("routes")), "/routes/new/", "/settings/", *ACCOUNT,
    ],
    "client": [
        ("/users/", DETAIL.format("users"), r"^/users/\d+/edit/$"), "/users/new/", "/users/import/",
        ("/users/", DETAIL.format("users"), r"^/users/\d+/recording/$"),
        ("/numbers/", DETAIL.format("numbers")), ("/operators/", DETAIL.format("operators")), "/operators/new/",
        ("/conferences/", DETAIL.format("conferences"), r"^/conferences/\d+/edit/$"), "/conferences/new/",
        ("/notifications/", DETAIL.format("notifications")), "/notifications/new/", "/messages/new/",
        ("/statements/", r"^/statements/\d+/[^/]+/$"), "/exports/pushes/new/", "/settings/",
        ("/voicemail/", DETAIL.format("voicemail"), r"^/voicemail/\d+/settings/$"), "/voicemail/new/",
        "/recordings/", "/recordings/settings/", "/prompts/", "/prompts/upload/",
        ("/menus/", DETAIL.format("menus")), "/menus/new/", ("/routing/", DETAIL.format("routing")), "/routing/new/",
        ("/ring-groups/", DETAIL.format("ring-groups")), "/ring-groups/new/",
        ("/queues/", DETAIL.format("queues")), "/queues/new/", ("/widgets/", DETAIL.format("widgets")), "/widgets/new/",
        *ACCOUNT,
    ],
    "user": ["/phone/", "/phone/forwarding/", "/phone/queues/", ("/im/", DETAIL.format("im")), "/colleagues/",
             ("/conferences/", DETAIL.format("conferences")),
             "/conferences/new/", ("/voicemail/", r"^/voicemail/messages/\d+/$"), "/phone/recording/", "/recordings/",
             *ACCOUNT],
}  # fmt: skip
# One form per role submitted with several bad fields on the phone: (path, {field: value}, fields with errors).
BAD_FORMS = {
    "god": ("/brands/new/", {"name": "", "domain": "not a domain"}, ["name", "domain"]),
    "brand": ("/rating/carriers/new/", {"name": "", "country": "XX", "codecs": "NOPE"}, ["name", "country", "codecs"]),
    "client": ("/conferences/new/", {"name": "", "participant_pin": "12a"}, ["moderator", "name", "participant_pin"]),
    "user": ("/account/password/", {"old_password": "not-my-password", "new_password1": "a-new-password-9",
                                    "new_password2": "another-password-9"}, ["old_password", "new_password2"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def walk_data(running_platform):
    """One object of each kind the main tasks open, in the running platform's database."""
    subprocess.run([sys.executable, "-m", "tests.e2e.walk_data"], cwd=settings.BASE_DIR, env=running_platform.env,
                   check=True, timeout=120)  # fmt: skip


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
    page.wait_for_load_state()  # the page's stylesheet applied (a page just shown after a submit may not have it yet)
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


def main_links(page: Page) -> list[str]:
    """The paths the page's main part links to, in order."""
    hrefs = page.eval_on_selector_all("main a[href^='/']", "links => links.map(a => a.getAttribute('href'))")
    return list(dict.fromkeys(urlsplit(h).path for h in hrefs))


def linked_paths(page: Page) -> list[str]:
    """The portal pages the main part links to (no downloads, no API, nothing on another host)."""
    paths = main_links(page)
    return [p for p in paths if not p.startswith(("/api/", "/theme/")) and not p.endswith((".csv", "/download/"))]


def task_paths(page: Page, base: str, task: str | tuple[str, ...], name: str, seen: dict[str, list[str]]) -> dict:
    """Walk one task (a path, or a path and the links to follow from it): {path: width} of pages too wide.
    Pages already walked (`seen`: path -> its links) are not opened again."""
    path, *follow = (task,) if isinstance(task, str) else task
    wide = {}
    for pattern in [None, *follow]:
        if pattern is not None:
            found = [link for link in seen[path] if re.match(pattern, link)]
            assert found, f"{name}: no link matching {pattern} on {path}"
            path = found[0]
        if path not in seen:
            wide.update(too_wide(page, base + path, name))
            seen[path] = main_links(page)
    return wide


def menu_paths(page: Page) -> list[str]:
    hrefs = page.eval_on_selector_all("nav.mainnav a", "links => links.map(a => a.getAttribute('href'))")
    return [path for path in dict.fromkeys(urlsplit(h).path for h in hrefs) if path not in SKIPPED]


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
@pytest.mark.parametrize("role", list(ROLES))
def test_every_menu_page_and_main_task_fits_the_screen_without_console_errors(sized_page, running_platform, walk_data,
                                                                              role):  # fmt: skip
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
    wide, inner, seen = {}, [], {}
    for path in paths:  # the menu's pages, then pages they link to (new-item forms, details)
        wide.update(too_wide(page, running_platform.url(host, path), f"{role}-{size}"))
        seen[path] = main_links(page)
        inner.extend([p for p in linked_paths(page) if p not in paths and p not in inner][:INNER_PER_PAGE])
    for path in inner:
        wide.update(too_wide(page, running_platform.url(host, path), f"{role}-{size}"))
        seen[path] = main_links(page)
    for task in TASKS[role]:  # the role's main tasks: a detail page and a form of each kind of object
        wide.update(task_paths(page, running_platform.url(host, ""), task, f"{role}-{size}", seen))
    # Setting up a second factor: the QR code and the key fit, and so does a wrong code's error.
    page.goto(running_platform.url(host, "/account/second-factor/"))
    begin = page.locator("main form:has(input[name=action][value=begin]) button")
    if begin.count():  # not begun in an earlier run at the other size
        begin.click()
    expect(page.locator("main img.qr")).to_be_visible()
    page.fill("main [name=code]", "000000")
    page.click("main form:has(input[name=action][value=confirm]) button")
    expect(page.locator("#code-error")).to_be_visible()
    if overflow(page)[0] > overflow(page)[1]:
        wide["/account/second-factor/ (set-up)"] = overflow(page)[0]
    page.screenshot(path=str(ARTIFACTS / "screens" / f"{role}-second-factor-{size}.png"), full_page=True)
    if size == "phone":  # a form sent with errors: each shown on its field, the page still fits
        path, values, fields = BAD_FORMS[role]
        page.goto(running_platform.url(host, path))
        for name, value in values.items():
            page.fill(f"main [name={name}]", value)
        page.click("main form button[type=submit]")
        for field in fields:  # every field's error at once, on the field
            expect(page.locator(f"#{field}-error")).to_be_visible()
        wide.update({f"{path} (errors)": overflow(page)[0]} if overflow(page)[0] > overflow(page)[1] else {})
        page.screenshot(path=str(ARTIFACTS / "screens" / f"{role}-form-errors-{size}.png"), full_page=True)
    assert not wide, f"pages wider than the {size}'s {SIZES[size]['width']} px: {wide}"
    assert not page.errors, page.errors


@pytest.mark.parametrize("sized_page", list(SIZES), indirect=True)
def test_the_password_reset_request_fits_the_screen(sized_page, running_platform):
    page, size = sized_page, "phone" if sized_page.viewport_size["width"] < 500 else "desktop"
    host = "acme.brand.localhost"
    assert not too_wide(page, running_platform.url(host, "/login/reset/"), f"anonymous-{size}")
    page.fill("main [name=email]", "not an address")
    page.click("main form button[type=submit]")
    expect(page.locator("#email-error")).to_be_visible()
    assert overflow(page)[0] <= overflow(page)[1]
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


LOADED = """async (selector) => {
  const audio = document.querySelector(selector);
  const loaded = new Promise((ok, fail) => {
    audio.addEventListener("loadedmetadata", () => ok(audio.duration), {once: true});
    audio.addEventListener("error", () => fail(new Error("audio error " + (audio.error && audio.error.code))),
                           {once: true});
  });
  audio.load();
  return await loaded;
}"""


@pytest.mark.parametrize("sized_page", ["phone"], indirect=True)
def test_a_user_hears_a_voicemail_message_and_a_call_recording_on_a_phone(sized_page, running_platform, walk_data):
    """Bob's message and his call's recording (walk_data.py: half a second of tone each) play in the
    pages' players, which fit the phone's screen."""
    page, host = sized_page, "acme.brand.localhost"
    sign_in(page, running_platform, host, "bob@acme.example")
    page.goto(running_platform.url(host, "/voicemail/"))
    page.locator("main a[href^='/voicemail/messages/']").first.click()
    expect(page.locator("main audio")).to_be_visible()
    assert page.evaluate(LOADED, "main audio") == pytest.approx(0.5, abs=0.05)
    assert overflow(page)[0] <= overflow(page)[1]
    page.goto(running_platform.url(host, "/recordings/"))
    assert page.evaluate(LOADED, "main audio[aria-label^='Listen to recording']") == pytest.approx(0.5, abs=0.05)
    assert overflow(page)[0] <= overflow(page)[1]
    page.screenshot(path=str(ARTIFACTS / "screens" / "user-recordings-phone.png"), full_page=True)
    assert not page.errors, page.errors
