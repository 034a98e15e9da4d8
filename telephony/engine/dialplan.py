"""The dial plan, resolved in the caller's client schema. Database work: callers run it in a thread,
never on the loop that paces media."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django_tenants.utils import schema_context

from telephony.engine.database import Database
from telephony.media.prompts import ENGLISH, VOICES, Voice
from telephony.models import Extension, Prompt
from telephony.sip import SipError, parse_uri
from tenants.models import Client, User


@dataclass(frozen=True)
class Party:
    number: str
    name: str
    account: int | None = None
    sip_username: str = ""
    may_intercept: bool = False
    may_barge: bool = False
    supervision_exempt: bool = False  # nobody supervises this line's calls
    language: str = ""  # the account's own language for what it alone hears (empty: the client's)


@dataclass(frozen=True)
class Route:
    """Where a call goes: `status` set when it goes nowhere (404 unknown number...)."""

    client: int
    brand: int
    domain: str
    caller: Party
    callee: Party | None
    status: int = 0
    reason: str = ""


@dataclass(frozen=True)
class ClientPlan:
    """What the dial plan needs of one client, read in one query."""

    client: int
    brand: int
    domain: str
    active: bool
    by_number: dict[str, Party]
    by_extension: dict[int, Party]
    sections: dict[str, object] = field(default_factory=dict)  # what applications read with the plan (`section`)
    country: str = "US"  # how the client's users dial and read numbers (ISO 3166)
    voice: Voice = ENGLISH  # the client's prompts: its language (else its brand's) and its own recordings

    def voice_of(self, party: Party | None) -> Voice:
        """The prompts a user hears alone (their feature codes): in the user's own language if they chose one."""
        return self.voice.spoken_in(party.language) if party is not None and party.language else self.voice

    def colleague(self, uri: str) -> Party | None:
        """The line a SIP URI names for one of this client's phones (a MESSAGE's or SUBSCRIBE's target):
        an extension number or SIP user name at this client's own domain; None for anything else,
        another client's domain included."""
        try:
            target = parse_uri(uri)
        except SipError:
            return None
        user = target.user_unescaped or ""
        if target.host.strip("[]").lower() != self.domain.lower() or not user:
            return None
        party = self.by_number.get(user)
        return party or next((p for p in self.by_number.values() if p.sip_username == user), None)

    def route(self, caller_extension: int, dialled: str) -> Route:
        """First dial plan: an extension number rings every registered device of its user."""
        caller = self.by_extension.get(caller_extension)
        common = {"client": self.client, "brand": self.brand, "domain": self.domain, "caller": caller or Party("", "")}
        if caller is None:
            return Route(**common, callee=None, status=403, reason="Unknown Caller")
        if not self.active:
            return Route(**common, callee=None, status=403, reason="Client Not Active")
        callee = self.by_number.get(dialled)
        if callee is None:
            return Route(**common, callee=None, status=404, reason="No Such Extension")
        return Route(**common, callee=callee)


_sections: dict[str, Callable[[Client], object]] = {}
_listeners: list[Callable[[str], None]] = []


def on_invalidate(listener: Callable[[str], None]) -> Callable[[str], None]:
    """Decorator: `listener(message)` hears every invalidation the dial plans hear (an application's
    own caches: a brand's carrier routing)."""
    _listeners.append(listener)
    return listener


def section(name: str):
    """Decorator: `loader(client)` reads what an application needs of a client's dial plan (a
    conference's rooms and their numbers), in the client's schema, whenever the plan is loaded; the
    plan keeps it under `name` (ClientPlan.sections). Telephony owns the plan, applications fill it."""

    def register(loader: Callable[[Client], object]) -> Callable[[Client], object]:
        _sections[name] = loader
        return loader

    return register


def load_plan(client_id: int) -> ClientPlan:
    client = Client.objects.select_related("brand").get(pk=client_id)
    with schema_context(client.schema_name):
        rows = list(Extension.objects.values_list("pk", "number", "display_name", "account_id", "sip_username",
                                                  "may_intercept", "may_barge", "supervision_exempt"))  # fmt: skip
        sections = {name: loader(client) for name, loader in _sections.items()}
        own = tuple((prompt.name, prompt.version) for prompt in Prompt.objects.only("name", "updated_at"))
    languages = dict(User.objects.filter(pk__in=[row[3] for row in rows if row[3]]).exclude(language="")
                     .values_list("pk", "language"))  # fmt: skip
    by_extension = {row[0]: Party(*row[1:], language=languages.get(row[3], "")) for row in rows}
    by_number = {party.number: party for party in by_extension.values()}
    language = next((code for code in (client.language, client.brand.language) if code in VOICES), "en")
    return ClientPlan(client.pk, client.brand_id, client.sip_domain, client.is_active, by_number, by_extension,
                      sections, client.country, Voice(language, client.pk, own))  # fmt: skip


class Dialplans:
    """Each client's plan, kept in the engine so that a call costs no query to route; dropped when the
    SIP directory announces a change (the same pub/sub the edges follow) and after TTL seconds. Loading
    goes through the engine's Database: it reconnects after a restart, DatabaseAway while it is down."""

    TTL = 60.0

    def __init__(self, database: Database | None = None):
        self._plans: dict[int, tuple[float, ClientPlan]] = {}
        self.database = database or Database()
        # Counts the changes announced: a plan read while one came (a phone registering as the company's
        # operator changes a forwarding) may be the old one, and is not kept.
        self._changes = 0

    def cached(self, client_id: int) -> ClientPlan | None:
        hit = self._plans.get(client_id)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    async def get(self, client_id: int) -> ClientPlan:
        """The client's plan: the cached one, else loaded in a thread (the loop never waits on PostgreSQL)."""
        return self.cached(client_id) or await asyncio.to_thread(self.load, client_id)

    def load(self, client_id: int) -> ClientPlan:
        """Database work: run it in a thread."""
        changes = self._changes
        plan = self.database.run(load_plan, client_id)
        if changes == self._changes:
            self._plans[client_id] = (time.monotonic() + self.TTL, plan)
        return plan

    def invalidate(self, message: str) -> None:
        self._changes += 1
        for listener in _listeners:
            listener(message)
        kind, _, rest = message.partition(" ")
        if kind in ("cred", "room", "prompts") and rest.split(" ")[0].isdigit():
            self._plans.pop(int(rest.split(" ")[0]), None)
        else:  # a client changed (domain) or everything did
            self._plans.clear()

    def clear(self) -> None:
        """Changes may have been missed (the subscription was renewed): every plan is read again."""
        self._changes += 1
        self._plans.clear()
        for listener in _listeners:
            listener("all")
