"""The one place that says "box changed": a message left, heard, moved or deleted (by phone, in the
portal or through the API), or a box removed. Published on Redis after the change commits, on the
channel the engines follow for message waiting (telephony/engine/applications/mwi.py): the engine
that claims the change first tells the box's subscribed phones (NOTIFY) and, when the client says
so, the phones of a user's box that do not subscribe.

Each change carries an id of its own, so that of the engines that all hear it, one tells the phones.

The edge publishes on the same channel when a phone registers anew (`line_registered`): a phone that
does not subscribe learns the box's counts then, when the client tells such phones unsolicited.
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from config.redis_store import get_redis, rkey

CHANGED_CHANNEL = "voicemail:changed"  # "<client id> <box number> <change id>[ registered]"
REGISTERED = "registered"  # the box did not change: a phone of its line registered anew (the edge says so)
log = logging.getLogger(__name__)


def mailbox_changed(client_id: int, number: str) -> None:
    """Box `number` of the client changed (its counts may have): tell the engines once committed."""
    message = f"{client_id} {number} {uuid.uuid4().hex}"

    def publish() -> None:
        try:
            get_redis().publish(rkey(CHANGED_CHANNEL), message)
        except Exception:  # Redis away: the phones learn the counts at their next refresh
            log.exception("could not publish voicemail change %s", message)

    transaction.on_commit(publish)


def line_registered(client_id: int, number: str) -> str:
    """The message an edge publishes when a phone of line `number` registered anew."""
    return f"{client_id} {number} {uuid.uuid4().hex} {REGISTERED}"
