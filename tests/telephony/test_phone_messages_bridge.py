"""The hook where phone messages reach the portal's instant messages (`on_phone_message`), run by a
real engine with a stand-in application (tests/telephony/im_bridge_application.py): every message a
pjsua2 phone sends is handed over with what became of it, and one the hook keeps for a colleague
with no phone registered is answered 202 Accepted instead of 480."""

from __future__ import annotations

import json

from django.conf import settings

from config.redis_store import get_redis
from tests.telephony.im_bridge_application import inbox_key
from tests.waiting import wait_for

ENGINE_SETTINGS = {"OCX_ENGINE_APPLICATIONS": "tests.telephony.im_bridge_application"}


def test_every_phone_message_is_handed_to_the_hook_which_may_keep_it(world, lines):
    caller, _callee, domain = lines
    key = inbox_key(settings.OCX_REDIS_PREFIX)
    get_redis().delete(key)
    assert caller.message(f"sip:102@{domain}", "to a phone")["code"] == 200
    assert caller.message(f"sip:103@{domain}", "to the portal")["code"] == 202  # no phone, but kept
    handed = wait_for(lambda: (items := get_redis().lrange(key, 0, -1)) and len(items) == 2 and items,
                      "two messages handed to the hook", 5)  # fmt: skip
    first, second = (json.loads(item) for item in handed)
    assert (first["sender"], first["recipient"], first["text"]) == ("101", "102", "to a phone")
    assert first["delivered"] is True
    assert (second["recipient"], second["text"], second["delivered"]) == ("103", "to the portal", False)
    assert first["client"] == world.client_a1.pk and first["sender_account"] == world.user_a1.pk
