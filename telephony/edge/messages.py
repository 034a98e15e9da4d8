"""SIP MESSAGE (RFC 3428) between the phones of one client: what the edge checks before an engine delivers it.

A phone's MESSAGE is a request outside any dialog, so it takes the way of every such request
(telephony/edge/proxy.py): digest credentials (407), the client's address rules, then an engine.
The engine (telephony/engine/applications/messages.py) finds the colleague in the sender's own
client's dial plan and sends the message back through the edge, which forks it to every registered
device of that line. Before that, the edge refuses here what no engine should see:
- a body that is not text (415 with `Accept: text/plain`): phones show text, and a MESSAGE is not a
  way to push files or markup to a colleague's screen; a body that is not UTF-8 (400);
- a body larger than `message_max_bytes` (413; RFC 3428 6 keeps a MESSAGE under 1300 bytes on UDP);
- more than `message_rate` MESSAGEs from one line, or `message_client_rate` from one client, per
  `message_window` seconds (503 with Retry-After): counted by the anti-flood guard in Redis, so
  every edge process counts the same messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telephony.sip import Response

if TYPE_CHECKING:
    from telephony.edge.server import Edge, ServerTx

TEXT_TYPES = frozenset({"text/plain"})


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower case, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def refusal(tx: ServerTx, max_bytes: int) -> Response | None:
    """What is wrong with a MESSAGE's body, as the answer to the sender; None when it may be delivered."""
    request = tx.request
    if media_type(request.headers.get("Content-Type")) not in TEXT_TYPES:
        return tx.response(415, headers=[("Accept", ", ".join(sorted(TEXT_TYPES)))])
    if len(request.body) > max_bytes:
        return tx.response(413, "Message Too Large")
    if not request.body:
        return tx.response(400, "Empty Message")
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return tx.response(400, "Message Is Not UTF-8 Text")
    return None


async def admit(edge: Edge, tx: ServerTx, client: int, sender: str) -> Response | None:
    """The answer refusing an authenticated phone's MESSAGE, or None when it goes on to an engine."""
    config = edge.config
    refused = refusal(tx, config.message_max_bytes)
    if refused is not None:
        return refused
    if not await edge.guard.message_allowed(client, sender):
        edge.stats["messages_refused"] += 1
        return tx.response(503, "Message Rate Exceeded", headers=[("Retry-After", str(config.message_window))])
    return None
