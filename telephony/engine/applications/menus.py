"""Voice menus (menus.models.Menu): the destination kind "menu" (target: the menu's id), where numbers,
forwarding, a schedule's closed branch and other menus' keys point. The engine answers, says the
greeting (a library message, else a prompt, else nothing) and waits `timeout` seconds for a key; a key
stops the greeting and keys typed ahead count. A key of the menu sends the caller where it says: another
menu runs in the same call; a person, an external number or a ring group is called by the engine like
the caller's own call would be (voicemail's `Onward`) and bridged to the caller once answered (when a
person's forwarding sends the call to what needs the caller, their voicemail or a menu, the caller goes
there: `Onward.hands_back`); voicemail, a conference and the others run as the kind's runner has them,
on the answered call. With direct dialing on, digits that make one of the client's extensions (each
within INTER_DIGIT seconds of the last) call that user. Silence or a key the menu lacks says the
greeting again, `retries` times; then the menu's timeout or invalid-key destination applies (none:
goodbye). The call's record lists each menu visited, the key pressed (or why none) and where it led
(`legs`, leg "menu"); it counts as answered by `menu:<id>` from the first menu on.
"""

from __future__ import annotations

import logging
from pathlib import Path

from menus.selectors import MenuView, menus_for_plan
from telephony.engine import destinations
from telephony.engine.application import Incoming
from telephony.engine.applications.routing import follow
from telephony.engine.applications.voicemail import ONWARD, Voice
from telephony.engine.call import Call
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, section
from telephony.engine.states import State

log = logging.getLogger(__name__)
INTER_DIGIT = 2.0  # seconds between the digits of an extension dialled directly
MAX_MENUS = 30  # menus one call may go through (the services refuse loops without a way out; this ends the rest)


@section("menus")
def load_menus(client) -> dict[int, MenuView]:
    return menus_for_plan(client)


def menus_of(plan: ClientPlan) -> dict[int, MenuView]:
    return plan.sections.get("menus") or {}


def _menu(plan: ClientPlan, target: str) -> MenuView | None:
    return menus_of(plan).get(int(target)) if target.isdigit() else None


@runs("menu")
async def to_menu(call: Call, target: str, incoming: Incoming) -> None:
    menu = _menu(incoming.plan, target)
    if menu is None:
        call.refuse(incoming, 404, "No Such Menu")
        return
    if not call.record_opened:  # a number pointing at the menu (a forwarded call has its record)
        call.open_record(call.route_alone(incoming), incoming.dialled)
    if not await call.answer_alone(incoming.offer):
        return
    call.answered(by=f"menu:{menu.id}")
    walk = Walk(call, incoming)
    call.take(walk)
    await walk.run(menu)


class Walk(Voice):
    """The answered caller going through menus (voicemail's Voice: prompts, files, calling on)."""

    carried = ""  # keys typed ahead with direct dialing that made no extension: the next menu's

    async def run(self, menu: MenuView) -> None:
        call = self.call
        for _ in range(MAX_MENUS):
            kind, target = await self.choose_in(menu)
            if call.state == State.ENDED:
                return
            if kind == "route":  # (rule sets choose where the answered caller goes next)
                kind, target = follow(call, self.incoming, target)
            if kind == "menu":
                following = _menu(self.plan, target)
                if following is not None:  # (keys typed ahead are this menu's)
                    menu = following
                    continue
            await self.go(kind, target)
            return
        log.warning("call %s: %s menus in a row, ended", call.uuid, MAX_MENUS)
        await self.go("", "")

    async def choose_in(self, menu: MenuView) -> tuple[str, str]:
        """Greeting, key, retries: where the caller goes from `menu` (kind, target; ("", "") goodbye)."""
        call, tries = self.call, 0
        while call.state != State.ENDED:
            if not self.digits.pending and not self.carried:
                await self.greet(menu)
            typed = await self.typed(menu)
            if call.state == State.ENDED:
                return "", ""
            if menu.direct_dial and typed in self.plan.by_number and (len(typed) > 1 or typed not in menu.keys):
                call.log_leg("menu", "", menu=menu.id, menu_name=menu.name, dialled=typed, to=f"user:{typed}")
                return "user", typed
            if len(typed) > 1 and typed[0] in menu.keys:  # a key, then keys for the next menu (no extension)
                typed, self.carried = typed[0], typed[1:]
            if typed in menu.keys:
                call.log_leg("menu", "", menu=menu.id, menu_name=menu.name, key=typed, to=":".join(menu.keys[typed]))
                return menu.keys[typed]
            why = "invalid" if typed else "timeout"
            tries += 1
            if tries > menu.retries:
                where = menu.on_invalid if typed else menu.on_timeout
                call.log_leg("menu", "", menu=menu.id, menu_name=menu.name, key=typed, why=why, to=":".join(where))
                return where
            if typed:
                await self.play("not_possible")
        return "", ""

    async def greet(self, menu: MenuView) -> None:
        if menu.greeting_file and await self.play_file(Path(menu.greeting_file)):
            return
        if menu.greeting_prompt:
            await self.play(menu.greeting_prompt)

    async def typed(self, menu: MenuView) -> str:
        """One key within the menu's timeout; with direct dialing, more while they may still make an
        extension (INTER_DIGIT seconds each)."""
        collect = self.digits.collect
        if self.carried:
            first, self.carried = self.carried[0], self.carried[1:]
        else:
            first = (await collect(max_digits=1, terminator=None, first=float(menu.timeout))).digits
        if not first or not menu.direct_dial:
            return first
        typed, numbers = first, self.plan.by_number
        while self.call.state != State.ENDED and any(n.startswith(typed) and n != typed for n in numbers):
            more = (await collect(max_digits=1, terminator=None, first=INTER_DIGIT)).digits
            if not more:
                break
            typed += more
        return typed

    async def go(self, kind: str, target: str) -> None:
        """Send the answered caller on: goodbye, a message and goodbye, a person, or the kind's runner."""
        call = self.call
        if not kind or kind == "hangup" or kind == "menu":  # (a menu deleted meanwhile: goodbye)
            await self.play(*([target, "goodbye"] if kind == "hangup" and target not in ("", "goodbye") else
                              ["goodbye"]))  # fmt: skip
            call.hangup("engine", cause=target if kind == "hangup" and target else "menu-goodbye")
            return
        if kind in ONWARD:
            if not await self.onward(kind, target, reason="menu") and call.state != State.ENDED:
                await self.play("not_possible", "goodbye")
                call.hangup("engine", cause="menu-unanswered")
            return
        await destinations.run(call, kind, target, self.incoming)
