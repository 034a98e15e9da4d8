"""The portals' languages in a real browser against `platform/run.py`: a browser that prefers French gets
the sign-in page in French, an account that chooses German gets its pages and its live dashboard (the
texts the script writes too) in German."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, shot, sign_in  # noqa: F401  (fixtures and helpers)

pytestmark = pytest.mark.browser


def _choose(tab, running_platform, language: str) -> None:
    tab.goto(running_platform.url("localhost", "/account/"))
    tab.select_option("select[name=language]", language)
    tab.click("main button[type=submit]")


def test_an_account_that_chooses_german_sees_its_live_dashboard_in_german(browser, running_platform):  # noqa: F811
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="fr-FR")
    errors: list[str] = []
    tab = context.new_page()
    tab.on("console", lambda message: message.type == "error" and errors.append(message.text))
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        tab.goto(running_platform.url("localhost", "/login/"))
        expect(tab.locator("h1")).to_have_text("Connexion à OpenCentrex")  # the browser's Accept-Language
        sign_in(tab, running_platform, "localhost", "god@opencentrex.example")
        expect(tab.locator("html")).to_have_attribute("lang", "en")  # the account's: the platform's English
        _choose(tab, running_platform, "de")
        try:
            expect(tab.locator(".messages")).to_contain_text("Profil gespeichert.")
            tab.goto(running_platform.url("localhost", "/"))
            expect(tab.locator("html")).to_have_attribute("lang", "de")
            expect(tab.locator("h1")).to_have_text("Plattformübersicht")
            live = tab.locator("[data-live-state]")
            expect(live).to_contain_text("Live: aktualisiert", timeout=10_000)
            # The engines' and edges' rows, rebuilt by the script from the pushed figures, in German too.
            expect(tab.locator('tbody[data-list="engines"]')).to_contain_text(re.compile(r"\d+ von \d+"))
            expect(tab.locator('tbody[data-list="edges"]')).to_contain_text(re.compile(r"vor [\d.,]+ s"))
            # Their states as well (the script takes the words from the page), never the English ones.
            expect(tab.locator('tbody[data-list="engines"] .badge').first).to_have_text("läuft")
            expect(tab.locator('tbody[data-list="edges"] .badge').first).to_have_text("läuft")
            shot(tab, "dashboard-god-de")
        finally:
            _choose(tab, running_platform, "")
        expect(tab.locator(".messages")).to_contain_text("Profile saved.")
        assert errors == [], errors
    finally:
        context.close()
