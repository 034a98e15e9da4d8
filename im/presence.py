"""Presence of a client's people: available, away, do-not-disturb, on a call, offline.

Where each part comes from (one truth each):
- the choice (available or away) is the person's `im.Presence` row in PostgreSQL; do-not-disturb is their
  line's own (`telephony.Forwarding.dnd`, which also sends their calls away: the portal's call handling
  page, the API and the phone's feature code all set it through telephony.services.forwarding_save,
  which tells this module). A fast copy of both lives in Redis (`<prefix>:im:manual:<client>`, a hash
  of account -> available|away|dnd), rebuilt from PostgreSQL whenever it is found missing;
- on a call: the engines' call index (`<prefix>:where:<client>`, `line:<number>` while a line has a
  call, telephony/callindex.py), read when the engines' call events reach the client's sockets;
- offline: no phone registered for their line (the edges' location index) and no IM socket open
  (`<prefix>:im:sockets:<client>`, a sorted set of "<account>|<channel>" by expiry, refreshed by the
  sockets themselves, im/consumers.py).

A state shown is on a call, else offline, else do-not-disturb, else away, else available. Changes go
to the client's IM group only (im.live.group_for_im_client); `presence_publish` sends only what
changed since last told (`<prefix>:im:shown:<client>`, compared and set in one Redis script), so the
many sockets that hear the same call event send one change between them."""

from __future__ import annotations

import hashlib
import json
import logging
import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tenants.utils import tenant_context

from config.redis_store import get_redis, rkey
from im import live
from im.models import Presence
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User

log = logging.getLogger(__name__)
AVAILABLE, AWAY, DND, ON_CALL, OFFLINE = "available", "away", "dnd", "on_call", "offline"
STATES = (AVAILABLE, AWAY, DND, ON_CALL, OFFLINE)
CHOICES = (AVAILABLE, AWAY, DND)
LABELS = {
    AVAILABLE: gettext_lazy("Available"),
    AWAY: gettext_lazy("Away"),
    DND: gettext_lazy("Do not disturb"),
    ON_CALL: gettext_lazy("On a call"),
    OFFLINE: gettext_lazy("Offline"),
}
CLAIM_TTL = 5  # seconds an event's claim is kept (every socket hears it within this)
SOCKET_TTL = 90  # seconds a socket counts without refreshing its entry (the sockets refresh every 30)
SHOWN_TTL = 86400
MARK = "_"  # the field that says the manual copy was built (a client with nobody chose anything yet)

# KEYS[1] = shown hash; ARGV = account, state, account, state..., TTL; returns the pairs that changed.
CHANGED = """
local changed = {}
for i = 1, #ARGV - 1, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    table.insert(changed, ARGV[i]); table.insert(changed, ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[#ARGV]))
return changed
"""


def _manual_key(client_id: int) -> str:
    return rkey("im", "manual", client_id)


def _sockets_key(client_id: int) -> str:
    return rkey("im", "sockets", client_id)


def _people(client: Client) -> list[dict]:
    """The client's people (users with their line, operators without): id, name, role, extension and
    SIP user name, by name."""
    from telephony.models import Extension

    accounts = list(User.objects.filter(client=client, role__in=(Role.USER, Role.CLIENT), is_active=True)
                    .order_by("name", "pk").values("id", "name", "role"))  # fmt: skip
    with tenant_context(client):
        lines = {e.account_id: e for e in Extension.objects.filter(account_id__in=[a["id"] for a in accounts])}
    for account in accounts:
        line = lines.get(account["id"])
        account["extension"] = line.number if line else ""
        account["sip_username"] = line.sip_username if line else ""
    return accounts


def _manual_from_database(client: Client, account_ids=None) -> dict[int, str]:
    from telephony.models import Forwarding

    with tenant_context(client):
        chosen = Presence.objects.all()
        dnd = Forwarding.objects.filter(dnd=True)
        if account_ids is not None:
            chosen, dnd = chosen.filter(account_id__in=account_ids), dnd.filter(extension__account_id__in=account_ids)
        states = dict(chosen.values_list("account_id", "choice"))
        for account_id in dnd.values_list("extension__account_id", flat=True):
            states[account_id] = DND
    if account_ids is not None:
        states = {pk: states.get(pk, AVAILABLE) for pk in account_ids}
    return states


def manual_states(client: Client) -> dict[int, str]:
    """Each person's choice (available, away, dnd) from the fast copy, rebuilt when missing."""
    r = get_redis()
    raw = r.hgetall(_manual_key(client.pk))
    if not raw:
        states = _manual_from_database(client)
        pipe = r.pipeline()
        pipe.delete(_manual_key(client.pk))
        pipe.hset(_manual_key(client.pk), mapping={MARK: "1", **{str(k): v for k, v in states.items()}})
        pipe.execute()
        return states
    return {int(k): v.decode() for k, v in raw.items() if k != MARK.encode()}


def manual_changed(client: Client, account_ids: list[int]) -> None:
    """A person's choice or do-not-disturb changed in PostgreSQL (committed): the fast copy follows and
    the client's sockets hear the change. Never raises (the caller's change is made)."""
    try:
        states = _manual_from_database(client, account_ids)
        r = get_redis()
        if r.exists(_manual_key(client.pk)):
            r.hset(_manual_key(client.pk), mapping={str(k): v for k, v in states.items()})
        presence_publish(client, account_ids)
    except Exception:
        log.exception("presence of %s in client %s could not be told", account_ids, client.pk)


def _socket_accounts(client_id: int) -> set[int]:
    now = int(time.time() * 1000)
    members = get_redis().zrangebyscore(_sockets_key(client_id), now, "+inf")
    return {int(m.decode().split("|", 1)[0]) for m in members}


def socket_opened(client_id: int, account_id: int, channel: str) -> None:
    """An IM socket of the person is open (again: its entry's expiry moves on)."""
    r, key = get_redis(), _sockets_key(client_id)
    now = int(time.time() * 1000)
    pipe = r.pipeline()
    pipe.zadd(key, {f"{account_id}|{channel}": now + SOCKET_TTL * 1000})
    pipe.zremrangebyscore(key, "-inf", now)
    pipe.expire(key, SOCKET_TTL * 2)
    pipe.execute()


def socket_closed(client_id: int, account_id: int, channel: str) -> None:
    get_redis().zrem(_sockets_key(client_id), f"{account_id}|{channel}")


def _busy_lines(client_id: int) -> set[str]:
    from telephony.callindex import where_key

    fields = get_redis().hkeys(where_key(rkey_prefix(), client_id))
    return {f.decode()[5:] for f in fields if f.startswith(b"line:")}


def rkey_prefix() -> str:
    from django.conf import settings

    return settings.OCX_REDIS_PREFIX


def presence_states(client: Client, people: list[dict] | None = None) -> dict[int, str]:
    """The state each of the client's people shows now (account id -> state)."""
    from telephony.selectors import registered_usernames

    people = _people(client) if people is None else people
    manual = manual_states(client)
    busy, registered, sockets = _busy_lines(client.pk), registered_usernames(client), _socket_accounts(client.pk)
    states = {}
    for person in people:
        pk, choice = person["id"], manual.get(person["id"], AVAILABLE)
        if person["extension"] and person["extension"] in busy:
            states[pk] = ON_CALL
        elif pk not in sockets and not (person["sip_username"] and person["sip_username"] in registered):
            states[pk] = OFFLINE
        elif choice == DND and person["extension"]:
            states[pk] = DND
        elif choice == AWAY:
            states[pk] = AWAY
        else:
            states[pk] = AVAILABLE
    return states


def colleagues(client: Client) -> list[dict]:
    """The client's directory: each person's id, name, role, extension and presence, by name."""
    people = _people(client)
    states = presence_states(client, people)
    return [{"id": p["id"], "name": p["name"], "role": p["role"], "extension": p["extension"],
             "presence": states[p["id"]]} for p in people]  # fmt: skip


def event_claim(client_id: int, event: dict) -> bool:
    """Whether this socket is the one of the client's sockets that answers this call or registration
    event (each socket hears it; the first to claim it computes presence and tells them all)."""
    digest = hashlib.blake2b(json.dumps(event, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()
    return bool(get_redis().set(rkey("im", "event", client_id, digest), "1", nx=True, ex=CLAIM_TTL))


def people_of(client: Client) -> list[dict]:
    """The client's people as presence reads them (a socket keeps them a while: see presence_publish)."""
    return _people(client)


def presence_publish(client: Client, account_ids: list[int] | None = None, *,
                     people: list[dict] | None = None) -> dict[int, str]:  # fmt: skip
    """Tell the client's IM sockets whose presence changed since last told (all the client's people,
    or those named); returns the changes. `people` (people_of, read a moment ago) spares PostgreSQL:
    a socket that hears a call event then reads Redis only."""
    people = _people(client) if people is None else people
    if account_ids is not None:
        wanted = set(account_ids)
        people = [p for p in people if p["id"] in wanted]
    if not people:
        return {}
    states = presence_states(client, people)
    args = [x for pk, state in states.items() for x in (str(pk), state)]
    raw = get_redis().eval(CHANGED, 1, rkey("im", "shown", client.pk), *args, SHOWN_TTL)
    changed = {int(raw[i]): raw[i + 1].decode() for i in range(0, len(raw), 2)}
    if changed:
        live.push([live.group_for_im_client(client.pk)],
                  {"type": "presence.changed", "presence": {str(k): v for k, v in changed.items()}})  # fmt: skip
    return changed


@transaction.atomic
def presence_set(*, client: Client, actor: User, state) -> str:
    """The actor chooses available, away or do-not-disturb (the last one is their line's: a person
    without a line cannot choose it). Their sockets' colleagues hear the change once committed."""
    from telephony.models import Extension
    from telephony.services import forwarding_of, forwarding_save

    if actor.role not in (Role.USER, Role.CLIENT) or actor.client_id != client.pk:
        raise NotAllowed(_("Only the company's people show a presence."))
    if state not in CHOICES:
        raise ValidationError({"state": [_("Choose available, away or do not disturb.")]})
    with tenant_context(client):
        line = Extension.objects.filter(account_id=actor.pk).first()
    if state == DND and line is None:
        raise ValidationError({"state": [_("Do not disturb is a line's: you have no line.")]})
    if line is not None and forwarding_of(client, line).dnd != (state == DND):
        forwarding_save(actor=actor, client=client, extension=line, dnd=state == DND)  # (tells us again: harmless)
    if state != DND:
        with tenant_context(client):
            Presence.objects.update_or_create(account_id=actor.pk, defaults={"choice": state})
    transaction.on_commit(lambda: manual_changed(client, [actor.pk]))
    return state


def presence_of(client: Client, account_id: int) -> str:
    return presence_states(client, [p for p in _people(client) if p["id"] == account_id]).get(account_id, OFFLINE)
