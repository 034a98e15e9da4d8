"""Message waiting (RFC 3842) with real phones (pjsua2 reports the NOTIFYs with onMwiInfo) through
the edge and a real engine: a phone that subscribes sees its lamp set when a message is left and
cleared when the message is heard in the portal; a phone that does not subscribe is told unsolicited
when the client's voicemail options say so.

The call from 101 goes to 102's box at once (always forwarded to voicemail), so 102's phones never
ring; its greetings are short tones (tests/telephony/test_voicemail.py), so that what the caller says
comes after the beep. The portal marks the message heard through its view, as a user's click would."""

from __future__ import annotations

from django_tenants.utils import tenant_context

from tests.telephony.conftest import SECRET
from tests.telephony.test_voicemail import ENGINE_SETTINGS, _voicemail, forward, leave, messages, with_greetings  # noqa: F401
from tests.waiting import committed, wait_for
from voicemail.models import Options


def _lamp(phone, *, waiting: str, voice: str, since: int = 0, timeout: float = 15) -> dict:
    return phone.wait_for("mwi", lambda e: e["waiting"] == waiting and e["voice"].startswith(voice),
                          timeout, since=since)  # fmt: skip


def heard_in_portal(world, message_id: int) -> None:
    """The user marks the message heard in the user portal (the button of the box's list)."""
    from django.test import Client as Browser

    browser = Browser(HTTP_HOST=world.host_of(world.user_a1b))
    browser.force_login(world.user_a1b)
    response = browser.post(f"/voicemail/messages/{message_id}/", {"action": "heard"})
    assert response.status_code == 302, response.content[:500]


def test_a_subscribed_phone_sees_the_lamp_set_by_a_message_and_cleared_when_it_is_heard_in_the_portal(
    world, lines, phones, edge
):
    caller, _callee, domain = lines
    desk = phones(name="desk")
    registered = desk.register(username="102", domain=domain, secret=SECRET, proxy=f"127.0.0.1:{edge.port}",
                               mwi=True, incoming={"answer": 486})  # fmt: skip
    assert registered["code"] == 200
    _lamp(desk, waiting="no", voice="0/0")  # the NOTIFY that answers the SUBSCRIBE at once
    with_greetings(world, "102")  # short ones: the caller's tone and # come after the beep
    forward(world, always_kind="voicemail", always_target="102")
    mark = desk.mark()
    leave(caller, domain)
    _lamp(desk, waiting="yes", voice="1/0", since=mark)
    [message] = wait_for(lambda: messages(world, "102"), "the message's row", timeout=10)
    mark = desk.mark()
    committed(heard_in_portal, world, message.pk)
    _lamp(desk, waiting="no", voice="0/1", since=mark)


def test_a_phone_that_does_not_subscribe_is_told_unsolicited_when_the_client_says_so(world, lines):
    caller, callee, domain = lines

    def unsolicited(on: bool) -> None:
        with tenant_context(world.client_a1):
            options = Options.current()
            options.unsolicited_mwi = on
            options.save()

    committed(unsolicited, True)
    try:
        with_greetings(world, "102")
        forward(world, always_kind="voicemail", always_target="102")
        leave(caller, domain)
        _lamp(callee, waiting="yes", voice="1/0")
    finally:
        committed(unsolicited, False)
