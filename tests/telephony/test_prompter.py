"""A voice menu's prompts and keys (telephony.engine.application.Prompter): a key stops a prompt, also one
pressed while the prompt's audio is still being read (an engine that just started reads its prompts
from disk), and a key pressed before a prompt began does not silence it.

The call here is a stand-in that keeps what was played: the engine's own calls are exercised with
pjsua2 phones in test_voicemail.py and test_engine_applications.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from telephony.engine.application import Prompter
from telephony.engine.states import State
from telephony.media.dtmf import DtmfCollector


class Call:
    state = State.IVR
    voice = "en"

    def __init__(self, read_seconds: float):
        self.played: list[str] = []
        self.on_done = None
        self.engine = SimpleNamespace(prompt_frames=self.prompt_frames)
        self.read_seconds = read_seconds

    async def prompt_frames(self, voice, codec, *names):
        await asyncio.sleep(self.read_seconds)  # the audio read from disk
        return [b"\xff" * 160] * 50  # one second

    def keys(self, *, on_digit, side):
        return DtmfCollector(on_digit=on_digit)

    def side(self, name):
        return SimpleNamespace(codec=SimpleNamespace(name="PCMU"))

    def play(self, side, frames, *, loop, on_done, on_last=None):
        self.played.append(side)
        self.on_done = on_done
        asyncio.get_running_loop().call_later(len(frames) * 0.02, on_done)

    def stop_playing(self):
        pass


def test_a_key_pressed_while_the_prompt_is_read_stops_it_before_it_starts():
    async def run():
        call = Call(read_seconds=0.2)
        menu = Prompter(call)
        playing = asyncio.create_task(menu.play("greeting"))
        await asyncio.sleep(0.05)
        menu.key(call, "1")
        await asyncio.wait_for(playing, 1)
        return call.played, menu.digits.pending

    played, pending = asyncio.run(run())
    assert played == [], "the prompt started after its key"
    assert pending == "1", "the key is kept for what comes next"


def test_a_key_pressed_before_the_prompt_began_does_not_silence_it():
    async def run():
        call = Call(read_seconds=0.01)
        menu = Prompter(call)
        menu.key(call, "5")
        menu.digits.flush()
        await menu.play("greeting")
        return call.played

    assert asyncio.run(run()) == ["caller"]
