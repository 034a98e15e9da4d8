"""Busy-lamp fields: a phone's subscription to a colleague's dialog state (RFC 4235), and its NOTIFYs.

A phone SUBSCRIBEs (Event: dialog) to a colleague's extension (or SIP user name) at its own client's
SIP domain, through the edge like any request outside a dialog (digest-checked, handed to an engine).
The engine answers 200 and NOTIFYs at once the line's dialogs (application/dialog-info+xml, full
state), then at each change: a call that rings the line or that the line places (early), the call
answered (confirmed), the call over (terminated, told once and then left out). Another client's
domain, or a number the client does not have, is 404: never across clients.

Where the state comes from: the engine that holds a call is told of its events at once
(`on_event`, the same events the portals get) and works out which of the client's lines the call
holds and how (telephony/engine/call.py's `lines` and `ringing_line`); a line's state changing is
written to Redis, `<prefix>:blf:state:<client>:<number>` (call id -> the dialog as shown, with the
engine that holds it), and the line's watchers are told from there, so a line with calls on two
engines shows both, and no one polls.

Where subscriptions live, with the faults in mind, as message waiting's do
(telephony/engine/applications/mwi.py): in Redis, `<prefix>:blf:sub:<Call-ID>` (the dialog's
identity, route set and CSeq, which every engine increments, and the dialog-info version) and
`<prefix>:blf:watch:<client>:<number>` (who watches a line), until they expire. Any engine tells
any watcher; a refresh whose engine is gone goes to a live one (telephony/edge/proxy.py); each
refresh gets a full-state NOTIFY, so what a phone missed while Redis or an engine was away is put
right at its next refresh. A dead engine's calls leave the lamps when a survivor finds it dead
(`engine_lost`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from telephony.engine.application import answers, on_engine_lost, on_event
from telephony.engine.applications.mwi import FACTS
from telephony.engine.call import _identity, _without_tag
from telephony.engine.states import UNANSWERED
from telephony.sip.dialog import Leg, new_tag
from telephony.sip.subscription import SubscriptionRefused, subscription_terms

if TYPE_CHECKING:
    from telephony.engine.call import Call
    from telephony.engine.server import Engine
    from telephony.engine.sipua import ServerTx
    from telephony.sip import Request

log = logging.getLogger(__name__)
EVENT = "dialog"
CONTENT_TYPE = "application/dialog-info+xml"
DEFAULT_EXPIRES = 3600
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
STATE_TTL = 4 * 3600  # a line's state entries go away this long after its last change (a lost engine's)
_shown: dict[str, dict[str, dict]] = {}  # call id -> {line number: its dialog as last written} (this engine)
_lock = asyncio.Lock()  # a line's changes are written and told in the order they happened


def _key(engine: Engine, *parts: object) -> str:
    return ":".join([engine.config.redis_prefix, "blf", *map(str, parts)])


# The subscription -------------------------------------------------------------------------------------


@answers("SUBSCRIBE", event=EVENT)
def on_subscribe(engine: Engine, request: Request, stx: ServerTx) -> None:
    engine.background(subscribe(engine, request, stx))


async def subscribe(engine: Engine, request: Request, stx: ServerTx) -> None:
    ua = engine.ua
    try:
        terms = subscription_terms(request, event=EVENT, default_expires=DEFAULT_EXPIRES, min_expires=MIN_EXPIRES,
                                   max_expires=MAX_EXPIRES, content_type=CONTENT_TYPE)  # fmt: skip
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
    except Exception:  # the database away and no plan cached: the edge tries another engine
        ua.respond(stx, 503, headers=[("Retry-After", "5")])
        return
    line = plan.colleague(request.uri)
    if line is None or int(identity["ext"]) not in plan.by_extension:
        ua.respond(stx, 404, "No Such Colleague")
        return
    leg = Leg(call_id=request.call_id, local_uri=request.headers.get("To") or "", local_tag=new_tag(),
              remote_uri=_without_tag(request.headers.get("From") or ""), name="watcher")  # fmt: skip
    leg.remote_tag = request.from_tag
    leg.learn(request, uac=False)
    record = {"client": client, "number": line.number, "domain": plan.domain,
              "leg": {name: getattr(leg, name) for name in FACTS}, "until": time.time() + expires}  # fmt: skip
    key, watch = _key(engine, "sub", request.call_id), _key(engine, "watch", client, line.number)
    if expires:
        async with engine.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"record": json.dumps(record), "cseq": 0})
            pipe.expire(key, expires + 30)
            pipe.sadd(watch, request.call_id)
            pipe.expire(watch, MAX_EXPIRES + 60)
            await pipe.execute()
    headers = [("Record-Route", value) for value in request.headers.get_lines("Record-Route")]
    headers += [("Contact", f"<sip:engine@{ua.address}>"), ("Expires", str(expires))]
    ua.respond(stx, 200, to_tag=leg.local_tag, headers=headers)
    await tell(engine, request.call_id, record, await line_state(engine, client, line.number), expires=expires)


async def refresh(engine: Engine, request: Request, stx: ServerTx, expires: int) -> None:
    """A SUBSCRIBE in the dialog: a refresh (a full-state NOTIFY follows), or an unsubscribe (Expires: 0)."""
    key = _key(engine, "sub", request.call_id)
    raw = await engine.redis.hget(key, "record")
    record = json.loads(raw) if raw else None
    if record is None or record["leg"]["local_tag"] != request.to_tag:
        engine.ua.respond(stx, 481, "Subscription Does Not Exist")
        return
    record["until"] = time.time() + expires
    watch = _key(engine, "watch", record["client"], record["number"])
    if expires:
        async with engine.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "record", json.dumps(record))
            pipe.expire(key, expires + 30)
            pipe.sadd(watch, request.call_id)  # (again: Redis may have lost the set)
            pipe.expire(watch, MAX_EXPIRES + 60)
            await pipe.execute()
    engine.ua.respond(stx, 200, headers=[("Contact", f"<sip:engine@{engine.ua.address}>"),
                                         ("Expires", str(expires))])  # fmt: skip
    state = await line_state(engine, record["client"], record["number"])
    await tell(engine, request.call_id, record, state, expires=expires)
    if not expires:
        await _forget(engine, request.call_id, record)


async def line_state(engine: Engine, client: int, number: str) -> dict[str, dict]:
    """Call id -> the dialog as shown, of every call a line is in now (on any engine)."""
    raw = await engine.redis.hgetall(_key(engine, "state", client, number))
    dialogs = {}
    for call_id, value in raw.items():
        try:
            dialogs[call_id.decode()] = json.loads(value)
        except ValueError:
            continue
    return dialogs


# The NOTIFY ---------------------------------------------------------------------------------------------


def dialog_info(entity: str, version: int, dialogs: dict[str, dict], domain: str) -> bytes:
    """The application/dialog-info+xml body (RFC 4235 4.1), full state."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="full" '
             f"entity={quoteattr(entity)}>"]  # fmt: skip
    for call_id, dialog in sorted(dialogs.items(), key=lambda item: item[1].get("at", 0)):
        direction = dialog.get("direction", "recipient")
        lines.append(f"  <dialog id={quoteattr(call_id)} direction={quoteattr(direction)}>")
        lines.append(f"    <state>{escape(dialog['state'])}</state>")
        if dialog.get("remote"):
            remote = escape(f"sip:{dialog['remote']}@{domain}")
            lines.append(f"    <remote><identity>{remote}</identity></remote>")
        lines.append("  </dialog>")
    lines.append("</dialog-info>")
    return ("\r\n".join(lines) + "\r\n").encode()


async def tell(engine: Engine, call_id: str, record: dict, dialogs: dict[str, dict], *,
               expires: int | None = None) -> None:  # fmt: skip
    """NOTIFY one watcher of the line's dialogs (full state); the version and CSeq count in Redis."""
    left = max(0, int(record["until"] - time.time())) if expires is None else expires
    key = _key(engine, "sub", call_id)
    async with engine.redis.pipeline(transaction=True) as pipe:  # every engine counts on the same CSeq
        pipe.hincrby(key, "cseq", 1)
        pipe.expire(key, left + 30)
        cseq, _ = await pipe.execute()
    leg = Leg(**record["leg"])
    subscription = f"active;expires={left}" if left else "terminated;reason=timeout"
    headers = [("Event", EVENT), ("Subscription-State", subscription), ("Content-Type", CONTENT_TYPE)]
    entity = f"sip:{record['number']}@{record['domain']}"
    body = dialog_info(entity, cseq - 1, dialogs, record["domain"])  # versions 0, 1, 2... (RFC 4235 4.1.2)
    notify = leg.request("NOTIFY", engine.ua, headers=headers, body=body, cseq=cseq)
    engine.ua.request(notify, lambda response: _answered(engine, call_id, record, response))


def _answered(engine: Engine, call_id: str, record: dict, response) -> None:
    if response.status in (481, 408) or (response.status >= 500 and response.status != 503):
        engine.background(_forget(engine, call_id, record))  # the phone forgot it, or is gone


async def _forget(engine: Engine, call_id: str, record: dict) -> None:
    await engine.redis.delete(_key(engine, "sub", call_id))
    await engine.redis.srem(_key(engine, "watch", record["client"], record["number"]), call_id)


async def tell_watchers(engine: Engine, client: int, number: str, ended: dict[str, dict] | None = None) -> None:
    """Tell every watcher of a line its dialogs now, with `ended` (call id -> dialog) shown terminated."""
    watch = _key(engine, "watch", client, number)
    members = await engine.redis.smembers(watch)
    if not members:
        return
    dialogs = await line_state(engine, client, number)
    for call_id, dialog in (ended or {}).items():
        dialogs[call_id] = {**dialog, "state": "terminated"}
    for raw_id in members:
        call_id = raw_id.decode()
        raw = await engine.redis.hget(_key(engine, "sub", call_id), "record")
        if raw is None:  # expired without an unsubscribe
            await engine.redis.srem(watch, call_id)
            continue
        await tell(engine, call_id, json.loads(raw), dialogs)


# The calls' side ----------------------------------------------------------------------------------------


def lines_of(call: Call, event: dict) -> dict[str, dict]:
    """Line number -> the dialog as shown, for each of the client's lines this call holds now."""
    if event["type"] == "call.ended":
        return {}
    summary, early = event["call"], call.state in UNANSWERED
    shown = {}
    for name, number in call.lines.items():
        caller_side = name == "caller"
        remote = (summary.get("callee") or summary.get("dialled")) if caller_side else summary.get("caller")
        shown[number] = {"state": "early" if early else "confirmed",
                         "direction": "initiator" if caller_side else "recipient", "remote": remote or ""}  # fmt: skip
    ringing = call.ringing_line
    if ringing and ringing not in shown:
        shown[ringing] = {"state": "early", "direction": "recipient", "remote": summary.get("caller") or ""}
    return shown


@on_event
def call_changed(call: Call, event: dict) -> None:
    """A call event (the engine holding the call): the lines whose dialog changed are written and told."""
    call_id = str(call.uuid)
    before, now = _shown.get(call_id, {}), lines_of(call, event)
    changed = [n for n in sorted(set(before) | set(now)) if before.get(n) != now.get(n)]
    if not changed:
        return
    if now:
        _shown[call_id] = now
    else:
        _shown.pop(call_id, None)
    client = event["client"]
    call.engine.background(_lines_changed(call.engine, client, call_id, {n: (before.get(n), now.get(n))
                                                                           for n in changed}))  # fmt: skip


async def _lines_changed(engine: Engine, client: int, call_id: str, changes: dict) -> None:
    async with _lock:
        try:
            for number, (was, now) in changes.items():
                key = _key(engine, "state", client, number)
                if now is not None:
                    entry = {**now, "engine": engine.id, "at": time.time()}
                    async with engine.redis.pipeline(transaction=False) as pipe:
                        await pipe.hset(key, call_id, json.dumps(entry)).expire(key, STATE_TTL).execute()
                    await tell_watchers(engine, client, number)
                else:
                    await engine.redis.hdel(key, call_id)
                    await tell_watchers(engine, client, number, ended={call_id: was})
        except Exception:  # Redis away: the lamps are put right at the watchers' next refresh
            log.exception("busy lamps: could not tell a change of call %s", call_id)


@on_engine_lost
async def engine_lost(engine: Engine, dead_id: str) -> None:
    """A dead engine's calls leave the lamps (its phones were hung up by the survivor): their entries
    are removed and the lines' watchers told."""
    async for key in engine.redis.scan_iter(match=_key(engine, "state", "*"), count=500):
        _, _, client, number = key.decode().rsplit(":", 3)
        ended = {}
        for call_id, value in (await engine.redis.hgetall(key)).items():
            try:
                dialog = json.loads(value)
            except ValueError:
                dialog = {}
            if dialog.get("engine") == dead_id and await engine.redis.hdel(key, call_id):
                ended[call_id.decode()] = dialog
        if ended and client.isdigit():
            await tell_watchers(engine, int(client), number, ended=ended)
