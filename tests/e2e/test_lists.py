"""Lists in a real Chromium: a client operator sorts the users by a column header, imports users from
a CSV file (a bad file first: every bad row listed, nobody created) and sees their SIP secrets once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 (browser, page: the fixtures)

pytestmark = pytest.mark.browser

HOST = "acme.brand.localhost"
HEADER = "extension,name,email,caller_name,sip_username,may_intercept,may_barge\n"


def test_operator_sorts_the_users_and_imports_some(page, running_platform, tmp_path):  # noqa: F811
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, running_platform, HOST, "admin@acme.example")
    page.goto(running_platform.url(HOST, "/users/"))
    header = page.locator("main th", has_text="E-mail")
    header.locator("a").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    page.locator("main th", has_text="E-mail").locator("a").click()
    expect(page.locator("main th", has_text="E-mail")).to_have_attribute("aria-sort", "descending")
    assert "sort=-email" in page.url

    page.click("text=Import CSV")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "170,Good One,good@acme.example,,,,\n171,Bad Mail,nope,,,,\n172,Flag,f@acme.example,,,maybe,\n"
    )
    page.set_input_files("input[name=file]", str(bad))
    page.click("main button[type=submit]")
    report = page.locator("#import-report")
    expect(report).to_contain_text("nobody was created")
    expect(report.locator("tbody tr")).to_have_count(2)
    shot(page, "client-users-import-report")

    good = tmp_path / "good.csv"
    good.write_text(HEADER + "170,Good One,good@acme.example,,,,\n171,Good Two,two@acme.example,,,true,\n")
    page.set_input_files("input[name=file]", str(good))
    page.click("main button[type=submit]")
    expect(page.locator("#imported td.secret")).to_have_count(2)
    shot(page, "client-users-imported")
    page.reload()
    expect(page.locator("#imported")).to_have_count(0)
    page.goto(running_platform.url(HOST, "/users/?q=Good&sort=-number"))
    expect(page.locator("main tbody tr").first).to_contain_text("171")
    assert not errors, errors
