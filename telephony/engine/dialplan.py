"""The dial plan, resolved in the caller's client schema. Database work: callers run it in a thread,
never on the loop that paces media."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django_tenants.utils import schema_context

from conferencing.models import Room
from telephony.engine.database import Database
from telephony.models import Extension
from tenants.models import Client


@dataclass(frozen=True)
class Party:
    number: str
    name: str
    account: int | None = None
    sip_username: str = ""
    may_intercept: bool = False
    may_barge: bool = False


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
class RoomInfo:
    """A conference room as the engine needs it (conferencing.models.Room)."""

    id: int
    name: str
    conference_id: str
    moderator: int  # the moderator's account id
    participant_pin: str
    moderator_pin: str
    access_number: str = ""
    starts_at: object = None
    ends_at: object = None
    recurrence: str = ""
    max_participants: int = 50
    max_minutes: int = 240
    entry_tone: bool = True
    wait_for_moderator: bool = False
    end_with_moderator: bool = False
    record: bool = False
    hot_numbers: str = ""
    hot_retries: int = 2
    hot_retry_seconds: int = 60
    trigger_number: str = ""
    zone: str = "UTC"  # the client's time zone, where a schedule's days and times are (not a Room field)


@dataclass(frozen=True)
class ClientPlan:
    """What the dial plan needs of one client, read in one query."""

    client: int
    brand: int
    domain: str
    active: bool
    by_number: dict[str, Party]
    by_extension: dict[int, Party]
    rooms: dict[str, RoomInfo] = field(default_factory=dict)  # conference ID -> room
    room_numbers: dict[str, RoomInfo] = field(default_factory=dict)  # access number -> room
    room_triggers: dict[str, RoomInfo] = field(default_factory=dict)  # trigger number -> hot room

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


def load_plan(client_id: int) -> ClientPlan:
    client = Client.objects.get(pk=client_id)
    with schema_context(client.schema_name):
        rows = list(Extension.objects.values_list("pk", "number", "display_name", "account_id", "sip_username",
                                                  "may_intercept", "may_barge"))  # fmt: skip
        rooms = [RoomInfo(**values, zone=client.timezone) for values in Room.objects.values(*ROOM_FIELDS)]
    by_extension = {row[0]: Party(*row[1:]) for row in rows}
    by_number = {party.number: party for party in by_extension.values()}
    return ClientPlan(client.pk, client.brand_id, client.sip_domain, client.is_active, by_number, by_extension,
                      {room.conference_id: room for room in rooms},
                      {room.access_number: room for room in rooms if room.access_number},
                      {room.trigger_number: room for room in rooms if room.trigger_number})  # fmt: skip


ROOM_FIELDS = [name for name in RoomInfo.__dataclass_fields__ if name != "zone"]


class Dialplans:
    """Each client's plan, kept in the engine so that a call costs no query to route; dropped when the
    SIP directory announces a change (the same pub/sub the edges follow) and after TTL seconds. Loading
    goes through the engine's Database: it reconnects after a restart, DatabaseAway while it is down."""

    TTL = 60.0

    def __init__(self, database: Database | None = None):
        self._plans: dict[int, tuple[float, ClientPlan]] = {}
        self.database = database or Database()

    def cached(self, client_id: int) -> ClientPlan | None:
        hit = self._plans.get(client_id)
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def load(self, client_id: int) -> ClientPlan:
        """Database work: run it in a thread."""
        plan = self.database.run(load_plan, client_id)
        self._plans[client_id] = (time.monotonic() + self.TTL, plan)
        return plan

    def invalidate(self, message: str) -> None:
        kind, _, rest = message.partition(" ")
        if kind in ("cred", "room") and rest.split(" ")[0].isdigit():
            self._plans.pop(int(rest.split(" ")[0]), None)
        else:  # a client changed (domain) or everything did
            self._plans.clear()

    def clear(self) -> None:
        """Changes may have been missed (the subscription was renewed): every plan is read again."""
        self._plans.clear()
