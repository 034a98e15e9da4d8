"""Text messages between the phones of one client (SIP MESSAGE, RFC 3428).

A phone sends MESSAGE to a colleague's extension (or SIP user name) at its client's SIP domain. The
edge checks it like any request outside a dialog (digest, the client's address rules) and what a
message may be (text only, size, rate: telephony/edge/messages.py), then hands it to an engine like
a call. Here the engine finds the colleague in the sender's own client's dial plan (another
client's domain or an unknown number: 404; never across clients) and sends the text back through
the edge to the colleague's line, written as coming from the sender's extension (so that a reply
finds its way), and the edge forks it to every registered device of that line (480 when there is
none). Every device shows it; the first 2xx is the answer.

The sender is answered with what became of it: 200 when a device took it; the target's refusal
(480 when no device is registered or the devices failed, 486/603 when a phone refuses; never a 5xx,
which would make the edge try another engine); 202 Accepted when no device has
answered within DELIVERY_WAIT: the edge goes on trying, and the answer has to reach the edge before
it gives the request to another engine (OCX_SIP_ENGINE_TIMEOUT, 2 s).

The bridge to the portal's instant messages (another app; nothing here depends on it), both ways:
- phone to portal: every message delivered, refused or still on its way is handed to the hooks
  registered with `on_phone_message` (none yet), which would show it in the users' conversations; a
  hook that keeps the message turns a "no device registered" into 202 Accepted (the colleague reads
  it in the portal);
- portal to phone: `telephony.control.phone_text_send` asks the least-busy engine (the `SendText`
  command, `text_from_portal` here) to send a user's text to a colleague's phones the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from telephony.commands import Answer, Code
from telephony.engine.application import answers
from telephony.engine.call import _identity
from telephony.sip.dialog import Leg, new_tag

if TYPE_CHECKING:
    from telephony.commands import SendText
    from telephony.engine.dialplan import ClientPlan, Party
    from telephony.engine.server import Engine
    from telephony.engine.sipua import ServerTx
    from telephony.sip import Request, Response

log = logging.getLogger(__name__)
DELIVERY_WAIT = 1.5  # seconds the sender's answer waits for a device's (less than the edge's engine timeout)
UNREACHABLE = (404, 408, 480)  # what the edge answers when no device of the line took it
HOOK_WAIT = 0.3  # seconds the sender's answer waits for the hooks (on_phone_message)


@dataclass(frozen=True)
class PhoneMessage:
    """A text one line of a client sent another through the edge, as the hooks get it."""

    client: int
    sender: str  # the sender's extension number
    sender_account: int | None
    recipient: str  # the colleague's extension number
    recipient_account: int | None
    content_type: str
    text: str
    delivered: bool | None  # a device took it (True), none could (False), no answer yet (None)
    at: float  # epoch seconds


PhoneMessageHook = Callable[["Engine", PhoneMessage], Awaitable[bool]]
_hooks: list[PhoneMessageHook] = []
_late: set[asyncio.Future] = set()  # hooks still at work after the sender was answered (kept referenced)


def on_phone_message(hook: PhoneMessageHook) -> PhoneMessageHook:
    """Decorator: `await hook(engine, message)` is given every message a phone sent a colleague (the
    bridge to the portal's instant messages plugs in here); True when it kept the message. It must not
    block the loop (database work through `engine.database.call`)."""
    _hooks.append(hook)
    return hook


async def hand_on(engine: Engine, message: PhoneMessage) -> bool:
    """Give a message to the hooks; whether one kept it. A hook's fault never fails the message."""
    kept = False
    for hook in list(_hooks):
        try:
            kept = bool(await hook(engine, message)) or kept
        except Exception:
            log.exception("a phone message hook failed")
    return kept


@answers("MESSAGE")
def on_message(engine: Engine, request: Request, stx: ServerTx) -> None:
    if request.to_tag is not None:  # in a dialog the engine does not hold (a call's MESSAGE reaches its call)
        engine.ua.respond(stx, 481)
        return
    engine.background(deliver(engine, request, stx))


async def deliver(engine: Engine, request: Request, stx: ServerTx) -> None:
    reply = _Answering(engine, stx)
    identity = _identity(request)
    if not (identity.get("client", "").isdigit() and identity.get("ext", "").isdigit()):
        reply.respond(403, "Not From The Edge")
        return
    client = int(identity["client"])
    try:
        plan = await engine.dialplans.get(client)
    except Exception:  # the database away and no plan cached: the edge tries another engine
        reply.respond(503, headers=[("Retry-After", "5")])
        return
    sender = plan.by_extension.get(int(identity["ext"]))
    recipient = plan.colleague(request.uri)
    if sender is None or recipient is None or not recipient.sip_username:
        reply.respond(404, "No Such Colleague")
        return
    content_type = request.headers.get("Content-Type") or "text/plain"
    answer = await send(engine, plan, sender, recipient, content_type, request.body)
    delivered = None if answer is None else 200 <= answer.status < 300
    message = PhoneMessage(client=client, sender=sender.number, sender_account=sender.account,
                           recipient=recipient.number, recipient_account=recipient.account,
                           content_type=content_type, text=request.body.decode("utf-8", "replace"),
                           delivered=delivered, at=time.time())  # fmt: skip
    kept = False
    if _hooks:  # (bounded: the sender's answer must reach the edge before its engine timeout)
        handing = asyncio.ensure_future(hand_on(engine, message))
        try:
            kept = await asyncio.wait_for(asyncio.shield(handing), HOOK_WAIT)
        except TimeoutError:  # it goes on; the sender is answered as if no hook kept it
            _late.add(handing)
            handing.add_done_callback(_late.discard)
    unreachable = answer is not None and (answer.status in UNREACHABLE or answer.status >= 500)
    if answer is None or (kept and unreachable):
        reply.respond(202, "Accepted")
    elif delivered:
        reply.respond(200)
    elif unreachable:  # (never a 5xx: the edge would give the message to another engine)
        reply.respond(480, "Temporarily Unavailable")
    else:
        reply.respond(answer.status, answer.reason)


class _Answering:
    """The sender's answer, with the To tag a final answer outside a dialog carries (RFC 3261 8.2.6.2)."""

    def __init__(self, engine: Engine, stx: ServerTx):
        self.engine, self.stx, self.tag = engine, stx, new_tag()

    def respond(self, status: int, reason: str | None = None, *, headers=()) -> None:
        self.engine.ua.respond(self.stx, status, reason, to_tag=self.tag, headers=headers)


async def send(engine: Engine, plan: ClientPlan, sender: Party, recipient: Party, content_type: str,
               body: bytes) -> Response | None:  # fmt: skip
    """Send the text to the recipient's line through the edge: the first final answer, or None when
    none came within DELIVERY_WAIT (the transaction goes on)."""
    domain = plan.domain
    name = "".join(ch for ch in sender.name if ch not in '"\\\r\n')[:64]
    leg = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_uri=f'"{name}" <sip:{sender.number}@{domain}>',
              remote_uri=f"<sip:{recipient.number}@{domain}>", local_tag=new_tag(), name="message")  # fmt: skip
    leg.remote_target = f"sip:{recipient.sip_username}@{domain}"
    outgoing = leg.request("MESSAGE", engine.ua, headers=[("Content-Type", content_type)], body=body)
    outgoing.headers.remove("Contact")  # a MESSAGE has no dialog to form (RFC 3428 4)
    answered: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_response(response: Response) -> None:
        if response.status >= 200 and not answered.done():
            answered.set_result(response)

    engine.ua.request(outgoing, on_response)
    try:
        return await asyncio.wait_for(asyncio.shield(answered), DELIVERY_WAIT)
    except TimeoutError:
        return None


async def text_from_portal(engine: Engine, command: SendText) -> Answer:
    """A user's text from the portal to a colleague's phones (the SendText command): what became of it,
    as `status` (the phones' answer as a phone's sender would get it) and `delivered`. Not handed to
    the hooks: it comes from them."""
    try:
        plan = await engine.dialplans.get(command.client)
    except Exception:
        return Answer.refused(Code.NOT_POSSIBLE, "the client's dial plan cannot be read now")
    sender, recipient = plan.by_extension.get(command.sender), plan.by_number.get(command.to)
    if sender is None or recipient is None or not recipient.sip_username:
        return Answer.refused(Code.NOT_POSSIBLE, "no such extension")
    body = command.text.encode()
    if len(body) > settings.OCX_SIP["message_max_bytes"]:
        return Answer.refused(Code.NOT_POSSIBLE, "the text is too long for a phone")
    answer = await send(engine, plan, sender, recipient, "text/plain;charset=UTF-8", body)
    if answer is None:
        return Answer.done(status=202, delivered=None)
    status = 480 if answer.status in UNREACHABLE or answer.status >= 500 else answer.status
    return Answer.done(status=status, delivered=200 <= status < 300)
