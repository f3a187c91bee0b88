"""Rate limits of stored keys: requests and tokens per minute, and requests in progress at once.

    admission = limiter.admit(principal)        # before the request: 429 `rate_limited` if over a limit
    ...                                          # the request
    limiter.release(admission, tokens)           # after it: its concurrency slot back, its tokens counted

Each limit is a sliding window of the last 60 seconds, never exceeded: a key allowed 100 requests a
minute gets its 100th request and not its 101st in any 60 seconds. Its requests are counted per
tenth of a second (a window holds 600 counts at most, however busy the key), each until 60 s after
the end of its tenth: a request may wait up to 0.1 s longer than an exact count would make it.

A request is admitted when the key has a request left in its window, a token left in its token
window (a request's tokens are known when it ends, so they are counted then: a long answer may take a
key past its token limit, and the next requests wait until the window has room again), and a free
concurrency slot. A refused request costs nothing and is told when to come back (`Retry-After`).

Every answer to a key with limits carries OpenAI's headers: `x-ratelimit-limit-requests`,
`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` (and `-tokens`), the reset as a
duration (`1s`, `6m0s`): how long until the window has room again.

This is the limiter of one router process (`LocalLimits` gives it the interface the app uses).
Several processes share their counters through Redis instead (`redis.url`: `store.shared_limits`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubroute.errors import QuotaError

if TYPE_CHECKING:
    from hubroute.server.auth import Principal

WINDOW = 60.0
#: a window's events are kept per slot of 1/SLOTS s, each at its slot's end: a window holds at most
#: 60 * SLOTS of them however busy its key, and an event stays in it at least 60 s (up to one slot
#: more), so that no 60 seconds ever count more than the limit
SLOTS = 10
Headers = list[tuple[bytes, bytes]]


def _slot(at: float) -> float:
    return math.ceil(at * SLOTS) / SLOTS


class Window:
    """Amounts added over the last `WINDOW` seconds."""

    __slots__ = ("events", "total")

    def __init__(self) -> None:
        #: [slot end, amount], oldest first
        self.events: deque[list[Any]] = deque()
        self.total = 0

    def used(self, now: float) -> int:
        events = self.events
        while events and events[0][0] <= now - WINDOW:
            self.total -= events.popleft()[1]
        return self.total

    def add(self, now: float, amount: int) -> None:
        if amount > 0:
            at = _slot(now)
            events = self.events
            if events and events[-1][0] == at:
                events[-1][1] += amount
            else:
                events.append([at, amount])
            self.total += amount

    def remove(self, at: float, amount: int) -> None:
        """Take back an amount added at `at` (a request let through, then moved to other limits)."""
        slot = _slot(at)
        for event in reversed(self.events):
            if event[0] == slot:
                taken = min(event[1], amount)
                event[1] -= taken
                self.total -= taken
                return
            if event[0] < slot:
                return

    def room_in(self, now: float, limit: int, need: int = 1) -> float:
        """Seconds until `need` more fit under `limit` (0: they fit now)."""
        over = self.used(now) + need - limit
        if over <= 0:
            return 0.0
        for at, amount in self.events:
            over -= amount
            if over <= 0:
                return max(float(at) + WINDOW - now, 0.0)
        return WINDOW


@dataclass(slots=True)
class Admission:
    """A request let through: what to give back when it ends, and the headers its answer carries."""

    #: the windows it counts in (`key:<id>`, `user:<id>`, `org:<id>`), those holding a concurrency
    #: slot, and those its request was counted in, at `at`
    scopes: tuple[str, ...]
    concurrent: tuple[str, ...]
    headers: Headers = field(default_factory=list)
    counted: tuple[str, ...] = ()
    at: float = 0.0
    #: the organisation whose limits it is under
    org: str | None = None


Scope = tuple[str, Mapping[str, Any], str]


def limit_scopes(principal: Principal,
                 org: tuple[str | None, Mapping[str, int]] | None = None) -> tuple[str | None, tuple[Scope, ...]]:
    """The organisation a request of `principal` counts under (`org` when given: X-HF-Bill-To), and
    the scopes whose limits it must fit: (`key:<id>` | `user:<id>` | `org:<id>`, their limits, kind),
    the key's first; none for a request without a stored key, or when none of them has limits.
    (Without `org`, worked out once for the principal.)"""
    if principal.key_id is None:
        return None, ()
    if org is not None:
        return _scopes(principal, *org)
    found: tuple[str | None, tuple[Scope, ...]] | None = principal.memo.get("limits")
    if found is None:
        found = principal.memo["limits"] = _scopes(principal, principal.org or principal.bill_to, principal.org_limits)
    return found


def _scopes(principal: Principal, org_id: str | None,
            org_limits: Mapping[str, int]) -> tuple[str | None, tuple[Scope, ...]]:
    return org_id, tuple((f"{kind}:{ident}", limits, kind) for kind, ident, limits in (
        ("key", principal.key_id, principal.limits), ("user", principal.user, principal.user_limits),
        ("org", org_id, org_limits)) if limits and ident)


def whose(kind: str) -> str:
    """Whose limit a scope's kind is, as a refusal says it."""
    return "this key" if kind == "key" else f"this key's {'user' if kind == 'user' else 'organisation'}"


class Limiter:
    """The limits of this process's keys and of their users and organisations (`Principal.limits`,
    `user_limits`, `org_limits`: rpm, tpm, concurrency). A request must fit under all of them; the
    headers speak of the key's own."""

    #: windows kept before idle ones are dropped
    max_keys = 100_000

    def __init__(self) -> None:
        self._requests: dict[str, Window] = {}
        self._tokens: dict[str, Window] = {}
        self._active: dict[str, int] = {}

    def admit(self, principal: Principal, org: tuple[str | None, Mapping[str, int]] | None = None) -> Admission | None:
        """Let a request of `principal` through, or raise QuotaError (429 `rate_limited`); None when
        neither its key nor its user nor the organisation it bills has limits. `org`: that
        organisation and its limits, when it is not the key's own (`X-HF-Bill-To`)."""
        org_id, scopes = limit_scopes(principal, org)
        if not scopes:
            return None
        now = time.monotonic()
        checked = []
        for name, limits, kind in scopes:
            rpm: int = limits.get("rpm") or 0
            tpm: int = limits.get("tpm") or 0
            concurrency = limits.get("concurrency")
            requests = self._window(self._requests, name) if rpm else None
            tokens = self._window(self._tokens, name) if tpm else None
            refusal = None
            if requests is not None and requests.used(now) >= rpm:
                refusal = f"{rpm} requests per minute", requests.room_in(now, rpm)
            elif tokens is not None and tokens.used(now) >= tpm:
                refusal = f"{tpm} tokens per minute", tokens.room_in(now, tpm)
            elif concurrency is not None and self._active.get(name, 0) >= concurrency:
                refusal = f"{concurrency} requests at once", 1.0
            if refusal is not None:
                raise _refused(whose(kind), *refusal, self._headers(now, limits, requests, tokens))
            checked.append((name, requests, tokens, concurrency))
        names, concurrent, counted = [], [], []
        active = self._active
        for name, requests, _, concurrency in checked:  # all fit: counted in each
            names.append(name)
            if requests is not None:
                requests.add(now, 1)
                counted.append(name)
            if concurrency is not None:
                active[name] = active.get(name, 0) + 1
                concurrent.append(name)
        _, requests, tokens, _ = checked[0]
        return Admission(tuple(names), tuple(concurrent), self._headers(now, scopes[0][1], requests, tokens),
                         tuple(counted), now, org_id)

    def cancel(self, admission: Admission) -> None:
        """Undo an admission, as if its request had not come (it is to be admitted under other limits)."""
        self._free(admission)
        for name in admission.counted:
            window = self._requests.get(name)
            if window is not None:
                window.remove(admission.at, 1)

    def release(self, admission: Admission, tokens: int) -> None:
        """The request ended having used `tokens` (input and output)."""
        self._free(admission)
        now = time.monotonic()
        for name in admission.scopes:
            window = self._tokens.get(name)
            if window is not None:
                window.add(now, tokens)

    def _free(self, admission: Admission) -> None:
        """Give back the request's concurrency slots."""
        for name in admission.concurrent:
            left = self._active.get(name, 1) - 1
            if left > 0:
                self._active[name] = left
            else:
                self._active.pop(name, None)

    def _window(self, windows: dict[str, Window], key: str) -> Window:
        window = windows.get(key)
        if window is None:
            if len(windows) >= self.max_keys:
                now = time.monotonic()
                for idle in [k for k, w in windows.items() if not w.used(now)]:
                    del windows[idle]
            window = windows[key] = Window()
        return window

    @staticmethod
    def _headers(now: float, limits: Mapping[str, int], requests: Window | None, tokens: Window | None) -> Headers:
        out: Headers = []
        for names, limit, window in ((_REQUEST_HEADERS, limits.get("rpm"), requests),
                                     (_TOKEN_HEADERS, limits.get("tpm"), tokens)):
            if window is None or not limit:
                continue
            used = window.used(now)
            reset = b"0s" if used < limit else duration(window.room_in(now, limit)).encode()
            out += [(names[0], b"%d" % limit), (names[1], b"%d" % max(limit - used, 0)), (names[2], reset)]
        return out


class LocalLimits:
    """The rate limits of a router process on its own: `Limiter`, behind the interface that the
    limits shared through Redis (`store.shared_limits.SharedLimits`) have too."""

    def __init__(self) -> None:
        self.limiter = Limiter()

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def admit(self, principal: Principal,
                    org: tuple[str | None, Mapping[str, int]] | None = None) -> Admission | None:
        return self.limiter.admit(principal, org)

    async def cancel(self, admission: Admission) -> None:
        self.limiter.cancel(admission)

    def release(self, admission: Admission, tokens: int) -> None:
        self.limiter.release(admission, tokens)


_REQUEST_HEADERS = (b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests")
_TOKEN_HEADERS = (b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens")


def duration(seconds: float) -> str:
    """A wait as OpenAI writes it in its rate-limit headers: `0s`, `17s`, `6m0s`."""
    whole = math.ceil(seconds)
    return f"{whole // 60}m{whole % 60}s" if whole >= 60 else f"{whole}s"


def _refused(whose: str, what: str, wait: float, headers: Headers) -> QuotaError:
    return QuotaError(f"Rate limit reached: {whose} may make {what}. Try again in {math.ceil(wait)}s.",
                      retry_after=max(wait, 0.001), code="rate_limited",
                      extra={k.decode(): v.decode() for k, v in headers})
