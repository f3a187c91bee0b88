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
import itertools
import logging
import os
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from hubroute.errors import Unavailable
from hubroute.server.billing import Account, Billing, Budget, Hold, Scope, _over_budget, _short, _started, _today
from hubroute.store import stop
from hubroute.store.redislink import RedisError, RedisLink, RedisUnavailable, Script
from hubroute.store.shared_limits import _COMMON, _NOW, ADMIT_STEPS, RENEW, Asking, SharedLimits

if TYPE_CHECKING:
    from hubroute.store.accounts import Accounts

log = logging.getLogger("hubroute.billing")

#: ms a pot is kept after its last use
KEEP = 86_400_000


#: holding's steps, on KEYS and ARGV from offsets (`kb`, `ab`: see ADMIT_HOLD). KEYS: per pot v, r, h, e;
#: ARGV: member, lease ms, keep ms, then per pot its limit (-1: credits) and the amount to hold. Amounts
#: go to Redis as the strings given (Lua's numbers would print large ones as 1e+15).
HOLD_STEPS = """
-- nil when every pot can take its amount; else {0, pot, value, held} (short), or {2, pot} (not loaded)
local function hold_check(kb, ab, pots)
  for i = 1, pots do
    local k = kb + 4 * (i - 1)
    if redis.call('EXISTS', KEYS[k + 1]) == 0 then return {2, i} end
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k + 4], '-inf', now)) do
      local held = redis.call('HGET', KEYS[k + 3], m)
      if held then
        redis.call('DECRBY', KEYS[k + 2], held)
        redis.call('HDEL', KEYS[k + 3], m)
      end
      redis.call('ZREM', KEYS[k + 4], m)
    end
  end
  for i = 1, pots do
    local k, a = kb + 4 * (i - 1), ab + 3 + 2 * (i - 1)
    local limit, amount = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
    local v = tonumber(redis.call('GET', KEYS[k + 1]))
    local r = tonumber(redis.call('GET', KEYS[k + 2]) or '0')
    if (limit >= 0 and v + r + amount > limit) or (limit < 0 and amount > v - r) then
      return {0, i, tostring(v), tostring(r)}
    end
  end
  return nil
end

local function hold_commit(kb, ab, pots)
  local member, lease, keep = ARGV[ab + 1], tonumber(ARGV[ab + 2]), ARGV[ab + 3]
  for i = 1, pots do
    local k, a = kb + 4 * (i - 1), ab + 3 + 2 * (i - 1)
    redis.call('HSET', KEYS[k + 3], member, ARGV[a + 2])
    redis.call('ZADD', KEYS[k + 4], now + lease, member)
    redis.call('INCRBY', KEYS[k + 2], ARGV[a + 2])
    for j = 1, 4 do redis.call('PEXPIRE', KEYS[k + j], keep) end
  end
end
"""

HOLD = Script("hold", _NOW + HOLD_STEPS + """
local refusal = hold_check(0, 0, #KEYS / 4)
if refusal then return refusal end
hold_commit(0, 0, #KEYS / 4)
return {1}
""")

#: a request's admission under its rate limits (`store.shared_limits`) and its holds, in one round trip:
#: both checked before either is taken. KEYS and ARGV: the admission's, then the holds'. Answers
#: {0, the admission's refusal}, {1, the holds' refusal}, or {2, the admission}.
ADMIT_HOLD = Script("admit-hold", _COMMON + ADMIT_STEPS + HOLD_STEPS + """
local lk, la = 3 * tonumber(ARGV[1]), 3 + 3 * tonumber(ARGV[1])
local pots = (#KEYS - lk) / 4
local seen, refusal = admit_check(0, 0)
if not seen then return {0, refusal} end
local short = hold_check(lk, la, pots)
if short then return {1, short} end
hold_commit(lk, la, pots)
return {2, admit_commit(0, 0, seen)}
""")

# KEYS: per pot v, r, h, e; ARGV: member, then per pot what to add to its value (a string; "0": nothing)
RELEASE = Script("release-hold", """
local member = ARGV[1]
for i = 1, #KEYS / 4 do
  local k = 4 * (i - 1)
  local held = redis.call('HGET', KEYS[k + 3], member)
  if held then
    redis.call('DECRBY', KEYS[k + 2], held)
    redis.call('HDEL', KEYS[k + 3], member)
    redis.call('ZREM', KEYS[k + 4], member)
  end
  if ARGV[1 + i] ~= '0' and redis.call('EXISTS', KEYS[k + 1]) == 1 then
    redis.call('INCRBY', KEYS[k + 1], ARGV[1 + i])
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
        start = _started(scope[2], _today())
        return f"{self.prefix}m:b:{scope[0]}:{scope[1]}:{scope[2]}:{start.date().isoformat() if start else 'all'}"

    @staticmethod
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
        for _, limit, held in pots:
            args += (limit, held)
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
        return Hold(amount if account is not None else 0, account,
                    [(b.scope, held, b.include_byok) for b, held in holds], member=member,
                    pots=[pot for pot, _, _ in pots], admission=admission)

    def _release(self, hold: Hold, cost: int, byok: bool) -> None:
        self._held.pop(hold.member, None)
        adds = [cost if include_byok or not byok else 0 for _, _, include_byok in hold.budgets]
        if hold.account is not None:
            adds.append(0 if byok else -cost)
        keys = [k for pot in hold.pots for k in self._keys(pot)]
        args: list[Any] = [hold.member, *adds]
        if not self.link.send(RELEASE, keys, args) and len(self._unsent) < self.max_unsent:
            self._unsent.append((keys, args))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            await self._send_unsent()
            if self._held:
                keys = [k for sets in self._held.values() for k in sets]
                members = [m for m, sets in self._held.items() for _ in sets]
                with contextlib.suppress(RedisUnavailable, RedisError):
                    await self.link.run(RENEW, keys, [int(self.lease * 1000), *members])

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
