"""How many usage-ledger rows a second the store takes: SQLite (a file) and PostgreSQL.

    .venv/bin/python bench/ledger.py                               # 200,000 rows into each
    .venv/bin/python bench/ledger.py --rows 50000 --postgres postgresql://postgres@127.0.0.1:5432/test

Rows are queued as the router queues them (`Ledger.add`, from the request records) as fast as Python
makes them, and the clock stops when the last is committed: the figure is the writer's sustained rate
(batches of `--batch` rows, one multi-row INSERT each), the one that must stay above the router's
request rate; and what the rows take on disk, per million. PostgreSQL runs in a database made for
the run and dropped after. Targets: at least 10,000 rows/s into PostgreSQL, 5,000 into SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import write_result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from hubroute.store import create_engine  # noqa: E402
from hubroute.store.ledger import Ledger, as_row  # noqa: E402
from hubroute.store.migrate import ensure_latest  # noqa: E402


def row(i: int) -> tuple[Any, ...]:
    return as_row({"request_id": f"bench-{i:08d}", "created_at": time.time(),
            "key_id": "k3v9x2m4q7ab",
            "user_id": "u3v9x2m4q7ab", "org_id": None, "surface": "chat", "provider": "groq",
            "model": "meta-llama/Llama-3.3-70B-Instruct", "provider_model": "llama-3.3-70b-versatile",
            "task": "conversational", "input_tokens": 41, "output_tokens": 120, "cached_tokens": None,
            "reasoning_tokens": None, "images": None, "seconds": None, "characters": None,
            "usage_source": "provider", "cost_nano": 118990, "charged_nano": None, "byok": False, "status": 200,
            "error": None, "duration_ms": 412.7, "ttfb_ms": 180.2, "attempts": 1})


async def measure(url: str, rows: int, batch: int, spill: Path) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await ensure_latest(engine)
        ledger = Ledger(engine, spill_dir=spill, flush_interval=0.05, batch=batch, max_buffer=rows + 1)
        ledger.start()
        made = [row(i) for i in range(rows)]
        started = time.perf_counter()
        for i, r in enumerate(made):
            ledger.add(r)
            if i % 1000 == 999:
                await asyncio.sleep(0)  # the router's loop interleaves requests and the writer
        while ledger.written < rows:
            await asyncio.sleep(0.005)
        took = time.perf_counter() - started
        await ledger.close()
        size = await stored_bytes(engine)
        return {"rows": rows, "batch": batch, "seconds": round(took, 3), "rows_per_s": round(rows / took),
                "bytes": size, "mb_per_million_rows": round(size / rows * 1e6 / 2**20, 1)}
    finally:
        await engine.dispose()


async def stored_bytes(engine: Any) -> int:
    """What the ledger takes on disk: the usage table with its indexes (PostgreSQL), or the whole
    database file, its write-ahead log folded in (SQLite: the ledger is nearly all of it)."""
    import sqlalchemy as sa

    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            return int((await conn.execute(sa.text(  # (the table and its partitions, with their indexes)
                "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('usage')"))).scalar_one())
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = (await conn.exec_driver_sql("PRAGMA page_count")).scalar_one()
        return int(pages * (await conn.exec_driver_sql("PRAGMA page_size")).scalar_one())


async def postgres_db(admin_url: str) -> tuple[str, Any]:
    import asyncpg

    name = f"hubroute_bench_{int(time.time())}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin_url.rpartition("/")

    async def drop() -> None:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    return f"{base}/{name}", drop


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="a database to make the run's database from ('' to skip PostgreSQL)")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hubroute-ledger-") as tmp:
        out["sqlite"] = await measure(f"sqlite:///{tmp}/ledger.db", args.rows, args.batch, Path(tmp))
        lite = out["sqlite"]
        print(f"sqlite:     {lite['rows_per_s']:>8,} rows/s ({args.rows:,} rows in {lite['seconds']} s; "
              f"{lite['mb_per_million_rows']} MB a million rows)")
        if args.postgres:
            url, drop = await postgres_db(args.postgres)
            try:
                out["postgresql"] = await measure(url, args.rows, args.batch, Path(tmp))
            finally:
                await drop()
            pg = out["postgresql"]
            print(f"postgresql: {pg['rows_per_s']:>8,} rows/s ({args.rows:,} rows in {pg['seconds']} s; "
                  f"{pg['mb_per_million_rows']} MB a million rows)")
    print(f"written to {write_result(args.results, 'ledger', out)}")
    ok = out["sqlite"]["rows_per_s"] >= 5000 and ("postgresql" not in out or out["postgresql"]["rows_per_s"] >= 10000)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
