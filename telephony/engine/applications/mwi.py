"""Message waiting (RFC 3842): a phone's message-summary subscription, and its NOTIFYs.

A phone SUBSCRIBEs through the edge like any dialog-creating request (digest-checked, handed to the
least-busy engine), to its own box (the request names its SIP user name or its extension) or to a
shared box its line is a member of (the request names the box's number). The
engine answers 200, keeps the subscription's dialog in Redis (not in its memory) and sends a NOTIFY
at once with the box's counts (`Voice-Message: new/old`), then whenever the box changes.

Where subscriptions live, with the faults in mind: in Redis, with the dialog's identity, route set
and CSeq (a counter every engine increments), until they expire. So any engine can NOTIFY any
subscription: a box change (voicemail/events.py, on the Redis channel every engine follows) is claimed
by one engine, which tells the box's phones; an engine restarting loses nothing. Refreshes and
unsubscribes (a SUBSCRIBE in the dialog, to the engine that answered last) are read from Redis too,
so when that engine is gone the edge hands the refresh to a live one (telephony/edge/proxy.py), whose
answer makes it the dialog's target. A change published while no engine listens is told at the next
refresh (each refresh gets a NOTIFY).

Phones that do not subscribe: when the client's voicemail options say so, a change of a user's box
that no phone subscribes to is told by an unsolicited NOTIFY (out of any dialog) to the user's line,
which the edge forks to every registered contact; so is the box's state when a phone of the line
registers anew (the edge publishes that on the same channel), so a phone that restarted shows it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING

from config.redis_store import follow
from telephony.engine.application import answers, at_start
from telephony.engine.applications.voicemail import boxes_of
from telephony.engine.call import _identity, _without_tag
from telephony.sip import SipError, parse_uri
from telephony.sip.dialog import Leg, new_tag
from telephony.sip.subscription import SubscriptionRefused, subscription_terms
from voicemail.events import CHANGED_CHANNEL, REGISTERED
from voicemail.selectors import WaitingState, mailbox_member, mailbox_waiting

if TYPE_CHECKING:
    from telephony.engine.server import Engine
    from telephony.engine.sipua import ServerTx
    from telephony.sip import Request

log = logging.getLogger(__name__)
EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"
DEFAULT_EXPIRES = 3600  # seconds, RFC 3842 5.3's default
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
CLAIM_SECONDS = 60  # how long a change's id stays claimed by the engine that tells it
FACTS = ("call_id", "local_uri", "remote_uri", "local_tag", "remote_tag", "remote_target", "route")


def _key(engine: Engine, *parts: object) -> str:
    return ":".join([engine.config.redis_prefix, "mwi", *map(str, parts)])


def summary(state: WaitingState, account: str) -> bytes:
    """The application/simple-message-summary body (RFC 3842 5.2)."""
    waiting = "yes" if state.new else "no"
    return (f"Messages-Waiting: {waiting}\r\nMessage-Account: {account}\r\n"
            f"Voice-Message: {state.new}/{state.old} (0/0)\r\n").encode()  # fmt: skip


@answers("SUBSCRIBE", event=EVENT)
def on_subscribe(engine: Engine, request: Request, stx: ServerTx) -> None:
    engine.background(subscribe(engine, request, stx))


async def subscribe(engine: Engine, request: Request, stx: ServerTx) -> None:
    ua = engine.ua
    try:
        terms = subscription_terms(request, event=EVENT, default_expires=DEFAULT_EXPIRES, min_expires=MIN_EXPIRES,
                                   max_expires=MAX_EXPIRES)  # fmt: skip
    except SubscriptionRefused as refused:
        ua.respond(stx, refused.status, refused.reason, headers=refused.headers)
        return
    expires = terms.expires
    if terms.refresh:
        await refresh(engine, request, stx, expires)
        return
    identity = _identity(request)
    if not (identity.get("client", "").isdigit() and identity.get("ext", "").isdigit()):
        ua.respond(stx, 403, "Not From The Edge")
        return
    client = int(identity["client"])
    try:
        plan = await engine.dialplans.get(client)
    except Exception:  # the database away and no plan cached: the phone tries again
        ua.respond(stx, 503, headers=[("Retry-After", "30")])
        return
    line = plan.by_extension.get(int(identity["ext"]))
    try:
        asked = parse_uri(request.uri).user_unescaped or ""
    except SipError:
        asked = ""
    if line is None:
        ua.respond(stx, 403, "Not Your Box")
        return
    number = line.number  # one's own box, or a shared box one is a member of
    if asked not in (line.number, line.sip_username, identity.get("user")):
        try:
            member = await engine.database.call(mailbox_member, client, asked, line.number)
        except Exception:
            ua.respond(stx, 503, headers=[("Retry-After", "30")])
            return
        if not member:
            ua.respond(stx, 403, "Not Your Box")
            return
        number = asked
    leg = Leg(call_id=request.call_id, local_uri=request.headers.get("To") or "", local_tag=new_tag(),
              remote_uri=_without_tag(request.headers.get("From") or ""), name="subscriber")  # fmt: skip
    leg.remote_tag = request.from_tag
    leg.learn(request, uac=False)
    facts = {name: getattr(leg, name) for name in FACTS}
    record = {"client": client, "number": number, "domain": plan.domain, "leg": facts,
              "until": time.time() + expires}  # fmt: skip
    key, box = _key(engine, "sub", request.call_id), _key(engine, "box", client, number)
    if expires:
        async with engine.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"record": json.dumps(record), "cseq": 0})
            pipe.expire(key, expires + 30)
            pipe.sadd(box, request.call_id)
            pipe.expire(box, MAX_EXPIRES + 60)
            await pipe.execute()
    headers = [("Record-Route", value) for value in request.headers.get_lines("Record-Route")]
    headers += [("Contact", f"<sip:engine@{ua.address}>"), ("Expires", str(expires))]
    ua.respond(stx, 200, to_tag=leg.local_tag, headers=headers)
    await tell(engine, request.call_id, record, expires=expires)


async def refresh(engine: Engine, request: Request, stx: ServerTx, expires: int) -> None:
    """A SUBSCRIBE in the dialog: a refresh (a NOTIFY follows), or an unsubscribe (Expires: 0)."""
    key = _key(engine, "sub", request.call_id)
    raw = await engine.redis.hget(key, "record")
    record = json.loads(raw) if raw else None
    if record is None or record["leg"]["local_tag"] != request.to_tag:
        engine.ua.respond(stx, 481, "Subscription Does Not Exist")
        return
    record["until"] = time.time() + expires
    if expires:
        async with engine.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "record", json.dumps(record))
            pipe.expire(key, expires + 30)
            pipe.expire(_key(engine, "box", record["client"], record["number"]), MAX_EXPIRES + 60)
            await pipe.execute()
    engine.ua.respond(stx, 200, headers=[("Contact", f"<sip:engine@{engine.ua.address}>"),
                                         ("Expires", str(expires))])  # fmt: skip
    await tell(engine, request.call_id, record, expires=expires)
    if not expires:
        await engine.redis.delete(key)
        await engine.redis.srem(_key(engine, "box", record["client"], record["number"]), request.call_id)


async def tell(engine: Engine, call_id: str, record: dict, *, expires: int | None = None,
               state: WaitingState | None = None) -> None:  # fmt: skip
    """NOTIFY one subscription of the box's counts (read now unless given)."""
    if state is None:
        try:
            state = await engine.database.call(mailbox_waiting, record["client"], record["number"])
        except Exception:
            log.exception("message waiting: cannot read box %s of client %s", record["number"], record["client"])
            return
    left = max(0, int(record["until"] - time.time())) if expires is None else expires
    async with engine.redis.pipeline(transaction=True) as pipe:  # every engine counts on the same CSeq
        pipe.hincrby(_key(engine, "sub", call_id), "cseq", 1)
        pipe.expire(_key(engine, "sub", call_id), left + 30)
        cseq, _ = await pipe.execute()
    leg = Leg(**record["leg"])
    subscription = f"active;expires={left}" if left else "terminated;reason=timeout"
    headers = [("Event", EVENT), ("Subscription-State", subscription), ("Content-Type", CONTENT_TYPE)]
    account = f"sip:{record['number']}@{record['domain']}"
    notify = leg.request("NOTIFY", engine.ua, headers=headers, body=summary(state, account), cseq=cseq)
    engine.ua.request(notify, lambda response: _answered(engine, call_id, record, response))


def _answered(engine: Engine, call_id: str, record: dict, response) -> None:
    if response.status in (481, 408) or (response.status >= 500 and response.status != 503):
        # the phone forgot the subscription (or is gone): forget it too; it subscribes again when back
        engine.background(_forget(engine, call_id, record))


async def _forget(engine: Engine, call_id: str, record: dict) -> None:
    await engine.redis.delete(_key(engine, "sub", call_id))
    await engine.redis.srem(_key(engine, "box", record["client"], record["number"]), call_id)


async def box_changed(engine: Engine, message: str) -> None:
    """A box changed (voicemail/events.py): the engine that claims the change tells its phones. Or a
    phone of the box's line registered anew (the edge said so): it is told unsolicited, when the client
    says so and no phone subscribes to the box (a subscriber is told when it subscribes)."""
    client_text, number, change, *kind = message.split(" ")
    if kind not in ([], [REGISTERED]):
        raise ValueError(message)
    if not await engine.redis.set(_key(engine, "told", change), engine.id, nx=True, ex=CLAIM_SECONDS):
        return  # another engine tells this one
    client = int(client_text)
    box = _key(engine, "box", client, number)
    subscriptions = []
    for raw_id in await engine.redis.smembers(box):
        call_id = raw_id.decode()
        raw = await engine.redis.hget(_key(engine, "sub", call_id), "record")
        if raw is None:  # expired without an unsubscribe
            await engine.redis.srem(box, call_id)
            continue
        subscriptions.append((call_id, json.loads(raw)))
    if kind and (subscriptions or not await _tells_unsolicited(engine, client)):
        return
    state = await engine.database.call(mailbox_waiting, client, number)
    for call_id, record in [] if kind else subscriptions:
        await tell(engine, call_id, record, state=state)
    if not subscriptions and state.unsolicited_to:
        unsolicited(engine, state, number)


async def _tells_unsolicited(engine: Engine, client: int) -> bool:
    """Whether the client tells phones that do not subscribe (its dial plan says, without a query once
    it is cached: a phone registering anew costs the other clients nothing)."""
    plan = await engine.dialplans.get(client)
    return boxes_of(plan).unsolicited


def unsolicited(engine: Engine, state: WaitingState, number: str) -> None:
    """An unsolicited NOTIFY (out of any dialog) to a user's line: the edge forks it to every registered
    contact of the line."""
    domain = state.domain
    leg = Leg(call_id=f"{uuid.uuid4().hex}@ocx", local_uri=f"<sip:voicemail@{domain}>",
              remote_uri=f"<sip:{state.unsolicited_to}@{domain}>", local_tag=new_tag(), name="mwi")  # fmt: skip
    headers = [("Event", EVENT), ("Content-Type", CONTENT_TYPE)]
    notify = leg.request("NOTIFY", engine.ua, headers=headers, body=summary(state, f"sip:{number}@{domain}"))
    engine.ua.request(notify, lambda response: None)


@at_start
async def follow_boxes(engine: Engine) -> None:
    """Hear every box change for the life of the engine (the subscription renewed after Redis returns)."""

    def apply(message: str) -> None:
        if not engine.draining:
            engine.background(_changed(engine, message))

    channel = f"{engine.config.redis_prefix}:{CHANGED_CHANNEL}"
    following = asyncio.create_task(follow(engine.redis.pubsub(), channel, apply))
    try:
        while not engine.draining:  # an at_start hook ends when the engine drains
            await asyncio.sleep(0.5)
    finally:
        following.cancel()


async def _changed(engine: Engine, message: str) -> None:
    try:
        await box_changed(engine, message)
    except (ValueError, KeyError):
        log.warning("bad voicemail change %r", message)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("message waiting: could not tell the change %r", message)
