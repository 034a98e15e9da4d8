"""Client webhooks in the engine (webhooks/ holds the endpoints, the Celery tasks that POST, and the
routing webhooks), and the destination kind "webhook" (a routing webhook: the client's server
answers where a call goes; at the end of this module).

Call events: every call event the portals get is offered here (`on_event`); the engine knows from the
client's cached dial plan (section "webhooks") which events the client's endpoints want, and hands
only those to Celery (`webhooks.tasks.webhook_event`, which makes one delivery per endpoint). A plan
that is not cached (its TTL passed during a long call) is read again in the same worker thread: one
query per client per TTL, never one per call.

Why one thread of our own with a queue, not a Redis list that a task drains: publishing to the
broker is Celery's synchronous client, which may wait (Redis restarting) but must never wait on the
loop that paces media; one thread keeps the events of a call in order, a bounded queue keeps memory
bounded when the broker is gone for long, and the message on the broker is Celery's own, so the
worker's acks_late and retries apply from the first hop, with no drainer process or beat to add.
Redis away for a moment: the thread retries for a few seconds (on a connection of its own that gives
up, where Celery's default one would retry for ever), then drops the event and says so in the log,
and drops the next ones at once for BROKER_PAUSE seconds; calls never notice.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import json
import logging
import queue
import threading
import time
import uuid
import weakref
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from records.models import Cdr
from telephony.engine import destinations
from telephony.engine.application import Incoming, on_event
from telephony.engine.database import DatabaseAway
from telephony.engine.destinations import runs
from telephony.engine.dialplan import ClientPlan, section
from webhooks.asking import NoRoute, destination_in, post, target_of
from webhooks.selectors import RoutingView, WebhookPlan, webhooks_for_plan
from webhooks.signing import signed_headers

if TYPE_CHECKING:
    from telephony.engine.call import Call

log = logging.getLogger(__name__)
CALL_EVENTS = frozenset({"call.ringing", "call.answered", "call.ended", "queue.joined", "queue.left"})
QUEUE_EVENTS = {"joined": "queue.joined", "left": "queue.left"}  # queue.changed's what (answered callers leave too)
MISSED = frozenset({Cdr.Disposition.NO_ANSWER, Cdr.Disposition.BUSY, Cdr.Disposition.CANCELLED})
WAITING_LIMIT = 10_000  # events waiting for the broker at most; more are dropped (and counted)
BROKER_TRIES = 3  # tries one second apart before an event is dropped
BROKER_TIMEOUT = 2.0  # seconds one try may spend connecting to the broker
FLUSH = 5.0  # seconds the engine's exit waits for the events still queued
BROKER_PAUSE = 5.0  # seconds after that during which the next events are dropped at once (no pile-up)


@section("webhooks")
def load_webhooks(client) -> WebhookPlan:
    return webhooks_for_plan(client)


def webhooks_of(plan: ClientPlan | None) -> WebhookPlan:
    found = plan.sections.get("webhooks") if plan is not None else None
    return found if isinstance(found, WebhookPlan) else WebhookPlan()


class Relay:
    """One engine's hand-off of webhook events to Celery, off the loop: a queue and one daemon thread
    (a broker that hangs never holds the engine's exit; at exit the thread has FLUSH seconds to empty
    the queue)."""

    def __init__(self, engine):
        self.engine = engine
        self.queue: queue.Queue = queue.Queue(maxsize=WAITING_LIMIT)
        self.dropped = 0
        self.away_until = 0.0  # after the broker failed BROKER_TRIES times: events until then are dropped
        self.connection = None  # the thread's own connection to the broker
        threading.Thread(target=self._run, name="webhooks", daemon=True).start()
        atexit.register(self.flush, FLUSH)

    def wanted(self, client: int, kinds: list[str]) -> tuple[list[str], bool]:
        """The kinds the client's endpoints want, by its cached plan (all of them, and True, when the
        plan is not cached: the thread reads it and filters)."""
        plan = self.engine.dialplans.cached(client)
        if plan is None:
            return kinds, True
        wanted = webhooks_of(plan).events
        return [kind for kind in kinds if kind in wanted], False

    def offer(self, client: int, events: list[dict], check: bool) -> None:
        try:
            self.queue.put_nowait((client, events, check))
        except queue.Full:
            self.dropped += len(events)
            log.warning("webhook events dropped (%d waiting for the broker): %d so far", WAITING_LIMIT, self.dropped)

    def flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)

    def _run(self) -> None:
        while True:
            client, events, check = self.queue.get()
            try:
                self._send(client, events, check)
            except Exception:
                log.exception("client %s: webhook events lost", client)
            finally:
                self.queue.task_done()

    def _send(self, client: int, events: list[dict], check: bool) -> None:
        if check:  # the plan was not cached: read it (cached again for the next calls) and filter
            try:
                wanted = webhooks_of(self.engine.dialplans.load(client)).events
            except Exception:
                log.exception("client %s: the dial plan could not be read; its webhook events are dropped", client)
                return
            events = [e for e in events if e["type"] in wanted]
        for event in events:
            self._publish(client, event)

    def _publish(self, client: int, event: dict) -> None:
        from config.celeryconf import app
        from webhooks.tasks import webhook_event

        if time.monotonic() < self.away_until:  # the broker just failed us: do not wait for it per event
            self.dropped += 1
            return
        for attempt in range(BROKER_TRIES):
            try:
                # A connection of our own that gives up quickly: Celery's default one retries for ever.
                if self.connection is None:
                    self.connection = app.connection_for_write()
                self.connection.ensure_connection(max_retries=1, interval_start=0.2, timeout=BROKER_TIMEOUT)
                webhook_event.apply_async((client, event), connection=self.connection, retry=False)
                return
            except Exception:
                if self.connection is not None:
                    with contextlib.suppress(Exception):
                        self.connection.close()
                    self.connection = None
                if attempt == BROKER_TRIES - 1:
                    self.dropped += 1
                    self.away_until = time.monotonic() + BROKER_PAUSE
                    log.exception("webhook event %s %s of client %s is lost: the broker is away (%d lost so far)",
                                  event["type"], event["id"], client, self.dropped)  # fmt: skip
                    return
                time.sleep(1.0)


_relays: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def relay_of(engine) -> Relay:
    relay = _relays.get(engine)
    if relay is None:
        relay = _relays[engine] = Relay(engine)
    return relay


def _outgoing(kind: str, data: dict) -> dict:
    return {"id": str(uuid.uuid4()), "type": kind, "created": dt.datetime.now(dt.UTC).isoformat(), "data": data}


@on_event
def call_event(call: Call, event: dict) -> None:
    kind = event["type"]
    if kind == "queue.changed":  # (the queues' own events: a caller joined, or left, answered or not)
        kind = QUEUE_EVENTS.get(event.get("what", ""), "")
    if kind not in CALL_EVENTS:
        return
    kinds = [kind]
    if kind == "call.ended" and call.answered_at is None and event.get("disposition") in MISSED:
        kinds.append("call.missed")
    relay = relay_of(call.engine)
    kinds, check = relay.wanted(event["client"], kinds)
    if not kinds:  # (most clients: no webhooks, nothing to do)
        return
    data = {**{k: v for k, v in event["call"].items() if k != "engine"},  # (the platform's own business)
            **{k: v for k, v in event.items() if k not in ("type", "client", "call", "what")}}  # fmt: skip
    relay.offer(event["client"], [_outgoing(k, data) for k in kinds], check)


# Routing webhooks: the destination kind "webhook" -------------------------------------------------


@runs("webhook")
async def to_webhook(call: Call, target: str, incoming: Incoming) -> None:
    """Ask the client's server where the call goes (signed like the webhooks, within the webhook's
    timeout), check its answer like any destination (the kind's clean, in a database thread) and run
    it; a timeout, an error, a bad answer or a destination that is none runs the fallback. The
    record's legs (leg "webhook") say what the server answered, or why the fallback ran."""
    view = webhooks_of(incoming.plan).routing.get(int(target)) if target.isdigit() else None
    if view is None:
        call.refuse(incoming, 404, "Not In Service")
        return
    started = time.monotonic()
    try:
        async with asyncio.timeout(view.timeout_ms / 1000):
            kind, where = await _ask(call, view, incoming)
        kind, where = await _checked(call, incoming.plan.client, kind, where)
    except (TimeoutError, NoRoute, OSError, ValueError, EOFError, asyncio.IncompleteReadError) as error:
        why = f"no answer within {view.timeout_ms} ms" if isinstance(error, TimeoutError) else str(error)
        if not isinstance(error, NoRoute | TimeoutError):
            why = f"{type(error).__name__}: {error}"
        fallback = view.fallback
        call.log_leg("webhook", "", webhook=view.id, webhook_name=view.name, why=why[:200],
                     to=":".join(fallback) if fallback[0] else "", ms=_ms(started))  # fmt: skip
        log.info("call %s: routing webhook %s gave no destination (%s): fallback %s", call.uuid, view.id, why,
                 fallback)  # fmt: skip
        if not fallback[0]:
            call.refuse(incoming, 480, "Temporarily Unavailable")
            return
        await destinations.run(call, *fallback, incoming)
        return
    call.log_leg("webhook", "", webhook=view.id, webhook_name=view.name, answered=f"{kind}:{where}",
                 to=f"{kind}:{where}", ms=_ms(started))  # fmt: skip
    await destinations.run(call, kind, where, incoming)


async def _ask(call: Call, view: RoutingView, incoming: Incoming) -> tuple[str, str]:
    plan = incoming.plan
    caller = incoming.caller
    data = {"call_id": str(call.uuid), "caller": caller.number if caller else (incoming.network or {}).get("from", ""),
            "caller_name": caller.name if caller else "", "dialled": incoming.dialled,
            "inbound": incoming.network is not None, "webhook": view.id}  # fmt: skip
    event = _outgoing("call.routing", data)
    body = json.dumps({**event, "client": plan.client}, separators=(",", ":")).encode()
    found = await target_of(view.url)
    status, answer = await post(found, body, signed_headers(view.secret, event["id"], body))
    return destination_in(status, answer)


async def _checked(call: Call, client_id: int, kind: str, target: str) -> tuple[str, str]:
    """The answer as a destination of the client (the kind's own clean, off the loop); NoRoute if none."""
    if kind == "webhook":
        raise NoRoute("a routing webhook may not send a call to a routing webhook")
    try:
        return await call.engine.database.call(_clean, client_id, kind, target)
    except ValidationError as error:
        raise NoRoute(f"{kind}:{target}: " + " ".join(error.messages)) from error
    except DatabaseAway as error:
        raise NoRoute("the database is away: the answer could not be checked") from error


def _clean(client_id: int, kind: str, target: str) -> tuple[str, str]:
    from telephony.destinations import clean
    from tenants.models import Client

    return clean(Client.objects.get(pk=client_id), kind, target)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
