"""Credits and budgets, held exactly: a request's worst-case cost is reserved before it is sent and
settled to its actual cost when it ends.

    hold = await billing.reserve(principal, account, plan, body)   # 402 if a balance or budget cannot cover it
    ...                                                              # the request
    billing.settle(hold, cost_nano)                                  # the reservation becomes the charge

The worst case (`worst_case`) prices the request at the dearest provider its plan may fail over to:
its input (counted from the body, about four characters a token) and its output at `max_tokens`
(`max_completion_tokens`, `max_output_tokens`; else `billing.default_max_tokens`), an image per image
asked for, the characters of a text to speak, the seconds of an audio to transcribe (measured from it
before it is sent), one request. Reserving and checking are one step on the event loop, so concurrent requests
cannot overdraw: with $1 left and requests that may cost $0.10 each, ten run and the eleventh waits
for a settlement or gets 402.

Credits (`billing.credits: true`) are a prepaid balance per user and per organisation: the account
billed (the organisation of `X-HF-Bill-To` or of the key, else the key's user) must cover the worst
case: 402 `insufficient_credits`, saying what is left and what `max_tokens` it affords. Budgets cap
what a key, a user or an organisation spends per period (day, week from Monday, calendar month, UTC;
or in total): 402 `budget_exceeded`, naming the budget and when it resets. Charges reach the database
with the ledger's rows, in the same transaction that writes them (`store.ledger`).

This holds the balances of one router process; several processes share them through Redis
(`redis.url`: `store.shared_money.SharedBilling`, the same checks on balances kept there).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from hubroute.errors import PaymentRequired, PermissionDenied, Unavailable
from hubroute.money import usd
from hubroute.server.recent import Recent
from hubroute.store.reports import period_end, period_start
from hubroute.usage import prompt_length, tokens_in

if TYPE_CHECKING:
    from hubroute.catalog import Pricing
    from hubroute.server.auth import Principal
    from hubroute.store.accounts import Accounts

#: ("user" | "org", id)
Account = tuple[str, str]
#: ("key" | "user" | "org", id, period)
Scope = tuple[str, str, str]


@dataclass(slots=True)
class Budget:
    scope: Scope
    limit_nano: int
    include_byok: bool = True

    def describe(self) -> str:
        kind, _, period = self.scope
        every = {"day": "a day", "week": "a week", "month": "a month", "total": "in total"}[period]
        return f"the {kind}'s budget of ${usd(self.limit_nano):g} {every}"


@dataclass(slots=True)
class Hold:
    """A request's reservation: its worst case on an account's credits (`amount`) and on its budgets
    (each: its scope, the amount held there, whether it counts calls on the caller's own keys)."""

    amount: int
    account: Account | None
    budgets: list[tuple[Scope, int, bool]] = field(default_factory=list)
    #: with Redis (`store.shared_money`): the request's id there, the pots it holds on, and its
    #: admission under its rate limits when that went with the holds
    member: str = ""
    pots: list[str] = field(default_factory=list)
    admission: Any = None


@dataclass(slots=True)
class _Spend:
    start: datetime | None
    spent: int
    reserved: int = 0
    #: the UTC day `start` was last checked on (`Billing._current`)
    day: int = -1


#: the request fields that bound its output, in the order they are looked for
_OUTPUT_BOUNDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def worst_case(prices: list[Pricing | None], body: dict[str, Any] | None, default_max_tokens: int,
               markup: float = 0.0, seconds: float | None = None) -> tuple[int, int, float]:
    """(worst-case cost in nano-dollars, its input part, the dearest price per output token in nano-dollars),
    over the prices of the providers a request may be sent to, the operator's markup included.
    `seconds`: the length of the audio a request sends (speech recognition), when it is known."""
    worst = worst_input = 0
    out_price = 0.0
    body = body or {}
    characters = prompt_length(body) or (len(orjson.dumps(body.get("input")).decode()) if "input" in body else 0)
    input_tokens = tokens_in(characters)
    tokens_out = default_max_tokens
    for name in _OUTPUT_BOUNDS:
        bound = body.get(name)
        if isinstance(bound, int) and bound > 0:
            tokens_out = bound
            break
    n = body.get("n")
    images: int = n if isinstance(n, int) and n > 0 else 1
    scale = 1000 * (1 + markup)  # $/1M tokens -> nano-dollars a token
    for p in prices:
        if p is None:
            continue
        cost_in = input_tokens * (p.input or 0) * scale
        per_out = (p.output or 0) * scale
        cost = cost_in + tokens_out * per_out + (images * (p.image or 0) + (p.request or 0)) * 1e6 * scale
        if p.characters:
            cost += characters * p.characters * scale
        if p.second and seconds:
            cost += seconds * p.second * 1e6 * scale
        if cost > worst:
            worst, worst_input, out_price = math.ceil(cost), math.ceil(cost_in), per_out
    return worst, worst_input, out_price


class Billing:
    def __init__(self, accounts: Accounts, *, credits: bool, default_max_tokens: int, markup: float = 0.0,
                 flush: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.accounts = accounts
        #: writes the ledger's waiting rows (before a period's spending is read from the database)
        self.flush = flush
        self.credits = credits
        self.default_max_tokens = default_max_tokens
        self.markup = markup
        #: user id -> the organisations it belongs to
        self._members: Recent[str, set[str]] = Recent(self._memberships)
        #: what X-HF-Bill-To named -> the organisation's id and rate limits, or None (its caller chooses
        #: it: a bound on what that may cost)
        self._named: Recent[str, tuple[str, dict[str, int]] | None] = Recent(accounts.billable_org, bound=10_000)
        #: account -> credits left (loaded once, then kept: charges settle here first)
        self._balance: dict[Account, int] = {}
        self._reserved: dict[Account, int] = {}
        self._spend: dict[Scope, _Spend] = {}
        #: account -> its budgets
        self._budgets: Recent[Account, list[Budget]] = Recent(self._read_budgets)

    async def billed_org(self, principal: Principal, asked: str | None) -> tuple[str | None, dict[str, int] | None]:
        """The organisation a request of `principal` bills: the one `X-HF-Bill-To` names (`asked`), which
        its user must belong to (403 otherwise, and for an organisation that does not exist: the
        answer is the same, so that names cannot be probed), with its rate limits; else the key's
        default, or its owner (whose limits the key carries: None)."""
        if asked is None:
            return default_org(principal), None
        named = await self._named.get(asked)
        allowed = False
        if named is not None:
            if principal.org is not None:  # a service key bills its own organisation only
                allowed = named[0] == principal.org
            elif principal.user is not None:
                allowed = named[0] in await self._members.get(principal.user)
        if not allowed or named is None:
            raise PermissionDenied(f"this key may not bill '{asked}' (X-HF-Bill-To): it is not an organisation "
                                   "its user belongs to", code="bill_to_denied")
        return named

    async def _memberships(self, user_id: str) -> set[str]:
        return set(await self.accounts.memberships(user_id))

    async def reserve(self, principal: Principal, account: Account | None, prices: list[Pricing | None],
                      body: dict[str, Any] | None, byok: list[bool] | None = None,
                      seconds: float | None = None, asking: Any = None) -> Hold | None:
        """Reserve the request's worst case, or raise PaymentRequired (402). None: nothing to hold.
        `seconds`: the length of the audio it sends, when known (`audio_length.audio_seconds`).

        `byok[i]`: the plan's i-th provider would be called with the caller's own key. Such a call is
        never charged to credits, and counts only in the budgets that include them (`include_byok`).
        `asking`: the request's admission under rate limits kept in Redis, to go with the holds."""
        budgets = await self._budgets_of(principal, account)
        if not budgets and not (self.credits and account is not None):
            return None
        everyone, cost_in, per_out = worst_case(prices, body, self.default_max_tokens, self.markup, seconds)
        if byok and any(byok):
            paid = [p for p, own in zip(prices, byok, strict=True) if not own]
            charged_worst, paid_in, paid_out = worst_case(paid, body, self.default_max_tokens, self.markup, seconds)
        else:
            paid, charged_worst, paid_in, paid_out = prices, everyone, cost_in, per_out
        charged = self.credits and account is not None and len(paid) > 0
        holds = [(b, everyone if b.include_byok else charged_worst) for b in budgets]
        return await self._hold(holds, account if charged else None, charged_worst, paid_in, paid_out, asking)

    async def _hold(self, holds: list[tuple[Budget, int]], account: Account | None, amount: int, paid_in: int,
                    paid_out: float, asking: Any = None) -> Hold:
        """Hold `amount` on `account`'s credits (None: none) and each budget's own amount, or raise 402."""
        # everything loaded first: from here to the holds, no await lets another request in between
        for budget, _ in holds:
            if budget.scope not in self._spend:
                await self._load_spend(budget.scope)
        if account is not None and account not in self._balance:
            await self._load_balance(account)
        today = _today()
        spends: list[_Spend] = []
        for budget, held in holds:
            spend = self._current(budget.scope, today)
            if spend.spent + spend.reserved + held > budget.limit_nano:
                raise _over_budget(budget, spend.spent + spend.reserved, held)
            spends.append(spend)
        if account is not None:
            left = self._balance[account] - self._reserved.get(account, 0)
            if amount > left:
                raise _short(amount, left, paid_in, paid_out)
        for spend, (_, held) in zip(spends, holds, strict=True):
            spend.reserved += held
        if account is not None:
            self._reserved[account] = self._reserved.get(account, 0) + amount
        return Hold(amount if account is not None else 0, account,
                    [(b.scope, held, b.include_byok) for b, held in holds])

    def settle(self, hold: Hold, cost_usd: float | None, byok: bool = False) -> int:
        """The request cost `cost_usd` (the provider's price; the markup is added here), on the caller's
        own provider key if `byok`: its reservations released, the cost counted. What the account's
        credits were charged (0 when none were)."""
        cost = round((cost_usd or 0.0) * 1e9 * (1 + self.markup))
        self._release(hold, cost, byok)
        return cost if hold.account is not None and not byok else 0

    def _release(self, hold: Hold, cost: int, byok: bool) -> None:
        today = _today()
        for scope, amount, include_byok in hold.budgets:
            spend = self._current(scope, today)
            spend.reserved = max(spend.reserved - amount, 0)
            if include_byok or not byok:
                spend.spent += cost
        if hold.account is None:
            return
        self._reserved[hold.account] = max(self._reserved.get(hold.account, 0) - hold.amount, 0)
        if not byok:
            self._balance[hold.account] = self._balance.get(hold.account, 0) - cost

    async def credited(self, account: Account, amount: int) -> None:
        """Credits granted (or deducted) by the admin API of this process."""
        if account in self._balance:
            self._balance[account] += amount

    async def balance(self, account: Account) -> int | None:
        """Credits left as the routers know them (charges not yet written included; None: not loaded)."""
        return self._balance.get(account)

    async def spent(self, scope: Scope) -> int:
        """What a key, user or organisation has spent in its budget's current period (settled charges
        not yet written included)."""
        await self._load_spend(scope)
        return self._current(scope, _today()).spent

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def forget_budgets(self) -> None:
        """Budgets changed: read them anew (what was spent stays: it does not change with them)."""
        self._budgets.clear()

    # --- loading --------------------------------------------------------------------------------------
    async def _load_balance(self, account: Account) -> int:
        balance = self._balance.get(account)
        if balance is None:  # (two first requests may both read it: the first reading stays)
            balance = self._balance.setdefault(account, await self.accounts.credits(account))
        return balance

    async def _budgets_of(self, principal: Principal, account: Account | None) -> list[Budget]:
        """The budgets a request of `principal` billed to `account` counts in: its key's, its user's,
        the organisation's it bills."""
        found = _key_budgets(principal)
        if principal.user is not None:
            found = found + await self._owned(("user", principal.user))
        if account is not None and account[0] == "org":
            found = found + await self._owned(account)
        return found

    async def _owned(self, owner: Account) -> list[Budget]:
        found = self._budgets.known(owner, None)
        return found if found is not None else await self._budgets.get(owner)

    async def _read_budgets(self, owner: Account) -> list[Budget]:
        rows = await self.accounts.budgets_of(owner)
        return [Budget((owner[0], owner[1], r["period"]), r["usd_nano"], r["include_byok"]) for r in rows]

    async def _load_spend(self, scope: Scope) -> None:
        if scope not in self._spend:
            # the ledger's waiting rows written first, so that the database's sum has every charge
            if self.flush is not None and not await self.flush():
                raise Unavailable("the usage ledger cannot be written: budgets cannot be checked")
            spent = await self._written_spend(scope)
            self._spend.setdefault(scope, _Spend(_started(scope[2], _today()), spent))

    async def _written_spend(self, scope: Scope) -> int:
        """What the database says a budget's current period has spent (the ledger's rows written)."""
        return await self.accounts.spent(scope[0], scope[1], _started(scope[2], _today()))

    def _current(self, scope: Scope, today: int) -> _Spend:
        spend = self._spend[scope]
        if spend.day != today:
            spend.day = today
            start = _started(scope[2], today)
            if start != spend.start:  # a new period: nothing spent in it yet but what is in flight
                spend.start, spend.spent = start, 0
        return spend


def default_org(principal: Principal) -> str | None:
    """The organisation a request of `principal` bills when it names none: the key's default, or
    the organisation that owns it."""
    return principal.bill_to or principal.org


def _key_budgets(principal: Principal) -> list[Budget]:
    """A key's own budget, as a list of one (none: empty), made once for each principal."""
    found: list[Budget] | None = principal.memo.get("budgets")
    if found is None:
        budget = principal.budget
        found = principal.memo["budgets"] = [] if budget is None or principal.key_id is None else [
            Budget(("key", principal.key_id, budget["period"]), round(budget["usd"] * 1e9))]
    return found


def _today() -> int:
    """The UTC day, counted from the epoch."""
    return int(time.time() // 86400)


@functools.lru_cache(maxsize=16)
def _started(period: str, today: int) -> datetime | None:
    """When `period` began (`store.reports.period_start`), on the UTC day `today`: worked out once a day."""
    return period_start(period, datetime.fromtimestamp(today * 86400, UTC))


def _over_budget(budget: Budget, used: int, amount: int) -> PaymentRequired:
    """402 for a request that may cost `amount` against `budget`, of which `used` is spent or held."""
    left = max(budget.limit_nano - used, 0)
    end = period_end(budget.scope[2])
    resets = f"; it resets at {end.isoformat().replace('+00:00', 'Z')}" if end is not None else ""
    return PaymentRequired(
        f"Budget exceeded: this request can cost up to ${usd(amount):.6f} and {budget.describe()} has "
        f"${usd(left):.6f} left{resets}", code="budget_exceeded")


def _short(amount: int, left: int, cost_in: int, per_out: float) -> PaymentRequired:
    hint = "add credits"
    if per_out > 0 and left > cost_in:
        hint = f"lower max_tokens to {int((left - cost_in) / per_out)} or add credits"
    return PaymentRequired(f"Insufficient credits: this request can cost up to ${usd(amount):.6f}; "
                           f"${usd(max(left, 0)):.6f} left: {hint}", code="insufficient_credits")
