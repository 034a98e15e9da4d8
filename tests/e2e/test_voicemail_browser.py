"""Voicemail in a real Chromium: a user uploads their unavailable greeting (a 16 kHz WAV, converted)
and listens to it in the box page's player; the browser fetches it in byte ranges (206) and seeks."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures
from tests.e2e.test_library_browser import CLIENT_HOST, LISTEN

pytestmark = pytest.mark.browser


def test_a_user_uploads_a_greeting_and_listens_to_it(page, running_platform, tmp_path):  # noqa: F811
    samples = (np.sin(2 * np.pi * 440 * np.arange(16000 * 4) / 16000) * 8000).astype("<i2")
    with wave.open(str(tmp_path / "greeting.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples.tobytes())
    sign_in(page, running_platform, CLIENT_HOST, "bob@acme.example")
    page.goto(running_platform.url(CLIENT_HOST, "/voicemail/"))
    page.click("text=Upload…")  # the first greeting: unavailable
    page.set_input_files("input[name=audio]", str(tmp_path / "greeting.wav"))
    page.click("main button[type=submit]")
    player = page.locator('audio[aria-label="Unavailable"]')
    expect(player).to_be_visible()
    statuses = []
    page.on(
        "response", lambda response: "greetings/unavailable.wav" in response.url and statuses.append(response.status)
    )
    heard = page.evaluate(LISTEN, "Unavailable")
    assert 3.9 < heard["duration"] < 4.1 and heard["at"] == pytest.approx(2.5, abs=0.1), heard
    assert 206 in statuses, statuses
    shot(page, "user-voicemail")
    page.click("text=Remove…")
    page.click("main button[type=submit]")
    expect(page.locator('audio[aria-label="Unavailable"]')).to_have_count(0)
