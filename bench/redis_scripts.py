"""What each of hubroute's Redis scripts costs Redis: its CPU a call, from `INFO commandstats`.

    .venv/bin/python bench/redis_scripts.py [--url redis://127.0.0.1:6379/0] [--calls 3000]

Runs each script `--calls` times, one after the other, as a request with a stored key that has rate
limits and a budget makes them, and reads the time Redis spent in `evalsha` after each (`INFO
commandstats`; the server's statistics are reset before each: run it against a Redis nothing else
uses), divided by `--calls`. The last row is a whole request: its admission and holds, then its
place and holds given back, as the router sends them. Its keys go under a prefix of its own and are
deleted after. docs/SCALING.md's per-request figures come from it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hubroute.server.auth import Principal
from hubroute.store import shared_limits, shared_money
from hubroute.store.redislink import RedisLink

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import free_port


async def evalsha_usec(link: RedisLink) -> tuple[int, int]:
    for line in (await link.call("INFO", "commandstats")).decode().splitlines():
        if line.startswith("cmdstat_evalsha:"):
            fields = dict(part.split("=") for part in line.split(":", 1)[1].split(","))
            return int(fields["calls"]), int(fields["usec"])
    return 0, 0


async def main(url: str, calls: int, instructions: int | None = None) -> None:
    """Each script's Redis time, or with `instructions` (the pid of a Redis under callgrind, not
    counting yet) only a whole request's scripts, counted."""
    link = RedisLink(url, timeout=5)
    link.register(*shared_limits.SCRIPTS, *shared_money.SCRIPTS)
    prefix = f"hubroute-bench-{os.getpid()}:"
    limits = shared_limits.SharedLimits(link, prefix=prefix)
    principal = Principal(key_id="k", user="u", scopes=frozenset({"inference"}),
                          limits={"rpm": 10**9, "tpm": 10**12, "concurrency": 10**5})
    pot = [f"{prefix}m:b:key:k:month:2026-12-01{s}" for s in (":v", ":r", ":h", ":e")]
    # lease, keep, the budget, the worst case, the pot's expiry not due for renewal (as for most requests)
    money: list[Any] = [10_000, 86_400_000, 10**18, "21000000", 0]
    await link.call("SET", pot[0], 0)
    windows = [f"{prefix}l:key:k:t", f"{prefix}l:key:k:c"]
    steps: list[tuple[str, Any]] = [
        ("admit", lambda i: limits.admit(principal)),
        ("hold", lambda i: link.run(shared_money.HOLD, pot, [f"h{i}", *money])),
        ("admit-hold", lambda i: (lambda a: link.run(shared_money.ADMIT_HOLD, [*a.keys, *pot],
                                                     [*a.args, f"a{i}", *money]))(limits.prepare(principal))),
        ("release", lambda i: link.run(shared_limits.RELEASE, windows, [1, f"x{i}", 32, 1, 1])),
        ("release-hold", lambda i: link.run(shared_money.RELEASE, pot, [f"h{i}", "21000000", "17000000"])),
        ("a request: admit-hold, then release and release-hold", lambda i: request(i)),
    ]

    async def request(i: int) -> None:
        """The scripts of one request, as the router sends them: its places and holds given back."""
        asking = limits.prepare(principal)
        assert asking is not None
        member = asking.args[1]
        await link.run(shared_money.ADMIT_HOLD, [*asking.keys, *pot], [*asking.args, member, *money])
        await asyncio.gather(link.run(shared_limits.RELEASE, windows, [1, member, 32, 1, 1]),
                             link.run(shared_money.RELEASE, pot, [member, "21000000", "17000000"]))

    if instructions is not None:  # (only the whole request, counted by callgrind in a Redis of our own)
        for i in range(300):
            await request(i)
        subprocess.run(["callgrind_control", "-i", "on", str(instructions)], check=True, capture_output=True)
        for i in range(calls):
            await request(i)
        subprocess.run(["callgrind_control", "-i", "off", str(instructions)], check=True, capture_output=True)
        await link.close()
        return

    print("| script | Redis CPU a call |\n|---|--:|")
    try:
        for name, step in steps:
            await link.call("CONFIG", "RESETSTAT")
            for i in range(calls):
                await step(i)
            _, usec = await evalsha_usec(link)
            print(f"| {name} | {usec / calls:.1f} µs |")
    finally:
        cursor = b"0"
        while True:
            cursor, found = await link.call("SCAN", cursor, "MATCH", f"{prefix}*", "COUNT", 1000)
            if found:
                await link.call("DEL", *found)
            if cursor == b"0":
                break
        await link.close()


def count_instructions(calls: int) -> None:
    """Instructions a request's scripts cost Redis: a Redis of our own under callgrind (a figure the
    VM's noise does not reach), counted over `calls` requests after 300 not counted."""
    with tempfile.TemporaryDirectory(prefix="hubroute-redis-") as work:
        port = free_port()
        redis = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={work}/callgrind.out",
             "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or redis.poll() is not None:
                        raise SystemExit("redis-server did not start under valgrind") from None
                    time.sleep(0.2)
            asyncio.run(main(f"redis://127.0.0.1:{port}/0", calls, redis.pid))
        finally:
            redis.terminate()  # (Redis exits on SIGTERM; callgrind then writes its totals)
            redis.wait(timeout=60)
        totals = [line for line in Path(work, "callgrind.out").read_text().splitlines()
                  if line.startswith(("totals:", "summary:"))]
        total = max(int(line.split()[1]) for line in totals)  # (callgrind may write a summary of 0 first)
    print(f"a request (admit-hold, then release and release-hold): {total / calls:,.0f} instructions in Redis "
          f"(callgrind, {calls} requests)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--instructions", action="store_true",
                    help="count the instructions of a whole request's scripts instead, in a Redis of its own "
                         "started under callgrind (needs valgrind and redis-server)")
    args = ap.parse_args()
    if args.instructions:
        count_instructions(args.calls)
    else:
        asyncio.run(main(args.url, args.calls))
