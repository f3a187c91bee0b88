"""The periods budgets count in, as the request path works them out (once a UTC day)."""

from __future__ import annotations

from datetime import UTC, datetime

from hubroute.server.billing import _started


def day_of(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() // 86400)


def test_a_period_begins_at_midnight_utc_on_its_first_day() -> None:
    thursday = day_of("2026-12-03T23:59:59")
    assert _started("day", thursday) == datetime(2026, 12, 3, tzinfo=UTC)
    assert _started("week", thursday) == datetime(2026, 11, 30, tzinfo=UTC)  # the Monday before
    assert _started("month", thursday) == datetime(2026, 12, 1, tzinfo=UTC)
    assert _started("total", thursday) is None
    assert _started("day", thursday + 1) == datetime(2026, 12, 4, tzinfo=UTC)  # a second later
    assert _started("month", day_of("2027-01-01T00:00:00")) == datetime(2027, 1, 1, tzinfo=UTC)
    assert _started("week", day_of("2026-11-30T00:00:00")) == datetime(2026, 11, 30, tzinfo=UTC)
