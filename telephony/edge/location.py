"""Registrations (bindings) in Redis, shared by every edge process.

One hash per address of record, `loc:<client>:<user>`, field = contact URI, value = the binding as
JSON (where to send: the received address for NATed phones; expiry; Call-ID and CSeq; user agent;
source; edge). One sorted set per client, `locidx:<client>`, scores every binding by expiry so the
portals count live registrations without scanning. A REGISTER is one round trip: a Lua script
checks the nonce-count (replay protection), RFC 3261 section 10.3's Call-ID/CSeq ordering, applies
the changes, evicts beyond the per-user maximum and answers the current bindings.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

UPDATE_SCRIPT = """
local loc, nckey, idx = KEYS[1], KEYS[2], KEYS[3]
local now, nc, nonce_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local callid, cseq, remove_all = ARGV[4], tonumber(ARGV[5]), ARGV[6] == '1'
local max_contacts, user = tonumber(ARGV[7]), ARGV[8]
local channel, announcement = ARGV[9], ARGV[10]
if nckey ~= '' then
  local last = tonumber(redis.call('GET', nckey) or '0')
  if nc <= last then return {-1} end
  redis.call('SET', nckey, nc, 'EX', nonce_ttl)
end
local changed, fresh = 0, 0
local current = {}
local flat = redis.call('HGETALL', loc)
for i = 1, #flat, 2 do
  local b = cjson.decode(flat[i + 1])
  if b.expires_at <= now then
    changed = changed + redis.call('HDEL', loc, flat[i]); redis.call('ZREM', idx, user .. '|' .. flat[i])
  else
    current[flat[i]] = b
  end
end
for i = 11, #ARGV, 2 do
  local old = current[ARGV[i]]
  if old and old.callid == callid and old.cseq >= cseq then return {-2} end
end
if remove_all then
  for contact, _ in pairs(current) do
    if current[contact].callid == callid and current[contact].cseq >= cseq then return {-2} end
  end
  for contact, _ in pairs(current) do
    changed = changed + redis.call('HDEL', loc, contact); redis.call('ZREM', idx, user .. '|' .. contact)
  end
  current = {}
end
for i = 11, #ARGV, 2 do
  local contact, record = ARGV[i], ARGV[i + 1]
  if record == '' then
    changed = changed + redis.call('HDEL', loc, contact)
    redis.call('ZREM', idx, user .. '|' .. contact); current[contact] = nil
  else
    local b = cjson.decode(record)
    if current[contact] == nil or current[contact].callid ~= callid then fresh = fresh + 1 end
    changed = changed + redis.call('HSET', loc, contact, record)
    redis.call('ZADD', idx, b.expires_at, user .. '|' .. contact)
    current[contact] = b
  end
end
local list = {}
for contact, b in pairs(current) do table.insert(list, {contact, b}) end
table.sort(list, function(a, b) return a[2].expires_at > b[2].expires_at end)
while #list > max_contacts do
  local victim = table.remove(list)
  changed = changed + redis.call('HDEL', loc, victim[1]); redis.call('ZREM', idx, user .. '|' .. victim[1])
end
local latest, out = now, {changed, fresh}
for _, item in ipairs(list) do
  if item[2].expires_at > latest then latest = item[2].expires_at end
  table.insert(out, cjson.encode(item[2]))
end
if #list > 0 then redis.call('PEXPIRE', loc, latest - now + 1000) end
if fresh > 0 and channel ~= '' then redis.call('PUBLISH', channel, announcement) end
return out
"""

# KEYS[1] = nc:<nonce>; ARGV: nc, ttl. 1 when the nonce-count grew (and is now recorded), 0 for a replay.
NONCE_SCRIPT = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""


class Replay(Exception):
    """The nonce-count did not grow: a replayed or duplicated request."""


class OutOfOrder(Exception):
    """RFC 3261 10.3 step 7: same Call-ID with an older or equal CSeq."""


@dataclass(frozen=True)
class Binding:
    contact: str
    expires_at: int  # milliseconds since the epoch
    received: str | None  # "udp:1.2.3.4:5060" where to send, when it differs from the contact
    source: str
    user_agent: str
    callid: str
    cseq: int
    edge: str

    @classmethod
    def from_json(cls, text: str | bytes) -> Binding:
        data = json.loads(text)
        return cls(data["uri"], data["expires_at"], data.get("received"), data.get("source", ""),
                   data.get("ua", ""), data["callid"], data["cseq"], data.get("edge", ""))  # fmt: skip

    def to_json(self) -> str:
        return json.dumps({"uri": self.contact, "expires_at": self.expires_at, "received": self.received,
                           "source": self.source, "ua": self.user_agent, "callid": self.callid,
                           "cseq": self.cseq, "edge": self.edge})  # fmt: skip

    def expires_in(self, now_ms: int | None = None) -> int:
        return max(0, round((self.expires_at - (now_ms or now_millis())) / 1000))


@dataclass(frozen=True)
class Update:
    changed: bool  # a device came or went
    fresh: bool  # a device registered anew: a contact not bound before, or bound from another Call-ID (it restarted)
    bindings: list[Binding]


def now_millis() -> int:
    return int(time.time() * 1000)


class Location:
    """Bindings of every address of record, in Redis, updated over the edge's pipelined connection
    (telephony/edge/fastredis.py): one EVALSHA per REGISTER."""

    def __init__(self, fast, prefix: str, *, max_contacts: int = 10, nonce_ttl: int = 300):
        self.fast = fast
        self.prefix = prefix
        self.max_contacts = max_contacts
        self.nonce_ttl = nonce_ttl

    def aor_key(self, client_id: int, user: str) -> str:
        return f"{self.prefix}:loc:{client_id}:{user}"

    def index_key(self, client_id: int) -> str:
        return f"{self.prefix}:locidx:{client_id}"

    async def update(
        self,
        client_id: int,
        user: str,
        *,
        nonce: str | None,
        nc: int,
        callid: str,
        cseq: int,
        changes: list[tuple[str, Binding | None]],
        remove_all: bool = False,
        announce: tuple[str, str] = ("", ""),
    ) -> Update:
        """Apply a REGISTER's changes (None removes a contact): the bindings that remain, and whether
        a device came or went (a refresh of a known contact is not a change; a binding found expired
        and removed is) or registered anew. `announce`: a (channel, message) published when a device
        registered anew, in the same script (no round trip of its own)."""
        args = [now_millis(), nc, self.nonce_ttl, callid, cseq, "1" if remove_all else "0", self.max_contacts, user,
                *announce]  # fmt: skip
        for contact, binding in changes:
            args += [contact, binding.to_json() if binding else ""]
        keys = [self.aor_key(client_id, user), f"{self.prefix}:nc:{nonce}" if nonce else "", self.index_key(client_id)]
        result = await self.fast.script(UPDATE_SCRIPT, 3, *keys, *args)
        if result[0] == -1:
            raise Replay()
        if result[0] == -2:
            raise OutOfOrder()
        return Update(changed=result[0] > 0, fresh=result[1] > 0,
                      bindings=[Binding.from_json(item) for item in result[2:]])  # fmt: skip

    async def bindings(self, client_id: int, user: str) -> list[Binding]:
        """The live bindings of an address of record (where a call to the user forks)."""
        flat = await self.fast.call("HGETALL", self.aor_key(client_id, user))
        now = now_millis()
        found = (Binding.from_json(flat[i + 1]) for i in range(0, len(flat or ()), 2))
        return sorted((b for b in found if b.expires_at > now), key=lambda b: b.contact)

    async def nonce_count_grew(self, nonce: str, nc: int) -> bool:
        """Replay protection for requests other than REGISTER (whose update script checks it itself)."""
        return bool(await self.fast.script(NONCE_SCRIPT, 1, f"{self.prefix}:nc:{nonce}", nc, self.nonce_ttl))
