"""The usage ledger: one row per request on a metered route, written in batches, never on the request's path.

    ledger = Ledger(engine, spill_dir=home)      # then ledger.start() on the event loop
    ledger.add(row)                              # from the request record's sink: an append, no I/O
    await ledger.close()                         # at shutdown: everything written, or spilled to a file

Rows wait in memory and are written every `flush_interval` seconds (sooner when `batch` have
gathered), one prepared INSERT a batch. A hard kill loses at most the rows of one interval; a
shutdown (SIGTERM) writes them all first.

A batch has an id of its own, recorded in `ledger_batches` in the transaction that writes its rows,
and keeps it until it is written: a batch sent again (its commit's answer lost, or a spill file read
back after a crash that followed its writing) finds its mark and adds nothing, neither rows nor
charges. Its rows carry no id of ours: the database numbers them as they are appended.

While the database cannot be written, batches wait (one log line when it goes, one when it is back);
beyond `max_buffer` rows, the oldest go to a spill file of this process and database
(`ledger-<database>-<pid>-<n>.jsonl` in `spill_dir`, a JSON array a row: its batch's id, then its
values; `<database>` a digest of its URL), as does everything still waiting at shutdown. Spill files
are written back as soon as the database answers again, and at start (those of processes that ended:
a living process holds a lock on its own), into the database they were meant for only.

A batch the database refuses for what it holds (a value its column cannot take: not the database
being down) is written in halves, each under an id made from its batch's (so that a half written
before, by this process or by one that read the same spill file, is found by its mark), down to the
rows it refuses: those are set aside in `ledger-rejected-<database>.jsonl` (with the reason, one log
line each), never retried, so that one bad row never holds back the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import itertools
import json
import logging
import os
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from hubroute.store import reason, stop
from hubroute.store.schema import ledger_batches, orgs, usage, users

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("hubroute.ledger")

#: a row: the values of `COLUMNS`, in their order (a tuple: a third of a dict's memory, and no
#: conversion before the driver takes it)
Row = tuple[Any, ...]
COLUMNS = tuple(c.name for c in usage.columns if c.name != "id")  # (the database numbers the rows)
assert COLUMNS[:2] == ("request_id", "created_at")  # (the write converts the second: the time)
_USER, _ORG, _CHARGED = COLUMNS.index("user_id"), COLUMNS.index("org_id"), COLUMNS.index("charged_nano")
#: rows handed to the driver at a time: a batch's rows are converted and written in pieces this
#: long, in its one transaction, so that neither the event loop nor the writer's thread holds the CPU
#: for a whole batch at once (with 2,000, requests that came during a write waited up to its ~16 ms)
CHUNK = 100
_FAILURES = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError, OSError, ConnectionError,
             TimeoutError)


def _refuses(exc: BaseException) -> bool:
    """Whether a write failed for the batch's values (a text with NUL on PostgreSQL, an integer its
    column cannot hold), which would fail again, rather than for the database being away: SQLAlchemy's
    DataError or IntegrityError, the driver's refusal to encode a value (a ValueError: asyncpg's
    DataError, sqlite3's OverflowError), or PostgreSQL's SQLSTATE classes 22 and 23, through the
    chain of causes."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, sa_exc.DataError | sa_exc.IntegrityError | ValueError | OverflowError):
            return True
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str) and state[:2] in ("22", "23"):
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


@dataclass(slots=True)
class Batch:
    """Rows written together, or not at all, under one id (their mark in `ledger_batches`)."""

    id: str
    rows: list[Row]

    @classmethod
    def of(cls, rows: list[Row]) -> Batch:
        return cls(secrets.token_hex(8), rows)

    def halves(self) -> tuple[Batch, Batch]:
        """Its rows in two batches, whose ids are made from its own (the same halves each time)."""
        half = len(self.rows) // 2
        return (Batch(_piece_id(self.id, 0), self.rows[:half]), Batch(_piece_id(self.id, 1), self.rows[half:]))


def _piece_id(batch_id: str, piece: int) -> str:
    return hashlib.sha256(f"{batch_id}/{piece}".encode()).hexdigest()[:16]


class _Refused(Exception):
    """The database refused a batch for its values (`_refuses`)."""


class Ledger:
    def __init__(self, engine: AsyncEngine, *, spill_dir: Path, flush_interval: float = 1.0, batch: int = 2000,
                 max_buffer: int = 100_000, write_timeout: float = 10.0) -> None:
        self.engine = engine
        #: the database's mark in spill file names: rows go back to the database they were meant for
        self.tag = hashlib.sha256(engine.url.render_as_string(hide_password=False).encode()).hexdigest()[:12]
        self.flush_interval = flush_interval
        self.batch = batch
        self.max_buffer = max_buffer
        self.write_timeout = write_timeout
        self.spill_dir = spill_dir
        self._rows: deque[Row] = deque()
        #: batches made and not written yet (their write failed), oldest first, and their rows' count
        self._held: deque[Batch] = deque()
        self._held_rows = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._spill: TextIO | None = None
        self._down = False
        #: rows written to the database, sent to a spill file, and set aside as refused, since start
        self.written = 0
        self.spilled = 0
        self.rejected = 0

    # --- the request path ---------------------------------------------------------------------------
    def add(self, row: Row) -> None:
        """Queue a row (no I/O here unless the buffer is full: then the oldest rows are spilled)."""
        self._rows.append(row)
        if len(self._rows) >= self.batch:
            self._wake.set()
        if len(self._rows) + self._held_rows > self.max_buffer:
            self._overflow()

    def record(self, record: Any) -> None:
        """Queue the row of a request record (`server.record.RequestRecord`)."""
        self.add(row_of(record))

    @property
    def pending(self) -> int:
        """Rows not written yet (those of a batch being written excepted)."""
        return len(self._rows) + self._held_rows

    def _overflow(self) -> None:
        """Spill the oldest rows until the buffer is half full."""
        while self.pending > self.max_buffer // 2:
            if self._held:
                self._spill_batch(self._unhold())
            else:
                self._spill_batch(self._take(min(self.batch, self.pending - self.max_buffer // 2)))

    def _take(self, n: int) -> Batch:
        return Batch.of([self._rows.popleft() for _ in range(n)])

    def _hold(self, batch: Batch) -> None:
        self._held.appendleft(batch)
        self._held_rows += len(batch.rows)

    def _unhold(self) -> Batch:
        batch = self._held.popleft()
        self._held_rows -= len(batch.rows)
        return batch

    # --- the writer ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hubroute-ledger")

    async def _run(self) -> None:
        await self._step(self._drain_spills)
        delay = self.flush_interval
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            ok = await self._step(self._flush)
            if ok and self._spills():
                ok = await self._step(self._drain_spills)
            # while the database is down, try again less often (at most every 5 s), then as usual
            delay = self.flush_interval if ok else min(max(delay * 2, self.flush_interval), 5.0)

    async def _step(self, step: Callable[[], Awaitable[bool]]) -> bool:
        """A step of the writer; an error it did not foresee is logged and the writer goes on (the
        batch it was writing is held, its rows wait with the others): it never stops for good."""
        try:
            return await step()
        except Exception:
            log.exception("usage ledger: the writer failed; its rows wait and it tries again")
            return False

    async def flush(self) -> bool:
        """Write what is waiting now; whether the database took it all."""
        return await self._flush()

    async def _flush(self) -> bool:
        """Write the batches held, then the rows waiting now (not those that come while it writes:
        they wait for the next flush, so that a busy router writes a batch an interval rather than
        one small batch after another)."""
        left = len(self._rows)
        while self._held or (left > 0 and self._rows):
            if self._held:
                batch = self._unhold()
            else:
                batch = self._take(min(self.batch, left, len(self._rows)))
                left -= len(batch.rows)
            try:
                written = await self._write(batch)
            except _Refused as refused:
                self._set_apart(batch, refused, self._hold)
                continue
            except BaseException:  # (the writer cancelled mid-write, at shutdown: held for close(), which
                self._hold(batch)  # writes or spills it; written already, its mark keeps it from counting twice)
                raise
            if not written:
                self._hold(batch)  # back at the front, under its id
                return False
        return True

    def _set_apart(self, batch: Batch, refused: _Refused, put_back: Callable[[Batch], None]) -> None:
        """A batch the database refused: its halves put back in front (`put_back`), to be written
        first; a row alone, rejected."""
        if len(batch.rows) > 1:
            first, second = batch.halves()
            put_back(second)
            put_back(first)
            return
        reason_ = reason(refused.__cause__ or refused)
        log.error("usage ledger: a row the database refuses (%s) is set aside in %s (request %s)",
                  reason_, self._rejected_path().name, batch.rows[0][0] if batch.rows else "?")
        try:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            with self._rejected_path().open("ab") as out:
                out.write(b"".join(_line((batch.id, reason_, *r)) for r in batch.rows))
        except OSError as exc:
            log.error("usage ledger: the refused row could not be set aside (%s): it is lost (request %s)",
                      exc, batch.rows[0][0] if batch.rows else "?")
        self.rejected += len(batch.rows)

    def _rejected_path(self) -> Path:
        return self.spill_dir / f"ledger-rejected-{self.tag}.jsonl"

    async def _write(self, batch: Batch) -> bool:
        try:
            async with asyncio.timeout(self.write_timeout), self.engine.begin() as conn:
                await _insert(conn, batch)
        except (*_FAILURES, ValueError, OverflowError) as exc:
            if _refuses(exc):
                raise _Refused() from exc
            if not self._down:
                self._down = True
                log.error("the usage ledger cannot be written (%s): rows wait in memory (up to %d, then in %s) "
                          "and are written when the database is back", reason(exc), self.max_buffer, self.spill_dir)
            return False
        if self._down:
            self._down = False
            log.warning("the usage ledger is written again")
        self.written += len(batch.rows)
        return True

    async def close(self) -> None:
        """Stop the writer; write everything waiting, or spill it (nothing is lost)."""
        await stop(self._task)
        self._task = None
        if not await self._flush():
            while self._held:
                self._spill_batch(self._unhold())
            while self._rows:
                self._spill_batch(self._take(min(self.batch, len(self._rows))))
        if self._spill is not None:
            self._spill.flush()
            os.fsync(self._spill.fileno())
            self._spill.close()  # (the lock goes with it: the next start writes it back)
            self._spill = None

    # --- spill files ----------------------------------------------------------------------------------
    def _spill_batch(self, batch: Batch) -> None:
        if not batch.rows:
            return
        if self._spill is None:
            self.spill_dir.mkdir(parents=True, exist_ok=True)
            path = self.spill_dir / f"ledger-{self.tag}-{os.getpid()}-{time.time_ns()}.jsonl"
            self._spill = path.open("a", encoding="utf-8")
            fcntl.flock(self._spill, fcntl.LOCK_EX)  # ours while we live: no other process reads it
        mark = (batch.id,)
        self._spill.write(b"".join(_line(mark + r) for r in batch.rows).decode())
        self._spill.flush()
        self.spilled += len(batch.rows)

    def _spills(self) -> list[Path]:
        return sorted(self.spill_dir.glob(f"ledger-{self.tag}-*.jsonl")) if self.spill_dir.is_dir() else []

    async def _drain_spills(self) -> bool:
        """Write the spill files back (this process's own, and those of processes that ended)."""
        if self._spill is not None:  # ours: read back like the others (rows spilled from now go to a new one)
            self._spill.close()
            self._spill = None
        for path in self._spills():
            with _locked(path) as handle:
                if handle is None:  # a living process's own
                    continue
                for batch in _read_batches(handle):
                    pieces = deque([batch])
                    while pieces:
                        piece = pieces.popleft()
                        try:
                            if not await self._write(piece):
                                return False  # (the file stays: read again, what went in is found by its marks)
                        except _Refused as refused:
                            self._set_apart(piece, refused, pieces.appendleft)
                path.unlink()
            log.info("usage ledger: rows spilled to %s written back", path.name)
        return True


#: per dialect: the INSERT's SQL, made by the query layer once; its parameters are a row's values, in order
_INSERTS: dict[str, str] = {}


def _insert_sql(dialect: Any) -> str:
    found = _INSERTS.get(dialect.name)
    if found is None:
        compiled = usage.insert().values({c: sa.bindparam(c) for c in COLUMNS}).compile(dialect=dialect)
        # (both dialects' parameters are positional, in the table's order: a row's values as they are)
        assert compiled.positiontup is not None and tuple(compiled.positiontup) == COLUMNS
        found = _INSERTS[dialect.name] = str(compiled)
    return found


async def _insert(conn: Any, batch: Batch) -> None:
    """Mark the batch written, then insert its rows and take the credits they charged from their
    accounts; a batch marked already was written before (its rows are there, their charges taken).
    The rows go through the driver in one prepared statement (the query layer's per-value
    processing cost about ten times as much, on the event loop)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    mark = insert(ledger_batches).values(id=batch.id, rows=len(batch.rows), written_at=datetime.now(UTC))
    if (await conn.execute(mark.on_conflict_do_nothing(index_elements=["id"]))).rowcount != 1:
        return
    when = _sqlite_time if conn.dialect.name == "sqlite" else _pg_time
    sql, rows = _insert_sql(conn.dialect), batch.rows
    for start in range(0, len(rows), CHUNK):  # (the event loop serves requests between the pieces)
        await conn.exec_driver_sql(sql, [(r[0], when(r[1]), *r[2:]) for r in rows[start:start + CHUNK]])
    await _charge(conn, [r for r in rows if r[_CHARGED]])


def _sqlite_time(epoch: float) -> str:
    """A time as SQLAlchemy keeps a DateTime in SQLite: UTC, `2026-12-06 07:27:39.603740`."""
    second = int(epoch)
    return f"{_second(second)}.{int((epoch - second) * 1e6):06d}"


@functools.lru_cache(maxsize=8)
def _second(epoch: int) -> str:
    """A second's text (a batch's rows share a few: formatted once each)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


def _pg_time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def _charge(conn: Any, rows: list[Row]) -> None:
    """The credits `rows` charged, taken from their accounts."""
    charges: dict[tuple[str, str], int] = {}
    for row in rows:
        account = ("org", row[_ORG]) if row[_ORG] else ("user", row[_USER])
        charges[account] = charges.get(account, 0) + row[_CHARGED]
    for (kind, account_id), amount in sorted(charges.items()):  # (a fixed order: no deadlock between writers)
        table = orgs if kind == "org" else users
        await conn.execute(table.update().where(table.c.id == account_id)
                           .values(credits_nano=table.c.credits_nano - amount))


def row_of(record: Any) -> Row:
    """A ledger row of a request record (`server.record.RequestRecord`), plain values only."""
    u = record.usage
    p = record.principal
    cost, duration, ttfb = record.cost, record.duration, record.ttfb
    return (  # in the order of COLUMNS (the schema's)
        record.request_id[:128], time.time(), p.key_id, p.user, record.billed_org,
        record.surface, record.provider, _cut(record.model), _cut(record.provider_model), record.task,
        *((u.input_tokens, u.output_tokens, u.input_cached, u.output_reasoning, u.images, u.seconds,
           u.characters, u.source) if u is not None else _NO_USAGE),
        round(cost * 1e9) if cost is not None else None, record.charged, record.byok, record.status,
        record.error, round(duration * 1000, 3) if duration is not None else None,
        round(ttfb * 1000, 3) if ttfb is not None else None, record.attempts,
    )


_NO_USAGE = (None,) * 8


def as_row(fields: dict[str, Any]) -> Row:
    """A row from its fields by name (those missing: None)."""
    return tuple(fields.get(c) for c in COLUMNS)


def _cut(value: str | None) -> str | None:
    """A model id as a row keeps it: its first 256 characters, a NUL (which a client may pin to an
    OpenAI-compatible server, and PostgreSQL's text refuses, with the whole batch) as U+FFFD."""
    if value is None:
        return None
    return value[:256] if "\x00" not in value else value[:256].replace("\x00", "\ufffd")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[TextIO | None]:
    """The file, locked for us; None when another process holds it."""
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield handle
    finally:
        handle.close()


def _line(values: tuple[Any, ...]) -> bytes:
    """A spill file's line: the values as a JSON array (an integer beyond 64 bits, which orjson does
    not write, by the standard library: a row must reach its file whatever it holds)."""
    try:
        return orjson.dumps(values) + b"\n"
    except TypeError:
        return json.dumps(values, default=str).encode() + b"\n"


def _read_batches(handle: TextIO) -> Iterator[Batch]:
    """A spill file's batches: its rows, grouped by the batch id each begins with."""
    rows = _read_rows(handle)
    for batch_id, group in itertools.groupby(rows, key=lambda mark_row: mark_row[0]):
        yield Batch(batch_id, [r for _, r in group])


def _read_rows(handle: TextIO) -> Iterator[tuple[str, Row]]:
    for line in handle:
        if line.strip():
            with contextlib.suppress(orjson.JSONDecodeError):  # a line cut by a crash mid-write
                row = orjson.loads(line)
                if isinstance(row, list) and len(row) == len(COLUMNS) + 1 and isinstance(row[0], str):
                    yield row[0], tuple(row[1:])
