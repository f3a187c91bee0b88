"""The sliding windows of the rate limiter, on a clock of the test's."""

from __future__ import annotations

import contextlib

import pytest

from hubroute.errors import QuotaError
from hubroute.server import limits
from hubroute.server.auth import Principal
from hubroute.server.limits import Limiter, Window, duration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(limits.time, "monotonic", c)
    return c


def key(**limit: int) -> Principal:
    return Principal(key_id="k1", scopes=frozenset({"inference"}), limits=limit)


def test_exactly_rpm_requests_in_any_sixty_seconds(clock: Clock) -> None:
    limiter = Limiter()
    admitted = []
    for second in range(0, 180):
        clock.now = 1000.0 + second
        for _ in range(3):  # 3 a second, 180 a minute asked for; 100 allowed
            with contextlib.suppress(QuotaError):
                limiter.admit(key(rpm=100))
                admitted.append(clock.now)
    for start in range(0, 120):  # every 60-second window holds at most 100
        inside = [t for t in admitted if 1000.0 + start <= t < 1060.0 + start]
        assert len(inside) <= 100, (start, len(inside))
    assert len([t for t in admitted if t < 1060.0]) == 100


def test_a_refusal_says_when_to_come_back(clock: Clock) -> None:
    limiter = Limiter()
    limiter.admit(key(rpm=2))
    clock.now += 10
    limiter.admit(key(rpm=2))
    clock.now += 5
    with pytest.raises(QuotaError) as refused:
        limiter.admit(key(rpm=2))
    err = refused.value
    assert err.code == "rate_limited" and err.status == 429
    assert err.retry_after == pytest.approx(45.0)  # the first request leaves the window in 45 s
    headers = err.headers()
    assert headers["retry-after"] == "45" and headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-requests"] == "2" and headers["x-ratelimit-reset-requests"] == "45s"


def test_tokens_are_counted_when_the_request_ends(clock: Clock) -> None:
    limiter = Limiter()
    first = limiter.admit(key(tpm=1000))
    assert first is not None
    limiter.release(first, 900)
    second = limiter.admit(key(tpm=1000))  # 900 < 1000: let through, whatever it then uses
    assert second is not None
    limiter.release(second, 300)
    with pytest.raises(QuotaError, match="1000 tokens per minute"):
        limiter.admit(key(tpm=1000))
    clock.now += 60
    assert limiter.admit(key(tpm=1000)) is not None


def test_concurrency_slots_come_back(clock: Clock) -> None:
    limiter = Limiter()
    a, b = limiter.admit(key(concurrency=2)), limiter.admit(key(concurrency=2))
    with pytest.raises(QuotaError, match="2 requests at once"):
        limiter.admit(key(concurrency=2))
    assert a is not None and b is not None
    limiter.release(a, 0)
    assert limiter.admit(key(concurrency=2)) is not None


def test_keys_without_limits_and_the_master_key_are_not_counted(clock: Clock) -> None:
    limiter = Limiter()
    assert limiter.admit(key()) is None
    assert limiter.admit(Principal(key_id="master")) is None


def test_windows_and_durations() -> None:
    w = Window()
    w.add(0.0, 5)
    w.add(30.0, 5)
    assert w.used(59.0) == 10 and w.used(60.0) == 5 and w.used(90.0) == 0
    assert [duration(s) for s in (0, 0.2, 17, 60, 361)] == ["0s", "1s", "17s", "1m0s", "6m1s"]


def test_a_request_moved_to_the_organisation_it_bills_counts_there_only(clock: Clock) -> None:
    """X-HF-Bill-To names another organisation than the key's: the request is let through under the
    key's own limits first, then moved under that organisation's (cancelled and admitted again)."""
    limiter = Limiter()
    member = Principal(key_id="k1", user="u1", scopes=frozenset({"inference"}), limits={"rpm": 5},
                       bill_to="o-own", org_limits={"rpm": 1, "concurrency": 1})
    first = limiter.admit(member)
    assert first is not None and first.org == "o-own"
    limiter.cancel(first)  # it bills o-other instead
    moved = limiter.admit(member, ("o-other", {"concurrency": 1}))
    assert moved is not None and moved.org == "o-other"
    again = limiter.admit(member)  # o-own counted nothing of it: its one request a minute is still there
    assert again is not None
    limiter.release(again, 0)
    with pytest.raises(QuotaError, match="organisation may make 1 requests at once"):
        limiter.admit(member, ("o-other", {"concurrency": 1}))  # the moved one holds o-other's slot
    limiter.release(moved, 0)
    limiter.admit(member, ("o-other", {"concurrency": 1}))
    for _ in range(2):  # the key counted each of the 3 kept requests once, the cancelled one not at all
        limiter.admit(member, ("o-third", {}))
    with pytest.raises(QuotaError, match="this key may make 5 requests per minute"):
        limiter.admit(member, ("o-third", {}))
    assert limiter._requests["key:k1"].used(clock.now) == 5
