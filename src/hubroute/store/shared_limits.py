"""Rate limits kept in Redis, so that they hold for every router process and instance together.

    limits = SharedLimits(link, prefix="hubroute:", on_error="open")
    admission = await limits.admit(principal)      # one script, one round trip: 429 if over a limit
    ...
    limits.release(admission, tokens)              # one script, its answer not awaited

The same limits as the in-process limiter (`server.limits`), with the same meaning: a sliding window
of 60 seconds counted per tenth of a second (never more than the limit in any 60 s), tokens counted
when a request ends, requests in progress at once. Every check and count of a request is one Lua
script, so concurrent requests on any number of instances cannot both take the last place. The time
is Redis's own (`TIME`): instances whose clocks differ still share one window.

A request in progress holds its concurrency place under a lease (`lease` seconds) that its router
renews while it runs: the places of an instance that dies (SIGKILL, a lost machine) come free within
one lease, not never.

When Redis cannot be reached, `on_error` says what rate limits do: `open` lets requests through
uncounted, `closed` refuses them (503). Either way one log line says Redis is down, one that it is
back, and the `hubroute_redis_up` metric follows; nothing is logged per request.

Keys (under `prefix`): `l:<scope>:r` and `l:<scope>:t` (hashes: a count per tenth of a second,
the total `t`, the oldest `h` and newest `l` tenth), `l:<scope>:c` (a sorted set: requests in
progress, scored by their lease's end). Each expires a minute after its last use.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import math
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubroute.errors import Unavailable
from hubroute.server.limits import (
    _REQUEST_HEADERS,
    _TOKEN_HEADERS,
    WINDOW,
    Headers,
    Scope,
    _refused,
    duration,
    limit_scopes,
    whose,
)
from hubroute.store import stop
from hubroute.store.redislink import RedisError, RedisLink, RedisUnavailable, Script

if TYPE_CHECKING:
    from hubroute.server.auth import Principal

log = logging.getLogger("hubroute.limits")

#: Redis's clock, in ms: every router shares it
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_COMMON = _NOW + """
local WINDOW, SLOT = 60000, 100
local slot = math.ceil(now / SLOT)
local gone = math.floor((now - WINDOW) / SLOT)  -- the newest tenth that has left the window
local slot_field  -- the current tenth as a hash field, formatted once (a number is formatted at each use)

local function used(key)
  local f = redis.call('HMGET', key, 'h', 't', 'l')
  local h = tonumber(f[1])
  if not h then return 0 end
  local total = tonumber(f[2])
  if h > gone then return total end
  if tonumber(f[3]) <= gone then
    redis.call('DEL', key)
    return 0
  end
  for s = h, gone do
    local c = redis.call('HGET', key, s)
    if c then
      total = total - tonumber(c)
      redis.call('HDEL', key, s)
    end
  end
  redis.call('HSET', key, 't', total, 'h', gone + 1)
  return total
end

-- add `amount` (> 0; `text`: the same as a string) to the window at `key`
local function add(key, amount, text)
  slot_field = slot_field or tostring(slot)
  redis.call('HINCRBY', key, 't', text)
  if redis.call('HINCRBY', key, slot_field, text) == amount then  -- a tenth new to the window
    redis.call('HSETNX', key, 'h', slot_field)
    redis.call('HSET', key, 'l', slot_field)
    redis.call('PEXPIRE', key, '61000')  -- (the window and a second)
  end
end
"""

#: the admission's steps, on KEYS and ARGV from offsets (`kb`, `ab`) so that a script holding money too
#: (`store.shared_money.ADMIT_HOLD`) can check both before it counts either. KEYS: per scope its request
#: window, token window and concurrency set; ARGV: n, member, lease ms, then per scope rpm, tpm,
#: concurrency and whether to renew the concurrency set's expiry ("1": see `SharedLimits.refresh_every`).
#: Places whose lease ran out (an instance that died) are removed only when they would refuse a request.
ADMIT_STEPS = """
-- ms until `need` more fit under `limit` in the window at `key` (which holds `now_used`)
local function room(key, limit, need, now_used)
  local over = now_used + need - limit
  if over <= 0 then return 0 end
  local h = tonumber(redis.call('HGET', key, 'h'))
  if not h then return 0 end
  for s = math.max(h, gone + 1), tonumber(redis.call('HGET', key, 'l')) do
    local c = redis.call('HGET', key, s)
    if c then
      over = over - tonumber(c)
      if over <= 0 then return math.max(s * SLOT + WINDOW - now, 0) end
    end
  end
  return WINDOW
end

-- nil and what each scope has used, or the refusal to answer
local function admit_check(kb, ab)
  local seen = {}
  for i = 1, tonumber(ARGV[ab + 1]) do
    local k, a = kb + 3 * (i - 1), ab + 3 + 4 * (i - 1)
    local rpm, tpm, conc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local ur = rpm > 0 and used(KEYS[k + 1]) or 0
    local ut = tpm > 0 and used(KEYS[k + 2]) or 0
    local refused, wait, places = 0, 0, 0
    if rpm > 0 and ur + 1 > rpm then
      refused, wait = 1, room(KEYS[k + 1], rpm, 1, ur)
    elseif tpm > 0 and ut >= tpm then
      refused, wait = 2, room(KEYS[k + 2], tpm, 1, ut)
    elseif conc > 0 then
      places = redis.call('ZCARD', KEYS[k + 3])
      if places >= conc then
        redis.call('ZREMRANGEBYSCORE', KEYS[k + 3], '-inf', now)
        places = redis.call('ZCARD', KEYS[k + 3])
        if places >= conc then refused, wait = 3, 1000 end
      end
    end
    if refused > 0 then
      local rr = (rpm > 0 and ur >= rpm) and room(KEYS[k + 1], rpm, 1, ur) or 0
      local rt = (tpm > 0 and ut >= tpm) and room(KEYS[k + 2], tpm, 1, ut) or 0
      return nil, {0, i, refused, wait, ur, ut, rr, rt}
    end
    seen[i] = {ur, ut, places, rpm, tpm, conc}
  end
  return seen
end

-- count the request in every scope (`seen`: what admit_check found); what the first scope's headers say
local function admit_commit(kb, ab, seen)
  local member, lease = ARGV[ab + 2], tonumber(ARGV[ab + 3])
  local ends  -- when its places' lease ends, formatted once
  for i = 1, #seen do
    local k, s = kb + 3 * (i - 1), seen[i]
    if s[4] > 0 then add(KEYS[k + 1], 1, '1') end
    if s[6] > 0 then
      ends = ends or tostring(now + lease)
      redis.call('ZADD', KEYS[k + 3], ends, member)
      if s[3] == 0 or ARGV[ab + 7 + 4 * (i - 1)] == '1' then  -- a new set, or its expiry due for renewal
        redis.call('PEXPIRE', KEYS[k + 3], lease + WINDOW)
      end
    end
  end
  local first = seen[1]
  local rpm, tpm = first[4], first[5]
  local ur = first[1] + (rpm > 0 and 1 or 0)
  local ut = first[2]
  local rr = (rpm > 0 and ur >= rpm) and room(KEYS[kb + 1], rpm, 1, ur) or 0
  local rt = (tpm > 0 and ut >= tpm) and room(KEYS[kb + 2], tpm, 1, ut) or 0
  return {1, slot, ur, ut, rr, rt}
end
"""

ADMIT = Script("admit", _COMMON + ADMIT_STEPS + """
local seen, refusal = admit_check(0, 0)
if not seen then return refusal end
return admit_commit(0, 0, seen)
""")

# KEYS: per scope its token window and its concurrency set; ARGV: n, member, tokens, per scope its tpm
# and concurrency flags
RELEASE = Script("release", _COMMON + """
local member, text = ARGV[2], ARGV[3]
local tokens = tonumber(text)
for i = 1, tonumber(ARGV[1]) do
  if tokens > 0 and ARGV[2 + 2 * i] ~= '0' then add(KEYS[2 * i - 1], tokens, text) end
  if ARGV[3 + 2 * i] ~= '0' then redis.call('ZREM', KEYS[2 * i], member) end
end
return 1
""")

# KEYS: per scope its request window and its concurrency set; ARGV: member, the tenth it was counted
# in, per scope whether it was counted and holds a place
CANCEL = Script("cancel", """
local member, slot = ARGV[1], ARGV[2]
for i = 1, #KEYS / 2 do
  if ARGV[2 + 2 * i - 1] == '1' and redis.call('HEXISTS', KEYS[2 * i - 1], slot) == 1 then
    redis.call('HINCRBY', KEYS[2 * i - 1], slot, -1)
    redis.call('HINCRBY', KEYS[2 * i - 1], 't', -1)
  end
  if ARGV[2 + 2 * i] == '1' then redis.call('ZREM', KEYS[2 * i], member) end
end
return 1
""")

# KEYS: lease sets (concurrency places, money holds); ARGV: the lease in ms, the sets' expiry in ms (0:
# left as it is), then the member held in each
RENEW = Script("renew", _NOW + """
local lease, ttl = tonumber(ARGV[1]), ARGV[2]
for i = 1, #KEYS do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + lease, ARGV[i + 2]) == 1 and ttl ~= '0' then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 1
""")

SCRIPTS = (ADMIT, RELEASE, CANCEL, RENEW)


@dataclass(slots=True)
class Asking:
    """An admission prepared: the keys and arguments of its script, and the scopes they stand for."""

    keys: list[str]
    args: list[Any]
    scopes: tuple[Scope, ...]
    org: str | None
    #: the scopes whose concurrency set's expiry its script renews
    renewing: list[str] = field(default_factory=list)


class Renewals:
    """When this process last had Redis renew the expiry of each of a kind of key (a concurrency set,
    a pot): a key's script renews it when `due`, then the key is not due again for `every` seconds.
    At most `bound` keys are remembered (beyond: forgotten, so each is renewed once more)."""

    def __init__(self, every: float, bound: int = 100_000) -> None:
        self.every = every
        self.bound = bound
        self._at: dict[str, float] = {}

    def due(self, key: str, now: float) -> bool:
        return self._at.get(key, -math.inf) < now - self.every

    def renewed(self, keys: list[str]) -> None:
        """`keys`' expiries were renewed now (their scripts ran)."""
        if not keys:
            return
        if len(self._at) >= self.bound:
            self._at.clear()
        now = time.monotonic()
        for key in keys:
            self._at[key] = now


@dataclass(slots=True, eq=False)
class SharedAdmission:
    """A request counted in Redis: its id there, where it counts, and the headers its answer carries."""

    member: str
    #: (scope, tpm > 0, holds a concurrency place, counted in a request window)
    scopes: list[tuple[str, bool, bool, bool]]
    slot: int
    headers: Headers = field(default_factory=list)
    org: str | None = None


class SharedLimits:
    #: seconds a concurrency place is held without its router renewing it
    lease = 10.0
    #: a concurrency set's expiry (the lease and a minute) is renewed by the first of this process's
    #: admissions to it in every `refresh_every` seconds (and when the set is new), not by each: a set
    #: in use then always outlives its places' leases, and an abandoned one goes within its expiry
    refresh_every = 5.0

    def __init__(self, link: RedisLink, *, prefix: str = "hubroute:", on_error: str = "open",
                 lease: float | None = None) -> None:
        self.link = link
        if lease is not None:
            self.lease = lease
        self.prefix = prefix
        self.fail_open = on_error == "open"
        self._ids = itertools.count(1)
        self._me = f"{uuid.uuid4().hex[:12]}-{os.getpid()}-"
        #: requests of this process holding concurrency places: their leases are renewed
        self._held: set[SharedAdmission] = set()
        self._renewer: asyncio.Task[None] | None = None
        #: when an admission here last renewed each scope's concurrency set's expiry
        self._renewals = Renewals(self.refresh_every)

    def start(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew(), name="hubroute-leases")

    async def close(self) -> None:
        await stop(self._renewer)
        self._renewer = None

    def prepare(self, principal: Principal,
                org: tuple[str | None, Mapping[str, int]] | None = None) -> Asking | None:
        """What admitting a request of `principal` asks Redis (None: no limits apply); no I/O."""
        org_id, scopes = limit_scopes(principal, org)
        if not scopes:
            return None
        keys: list[str] = []
        args: list[Any] = [len(scopes), f"{self._me}{next(self._ids)}", int(self.lease * 1000)]
        renewing: list[str] = []
        now = time.monotonic()
        for name, limits, _ in scopes:
            keys += _scope_keys(self.prefix, name)
            due = self._renewals.due(name, now)
            if due:
                renewing.append(name)
            args += (limits.get("rpm") or 0, limits.get("tpm") or 0, limits.get("concurrency") or 0, 1 if due else 0)
        return Asking(keys, args, scopes, org_id, renewing)

    async def admit(self, principal: Principal,
                    org: tuple[str | None, Mapping[str, int]] | None = None) -> SharedAdmission | None:
        """As `Limiter.admit`, for every instance at once (QuotaError 429 when over a limit; when Redis
        cannot be reached: None with `on_error: open`, else Unavailable 503)."""
        asking = self.prepare(principal, org)
        return await self.send(asking) if asking is not None else None

    async def send(self, asking: Asking) -> SharedAdmission | None:
        """Ask Redis to admit a request prepared (`prepare`)."""
        try:
            reply = await self.link.run(ADMIT, asking.keys, asking.args)
        except (RedisUnavailable, RedisError) as exc:
            self.unreachable(exc)
            return None
        return self.conclude(asking, reply)

    def unreachable(self, exc: Exception) -> None:
        """A request while Redis cannot be reached: let through uncounted (return), or 503."""
        if self.fail_open:
            return
        raise Unavailable(f"rate limits cannot be checked: {exc} (redis.on_error: closed)") from None

    def conclude(self, asking: Asking, reply: list[Any]) -> SharedAdmission:
        """The admission Redis's answer (ADMIT's, or its part of a script that held money too) makes,
        or the 429 it says."""
        scopes = asking.scopes
        if reply[0] == 0:
            _, i, why, wait_ms, ur, ut, rr, rt = reply
            _, limits, kind = scopes[i - 1]
            what = {1: f"{limits.get('rpm')} requests per minute", 2: f"{limits.get('tpm')} tokens per minute",
                    3: f"{limits.get('concurrency')} requests at once"}[why]
            raise _refused(whose(kind), what, wait_ms / 1000, _headers(limits, ur, ut, rr, rt))
        _, slot, ur, ut, rr, rt = reply
        admission = SharedAdmission(asking.args[1], [
            (name, bool(limits.get("tpm")), bool(limits.get("concurrency")), bool(limits.get("rpm")))
            for name, limits, _ in scopes], slot, _headers(scopes[0][1], ur, ut, rr, rt), asking.org)
        if any(s[2] for s in admission.scopes):
            self._held.add(admission)
            self._renewals.renewed(asking.renewing)
        return admission

    async def cancel(self, admission: SharedAdmission) -> None:
        """Undo an admission (its request is to be admitted under other limits)."""
        self._held.discard(admission)
        keys: list[str] = []
        args: list[Any] = [admission.member, admission.slot]
        for name, _, place, counted in admission.scopes:
            keys += (f"{self.prefix}l:{name}:r", f"{self.prefix}l:{name}:c")
            args += ("1" if counted else "0", "1" if place else "0")
        with contextlib.suppress(RedisUnavailable, RedisError):  # (its lease frees its place anyway)
            await self.link.run(CANCEL, keys, args)

    def release(self, admission: SharedAdmission, tokens: int) -> None:
        """The request ended having used `tokens`: counted, its place given back (not awaited: the
        answer has gone; if Redis is down then, its place comes free with its lease)."""
        self._held.discard(admission)
        keys: list[str] = []
        args: list[Any] = [len(admission.scopes), admission.member, tokens]
        for name, tpm, place, _ in admission.scopes:
            keys += _scope_keys(self.prefix, name)[1:]
            args += (1 if tpm else 0, 1 if place else 0)
        self.link.send(RELEASE, keys, args)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            held = list(self._held)
            if not held:
                continue
            keys = [f"{self.prefix}l:{name}:c" for a in held for name, _, place, _ in a.scopes if place]
            members = [a.member for a in held for _, _, place, _ in a.scopes if place]
            try:
                await self.link.run(RENEW, keys, [int(self.lease * 1000), int((self.lease + WINDOW) * 1000), *members])
            except (RedisUnavailable, RedisError):  # (the link says it once; the next round renews them)
                continue
            except Exception:  # a bug: said, and the renewals go on (ended, every place would lapse)
                log.exception("could not renew the requests' places under the shared rate limits")


@functools.lru_cache(maxsize=4096)
def _scope_keys(prefix: str, scope: str) -> tuple[str, str, str]:
    """A scope's request window, token window and concurrency set."""
    base = f"{prefix}l:{scope}:"
    return base + "r", base + "t", base + "c"


def _headers(limits: Mapping[str, int], used_requests: int, used_tokens: int, reset_requests_ms: int,
             reset_tokens_ms: int) -> Headers:
    out: Headers = []
    for names, limit, used, reset_ms in ((_REQUEST_HEADERS, limits.get("rpm"), used_requests, reset_requests_ms),
                                         (_TOKEN_HEADERS, limits.get("tpm"), used_tokens, reset_tokens_ms)):
        if not limit:
            continue
        reset = b"0s" if used < limit else duration(reset_ms / 1000).encode()
        out += [(names[0], b"%d" % limit), (names[1], b"%d" % max(limit - used, 0)), (names[2], reset)]
    return out
