from __future__ import annotations

from hubroute.routing.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


K = ("groq", "org/m")


def test_opens_after_threshold_and_probes_after_cooldown() -> None:
    clock = Clock()
    h = Health(failures=3, cooldown=10, clock=clock)
    assert not h.failure(K) and not h.failure(K)
    assert h.allow(K) and h.state(K) == "closed"
    assert h.failure(K)  # third failure opens it
    assert h.state(K) == "open" and not h.allow(K)
    clock.now += 9.9
    assert not h.allow(K)
    clock.now += 0.2
    assert h.state(K) == "half-open"
    assert h.allow(K)  # the one probe
    assert not h.allow(K)  # nobody else while it runs
    h.success(K)
    assert h.state(K) == "closed" and h.allow(K) and h.allow(K)


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    clock = Clock()
    h = Health(failures=1, cooldown=5, clock=clock)
    h.failure(K)
    clock.now += 5
    assert h.allow(K)
    assert h.failure(K)
    assert h.state(K) == "open"
    clock.now += 4
    assert not h.allow(K)


def test_released_probe_lets_another_through() -> None:
    clock = Clock()
    h = Health(failures=1, cooldown=1, clock=clock)
    h.failure(K)
    clock.now += 1
    assert h.allow(K) and not h.allow(K)
    h.release_probe(K)
    assert h.allow(K)


def test_retry_after_holds_even_a_closed_circuit() -> None:
    clock = Clock()
    h = Health(failures=5, cooldown=1, clock=clock)
    h.failure(K, retry_after=30)
    assert h.state(K) == "closed" and not h.allow(K)
    assert 29 < (h.retry_in(K) or 0) <= 30
    clock.now += 30
    assert h.allow(K)


def test_a_pause_is_capped_and_listed() -> None:
    clock = Clock()
    h = Health(failures=5, cooldown=1, max_pause=60, clock=clock)
    assert h.paused() == []
    h.failure(K, retry_after=99999999999)
    assert h.paused() == [(K, 60)]
    assert h.retry_in(K) == 60 and not h.allow(K)
    clock.now += 45
    assert h.paused() == [(K, 15)] and h.state(K) == "closed"
    clock.now += 15
    assert h.paused() == [] and h.allow(K)


def test_nonsense_retry_after_never_breaks_the_pair() -> None:
    clock = Clock()
    h = Health(failures=5, cooldown=1, max_pause=30, clock=clock)
    other = ("together", "org/m")
    h.failure(K, retry_after=float("inf"))  # capped
    h.failure(other, retry_after=float("nan"))  # ignored
    h.failure(other, retry_after=-5)  # ignored
    assert h.paused() == [(K, 30)] and h.retry_in(K) == 30
    assert h.allow(other) and h.retry_in(other) is None
    clock.now += 30
    assert h.allow(K)


def test_success_resets_the_count() -> None:
    h = Health(failures=2, cooldown=1, clock=Clock())
    h.failure(K)
    h.success(K)
    assert not h.failure(K)
    assert h.state(K) == "closed"


def test_speed_is_an_ewma() -> None:
    h = Health(alpha=0.5, clock=Clock())
    h.observe(K, ttfb=0.2, tokens=100, seconds=1.0)
    h.observe(K, ttfb=0.4, tokens=300, seconds=1.0)
    s = h.speed(K)
    assert s is not None and s.throughput == 200 and abs((s.ttfb or 0) - 0.3) < 1e-9 and s.samples == 2
    assert h.speed(("other", "x")) is None
