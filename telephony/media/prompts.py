"""The platform's spoken prompts (conference PIN entry, moderator keys...), as 20 ms frames per codec.

Each prompt is a WAV file in the prompts directory (`OCX_PROMPTS_DIR`, var/prompts by default),
made once from its text by Debian's espeak-ng when it is installed (`Prompts.prepare()`; the
engine does it at start, in a thread). A company may replace a file with a recording of its own.
Without the file and without espeak-ng a prompt falls back to a short tone pattern of its own, so
that the flows work on any machine and say so in the log.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
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
}
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEXTS.update(zip("0123456789", DIGIT_WORDS, strict=True))
ENTRY_TONE = tones([((880.0,), 0.12), ((1320.0,), 0.12)], level=4000.0)
EXIT_TONE = tones([((1320.0,), 0.12), ((880.0,), 0.12)], level=4000.0)
TONES = {"beep": np.array(tones([((1000.0,), 0.3)], level=5000.0), dtype=np.int16)}


def _fallback(name: str) -> np.ndarray:
    """A tone pattern standing in for a prompt: its own rhythm per name, 350 Hz, never silent."""
    beeps = 1 + sum(name.encode()) % 4
    return np.array(tones([((350.0,), 0.15), ((), 0.1)] * beeps), dtype=np.int16)


class Prompts:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._samples: dict[str, np.ndarray] = {}
        self._frames: dict[tuple[str, str], Frames] = {}

    def prepare(self) -> int:
        """Make the missing prompt files with espeak-ng (if installed) and load them all; the number
        of prompts that had to fall back to tones. File and process work: run it in a thread."""
        speaker = shutil.which("espeak-ng")
        self.directory.mkdir(parents=True, exist_ok=True)
        fallbacks = 0
        for name, text in TEXTS.items():
            path = self.directory / f"{name}.wav"
            if not path.exists() and speaker:
                # Our own fixed texts and paths, no shell: nothing untrusted reaches the command line.
                subprocess.run([speaker, "-v", "en-us", "-s", "150", "-w", str(path), text], check=False,  # noqa: S603
                               capture_output=True, timeout=30)  # fmt: skip
            try:
                self._samples[name] = file_samples(path, max_seconds=60)
            except AudioFileError as exc:
                self._samples[name] = _fallback(name)
                fallbacks += 1
                log.debug("prompt %s: %s", name, exc)
        if fallbacks:
            log.warning("%d prompts are tone patterns: install espeak-ng or put WAV files in %s", fallbacks,
                        self.directory)  # fmt: skip
        return fallbacks

    def samples(self, *names: str) -> np.ndarray:
        """The prompts one after the other (a count is "participants", "1", "2"), with short pauses."""
        pause = np.zeros(800, dtype=np.int16)
        parts = []
        for name in names:
            samples = TONES.get(name)
            if samples is None:
                samples = self._samples[name] if name in self._samples else _fallback(name)
            parts += [samples, pause]
        return np.concatenate(parts) if parts else pause

    def frames(self, codec: str, *names: str) -> Frames:
        """Encoded 20 ms frames of the prompts in `codec`, kept for the next time."""
        key = (codec, " ".join(names))
        if key not in self._frames:
            self._frames[key] = encode(self.samples(*names), codec)
        return self._frames[key]
