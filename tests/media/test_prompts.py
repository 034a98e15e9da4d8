"""The platform's prompts in each language: every text translated (locale/<language>/LC_MESSAGES/prompts.po,
compiled with the portals' messages), a file per language made by espeak-ng from the translation, a
missing translation spoken in English, and a company's own recording played instead of any prompt."""

from __future__ import annotations

import importlib.util
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from telephony.media.prompts import LANGUAGES, LOCALE_DIR, TEXTS, Prompts, Voice, own_path

ROOT = Path(__file__).resolve().parents[2]
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng makes the prompts (make test)")


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "en"])
def test_every_prompt_has_a_translation_in_each_language(language):
    prompts = Prompts(ROOT / "var" / "unused")
    missing = [name for name in TEXTS if not prompts.translated(name, language)]
    assert not missing, f"no {language} translation in locale/{language}/LC_MESSAGES/prompts.po for {missing}"
    said = {name: prompts.text(name, language) for name in TEXTS}
    assert said["goodbye"] != TEXTS["goodbye"] and said["1"] != TEXTS["1"]
    # the committed catalogue itself: one entry per prompt, for the English text it has now, none empty
    po = (LOCALE_DIR / language / "LC_MESSAGES" / "prompts.po").read_text(encoding="utf-8")
    entries = dict(re.findall(r'^msgctxt "(.*)"\nmsgid "(?:.*)"\nmsgstr "(.+)"$', po, re.M))
    assert set(entries) == set(TEXTS), set(entries) ^ set(TEXTS)


def test_the_prompts_catalogues_are_compiled_with_the_portals_messages():
    spec = importlib.util.spec_from_file_location("ocx_locales", ROOT / "platform" / "locales.py")
    locales = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(locales)
    assert not locales.stale(), "platform/locales.py left a catalogue uncompiled"
    for language in LANGUAGES[1:]:
        po = LOCALE_DIR / language / "LC_MESSAGES" / "prompts.po"
        assert po.with_suffix(".mo").exists() and po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def test_a_missing_translation_is_spoken_in_english(tmp_path):
    (tmp_path / "de" / "LC_MESSAGES").mkdir(parents=True)  # a German catalogue without "goodbye"
    po = (LOCALE_DIR / "de" / "LC_MESSAGES" / "prompts.po").read_text(encoding="utf-8")
    po = re.sub(r'msgctxt "goodbye"\nmsgid "[^"]*"\nmsgstr "[^"]*"\n', "", po)
    mo = tmp_path / "de" / "LC_MESSAGES" / "prompts.mo"
    _msgfmt(po, mo)
    prompts = Prompts(tmp_path / "prompts", locale_dir=tmp_path)
    assert not prompts.translated("goodbye", "de") and prompts.translated("dnd_on", "de")
    assert prompts.text("goodbye", "de") == "Goodbye."
    assert prompts.path("goodbye", "de") == tmp_path / "prompts" / "en" / "goodbye.wav"
    assert prompts.path("dnd_on", "de") == tmp_path / "prompts" / "de" / "dnd_on.wav"


def _msgfmt(po_text: str, mo: Path) -> None:
    import subprocess

    po = mo.with_suffix(".po")
    po.write_text(po_text, encoding="utf-8")
    subprocess.run(["msgfmt", "-o", str(mo), str(po)], check=True)


@needs_espeak
def test_each_language_has_its_own_files_made_from_its_text(tmp_path):
    prompts = Prompts(tmp_path)
    assert prompts.prepare(LANGUAGES) == 0
    made = {language: (tmp_path / language / "dnd_on.wav").read_bytes() for language in LANGUAGES}
    assert len(set(made.values())) == len(LANGUAGES)  # four different recordings
    lengths = {language: len(prompts.samples("dnd_on", voice=Voice(language))) for language in LANGUAGES}
    assert lengths["de"] > lengths["en"] * 1.15, lengths  # "Bitte nicht stören ist eingeschaltet." is longer
    # a text that changes is made again; an unchanged one is kept
    kept = (tmp_path / "de" / "goodbye.wav").stat().st_mtime_ns
    manifest = tmp_path / "de" / "texts.json"
    manifest.write_text(manifest.read_text().replace("Bitte nicht stören", "Nicht stören"))
    again = Prompts(tmp_path)
    again.prepare(("de",))
    assert (tmp_path / "de" / "goodbye.wav").stat().st_mtime_ns == kept
    assert "Bitte nicht stören" in manifest.read_text()


@needs_espeak
def test_a_companys_own_recording_replaces_the_prompt_once_loaded(tmp_path):
    prompts = Prompts(tmp_path / "made", own_directory=tmp_path / "own")
    prompts.prepare(("en", "fr"))
    path = own_path(tmp_path / "own", 7, "goodbye")
    path.parent.mkdir(parents=True)
    tone = (np.sin(2 * np.pi * 1000 * np.arange(4000) / 8000) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(tone.tobytes())
    voice = Voice("fr", 7, (("goodbye", "1-1"),))
    assert prompts.missing(voice, ("dnd_on", "goodbye"))
    prompts.load(voice, ("dnd_on", "goodbye"))
    assert not prompts.missing(voice, ("dnd_on", "goodbye"))
    assert np.array_equal(prompts.samples("goodbye", voice=voice)[:4000], tone)
    french = prompts.samples("dnd_on", voice=voice)
    assert np.array_equal(french, prompts.samples("dnd_on", voice=Voice("fr")))  # the rest: the platform's
    assert not np.array_equal(prompts.samples("goodbye", voice=Voice("fr", 7)), prompts.samples("goodbye", voice=voice))
    assert prompts.missing(Voice("fr", 7, (("goodbye", "1-2"),)), ("goodbye",))  # a new upload: read again
