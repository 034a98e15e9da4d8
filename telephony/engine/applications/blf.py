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

Each dialog shown carries the watched phone's own SIP dialog (call-id and tags, as that phone sees
them: `dialog_ids`), taken from the engine's legs when the call changes. One line watches at most
OCX_BLF_MAX_PER_LINE lines at once, counted across engines in `<prefix>:blf:by:<client>:<ext>`
(`_admitted`); beyond it a new watch gets 403, while refreshes and unsubscribes always pass.
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
from telephony.engine.call import SIDES, _identity, _without_tag
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
# A dialog's SIP identity in the body (RFC 4235 4.1.2): (XML attribute, key in the line's state entry).
DIALOG_IDS = (("call-id", "call_id"), ("local-tag", "local_tag"), ("remote-tag", "remote_tag"))
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
    if terms.refresh:  # (a refresh or an unsubscribe always passes: the line holds it already)
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
    line, watcher = plan.colleague(request.uri), int(identity["ext"])
    if line is None or watcher not in plan.by_extension:
        ua.respond(stx, 404, "No Such Colleague")
        return
    leg = Leg(call_id=request.call_id, local_uri=request.headers.get("To") or "", local_tag=new_tag(),
              remote_uri=_without_tag(request.headers.get("From") or ""), name="watcher")  # fmt: skip
    leg.remote_tag = request.from_tag
    leg.learn(request, uac=False)
    record = {"client": client, "number": line.number, "domain": plan.domain, "watcher": watcher,
              "leg": {name: getattr(leg, name) for name in FACTS}, "until": time.time() + expires}  # fmt: skip
    key, watch = _key(engine, "sub", request.call_id), _key(engine, "watch", client, line.number)
    if expires and not await _admitted(engine, record, request.call_id):
        # 403, not 503 + Retry-After: RFC 6665 4.2.1.1 lets a notifier refuse a subscription its policy
        # does not allow, and this one is policy, not load. A 503 would be wrong twice: the edge takes
        # it to mean "this engine is in trouble" and tries the next one (telephony/edge/proxy.py), and
        # the phone would try again after Retry-After although nothing lifts the limit with time: only
        # the line giving up some of its watches (Expires: 0, or letting them run out) does.
        limit = engine.config.blf_max_per_line
        ua.respond(stx, 403, "Too Many Subscriptions", headers=[
            ("Warning", f'399 {ua.address} "this line watches {limit} lines already, the most it may"')])  # fmt: skip
        return
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
            if "watcher" in record:  # (counted again, with its new end: never refused, see subscribe())
                counted = _key(engine, "by", record["client"], record["watcher"])
                pipe.zadd(counted, {request.call_id: record["until"]})
                pipe.expire(counted, MAX_EXPIRES + 60)
            await pipe.execute()
    engine.ua.respond(stx, 200, headers=[("Contact", f"<sip:engine@{engine.ua.address}>"),
                                         ("Expires", str(expires))])  # fmt: skip
    state = await line_state(engine, record["client"], record["number"])
    await tell(engine, request.call_id, record, state, expires=expires)
    if not expires:
        await _forget(engine, request.call_id, record)


async def _admitted(engine: Engine, record: dict, call_id: str) -> bool:
    """Whether the watcher's line may hold one more watch (OCX_BLF_MAX_PER_LINE), counted with it if so.

    A line's watches are counted in Redis, with every engine's, in `<prefix>:blf:by:<client>:<ext>`
    (Call-ID -> when it runs out): the ones that ran out without an unsubscribe leave the count at the
    next look. Added first and counted after, in one transaction, so two engines admitting at once
    cannot both take the last place (both may be refused; the phone's next try gets it)."""
    key = _key(engine, "by", record["client"], record["watcher"])
    async with engine.redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", time.time())
        pipe.zadd(key, {call_id: record["until"]})
        pipe.zcard(key)
        pipe.expire(key, MAX_EXPIRES + 60)
        _, _, count, _ = await pipe.execute()
    if count <= engine.config.blf_max_per_line:
        return True
    await engine.redis.zrem(key, call_id)
    return False


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
    """The application/dialog-info+xml body (RFC 4235 4.1), full state. Each dialog is named by the
    engine's call (`id`, the same for the call's whole life) and, where the line's phone is in it, by
    that phone's SIP dialog as the phone sees it (call-id, local-tag, remote-tag: RFC 4235 4.1.2), what
    a lamp key needs to tell which call it shows (and what a pickup by Replaces names; the engine does
    not serve that yet). A tag not known yet (the line's own while it rings) is left out."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="full" '
             f"entity={quoteattr(entity)}>"]  # fmt: skip
    for call_id, dialog in sorted(dialogs.items(), key=lambda item: item[1].get("at", 0)):
        direction = dialog.get("direction", "recipient")
        ids = "".join(f" {name}={quoteattr(dialog[key])}" for name, key in DIALOG_IDS if dialog.get(key))
        lines.append(f"  <dialog id={quoteattr(call_id)}{ids} direction={quoteattr(direction)}>")
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
    if "watcher" in record:
        await engine.redis.zrem(_key(engine, "by", record["client"], record["watcher"]), call_id)


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
                         "direction": "initiator" if caller_side else "recipient", "remote": remote or "",
                         **dialog_ids(_leg_of(call, name))}  # fmt: skip
    ringing = call.ringing_line
    if ringing and ringing not in shown:
        shown[ringing] = {"state": "early", "direction": "recipient", "remote": summary.get("caller") or "",
                          **dialog_ids(call.callee.leg)}  # fmt: skip
    return shown


def _leg_of(call: Call, name: str) -> Leg | None:
    """The dialog with the phone of the line on `name`: a side's, or an application's leg, whose line
    is named after its Call-ID ("supervisor <Call-ID>", telephony/engine/applications/supervision.py)."""
    if name in SIDES:
        return call.side(name).leg
    return next((leg for leg in call.legs() if name.rsplit(" ", 1)[-1] == leg.call_id), None)


def dialog_ids(leg: Leg | None) -> dict[str, str]:
    """A line's SIP dialog as its phone sees it: the engine holds the other end of it, so the phone's
    own tag is the engine's remote one and the other way round (whether the phone called or was
    called); an early dialog's phone tag is not known until the phone answers."""
    if leg is None:
        return {}
    ids = {"call_id": leg.call_id, "remote_tag": leg.local_tag}
    if leg.remote_tag:
        ids["local_tag"] = leg.remote_tag
    return ids


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
