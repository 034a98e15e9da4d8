"""The SIP directory in Redis: what the edge needs to authenticate phones without PostgreSQL.

`sip:domain` maps each client's SIP domain to the client and its state; `sip:cred:<client id>` maps
each SIP user name to its digest hashes. The services write through on every change (after the
transaction commits) and publish an invalidation, so edges drop what they cached;
`sip_directory_sync()` rebuilds everything from the database (at start, or after a restore).

`sip:directory`, written last by a rebuild, says the directory is whole. Without it (Redis restarted
without its data, or was flushed) the edges cannot tell a wrong guess from a missing entry: whoever
finds it missing rebuilds, through `sip_directory_ensure()`, one process at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from django.db import transaction
from django_tenants.utils import tenant_context
from redis.exceptions import LockError

from config.redis_store import get_redis, rkey
from pstn.directory import pstn_directory_write
from telephony.models import Extension
from tenants.models import Client, SipAddressRule, User

INVALIDATE_CHANNEL = "sip:invalidate"
MARKER = "sip:directory"  # written last by sip_directory_sync(): the directory is whole
REBUILD_LOCK = "sip:directory:rebuilding"
REBUILD_LOCK_TTL = 300  # seconds: a rebuilder that died frees the lock after this
log = logging.getLogger(__name__)


def _rules(client: Client | None) -> dict[str, list[str]]:
    rules = {"allow": [], "deny": []}
    for action, network in SipAddressRule.objects.filter(client=client).values_list("action", "network"):
        rules[action].append(network)
    return rules


def domain_record(client: Client) -> str:
    return json.dumps({"client": client.pk, "brand": client.brand_id, "active": client.is_active,
                       "max_calls": client.max_calls, "digest": client.sip_digest_algorithms,
                       **_rules(client)})  # fmt: skip


def sip_directory_put_rules(client: Client | None) -> None:
    """Address rules changed: a client's travel in its domain record, the global ones on their own."""
    if client is not None:
        sip_directory_put_client(client)
        return
    record = json.dumps(_rules(None))

    def write():
        pipe = get_redis().pipeline()
        pipe.set(rkey("sip:acl"), record)
        pipe.publish(rkey("sip:bans"), "acl")  # the edges' guards reload their global rules
        pipe.execute()

    _after_commit(write)


def credential_record(extension: Extension, account_active: bool) -> str:
    return json.dumps({
        "md5": extension.ha1_md5, "sha256": extension.ha1_sha256, "ext": extension.pk,
        "number": extension.number, "name": extension.display_name, "account": extension.account_id,
        "active": account_active,
    })  # fmt: skip


def _publish(pipe, message: str) -> None:
    pipe.publish(rkey(INVALIDATE_CHANNEL), message)


def _after_commit(write) -> None:
    transaction.on_commit(write)


def sip_directory_put_client(client: Client) -> None:
    """A client's domain record (after create, suspend, activate, delete or a limit change)."""
    record = None if client.status == Client.Status.DELETED else domain_record(client)
    domain, pk = client.sip_domain, client.pk

    def write():
        pipe = get_redis().pipeline()
        if record is None:
            pipe.hdel(rkey("sip:domain"), domain)
        else:
            pipe.hset(rkey("sip:domain"), domain, record)
        _publish(pipe, f"domain {domain}")
        pipe.execute()

    _after_commit(write)
    if record is None:
        _after_commit(lambda: get_redis().delete(rkey("sip:cred", pk)))


def sip_directory_drop_client(client: Client) -> None:
    """Forget a client for good (hard delete)."""
    domain, pk = client.sip_domain, client.pk

    def write():
        pipe = get_redis().pipeline()
        pipe.hdel(rkey("sip:domain"), domain)
        pipe.delete(rkey("sip:cred", pk))
        _publish(pipe, f"domain {domain}")
        pipe.execute()

    _after_commit(write)


def sip_directory_put_line(client: Client, extension: Extension, *, old_username: str | None = None) -> None:
    """A line's credentials (after create, a new secret or user name, or its account's activation)."""
    active = User.objects.filter(pk=extension.account_id, is_active=True).exists()
    record, username, key = credential_record(extension, active), extension.sip_username, rkey("sip:cred", client.pk)

    def write():
        pipe = get_redis().pipeline()
        if old_username and old_username != username:
            pipe.hdel(key, old_username)
            _publish(pipe, f"cred {client.pk} {old_username}")
        pipe.hset(key, username, record)
        _publish(pipe, f"cred {client.pk} {username}")
        pipe.execute()

    _after_commit(write)


def sip_directory_drop_line(client: Client, username: str) -> None:
    def write():
        pipe = get_redis().pipeline()
        pipe.hdel(rkey("sip:cred", client.pk), username)
        _publish(pipe, f"cred {client.pk} {username}")
        pipe.execute()

    _after_commit(write)


def sip_directory_refresh_account(account: User) -> None:
    """An employee account changed (e.g. deactivated): its line's record follows."""
    if account.client_id is None:
        return
    client = Client.objects.get(pk=account.client_id)
    with tenant_context(client):
        extension = Extension.objects.filter(account_id=account.pk).first()
        if extension is not None:
            sip_directory_put_line(client, extension)


def sip_directory_sync() -> dict:
    """Rebuild the whole directory from the database; returns counts."""
    r = get_redis()
    domains, lines = {}, 0
    active_accounts = set(User.objects.filter(is_active=True, client__isnull=False).values_list("pk", flat=True))
    for client in Client.objects.exclude(status=Client.Status.DELETED).select_related("brand"):
        domains[client.sip_domain] = domain_record(client)
        with tenant_context(client):
            records = {e.sip_username: credential_record(e, e.account_id in active_accounts)
                       for e in Extension.objects.all()}  # fmt: skip
        pipe = r.pipeline()
        pipe.delete(rkey("sip:cred", client.pk))
        if records:
            pipe.hset(rkey("sip:cred", client.pk), mapping=records)
        pipe.execute()
        lines += len(records)
    pipe = r.pipeline()
    pipe.delete(rkey("sip:domain"))
    if domains:
        pipe.hset(rkey("sip:domain"), mapping=domains)
    pipe.set(rkey("sip:acl"), json.dumps(_rules(None)))
    counts = {"domains": len(domains), "lines": lines, **pstn_directory_write(pipe)}
    pipe.set(rkey(MARKER), json.dumps({**counts, "at": time.time()}))
    _publish(pipe, "all")
    pipe.publish(rkey("sip:bans"), "acl")
    pipe.execute()
    return counts


def sip_directory_ensure() -> dict | None:
    """Rebuild the directory when its marker is missing, unless another process is already at it;
    the counts when this call rebuilt it."""
    r = get_redis()
    if r.exists(rkey(MARKER)):
        return None
    lock = r.lock(rkey(REBUILD_LOCK), timeout=REBUILD_LOCK_TTL, blocking=False)
    if not lock.acquire():
        return None
    try:
        counts = sip_directory_sync()
        log.warning("the SIP directory was missing in Redis: rebuilt (%(domains)s domains, %(lines)s lines)", counts)
        return counts
    finally:
        with contextlib.suppress(LockError):  # held past its timeout: nothing left to release
            lock.release()


def sip_directory_rooms_changed(client: Client) -> None:
    """A client's conference rooms changed: the engines drop its cached dial plan (after commit)."""

    def write() -> None:
        with get_redis().pipeline() as pipe:
            _publish(pipe, f"room {client.pk}")
            pipe.execute()

    _after_commit(write)


def sip_directory_prompts_changed(client: Client | None = None) -> None:
    """A client's own prompts changed (or, without a client, a brand's language that its clients may
    speak): the engines drop the cached dial plans that carry them (after commit)."""

    def write() -> None:
        with get_redis().pipeline() as pipe:
            _publish(pipe, f"prompts {client.pk}" if client is not None else "prompts")
            pipe.execute()

    _after_commit(write)
