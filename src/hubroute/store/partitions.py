"""The usage ledger in time partitions on PostgreSQL, so that its retention drops whole days or months.

    partition_usage(connection)               # the migration: `usage` becomes partitioned (rows kept)
    made = ensure(connection, now, "month")   # the partitions for this period and the next ones
    dropped = drop_before(connection, cutoff) # the partitions whose every row is older than `cutoff`

On PostgreSQL `usage` is partitioned by range of `created_at` (UTC): one partition a calendar month
(`store.ledger_partition: month`, the default) or a day (`day`), named after its range
(`usage_20261201_20270101`), and `usage_default` for a row no partition covers (written while the
routers had not made its period's partition yet, or read back from a spill file after its period was
dropped). A router makes the current period's partition and the next ones at start and hourly, so a
row normally finds its own. A period made while `usage_default` holds rows of it takes them over in
the same transaction.

The retention (`store.retention`) drops a partition once its whole range is older than the
retention: no DELETE, no dead rows to vacuum, whatever the traffic. A row is thus kept at least
`ledger_retention_days` and at most one partition longer (a month, or a day). The rows of
`usage_default` are deleted row by row like SQLite's.

Migrating an existing ledger (migration 0010) copies nothing: the table becomes the partition of
everything written up to the end of the migration's day (`usage_min_<day>`), which costs one scan
of it and one index build; the retention drops it once its newest row is past the retention.

Every change runs under a transaction-scoped advisory lock (routers starting together make each
partition once) and waits at most `LOCK_TIMEOUT` for its lock on `usage` (a long report may hold
it): ledger writes queued behind it wait that long at most (they are off the requests' path), and a
change that times out is tried again at the next round.

SQLite has no partitions: there, `usage` is one table and the retention deletes its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa

from hubroute.store.schema import usage

Unit = Literal["month", "day"]
PARENT = "usage"
DEFAULT = "usage_default"
#: periods made ahead of the current one: a router that cannot reach the database for this long
#: still finds its rows' partitions made (then `usage_default` takes them until the next round)
AHEAD: dict[str, int] = {"month": 1, "day": 7}
#: pg_advisory_xact_lock's key for partition changes (the migrations' key plus one)
_LOCK = 0x6875627275
#: how long a change waits for its lock on `usage` before giving up until the next round
LOCK_TIMEOUT = "3s"
_NAME = re.compile(r"^usage_(min|\d{8})_(\d{8})$|^usage_default$")
_BOUND = re.compile(r"FOR VALUES FROM \((MINVALUE|'[^']*')\) TO \((MAXVALUE|'[^']*')\)")


def is_partition_name(name: str) -> bool:
    """Whether a table is one of the ledger's partitions (Alembic's comparisons leave them out)."""
    return _NAME.match(name) is not None


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    #: its range, [low, high) (None: unbounded; both None for the default partition)
    low: datetime | None
    high: datetime | None

    @property
    def default(self) -> bool:
        return self.low is None and self.high is None


def is_partitioned(connection: sa.Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    return bool(connection.execute(sa.text("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table "
                                           "WHERE partrelid = to_regclass(:t))"), {"t": PARENT}).scalar())


def partitions(connection: sa.Connection) -> list[Partition]:
    """The partitions of `usage` with their ranges, lowest first (the default partition last)."""
    connection.execute(sa.text("SET LOCAL TimeZone = 'UTC'"))  # (bounds read in UTC)
    found = connection.execute(sa.text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:t)"), {"t": PARENT}).all()
    out: list[Partition] = []
    for name, bound in found:
        if bound == "DEFAULT":
            out.append(Partition(name, None, None))
            continue
        match = _BOUND.match(bound)
        if match is None:  # (not a range of ours: left alone)
            continue
        low, high = (None if b.endswith("VALUE") else datetime.fromisoformat(b.strip("'")) for b in match.groups())
        out.append(Partition(name, low, high))
    return sorted(out, key=lambda p: (p.default, p.low or datetime.min.replace(tzinfo=UTC)))


def period_start(when: datetime, unit: Unit) -> datetime:
    when = when.astimezone(UTC)
    day = datetime(when.year, when.month, when.day, tzinfo=UTC)
    return day.replace(day=1) if unit == "month" else day


def next_period(start: datetime, unit: Unit) -> datetime:
    if unit == "day":
        return start + timedelta(days=1)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _name(low: datetime | None, high: datetime) -> str:
    return f"usage_{low.strftime('%Y%m%d') if low else 'min'}_{high.strftime('%Y%m%d')}"


def _literal(when: datetime) -> str:
    return f"'{when.astimezone(UTC).isoformat()}'"


def _guarded(connection: sa.Connection) -> bool:
    """Take the partition lock for this transaction, with a lock timeout; False: another router holds it."""
    connection.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    return bool(connection.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}).scalar())


def ensure(connection: sa.Connection, now: datetime, unit: Unit = "month") -> list[str]:
    """Make the partitions of the period holding `now` and the next `AHEAD[unit]` where no partition
    covers them (a gap left by partitions of another unit is filled exactly); the names made."""
    if not _guarded(connection):
        return []
    existing = partitions(connection)
    covered = [(p.low, p.high) for p in existing if not p.default]
    has_default = any(p.default for p in existing)
    made: list[str] = []
    start = period_start(now, unit)
    for _ in range(AHEAD[unit] + 1):
        end = next_period(start, unit)
        for low, high in _gaps(start, end, covered):
            made.append(_make(connection, low, high, has_default))
            covered.append((low, high))
        start = end
    return made


def _gaps(start: datetime, end: datetime, covered: list[tuple[datetime | None, datetime | None]]
          ) -> list[tuple[datetime, datetime]]:
    """[start, end) less the ranges covered."""
    gaps = [(start, end)]
    for low, high in covered:
        out = []
        for a, b in gaps:
            lo = a if low is None else max(a, low)
            hi = b if high is None else min(b, high)
            if lo >= hi:  # no overlap
                out.append((a, b))
                continue
            if a < lo:
                out.append((a, lo))
            if hi < b:
                out.append((hi, b))
        gaps = out
    return gaps


def _make(connection: sa.Connection, low: datetime, high: datetime, has_default: bool) -> str:
    name = _name(low, high)
    bounds = f"FROM ({_literal(low)}) TO ({_literal(high)})"
    within = f"created_at >= {_literal(low)} AND created_at < {_literal(high)}"
    waiting = has_default and connection.execute(
        sa.text(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE {within})")).scalar()  # noqa: S608
    if not waiting:
        connection.execute(sa.text(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES {bounds}"))
        return name
    # the default partition holds rows of this range: they move to the new partition before it is attached
    connection.execute(sa.text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    connection.execute(sa.text(f"INSERT INTO {name} SELECT * FROM {DEFAULT} WHERE {within}"))  # noqa: S608
    connection.execute(sa.text(f"DELETE FROM {DEFAULT} WHERE {within}"))  # noqa: S608
    connection.execute(sa.text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES {bounds}"))
    return name


def drop_before(connection: sa.Connection, cutoff: datetime) -> list[str]:
    """Drop the partitions whose whole range is older than `cutoff`; their names."""
    if not _guarded(connection):
        return []
    dropped = [p.name for p in partitions(connection) if p.high is not None and p.high <= cutoff]
    for name in dropped:
        connection.execute(sa.text(f"DROP TABLE {name}"))
    return dropped


def partition_usage(connection: sa.Connection, now: datetime | None = None) -> None:
    """Make `usage` (a plain table) partitioned by `created_at`, keeping its rows, its numbering and
    its indexes' definitions. Its rows, if any, become the partition of everything before the end of
    the day (UTC) of `now` or of its newest row; an empty table is simply replaced."""
    if connection.dialect.name != "postgresql" or is_partitioned(connection):
        return
    now = now or datetime.now(UTC)
    newest = connection.execute(sa.text(f"SELECT max(created_at) FROM {PARENT}")).scalar()  # noqa: S608
    # the old table's rows (if any) stay where they are: it becomes the partition of everything before
    # the end of the day; its indexes, renamed, match the new ones' definitions and are adopted when
    # it is attached (only the primary key's, which now holds the time, is built), after one scan
    high = next_period(period_start(max(now, newest or now), "day"), "day")
    old = _name(None, high)
    _replace(connection, old, "PARTITION BY RANGE (created_at)", "id, created_at")
    connection.execute(sa.text(f"CREATE TABLE {DEFAULT} PARTITION OF {PARENT} DEFAULT"))
    connection.execute(sa.text(f"DROP TABLE {old}" if newest is None else
                               f"ALTER TABLE {PARENT} ATTACH PARTITION {old} "
                               f"FOR VALUES FROM (MINVALUE) TO ({_literal(high)})"))


def unpartition_usage(connection: sa.Connection) -> None:
    """Undo `partition_usage` (a downgrade): `usage` one plain table again, with every row (copied)."""
    if not is_partitioned(connection):
        return
    old = "usage_partitioned"
    _replace(connection, old, "", "id")
    connection.execute(sa.text(f"INSERT INTO {PARENT} SELECT * FROM {old}"))  # noqa: S608
    connection.execute(sa.text(f"DROP TABLE {old}"))  # (its partitions with it)


def _replace(connection: sa.Connection, old: str, partitioning: str, key: str) -> None:
    """Rename `usage` to `old` (its primary key dropped, its indexes renamed) and make a new, empty
    `usage` of the same columns, `partitioning` as given, its primary key `key`, the schema's indexes
    and the numbering of the old."""
    def run(sql: str) -> None:
        connection.execute(sa.text(sql))

    sequence = connection.execute(sa.text(f"SELECT pg_get_serial_sequence('{PARENT}', 'id')")).scalar()
    run(f"ALTER TABLE {PARENT} RENAME TO {old}")
    run(f"ALTER TABLE {old} DROP CONSTRAINT IF EXISTS pk_{PARENT}")
    indexes = connection.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": old}).scalars()
    for i, index in enumerate(list(indexes)):  # (the new table's indexes take the schema's names)
        run(f"ALTER INDEX {index} RENAME TO {old}_{i}")
    run(f"CREATE TABLE {PARENT} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) {partitioning}")
    run(f"ALTER TABLE {PARENT} ADD CONSTRAINT pk_{PARENT} PRIMARY KEY ({key})")
    for index in usage.indexes:
        index.create(connection)
    if sequence:  # (owned by the new table's column: dropping the old one keeps it)
        run(f"ALTER SEQUENCE {sequence} OWNED BY {PARENT}.id")
