"""The platform's spoken prompts (conference PIN entry, moderator keys...), as 20 ms frames per codec,
in each language the portals speak.

The English texts are TEXTS; their translations are the gettext domain "prompts"
(locale/<language>/LC_MESSAGES/prompts.po, msgctxt the prompt's name), compiled with the portals'
messages (platform/locales.py) and read here with the standard library's gettext. Each prompt is a
WAV file per language in the prompts directory (`OCX_PROMPTS_DIR/<language>/<name>.wav`, var/prompts
by default), made from its text by Debian's espeak-ng when it is installed (`Prompts.prepare()`; the
engine does it at start, in a thread, for every language: about 12 ms a prompt, once; then only the
loading). A file is made again when its text changes (`texts.json` beside the files says what each
was made from); an operator may replace a file with a recording of the same text. A prompt without a
translation is spoken in English.

A company may replace any prompt with its own recording (telephony.prompts, under
`OCX_MESSAGES_DIR/<client>/prompt-<name>.wav`): a `Voice` says which language and which own files a
call's prompts come from. Without the file and without espeak-ng a prompt falls back to a short tone
pattern of its own, so that the flows work on any machine and say so in the log.
"""

from __future__ import annotations

import gettext
import json
import logging
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from telephony.media.player import AudioFileError, Frames, encode, file_samples, tones

log = logging.getLogger(__name__)

TEXTS = {
    "conference_id": "Please enter the conference I D, then press the pound key.",
    "pin": "Please enter your pin, then press the pound key.",
    "unknown_conference": "That conference I D is not known.",
    "wrong_pin": "That pin is not correct.",
    "locked": "This conference is locked.",
    "full": "This conference is full.",
    "closed": "This conference is not open now.",
    "waiting": "Please wait for the moderator to join.",
    "goodbye": "Goodbye.",
    "ended": "The conference has ended.",
    "muted": "You are muted.",
    "unmuted": "You are no longer muted.",
    "all_muted": "Everyone else is muted.",
    "all_unmuted": "Everyone may speak.",
    "conference_locked": "The conference is now locked.",
    "conference_unlocked": "The conference is now unlocked.",
    "recording_on": "This conference is being recorded.",
    "recording_off": "Recording has stopped.",
    "call_recorded": "This call is recorded.",
    "participants": "Participants in the conference:",
    "confirm": "To confirm that you received this message, press",
    "thanks": "Thank you. Goodbye.",
    "record_after_tone": "Record your message after the tone. Press the pound key when you are done.",
    "recorded": "Your message is saved. Goodbye.",
    "find_me": "You have a call. Press 1 to take it.",
    "forwarding_on": "Call forwarding is on.",
    "forwarding_off": "Call forwarding is off.",
    "dnd_on": "Do not disturb is on.",
    "dnd_off": "Do not disturb is off.",
    "not_possible": "That is not possible.",
    "call_not_accepted": "Your call cannot be accepted.",
    "anonymous_not_accepted": "Calls without a caller number are not accepted. Please call again showing your number.",
    # Voicemail (telephony/engine/applications/voicemail.py)
    "vm_person_at": "The person at extension",
    "vm_mailbox": "Mailbox",
    "vm_unavailable": "is not available. Please leave a message after the tone, then press the pound key.",
    "vm_busy": "is busy. Please leave a message after the tone, then press the pound key.",
    "vm_full": "This mailbox is full and cannot take a message.",
    "vm_no_space": "Messages cannot be recorded at the moment. Please try again later.",
    "vm_box_number": "Please enter your mailbox number, then press the pound key.",
    "vm_you_have": "You have",
    "vm_new_messages": "new messages",
    "vm_and": "and",
    "vm_saved_messages": "saved messages.",
    "vm_main_menu": "Press 1 to hear your messages, 0 for mailbox options, or the pound key to hang up.",
    "vm_message": "Message",
    "vm_from": "from",
    "vm_unknown_caller": "from an unknown caller",
    "vm_received_at": "received at",
    "vm_message_menu": "Press 5 to hear it again, 7 to delete it, 9 to save it, 6 for the next message, "
    "4 for the previous one, or 3 then 2 to call back.",
    "vm_deleted": "Message deleted.",
    "vm_message_saved": "Message saved.",
    "vm_no_more": "No more messages.",
    "vm_options": "Press 1 to record your unavailable greeting, 2 for your busy greeting, 3 for your name, "
    "4 to change your pin, or the star key to go back.",
    "vm_record_after_tone": "Record after the tone, then press the pound key.",
    "vm_greeting_saved": "Your greeting is saved.",
    "vm_new_pin": "Please enter your new pin of 4 to 10 digits, then press the pound key.",
    "vm_pin_changed": "Your pin is changed.",
    "vm_connecting": "Please hold.",
    # Queues (telephony/engine/applications/queues.py)
    "queue_position": "You are number",
    "queue_in_line": "in line.",
    "queue_wait": "Your estimated wait is",
    "queue_minutes": "minutes.",
    "queue_wait_short": "Your call will be answered shortly.",
    "queue_logged_in": "You are logged in to your queues.",
    "queue_logged_out": "You are logged out of your queues.",
    "queue_paused": "You are paused.",
    "queue_unpaused": "You are available again.",
    "queue_callback_offer": "To hang up and be called back in your turn, press",
    "queue_callback_confirmed": "You will be called back when an agent is free. You may hang up now.",
    "queue_callback_agent": "This is a queue callback. Connecting you to the caller.",
    "queue_rate": "Please rate this call from 1 to 5, 5 being the best.",
    "queue_rate_thanks": "Thank you for your rating.",
}
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEXTS.update(zip("0123456789", DIGIT_WORDS, strict=True))
ENTRY_TONE = tones([((880.0,), 0.12), ((1320.0,), 0.12)], level=4000.0)
EXIT_TONE = tones([((1320.0,), 0.12), ((880.0,), 0.12)], level=4000.0)
TONES = {"beep": np.array(tones([((1000.0,), 0.3)], level=5000.0), dtype=np.int16)}
VOICES = {"en": "en-us", "es": "es", "fr": "fr-fr", "de": "de"}  # language -> espeak-ng voice
LANGUAGES = tuple(VOICES)
LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
OWN_PREFIX = "prompt-"  # a company's own prompt: OCX_MESSAGES_DIR/<client>/prompt-<name>.wav


def own_path(directory: Path | str, client: int, name: str) -> Path:
    """Where a company's own recording of prompt `name` lives (under OCX_MESSAGES_DIR)."""
    return Path(directory) / str(client) / f"{OWN_PREFIX}{name}.wav"


@dataclass(frozen=True)
class Voice:
    """Which prompts a call hears: the language, and the company's own files (`own`: (name, version)
    pairs, the version changes with each upload; read with the company's dial plan)."""

    language: str = "en"
    client: int = 0
    own: tuple[tuple[str, str], ...] = ()

    def spoken_in(self, language: str) -> Voice:
        return Voice(language, self.client, self.own) if language in VOICES else self


ENGLISH = Voice()


def _fallback(name: str) -> np.ndarray:
    """A tone pattern standing in for a prompt: its own rhythm per name, 350 Hz, never silent."""
    beeps = 1 + sum(name.encode()) % 4
    return np.array(tones([((350.0,), 0.15), ((), 0.1)] * beeps), dtype=np.int16)


class Prompts:
    def __init__(self, directory: Path, *, own_directory: Path | str | None = None, locale_dir: Path = LOCALE_DIR):
        self.directory = Path(directory)
        self.own_directory = Path(own_directory) if own_directory is not None else None
        self._translations = {language: _translation(locale_dir, language) for language in LANGUAGES}
        self._samples: dict[tuple[str, str], np.ndarray] = {}  # (language, name) -> samples
        self._made: dict[str, dict[str, str]] = {}  # language -> name -> what its file was made from
        self._lock = threading.Lock()
        self._own: dict[tuple[int, str, str], np.ndarray | None] = {}  # (client, name, version) -> samples
        self._frames: dict[tuple, Frames] = {}
        self.closed = False  # set when the engine stops: prepare() leaves the rest

    def text(self, name: str, language: str = "en") -> str:
        """What prompt `name` says in `language` (English when it has no translation)."""
        english = TEXTS[name]
        translation = self._translations.get(language)
        said = translation.pgettext(name, english) if translation is not None else None
        return said if said is not None else english

    def translated(self, name: str, language: str) -> bool:
        translation = self._translations.get(language)
        return language == "en" or (translation is not None and translation.pgettext(name, TEXTS[name]) is not None)

    def path(self, name: str, language: str = "en") -> Path:
        """The platform's file of prompt `name` in `language` (the English one when untranslated)."""
        return self.directory / (language if self.translated(name, language) else "en") / f"{name}.wav"

    def prepare(self, languages: tuple[str, ...] = ("en",)) -> int:
        """Make the missing (or outdated) prompt files of each language with espeak-ng (if installed)
        and load them all; the number of prompts that had to fall back to tones. File and process
        work: run it in a thread."""
        fallbacks = 0
        for language in languages:
            for name in TEXTS:
                if self.closed:  # the engine stops: what is left is read when a call needs it
                    return fallbacks
                if not self.translated(name, language):
                    log.warning("prompt %s has no %s translation (locale/%s/LC_MESSAGES/prompts.po): English",
                                name, language, language)  # fmt: skip
                    continue
                fallbacks += not self._load(language, name)
        if fallbacks:
            log.warning("%d prompts are tone patterns: install espeak-ng or put WAV files in %s", fallbacks,
                        self.directory)  # fmt: skip
        return fallbacks

    def _load(self, language: str, name: str) -> bool:
        """Make the file of one prompt when it is missing or outdated, and load it; False: a tone pattern
        stands in for it. Several threads may ask (the engine's start, a call): one makes it."""
        with self._lock:
            if (language, name) in self._samples:
                return True
            folder = self.directory / language
            folder.mkdir(parents=True, exist_ok=True)
            manifest = folder / "texts.json"
            made = self._made.setdefault(language, _read_json(manifest))
            path, said = folder / f"{name}.wav", f"{VOICES[language]}: {self.text(name, language)}"
            speaker = shutil.which("espeak-ng")
            if speaker and (not path.exists() or made.get(name) != said):
                # Our own fixed texts and paths, no shell: nothing untrusted reaches the command line.
                partial = path.with_suffix(f".{os.getpid()}.part")  # whole or not at all: another process may read
                done = subprocess.run([speaker, "-v", VOICES[language], "-s", "150", "-w", str(partial),  # noqa: S603
                                       self.text(name, language)], check=False, capture_output=True,
                                      timeout=30)  # fmt: skip
                if done.returncode == 0:
                    partial.replace(path)
                    made[name] = said
                    written = manifest.with_suffix(f".{os.getpid()}.part")
                    written.write_text(json.dumps(made, indent=1, ensure_ascii=False, sort_keys=True))
                    written.replace(manifest)
            try:
                self._samples[(language, name)] = file_samples(path, max_seconds=60)
                return True
            except AudioFileError as exc:
                self._samples[(language, name)] = _fallback(name)
                log.debug("prompt %s (%s): %s", name, language, exc)
                return False

    def _platform(self, name: str, language: str) -> np.ndarray:
        found = self._samples.get((self._spoken(name, language), name))
        if found is None:
            found = self._samples.get(("en", name))
        return found if found is not None else _fallback(name)

    def missing(self, voice: Voice, names: tuple[str, ...]) -> bool:
        """Some of `names` are not loaded yet for this voice: a language not prepared (yet), or the
        company's own files (load them with `load`, in a thread)."""
        own = dict(voice.own)
        for name in names:
            if name in own:
                key = (voice.client, name, own[name])
                if key not in self._own:
                    return True
                if self._own[key] is not None:
                    continue
            if name in TEXTS and (self._spoken(name, voice.language), name) not in self._samples:
                return True
        return False

    def _spoken(self, name: str, language: str) -> str:
        """The language prompt `name` is spoken in for `language` (English without a translation)."""
        return language if language in VOICES and self.translated(name, language) else "en"

    def load(self, voice: Voice, names: tuple[str, ...]) -> None:
        """Read what `missing` found (file work: run it in a thread). A company's file that cannot be
        read leaves the platform's prompt in its place, and says so in the log."""
        own = dict(voice.own)
        if len(self._own) > 2000:  # old versions and other companies' files: read again when needed
            self._own.clear()
        for name in names:
            if name in own and self.own_directory is not None:
                if (voice.client, name, own[name]) in self._own:
                    continue
                path = own_path(self.own_directory, voice.client, name)
                try:
                    samples = file_samples(path, max_seconds=600)
                except AudioFileError as exc:
                    samples = None
                    log.warning("client %s's own prompt %s: %s", voice.client, name, exc)
                self._own[(voice.client, name, own[name])] = samples
                if samples is not None:
                    continue
            if name in TEXTS:
                self._load(self._spoken(name, voice.language), name)

    def samples(self, *names: str, voice: Voice = ENGLISH) -> np.ndarray:
        """The prompts one after the other (a count is "participants", "1", "2"), with short pauses:
        the company's own recordings where it has them (loaded: see `missing`), else the platform's
        in the voice's language."""
        pause = np.zeros(800, dtype=np.int16)
        own = dict(voice.own)
        parts = []
        for name in names:
            samples = TONES.get(name)
            if samples is None and name in own:
                samples = self._own.get((voice.client, name, own[name]))
            if samples is None:
                samples = self._platform(name, voice.language)
            parts += [samples, pause]
        return np.concatenate(parts) if parts else pause

    def frames(self, codec: str, *names: str, voice: Voice = ENGLISH) -> Frames:
        """Encoded 20 ms frames of the prompts in `codec`, kept for the next time (once all are loaded)."""
        if self.missing(voice, names):
            return encode(self.samples(*names, voice=voice), codec)
        own = dict(voice.own)
        key = (codec, voice.language, " ".join(names), voice.client, tuple((n, own[n]) for n in names if n in own))
        if key not in self._frames:
            if len(self._frames) > 5000:
                self._frames.clear()
            self._frames[key] = encode(self.samples(*names, voice=voice), codec)
        return self._frames[key]

    def tone(self, codec: str, name: str) -> Frames:
        """A tone of TONES ("beep") alone, without the pause after it that `frames` adds: its last frame
        is the tone's end (voicemail starts a message's recording as that frame is sent)."""
        key = (codec, "tone", name)
        if key not in self._frames:
            self._frames[key] = encode(TONES[name], codec)
        return self._frames[key]


class _Untranslated(gettext.NullTranslations):
    """The end of a translation's fallbacks: None says "no entry" (a French "six" is still translated)."""

    def pgettext(self, context, message):
        return None


def _translation(locale_dir: Path, language: str) -> gettext.NullTranslations | None:
    if language == "en":
        return None
    try:
        translation = gettext.translation("prompts", localedir=str(locale_dir), languages=[language])
        translation.add_fallback(_Untranslated())
        return translation
    except OSError:
        log.warning("no compiled prompts for %s (locale/%s/LC_MESSAGES/prompts.mo; platform/locales.py makes it): "
                    "they are spoken in English", language, language)  # fmt: skip
        return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
