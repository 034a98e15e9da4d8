"""A stand-in for the portal's instant messages, as the bridge from phones will plug in: a hook of
`on_phone_message` (telephony/engine/applications/messages.py) that keeps every phone message in a
Redis list the test reads, and says it kept those for line 103 (a colleague who reads them in the
portal). Loaded by the engine a test starts with OCX_ENGINE_APPLICATIONS=tests.telephony.im_bridge_application."""

from __future__ import annotations

import dataclasses
import json

from telephony.engine.applications.messages import PhoneMessage, on_phone_message

KEPT_FOR = "103"


def inbox_key(prefix: str) -> str:
    return f"{prefix}:test:im-bridge"


@on_phone_message
async def keep(engine, message: PhoneMessage) -> bool:
    await engine.redis.rpush(inbox_key(engine.config.redis_prefix), json.dumps(dataclasses.asdict(message)))
    return message.recipient == KEPT_FOR
