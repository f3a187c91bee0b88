"""The usage ledger against real SQLite and PostgreSQL: batched writes, nothing lost while the database
is cut off (rows wait, then spill to a file) and nothing written twice."""

from __future__ import annotations

import asyncio
import fcntl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from hubroute.server.record import RequestRecord
from hubroute.store import Store, create_engine
from hubroute.store import ledger as ledger_module
from hubroute.store.ledger import CHUNK, Batch, Ledger, as_row, row_of
from hubroute.store.migrate import ensure_latest
from hubroute.store.schema import usage
from tests.proxy import TcpProxy


def row(i: int, **extra: Any) -> tuple[Any, ...]:
    return as_row({"request_id": f"req-{i}", "created_at": time.time(), "key_id": "k1",
            "user_id": "u1",
            "org_id": None, "surface": "chat", "provider": "groq", "model": "m/x", "provider_model": "x",
            "task": "conversational", "input_tokens": 10, "output_tokens": i, "cached_tokens": None,
            "reasoning_tokens": None, "images": None, "seconds": None, "characters": None, "usage_source": "provider",
            "cost_nano": 1000 * i, "charged_nano": None, "byok": False, "status": 200, "error": None,
            "duration_ms": 12.5, "ttfb_ms": 3.0, "attempts": 1, **extra})


async def rows_in(engine: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(usage.c.request_id, usage.c.output_tokens, usage.c.cost_nano)
                                        .order_by(usage.c.output_tokens))).all())


@pytest.fixture
async def store(store_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(store_url, spill_dir=tmp_path / "spill", flush_interval=0.05)
    yield opened
    await opened.close()


async def test_rows_are_written_in_batches_soon_after(store: Store) -> None:
    ledger = store.ledger
    ledger.start()
    for i in range(5000):
        ledger.add(row(i))
    deadline = time.monotonic() + 10
    while ledger.written < 5000:
        assert time.monotonic() < deadline, ledger.written
        await asyncio.sleep(0.02)
    got = await rows_in(store.engine)
    assert len(got) == 5000 and got[7] == ("req-7", 7, 7000)


async def test_a_batch_longer_than_a_piece_is_written_whole_or_not_at_all(store: Store) -> None:
    # its rows reach the driver CHUNK at a time, in one transaction: a row the database refuses in the
    # last piece leaves neither the pieces before it nor the batch's mark
    n = 2 * CHUNK + 1
    bad = Batch.of([row(i) for i in range(n - 1)] + [row(n - 1, request_id=None)])
    with pytest.raises(ledger_module._Refused):
        await store.ledger._write(bad)
    assert await rows_in(store.engine) == []
    good = Batch.of([row(i) for i in range(n)])
    assert await store.ledger._write(good)
    assert [r.output_tokens for r in await rows_in(store.engine)] == list(range(n))


async def test_a_batch_written_twice_counts_once_and_charges_once(store: Store) -> None:
    accounts = store.accounts
    ada = await accounts.create_user("ada")
    await accounts.grant("user", ada["id"], 10_000, note="test", by="master")
    batch = Batch.of([row(i, user_id=ada["id"], charged_nano=100) for i in range(10)])
    assert await store.ledger._write(batch)
    assert await store.ledger._write(batch)  # its commit's answer lost: sent again
    assert len(await rows_in(store.engine)) == 10
    assert await accounts.credits(("user", ada["id"])) == 10_000 - 10 * 100  # charged once
    again = Batch.of(batch.rows)  # the same values in another batch: other requests, counted
    assert await store.ledger._write(again)
    assert len(await rows_in(store.engine)) == 20


async def test_rows_are_numbered_in_the_order_they_are_written(store: Store) -> None:
    for first in (0, 5):
        assert await store.ledger._write(Batch.of([row(i) for i in range(first, first + 5)]))
    async with store.engine.connect() as conn:
        got = (await conn.execute(sa.select(usage.c.id, usage.c.output_tokens).order_by(usage.c.id))).all()
    assert [r.output_tokens for r in got] == list(range(10)) and len({r.id for r in got}) == 10


async def test_close_writes_what_waits(store_url: str, tmp_path: Path) -> None:
    store = await Store.open(store_url, spill_dir=tmp_path, flush_interval=60)
    store.ledger.start()
    for i in range(300):
        store.ledger.add(row(i))
    await store.ledger.close()  # long before the next flush
    engine = store.engine
    assert len(await rows_in(engine)) == 300
    await engine.dispose()
    assert not list(tmp_path.glob("ledger-*"))


async def test_nothing_is_lost_while_the_database_is_cut_off(postgres_url: str, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    proxy = await TcpProxy("127.0.0.1", port).start()
    direct = create_engine(postgres_url)
    await ensure_latest(direct)
    engine = create_engine(proxy.url_for(postgres_url))
    spill = tmp_path / "spill"
    ledger = Ledger(engine, spill_dir=spill, flush_interval=0.05, max_buffer=1000, write_timeout=1)
    try:
        ledger.start()
        for i in range(100):
            ledger.add(row(i))
        while ledger.written < 100:
            await asyncio.sleep(0.02)
        proxy.cut()
        for i in range(100, 2600):  # 2,500 rows while it is down: more than the buffer holds
            ledger.add(row(i))
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert ledger.pending <= 1000 and ledger.spilled > 0 and list(spill.glob("ledger-*.jsonl"))
        down = [r for r in caplog.records if "cannot be written" in r.getMessage()]
        assert len(down) == 1  # one line, not one per attempt
        await ledger.close()  # still down: what waits goes to the file too
        assert ledger.pending == 0
        assert len(await rows_in(direct)) == 100

        proxy.restore()
        after = Ledger(engine, spill_dir=spill, flush_interval=0.05)  # the next start: spill files written back
        after.start()
        deadline = time.monotonic() + 10
        while len(await rows_in(direct)) < 2600:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await after.close()
        got = await rows_in(direct)
        assert [r.output_tokens for r in got] == list(range(2600))  # every row, once
        assert not list(spill.glob("ledger-*.jsonl"))
    finally:
        await proxy.close()
        await engine.dispose()
        await direct.dispose()


async def test_a_living_processs_spill_file_is_left_to_it(store: Store, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    theirs = spill / f"ledger-{store.ledger.tag}-999999-1.jsonl"
    other_database = spill / "ledger-0123456789ab-999999-1.jsonl"
    theirs.write_bytes(orjson.dumps(("b1", *row(1))) + b"\n")
    other_database.write_bytes(orjson.dumps(("b2", *row(2))) + b"\n")
    with theirs.open("r") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert await store.ledger._drain_spills()
        assert theirs.exists() and await rows_in(store.engine) == []
    assert await store.ledger._drain_spills()  # it ended: written back, file gone
    assert not theirs.exists() and len(await rows_in(store.engine)) == 1
    assert other_database.exists()  # another database's rows: never written into this one


async def test_nulls_and_booleans_are_stored_as_such(store: Store) -> None:
    """A row's None and booleans (bound through the adapters `store._bind_quickly` registers on SQLite)
    read back as NULL, true and false: SQL's NULL and, in SQLite, the integers 1 and 0."""
    rows = [row(1, byok=True, key_id=None, error=None), row(2, byok=False, images=3)]
    assert await store.ledger._write(Batch.of(rows))
    async with store.engine.connect() as conn:
        got = (await conn.execute(sa.select(usage.c.byok, usage.c.key_id, usage.c.error, usage.c.images)
                                  .order_by(usage.c.output_tokens))).all()
        if store.engine.dialect.name == "sqlite":
            kinds = (await conn.execute(sa.text("SELECT typeof(byok), typeof(key_id) FROM usage "
                                                "ORDER BY output_tokens"))).all()
            assert [tuple(k) for k in kinds] == [("integer", "null"), ("integer", "text")]
    assert [tuple(g) for g in got] == [(True, None, None, None), (False, "k1", None, 3)]


async def test_a_writer_stopped_mid_batch_loses_no_row(store: Store) -> None:
    """The writer cancelled while a batch is being written (a shutdown): the batch is held, and close()
    writes it, once (had its commit gone through, its mark would keep it from counting twice)."""
    accounts = store.accounts
    ada = await accounts.create_user("ada")
    await accounts.grant("user", ada["id"], 1_000_000, note="test", by="master")
    n = 3 * CHUNK
    for i in range(n):
        store.ledger.add(row(i, user_id=ada["id"], charged_nano=10))
    writing = asyncio.create_task(store.ledger.flush())
    for _ in range(2):  # (its transaction begun, its pieces on their way to the driver)
        await asyncio.sleep(0)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert store.ledger.pending == n  # (held, not lost)
    await store.ledger.close()
    assert [r.output_tokens for r in await rows_in(store.engine)] == list(range(n))
    assert await accounts.credits(("user", ada["id"])) == 1_000_000 - n * 10  # charged once


async def until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


def rejected(ledger: Ledger) -> list[list[Any]]:
    path = ledger.spill_dir / f"ledger-rejected-{ledger.tag}.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


async def test_a_row_the_database_refuses_is_set_aside_and_the_others_written(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    """A row the database cannot take (here a count beyond 64 bits, as a broken upstream may report)
    does not hold back its batch, nor the rows after it: the batch is written in halves down to that
    row, which is set aside in the rejected file with the reason, once, and the rest go in once."""
    ledger = store.ledger
    ledger.start()
    for i in range(300):
        ledger.add(row(i, input_tokens=10**20) if i == 123 else row(i))
    await until(lambda: ledger.written + ledger.rejected == 300)
    assert ledger.rejected == 1 and not ledger._down
    got = [r.output_tokens for r in await rows_in(store.engine)]
    assert got == [i for i in range(300) if i != 123]
    [(batch_id, why, request_id, *_)] = rejected(ledger)
    assert request_id == "req-123" and why and len(batch_id) == 16
    told = [r for r in caplog.records if "set aside" in r.getMessage()]
    assert len(told) == 1 and told[0].levelname == "ERROR"
    ledger.add(row(300))  # and the ledger goes on
    await until(lambda: ledger.written == 300)


async def test_a_spill_files_refused_row_is_set_aside_and_the_file_written_back(store: Store) -> None:
    spill = store.ledger.spill_dir
    spill.mkdir(parents=True, exist_ok=True)
    ended = spill / f"ledger-{store.ledger.tag}-999999-1.jsonl"
    rows = [row(i, request_id=None) if i == 5 else row(i) for i in range(8)]  # (refused by both: NOT NULL)
    ended.write_bytes(b"".join(ledger_module._line(("b1" * 8, *r)) for r in rows))
    assert await store.ledger._drain_spills()
    assert not ended.exists()
    assert [r.output_tokens for r in await rows_in(store.engine)] == [0, 1, 2, 3, 4, 6, 7]
    [(_, why, request_id, *_)] = rejected(store.ledger)
    assert request_id is None and why
    ended.write_bytes(b"".join(ledger_module._line(("b1" * 8, *r)) for r in rows))  # read again: found by
    assert await store.ledger._drain_spills()                                       # the halves' marks
    assert len(await rows_in(store.engine)) == 7


async def test_a_model_id_with_nul_is_kept_with_a_replacement_character(store: Store) -> None:
    """A client may pin any id to an OpenAI-compatible server, NUL included, which PostgreSQL's text
    refuses: the row keeps it as U+FFFD."""
    record = RequestRecord("req-nul", "POST", "/v1/chat/completions", None)
    record.model = record.provider_model = "weird\x00id"
    record.status = 502
    assert await store.ledger._write(Batch.of([row_of(record)]))
    async with store.engine.connect() as conn:
        got = (await conn.execute(sa.select(usage.c.model, usage.c.provider_model))).one()
    assert tuple(got) == ("weird\ufffdid", "weird\ufffdid")


async def test_the_writer_goes_on_after_an_error_it_did_not_foresee(
        store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An error the writer has no case for (here raised by its first write, as a bug would) is
    logged, its batch held, and the writer goes on: every row is written, once."""
    real, calls = ledger_module._insert, []

    async def failing_once(conn: Any, batch: Batch) -> None:
        calls.append(batch.id)
        if len(calls) == 1:
            raise RuntimeError("not foreseen")
        await real(conn, batch)

    monkeypatch.setattr(ledger_module, "_insert", failing_once)
    ledger = store.ledger
    ledger.start()
    for i in range(50):
        ledger.add(row(i))
    await until(lambda: ledger.written == 50)
    assert [r.output_tokens for r in await rows_in(store.engine)] == list(range(50))
    assert calls[0] == calls[1]  # (the same batch, held, then written)
    assert any("the writer failed" in r.getMessage() for r in caplog.records)
