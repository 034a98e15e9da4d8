"""Reads on a client's telephony."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from config.redis_store import get_redis, rkey
from telephony.models import Extension, Forwarding
from tenants.models import Client, Role


def acting_line(actor, number: str = "") -> Extension | None:
    """The line an action rings for the actor (a park retrieval, a supervision): a user's own; the
    line an operator names by its number. None when there is no such line in the actor's scope."""
    lines = Extension.objects.restrict(actor)
    if actor.role == Role.USER:
        return lines.first()
    return lines.filter(number=number).first() if number else None


def supervisions_seen_by(actor, supervisions: list[dict]) -> list[dict]:
    """A call record's supervisions as the actor may see them: all of them for operators; for a user
    only those they did (a monitored party is not told: supervision is the operators' business)."""
    if actor.role != Role.USER:
        return supervisions
    return [v for v in supervisions if v.get("supervisor_account") == actor.pk]


def sip_credentials(*, client: Client, extension: Extension) -> dict:
    """What a phone needs to register: user name, domain (realm) and the edge's address."""
    return {
        "number": extension.number,
        "display_name": extension.display_name,
        "username": extension.sip_username,
        "domain": client.sip_domain,
        "proxy": settings.OCX_SIP_PROXY,
        "secret_changed_at": extension.secret_changed_at,
    }


def registrations_of(*, client: Client, extension: Extension) -> list[dict]:
    """The devices registered for a line now: contact, user agent, source address, seconds left."""
    from telephony.edge.location import Binding, now_millis

    now = now_millis()
    raw = get_redis().hgetall(rkey("loc", client.pk, extension.sip_username))
    bindings = sorted((b for b in map(Binding.from_json, raw.values()) if b.expires_at > now), key=lambda b: b.contact)
    return [{"contact": b.contact, "user_agent": b.user_agent, "source": b.source, "nat": bool(b.received),
             "expires_in": b.expires_in(now)} for b in bindings]  # fmt: skip


def registered_usernames(client: Client) -> set[str]:
    """The SIP user names of the client's lines with a phone registered now (the location index)."""
    import time

    members = get_redis().zrangebyscore(rkey("locidx", client.pk), int(time.time() * 1000), "+inf")
    return {(m.decode() if isinstance(m, bytes) else m).split("|", 1)[0] for m in members}


def mark_registered(*, client: Client, extensions) -> None:
    """Give each line `registered`: how many devices are registered for it now (one Redis round trip)."""
    from telephony.edge.location import Binding, now_millis

    extensions, now = list(extensions), now_millis()
    pipe = get_redis().pipeline()
    for extension in extensions:
        pipe.hvals(rkey("loc", client.pk, extension.sip_username))
    for extension, raw in zip(extensions, pipe.execute(), strict=True):
        extension.registered = sum(1 for b in map(Binding.from_json, raw) if b.expires_at > now)


def registration_counts(client_ids: list[int]) -> dict[int, int]:
    """Live registrations per client (one sorted set per client, scored by expiry)."""
    import time

    if not client_ids:
        return {}
    now = int(time.time() * 1000)
    pipe = get_redis().pipeline()
    for pk in client_ids:
        pipe.zcount(rkey("locidx", pk), now, "+inf")
    return dict(zip(client_ids, pipe.execute(), strict=True))


def sip_bans(*, actor) -> list[dict]:
    """Bans in force that the actor may see: god all of them; a brand its clients' lines' bans."""
    from telephony.edge.guard import parse_ban_key
    from tenants.models import Role

    if actor.role not in (Role.GOD, Role.BRAND):
        return []
    domains = {c.sip_domain: c for c in Client.objects.restrict(actor)}
    r, prefix, bans = get_redis(), settings.OCX_REDIS_PREFIX, []
    for raw in r.scan_iter(match=rkey("ban:*"), count=500):
        key = raw.decode()
        parsed = parse_ban_key(prefix, key)
        if parsed is None:
            continue
        kind, fields = parsed
        client = domains.get(fields[0]) if kind == "auth" else None
        if actor.role == Role.BRAND and client is None:
            continue  # address bans are platform-wide: the platform operator's
        ttl = r.ttl(key)
        if ttl > 0:
            domain, user = (fields[0], fields[1]) if kind == "auth" else ("", "")
            bans.append({"key": key, "kind": kind, "ip": fields[-1], "user": user, "domain": domain,
                         "client": client, "expires_in": ttl})  # fmt: skip
    return sorted(bans, key=lambda b: (b["kind"], b["domain"], b["ip"]))


FORWARDING_SHORT = {
    "always": gettext_lazy("Forwarded always to %(kind)s %(target)s"),
    "busy": gettext_lazy("Forwarded busy to %(kind)s %(target)s"),
    "no_answer": gettext_lazy("Forwarded not answered (%(seconds)s s) to %(kind)s %(target)s"),
    "unreachable": gettext_lazy("Forwarded unreachable to %(kind)s %(target)s"),
}
KIND_SHORT = {  # a destination's kind (telephony/destinations.py) at a glance
    "user": pgettext_lazy("destination kind", "user"),
    "external": pgettext_lazy("destination kind", "external"),
    "hangup": pgettext_lazy("destination kind", "hangup"),
    "conference": pgettext_lazy("destination kind", "conference"),
}


def forwarding_summary(forwarding: Forwarding) -> list[str]:
    """What a glance shows of a line's call handling: do-not-disturb, each forwarding in force and
    find-me; empty when calls just ring the line's phones."""
    shown = [gettext("Do not disturb")] if forwarding.dnd else []
    for when, words in FORWARDING_SHORT.items():
        kind, target = getattr(forwarding, f"{when}_kind"), getattr(forwarding, f"{when}_target")
        if kind:
            values = {"kind": KIND_SHORT.get(kind, kind), "target": target, "seconds": forwarding.no_answer_after}
            shown.append((words % values).rstrip())
    if forwarding.find_me:
        shown.append(gettext("Find-me %(number)s") % {"number": forwarding.find_me})
    return shown


def mark_call_handling(extensions) -> None:
    """Give each line `call_handling`: forwarding_summary() of its forwarding (in the schema in use)."""
    extensions = list(extensions)
    rows = {f.extension_id: f for f in Forwarding.objects.filter(extension__in=[e.pk for e in extensions])}
    for extension in extensions:
        found = rows.get(extension.pk)
        extension.call_handling = forwarding_summary(found) if found else []
