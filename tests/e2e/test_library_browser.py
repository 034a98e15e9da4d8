"""The message library in a real Chromium: an operator uploads a recording and listens to it in the
page's player; the browser fetches the audio in byte ranges (206) and can seek in it."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import browser, page, shot, sign_in  # noqa: F401 - the fixtures

pytestmark = pytest.mark.browser

CLIENT_HOST = "acme.brand.localhost"

LISTEN = """async (label) => {
  const audio = document.querySelector(`audio[aria-label="${label}"]`);
  const waitFor = (name) => new Promise((ok, fail) => {
    audio.addEventListener(name, () => ok(), {once: true});
    const failed = () => fail(new Error("audio error " + (audio.error && audio.error.code)));
    audio.addEventListener("error", failed, {once: true});
  });
  const loaded = waitFor("loadedmetadata");
  audio.load();
  await loaded;
  const seeked = waitFor("seeked");
  audio.currentTime = 2.5;
  await seeked;
  return {duration: audio.duration, at: audio.currentTime};
}"""


def tone(path, seconds: float = 4.0) -> None:
    samples = (np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())


def test_an_operator_listens_to_a_library_message(page, running_platform, tmp_path):  # noqa: F811
    tone(tmp_path / "drill.wav")
    sign_in(page, running_platform, CLIENT_HOST, "admin@acme.example")
    page.goto(running_platform.url(CLIENT_HOST, "/messages/new/"))
    page.fill("input[name=name]", "Fire drill")
    page.set_input_files("input[name=audio]", str(tmp_path / "drill.wav"))
    page.click("main button[type=submit]")
    page.goto(running_platform.url(CLIENT_HOST, "/messages/"))
    player = page.locator('audio[aria-label="Listen to Fire drill"]')
    expect(player).to_be_visible()
    statuses = []
    page.on("response", lambda response: "/audio.wav" in response.url and statuses.append(response.status))
    heard = page.evaluate(LISTEN, "Listen to Fire drill")
    assert 3.9 < heard["duration"] < 4.1 and heard["at"] == pytest.approx(2.5, abs=0.1), heard
    assert 206 in statuses, statuses
    shot(page, "client-message-library")
