"""A client's prompts in a real Chromium: an operator hears the platform's prompt and uploads their own
in its place; both players fetch their audio in byte ranges (206) and can seek."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures
from tests.e2e.test_library_browser import LISTEN, tone

pytestmark = pytest.mark.browser

CLIENT_HOST = "acme.brand.localhost"


def test_an_operator_listens_to_a_prompt_and_replaces_it(page, running_platform, tmp_path):  # noqa: F811
    tone(tmp_path / "goodbye.wav")
    sign_in(page, running_platform, CLIENT_HOST, "admin@acme.example")
    page.goto(running_platform.url(CLIENT_HOST, "/prompts/"))
    statuses = []
    page.on("response", lambda response: "/prompts/" in response.url and ".wav" in response.url
            and statuses.append(response.status))  # fmt: skip
    platform = page.evaluate(LISTEN.replace("audio.currentTime = 2.5", "audio.currentTime = 0.3"),
                             "Listen to the platform's goodbye")  # fmt: skip
    assert 0.5 < platform["duration"] < 3, platform  # espeak-ng's "Goodbye." (a tone pattern without it)
    page.goto(running_platform.url(CLIENT_HOST, "/prompts/upload/?name=goodbye"))
    page.set_input_files("input[name=audio]", str(tmp_path / "goodbye.wav"))
    page.click("main button[type=submit]")
    expect(page.locator('audio[aria-label="Listen to your goodbye"]')).to_be_visible()
    heard = page.evaluate(LISTEN, "Listen to your goodbye")
    assert 3.9 < heard["duration"] < 4.1 and heard["at"] == pytest.approx(2.5, abs=0.1), heard
    assert 206 in statuses, statuses
    shot(page, "client-prompts")
    page.click("text=Remove…")
    page.click("main button[type=submit]")
    expect(page.locator('audio[aria-label="Listen to your goodbye"]')).to_have_count(0)
