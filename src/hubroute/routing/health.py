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
All state is in-process (one router instance); it is cheap enough to update on every request.
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


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    not_before: float = 0.0
    probing: bool = False


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
            c.opened_at = None
            c.probing = False

    def failure(self, key: Key, retry_after: float | None = None) -> bool:
        """Count a failure; returns True when this failure opened (or re-opened) the circuit."""
        c = self._circuits.get(key) or self._new_circuit(key)
        now = self._clock()
        if retry_after is not None and retry_after > 0:  # (nan is not > 0; inf is capped)
            c.not_before = max(c.not_before, now + min(retry_after, self.max_pause))
        c.failures += 1
        if c.probing or (c.opened_at is None and c.failures >= self.threshold):
            c.opened_at = now
            c.probing = False
            return True
        return False

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
        return self._speed.get(key)
