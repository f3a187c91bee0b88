"""What the router learns from live traffic: circuit breakers and speed figures, per provider x model.

Circuit breaker, per (provider, model):

    closed ──N consecutive failures──▶ open ──cool-down elapsed──▶ half-open (one probe at a time)
      ▲                                  ▲                              │
      └──────────── probe succeeds ──────┴──────── probe fails ─────────┘

A provider's `Retry-After` pauses the pair: no request goes to it before that time, even with its
circuit closed. The pause is capped at `max_pause` seconds (`routing.max_retry_after`): a provider
cannot disable a model for longer than the deployment allows; `paused()` lists the pauses running.
Speed figures are exponentially weighted moving averages of output tokens per second and time to
first byte; `:fastest` reads them, falling back to catalog figures for pairs never measured.
The state is this process's own, cheap enough to update on every request. With Redis, router
processes and instances also tell each other what they learn (`store.shared_health`): `listener`
hears each circuit opened, closed again, or pair paused here, and `learn` applies what another
router learnt, so that one router's discovery that a provider is down spares the others. Speed
figures the others measured (`learn_speed`) stand in for a pair until this router has measured it
`OWN_SAMPLES` times itself (a router just started knows at once which provider is fastest).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hubroute.errors import MAX_RETRY_AFTER

Key = tuple[str, str]  # (provider, model)
#: pairs kept, circuits and speed figures each: the model of a pair tried may be any id a client
#: pinned to a server that takes any (`name:my-vllm`); past the bound the least useful go first
MAX_PAIRS = 4096
#: a pair's throughput measured this many times here: this router's figure, not the others'
OWN_SAMPLES = 3


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    not_before: float = 0.0
    probing: bool = False
    #: when a probe last closed it (what another router opened before that is not learnt again)
    closed_at: float = float("-inf")


#: what a router tells the others (`Health.listener`): the pair, "open" | "closed" | "paused", and the
#: seconds it holds for (the cool-down, the pause; 0 for "closed")
Listener = Callable[[tuple[str, str], str, float], None]


@dataclass(slots=True)
class Speed:
    throughput: float | None = None  # output tokens / s
    ttfb: float | None = None  # seconds
    samples: int = 0


class Health:
    def __init__(
        self, *, failures: int = 5, cooldown: float = 30.0, alpha: float = 0.2, max_pause: float = MAX_RETRY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.cooldown = cooldown
        #: the longest a provider's Retry-After may pause a pair, in seconds
        self.max_pause = max_pause
        self.alpha = alpha
        self._clock = clock
        self._circuits: dict[Key, _Circuit] = {}
        self._speed: dict[Key, Speed] = {}
        #: told what this router learns (None: nobody)
        self.listener: Listener | None = None
        #: speed figures other routers measured (`learn_speed`)
        self._learnt: dict[Key, Speed] = {}

    # --- circuit breaker ------------------------------------------------------------------------
    def state(self, key: Key) -> str:
        c = self._circuits.get(key)
        if c is None or c.opened_at is None:
            return "closed"
        if self._clock() - c.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allow(self, key: Key) -> bool:
        """May a request go to this pair now? Claims the probe slot of a half-open circuit."""
        c = self._circuits.get(key)
        if c is None:
            return True
        now = self._clock()
        if now < c.not_before:
            return False
        if c.opened_at is None:
            return True
        if now - c.opened_at < self.cooldown or c.probing:
            return False
        c.probing = True
        return True

    def retry_in(self, key: Key) -> float | None:
        c = self._circuits.get(key)
        if c is None:
            return None
        now = self._clock()
        waits = [c.not_before - now]
        if c.opened_at is not None:
            waits.append(c.opened_at + self.cooldown - now)
        wait = max(waits)
        return wait if wait > 0 else None

    def success(self, key: Key) -> None:
        c = self._circuits.get(key)
        if c is not None:
            c.failures = 0
            c.probing = False
            if c.opened_at is not None:
                c.opened_at = None
                c.closed_at = self._clock()
                if self.listener is not None:
                    self.listener(key, "closed", 0.0)

    def failure(self, key: Key, retry_after: float | None = None) -> bool:
        """Count a failure; returns True when this failure opened (or re-opened) the circuit."""
        c = self._circuits.get(key) or self._new_circuit(key)
        now = self._clock()
        if retry_after is not None and retry_after > 0:  # (nan is not > 0; inf is capped)
            pause = min(retry_after, self.max_pause)
            if now + pause > c.not_before:
                c.not_before = now + pause
                if self.listener is not None:
                    self.listener(key, "paused", pause)
        c.failures += 1
        if c.probing or (c.opened_at is None and c.failures >= self.threshold):
            c.opened_at = now
            c.probing = False
            if self.listener is not None:
                self.listener(key, "open", self.cooldown)
            return True
        return False

    def learn(self, key: Key, state: str, seconds: float) -> None:
        """What another router learnt (`listener`'s words): the pair's circuit open for `seconds` more
        (it turns half-open here when it does there), or the pair paused for `seconds`. A circuit open
        here already, or closed here by a probe since it was opened there, stays as it is."""
        if seconds <= 0 or seconds != seconds:  # (nan)
            return
        now = self._clock()
        found = self._circuits.get(key)
        if state == "paused":
            c = found or self._new_circuit(key)
            c.not_before = max(c.not_before, now + min(seconds, self.max_pause))
        elif state == "open":
            opened = now - max(self.cooldown - min(seconds, self.cooldown), 0.0)
            if found is not None and (found.opened_at is not None or found.closed_at >= opened):
                return
            c = found or self._new_circuit(key)
            c.opened_at, c.failures, c.probing = opened, max(c.failures, self.threshold), False

    def release_probe(self, key: Key) -> None:
        """The probe ended without a verdict (client went away): let another one through."""
        c = self._circuits.get(key)
        if c is not None:
            c.probing = False

    def _new_circuit(self, key: Key) -> _Circuit:
        """A circuit for `key`, room made when `MAX_PAIRS` are kept: the closed and unpaused ones
        go (they hold only a count of failures), else the oldest."""
        circuits = self._circuits
        if len(circuits) >= MAX_PAIRS:
            now = self._clock()
            idle = [k for k, c in circuits.items() if c.opened_at is None and c.not_before <= now]
            for k in idle or [next(iter(circuits))]:
                del circuits[k]
        c = circuits[key] = _Circuit()
        return c

    def open_circuits(self) -> list[Key]:
        return [k for k in self._circuits if self.state(k) != "closed"]

    def paused(self) -> list[tuple[Key, float]]:
        """The pairs a provider's Retry-After pauses now, with the seconds left."""
        now = self._clock()
        return [(k, c.not_before - now) for k, c in self._circuits.items() if c.not_before > now]

    # --- speed ----------------------------------------------------------------------------------
    def observe(self, key: Key, *, ttfb: float | None = None, tokens: int | None = None,
                seconds: float | None = None) -> None:
        s = self._speed.get(key)
        if s is None:  # (setdefault would build a Speed per call)
            if len(self._speed) >= MAX_PAIRS:
                del self._speed[next(iter(self._speed))]  # the oldest pair measured
            s = self._speed[key] = Speed()
        a = self.alpha
        if ttfb is not None:
            s.ttfb = ttfb if s.ttfb is None else (1 - a) * s.ttfb + a * ttfb
        if tokens and seconds and seconds > 0:
            tps = tokens / seconds
            s.throughput = tps if s.throughput is None else (1 - a) * s.throughput + a * tps
            s.samples += 1

    def speed(self, key: Key) -> Speed | None:
        own = self._speed.get(key)
        if not self._learnt or (own is not None and own.samples >= OWN_SAMPLES):
            return own
        return self._learnt.get(key) or own

    def measured(self) -> dict[Key, Speed]:
        """This router's own figures (what it tells the others)."""
        return self._speed

    def learn_speed(self, key: Key, throughput: float | None, ttfb: float | None) -> None:
        """What the other routers measured of a pair (None: not measured)."""
        if key not in self._learnt and len(self._learnt) >= MAX_PAIRS:
            del self._learnt[next(iter(self._learnt))]
        self._learnt[key] = Speed(throughput, ttfb)
