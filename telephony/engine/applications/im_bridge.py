"""Phone texts in the portal: a SIP MESSAGE one of a client's phones sends a colleague (delivered to
the colleague's phones by telephony/engine/applications/messages.py) is also kept in the two people's
one-to-one conversation of the portal's instant messages (im.services.message_send, via "sip"), so the
colleague reads it in the portal too, and a colleague with no phone registered still gets it (the
sender is answered 202 Accepted instead of 480). The other way, a portal message to one colleague
reaches their phones from im.services (`phone_copy`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from telephony.engine.applications.messages import PhoneMessage, on_phone_message

if TYPE_CHECKING:
    from telephony.engine.server import Engine

log = logging.getLogger(__name__)


def _keep(message: PhoneMessage) -> bool:
    from im.services import message_send
    from tenants.models import Client, User

    client = Client.objects.get(pk=message.client)
    sender = User.objects.get(pk=message.sender_account, client=client)
    message_send(client=client, sender=sender, to_users=[message.recipient_account], body=message.text, via="sip")
    return True


@on_phone_message
async def keep_in_portal(engine: Engine, message: PhoneMessage) -> bool:
    if message.sender_account is None or message.recipient_account is None:
        return False  # a line without a person (nobody reads it in the portal)
    if not message.content_type.lower().startswith("text/plain"):
        return False
    return await engine.database.call(_keep, message)
