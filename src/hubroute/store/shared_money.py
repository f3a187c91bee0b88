"""Credits and budgets held in Redis, so that no number of router processes and instances can
overdraw a balance or overshoot a budget together.

`SharedBilling` is `server.billing.Billing` (the same worst cases, the same 402s) with its balances in
Redis: a request's holds on its account's credits and on each of its budgets are checked and taken in
one Lua script, and released (its actual cost counted) in another when it ends. A hold lives under a
lease that its router renews while the request runs: the holds of an instance that dies come free
within one lease (`redis.lease`).

Each balance is a "pot" of four keys under `<prefix>m:`: `…:v` the value (credits left, in
nano-dollars; or what a budget's period has spent), `…:r` what requests in progress hold, `…:h` their
holds (a hash: request → amount), `…:e` their leases (a sorted set: request → end). A budget's pot
names its period's start, so a new period starts a new pot. A pot Redis does not have is loaded from
the database (the ledger's charges, this router's waiting rows written first) by the first request
that needs it, and kept a day after its last use. What a request charges reaches the database with
its ledger row, as without Redis.

Redis out of reach: requests that need a balance or a budget get 503 (money limits fail closed,
whatever `redis.on_error` says); a release that cannot be sent waits in memory and is sent when Redis
is back (its hold meanwhile expires with its lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from hubroute.errors import Unavailable
from hubroute.server.billing import Account, Billing, Budget, Hold, Scope, _over_budget, _short, _started, _today
from hubroute.store import stop
from hubroute.store.redislink import RedisError, RedisLink, RedisUnavailable, Script
from hubroute.store.shared_limits import _COMMON, _NOW, ADMIT_STEPS, RENEW, Asking, Renewals, SharedLimits

if TYPE_CHECKING:
    from hubroute.store.accounts import Accounts

log = logging.getLogger("hubroute.billing")

#: ms a pot is kept after its last use
KEEP = 86_400_000


#: holding's steps, on KEYS and ARGV from offsets (`kb`, `ab`: see ADMIT_HOLD). KEYS: per pot v, r, h, e;
#: ARGV: member, lease ms, keep ms, then per pot its limit (-1: credits), the amount to hold and whether
#: to renew the pot's expiry ("1": see `SharedBilling.refresh_every`). Amounts go to Redis as the strings given
#: (Lua's numbers would print large ones as 1e+15). Holds whose lease ran out (an instance that died)
#: are taken back only when they would refuse a request: until then they change nothing.
HOLD_STEPS = """
-- what the holds of `member`s whose lease ran out held on the pot at KEYS[k + 1..4], given back
local function reclaim(k)
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k + 4], '-inf', now)) do
    local held = redis.call('HGET', KEYS[k + 3], m)
    if held then
      redis.call('DECRBY', KEYS[k + 2], held)
      redis.call('HDEL', KEYS[k + 3], m)
    end
    redis.call('ZREM', KEYS[k + 4], m)
  end
  return tonumber(redis.call('GET', KEYS[k + 2]) or '0')
end

local function over(limit, amount, v, r)
  return (limit >= 0 and v + r + amount > limit) or (limit < 0 and amount > v - r)
end

-- the amounts to hold on each pot, when every pot can take its own; else nil and {0, pot, value, held}
-- (short), or {2, pot} (not loaded)
local function hold_check(kb, ab, pots)
  local amounts = {}
  for i = 1, pots do
    local k, a = kb + 4 * (i - 1), ab + 3 + 3 * (i - 1)
    local vr = redis.call('MGET', KEYS[k + 1], KEYS[k + 2])
    if not vr[1] then return nil, {2, i} end
    local limit, amount = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local v, r = tonumber(vr[1]), tonumber(vr[2] or '0')
    if over(limit, amount, v, r) then
      r = reclaim(k)
      if over(limit, amount, v, r) then return nil, {0, i, tostring(v), tostring(r)} end
    end
    amounts[i] = amount
  end
  return amounts
end

local function hold_commit(kb, ab, amounts)
  local member, keep = ARGV[ab + 1], ARGV[ab + 3]
  local ends = tostring(now + tonumber(ARGV[ab + 2]))
  for i = 1, #amounts do
    local k, a = kb + 4 * (i - 1), ab + 3 + 3 * (i - 1)
    redis.call('HSET', KEYS[k + 3], member, ARGV[a + 2])
    redis.call('ZADD', KEYS[k + 4], ends, member)
    -- a pot's keys outlive their last use by `keep`: renewed by one request of each router in every
    -- refresh period; the holds' keys also when they are new (nothing was held: Redis had dropped them)
    local fresh = redis.call('INCRBY', KEYS[k + 2], ARGV[a + 2]) == amounts[i]
    if ARGV[a + 3] == '1' then
      for j = 1, 4 do redis.call('PEXPIRE', KEYS[k + j], keep) end
    elseif fresh then
      redis.call('PEXPIRE', KEYS[k + 3], keep)
      redis.call('PEXPIRE', KEYS[k + 4], keep)
    end
  end
end
"""

HOLD = Script("hold", _NOW + HOLD_STEPS + """
local amounts, refusal = hold_check(0, 0, #KEYS / 4)
if not amounts then return refusal end
hold_commit(0, 0, amounts)
return {1}
""")

#: a request's admission under its rate limits (`store.shared_limits`) and its holds, in one round trip:
#: both checked before either is taken. KEYS and ARGV: the admission's, then the holds'. Answers
#: {0, the admission's refusal}, {1, the holds' refusal}, or {2, the admission}.
ADMIT_HOLD = Script("admit-hold", _COMMON + ADMIT_STEPS + HOLD_STEPS + """
local lk, la = 3 * tonumber(ARGV[1]), 3 + 4 * tonumber(ARGV[1])
local pots = (#KEYS - lk) / 4
local seen, refusal = admit_check(0, 0)
if not seen then return {0, refusal} end
local amounts, short = hold_check(lk, la, pots)
if not amounts then return {1, short} end
hold_commit(lk, la, amounts)
return {2, admit_commit(0, 0, seen)}
""")

# KEYS: per pot v, r, h, e; ARGV: member, then per pot what it held there and what to add to its
# value (a string; "0": nothing). A hold already taken back (its lease ran out) is not given back twice.
RELEASE = Script("release-hold", """
local member = ARGV[1]
for i = 1, #KEYS / 4 do
  local k = 4 * (i - 1)
  if redis.call('ZREM', KEYS[k + 4], member) == 1 then
    redis.call('DECRBY', KEYS[k + 2], ARGV[2 * i])
    redis.call('HDEL', KEYS[k + 3], member)
  end
  if ARGV[2 * i + 1] ~= '0' and redis.call('EXISTS', KEYS[k + 1]) == 1 then
    redis.call('INCRBY', KEYS[k + 1], ARGV[2 * i + 1])
  end
end
return 1
""")

# KEYS: a pot's v; ARGV: its value as the database has it, keep ms (a pot loaded meanwhile stays as it is)
LOAD = Script("load-pot", "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0")

# KEYS: a pot's v; ARGV: an amount to add, if Redis has the pot (else it is loaded with it included)
ADD = Script("add-pot", """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return false
""")

# KEYS: a pot's v and r; the pot's value and what is held on it, if Redis has it
PEEK = Script("peek-pot", "return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}")

SCRIPTS = (HOLD, ADMIT_HOLD, RELEASE, LOAD, ADD, PEEK)  # (and RENEW, shared_limits')


class SharedBilling(Billing):
    #: seconds a hold outlives a router that stops renewing it
    lease = 10.0
    #: releases kept while Redis cannot be reached
    max_unsent = 100_000
    #: a pot's expiry (`KEEP`) is renewed by the first of this process's requests on it in every
    #: `refresh_every` seconds (and when nothing was held on it), not by each
    refresh_every = 60.0
    #: budgets whose pot names are remembered (beyond: forgotten, and named anew)
    max_pots = 100_000

    def __init__(self, accounts: Accounts, link: RedisLink, limits: SharedLimits, *, prefix: str = "hubroute:",
                 lease: float | None = None, **kw: Any) -> None:
        super().__init__(accounts, **kw)
        self.link = link
        #: the rate limits kept in Redis too: a request's admission goes with its holds
        self.limits = limits
        self.prefix = prefix
        if lease is not None:
            self.lease = lease
        self._ids = itertools.count(1)
        self._me = f"{uuid.uuid4().hex[:12]}-{os.getpid()}-"
        #: holds of requests in progress here (their leases renewed): member -> their lease sets
        self._held: dict[str, list[str]] = {}
        self._unsent: deque[tuple[list[str], list[Any]]] = deque()
        #: when a request here last renewed each pot's expiry
        self._renewals = Renewals(self.refresh_every)
        #: a budget's scope -> its pot, and the day it was named on (a new period starts a new pot)
        self._pots: dict[Scope, tuple[int, str]] = {}
        self._renewer: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.get_running_loop().create_task(self._renew(), name="hubroute-holds")

    async def close(self) -> None:
        await stop(self._renewer)
        self._renewer = None
        await self._send_unsent()

    # --- pots ----------------------------------------------------------------------------------------
    def _credit_pot(self, account: Account) -> str:
        return f"{self.prefix}m:c:{account[0]}:{account[1]}"

    def _budget_pot(self, scope: Scope) -> str:
        today = _today()
        known = self._pots.get(scope)
        if known is not None and known[0] == today:
            return known[1]
        start = _started(scope[2], today)
        pot = f"{self.prefix}m:b:{scope[0]}:{scope[1]}:{scope[2]}:{start.date().isoformat() if start else 'all'}"
        if len(self._pots) >= self.max_pots:
            self._pots.clear()
        self._pots[scope] = (today, pot)
        return pot

    @staticmethod
    @functools.lru_cache(maxsize=4096)
    def _keys(pot: str) -> tuple[str, str, str, str]:
        return pot + ":v", pot + ":r", pot + ":h", pot + ":e"

    async def _load(self, pot: str, read: Any) -> None:
        """A pot Redis does not have, from the database (this router's waiting ledger rows written first)."""
        if self.flush is not None and not await self.flush():
            raise Unavailable("the usage ledger cannot be written: credits and budgets cannot be checked")
        value = await read()
        await self._run(LOAD, [pot + ":v"], [value, KEEP])

    async def _run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.link.run(script, keys, args)
        except (RedisUnavailable, RedisError) as exc:
            raise Unavailable(f"credits and budgets cannot be checked: {exc}") from None

    # --- holding and releasing -------------------------------------------------------------------------
    async def _hold(self, holds: list[tuple[Budget, int]], account: Account | None, amount: int, paid_in: int,
                    paid_out: float, asking: Asking | None = None) -> Hold:
        """The holds, taken in Redis; with `asking` (the request's admission under its rate limits,
        prepared by `SharedLimits`), in the same script: one round trip for both."""
        pots: list[tuple[str, int, Any]] = [  # (pot, its limit: -1 for credits, the amount held)
            (self._budget_pot(b.scope), b.limit_nano, held) for b, held in holds]
        if account is not None:
            pots.append((self._credit_pot(account), -1, amount))
        member = asking.args[1] if asking is not None else f"{self._me}{next(self._ids)}"
        keys = [k for pot, _, _ in pots for k in self._keys(pot)]
        args: list[Any] = [member, int(self.lease * 1000), KEEP]
        now = time.monotonic()
        renewing = [pot for pot, _, _ in pots if self._renewals.due(pot, now)]
        for pot, limit, held in pots:
            args += (limit, held, 1 if pot in renewing else 0)
        admission = None
        for _ in range(len(pots) + 1):  # (each pot loaded at most once)
            if asking is not None:
                outcome, reply = await self._run(ADMIT_HOLD, [*asking.keys, *keys], [*asking.args, *args])
                if outcome == 0:
                    self.limits.conclude(asking, reply)  # (raises its 429)
                elif outcome == 2:
                    admission = self.limits.conclude(asking, reply)
                    break
            else:
                reply = await self._run(HOLD, keys, args)
                if reply[0] == 1:
                    break
            i = reply[1] - 1
            if reply[0] == 2:  # a pot Redis does not have yet
                if i < len(holds):
                    await self._load(pots[i][0], lambda scope=holds[i][0].scope: self._written_spend(scope))
                else:
                    assert account is not None
                    await self._load(pots[i][0], lambda: self.accounts.credits(account))
                continue
            value, held_now = int(reply[2]), int(reply[3])
            if i < len(holds):
                budget, asked = holds[i]
                raise _over_budget(budget, value + held_now, asked)
            raise _short(amount, value - held_now, paid_in, paid_out)
        else:
            raise Unavailable("credits and budgets cannot be checked: their balances could not be loaded")
        self._held[member] = [pot + ":e" for pot, _, _ in pots]
        self._renewals.renewed(renewing)
        return Hold(amount if account is not None else 0, account,
                    [(b.scope, held, b.include_byok) for b, held in holds], member=member,
                    pots=[pot for pot, _, _ in pots], admission=admission)

    def _release(self, hold: Hold, cost: int, byok: bool) -> None:
        self._held.pop(hold.member, None)
        args: list[Any] = [hold.member]
        for _, held, include_byok in hold.budgets:
            args += (held, cost if include_byok or not byok else 0)
        if hold.account is not None:
            args += (hold.amount, 0 if byok else -cost)
        keys = [k for pot in hold.pots for k in self._keys(pot)]
        if not self.link.send(RELEASE, keys, args) and len(self._unsent) < self.max_unsent:
            self._unsent.append((keys, args))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self._send_unsent()
                if self._held:
                    keys = [k for sets in self._held.values() for k in sets]
                    members = [m for m, sets in self._held.items() for _ in sets]
                    with contextlib.suppress(RedisUnavailable, RedisError):
                        await self.link.run(RENEW, keys, [int(self.lease * 1000), 0, *members])
            except Exception:  # a bug: said, and the renewals go on (ended, every hold would lapse)
                log.exception("could not renew the requests' holds on the shared credits and budgets")

    async def _send_unsent(self) -> None:
        while self._unsent:
            keys, args = self._unsent[0]
            try:
                await self.link.run(RELEASE, keys, args)
            except (RedisUnavailable, RedisError):
                return
            self._unsent.popleft()

    # --- what the admin API and GET /v1/key show -----------------------------------------------------
    async def credited(self, account: Account, amount: int) -> None:
        await self._run(ADD, [self._credit_pot(account) + ":v"], [amount])

    async def balance(self, account: Account) -> int | None:
        value, _ = await self._run(PEEK, list(self._keys(self._credit_pot(account))[:2]), [])
        return int(value) if value is not None else None

    async def spent(self, scope: Scope) -> int:
        pot = self._budget_pot(scope)
        value, _ = await self._run(PEEK, list(self._keys(pot)[:2]), [])
        if value is None:
            await self._load(pot, lambda: self._written_spend(scope))
            value, _ = await self._run(PEEK, list(self._keys(pot)[:2]), [])
        return int(value or 0)
