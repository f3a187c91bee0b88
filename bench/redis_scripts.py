"""What each of hubroute's Redis scripts costs Redis: its CPU a call, from `INFO commandstats`.

    .venv/bin/python bench/redis_scripts.py [--url redis://127.0.0.1:6379/0] [--calls 3000]

Runs each script `--calls` times, one after the other, as a request with a stored key that has rate
limits and a budget makes them, and reads `usec_per_call` of `evalsha` after each (the server's
statistics are reset before each: run it against a Redis nothing else uses). Its keys go under a
prefix of its own and are deleted after. docs/SCALING.md's per-request figures come from it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hubroute.server.auth import Principal
from hubroute.store import shared_limits, shared_money
from hubroute.store.redislink import RedisLink


async def evalsha_usec(link: RedisLink) -> tuple[int, int]:
    for line in (await link.call("INFO", "commandstats")).decode().splitlines():
        if line.startswith("cmdstat_evalsha:"):
            fields = dict(part.split("=") for part in line.split(":", 1)[1].split(","))
            return int(fields["calls"]), int(fields["usec"])
    return 0, 0


async def main(url: str, calls: int) -> None:
    link = RedisLink(url, timeout=5)
    link.register(*shared_limits.SCRIPTS, *shared_money.SCRIPTS)
    prefix = f"hubroute-bench-{os.getpid()}:"
    limits = shared_limits.SharedLimits(link, prefix=prefix)
    principal = Principal(key_id="k", user="u", scopes=frozenset({"inference"}),
                          limits={"rpm": 10**9, "tpm": 10**12, "concurrency": 10**5})
    pot = [f"{prefix}m:b:key:k:month:2026-12-01{s}" for s in (":v", ":r", ":h", ":e")]
    money: list[Any] = [10_000, 86_400_000, 10**18, "21000000"]  # lease, keep, the budget, the worst case
    await link.call("SET", pot[0], 0)
    windows = [f"{prefix}l:key:k:t", f"{prefix}l:key:k:c"]
    steps: list[tuple[str, Any]] = [
        ("admit", lambda i: limits.admit(principal)),
        ("hold", lambda i: link.run(shared_money.HOLD, pot, [f"h{i}", *money])),
        ("admit-hold", lambda i: (lambda a: link.run(shared_money.ADMIT_HOLD, [*a.keys, *pot],
                                                     [*a.args, f"a{i}", *money]))(limits.prepare(principal))),
        ("release", lambda i: link.run(shared_limits.RELEASE, windows, [1, f"x{i}", 32, 1, 1])),
        ("release-hold", lambda i: link.run(shared_money.RELEASE, pot, [f"h{i}", "17000000"])),
    ]
    print("| script | Redis CPU a call |\n|---|--:|")
    try:
        for name, step in steps:
            await link.call("CONFIG", "RESETSTAT")
            for i in range(calls):
                await step(i)
            n, usec = await evalsha_usec(link)
            print(f"| {name} | {usec / n:.1f} µs |")
    finally:
        cursor = b"0"
        while True:
            cursor, found = await link.call("SCAN", cursor, "MATCH", f"{prefix}*", "COUNT", 1000)
            if found:
                await link.call("DEL", *found)
            if cursor == b"0":
                break
        await link.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--calls", type=int, default=3000)
    args = ap.parse_args()
    asyncio.run(main(args.url, args.calls))
