"""`hubroute serve --workers N` with real processes: N workers on one port, each serving; a worker
killed is replaced and the others serve meanwhile; SIGTERM under load stops them all gracefully with
every answered request in the ledger; what each worker would hold on its own is refused."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx2 as httpx

from tests.conftest import Mocks
from tests.e2e.serving import Serve
from tests.e2e.support import CHAT, HI, MODEL, config
from tests.e2e.test_ledger import ledger_rows
from tests.mocks import sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"


def workers_of(supervisor: int) -> list[int]:
    """The worker processes of a supervisor (multiprocessing's resource tracker left out)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == supervisor and b"spawn_main" in cmdline:
            found.append(int(entry))
    return sorted(found)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


async def ready(serve: Serve, n: int, started: int | None = None, timeout: float = 30) -> list[int]:
    """Until `n` workers run and `started` (default `n`) have said they are ready; their pids."""
    assert serve.proc is not None
    deadline = time.monotonic() + timeout
    while serve.stderr.count("hubroute ready on") < (started or n) or len(workers_of(serve.proc.pid)) < n:
        assert serve.proc.returncode is None and time.monotonic() < deadline, serve.stderr
        await asyncio.sleep(0.05)
    return workers_of(serve.proc.pid)


async def chats(url: str, n: int) -> list[int]:
    """`n` chat requests, each on a connection of its own; their statuses."""
    statuses = []
    for _ in range(n):
        async with httpx.AsyncClient(timeout=10) as c:
            statuses.append((await c.post(f"{url}{CHAT}", json={"model": MODEL, "messages": HI})).status_code)
    return statuses


async def test_workers_share_the_port_and_a_killed_one_is_replaced(serve: Serve, mocks: Mocks, tmp_path: Path) -> None:
    a = await mocks.start("a")
    await serve.start(config(a, server={"log_level": "info"}, store={"url": f"sqlite:///{tmp_path / 'h.db'}"}),
                      "--workers", "2")
    first = await ready(serve, 2)
    before = {pid: cpu_ticks(pid) for pid in first}
    assert await chats(serve.url, 200) == [200] * 200
    assert all(cpu_ticks(pid) - before[pid] >= 2 for pid in first), "a worker served nothing"  # both served

    os.kill(first[0], signal.SIGKILL)
    assert await chats(serve.url, 20) == [200] * 20  # the other serves meanwhile
    now = await ready(serve, 2, started=3)  # (a third "ready": the replacement's)
    assert len(now) == 2 and first[1] in now and first[0] not in now
    assert "exited with code -9: replaced" in serve.stderr
    assert await chats(serve.url, 20) == [200] * 20
    serve.signal(signal.SIGTERM)
    assert await serve.wait(30) == 0, serve.stderr
    assert workers_of(serve.proc.pid if serve.proc else 0) == []


async def test_sigterm_under_load_stops_every_worker_and_loses_no_row(serve: Serve, mocks: Mocks,
                                                                     tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    a = await mocks.start("a", default=sse_reply(stream_events([f" w{i}" for i in range(10)]), delay=0.05))
    await serve.start(config(a, server={"log_level": "info"}, store={"url": url, "flush_interval": 60}),
                      "--workers", "2")
    workers = await ready(serve, 2)
    answered = 0

    async def one() -> None:
        nonlocal answered
        try:
            async with httpx.AsyncClient(timeout=30) as c, c.stream(
                    "POST", f"{serve.url}{CHAT}", json={"model": MODEL, "messages": HI, "stream": True}) as resp:
                body = await resp.aread()
            assert resp.status_code == 200 and body.rstrip().endswith(b"data: [DONE]")
            answered += 1
        except httpx.TransportError:  # refused once the workers stopped accepting
            pass

    tasks = [asyncio.create_task(one()) for _ in range(40)]
    deadline = time.monotonic() + 20
    while a.hits < 40:  # every one taken in by a worker and sent on: in flight (a stream lasts 0.5 s)
        assert time.monotonic() < deadline, a.hits
        await asyncio.sleep(0.01)
    serve.signal(signal.SIGTERM)
    later = [asyncio.create_task(one()) for _ in range(10)]  # after the signal: answered or refused, never cut
    await asyncio.gather(*tasks, *later)
    assert await serve.wait(30) == 0, serve.stderr
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert answered >= 40  # every request in flight finished
    assert len(await ledger_rows(url)) == answered  # each worker wrote its rows at its exit


async def test_what_each_worker_would_hold_on_its_own_is_refused(serve: Serve, mocks: Mocks, tmp_path: Path) -> None:
    a = await mocks.start("a")
    store = {"url": f"sqlite:///{tmp_path / 'h.db'}"}
    await serve.start(config(a, billing={"credits": True}, store=store), "--workers", "2")
    assert await serve.wait(30) == 2
    assert "--workers 2: this deployment has credits (billing.credits)" in serve.stderr
    refusal = [line for line in serve.stderr.splitlines() if line.startswith("hubroute:")]
    assert len(refusal) == 1 and "Traceback" not in serve.stderr, serve.stderr  # one line

    two = Serve(tmp_path)  # two workers and a master key: limits cannot be set
    await two.start(config(a, server={"master_key": MASTER, "log_level": "info"}, store=store), "--workers", "2")
    await ready(two, 2)
    admin = {"authorization": f"Bearer {MASTER}"}
    async with httpx.AsyncClient(base_url=two.url, headers=admin, timeout=10) as c:
        assert (await c.post("/admin/v1/users", json={"name": "ada"})).status_code == 201
        refused = await c.post("/admin/v1/keys", json={"user": "ada", "limits": {"rpm": 10}})
        assert refused.status_code == 409 and "runs 2 workers" in refused.json()["error"]["message"]
        assert (await c.post("/admin/v1/keys", json={"user": "ada"})).status_code == 201  # none: fine
    two.signal(signal.SIGTERM)
    assert await two.wait(30) == 0

    one = Serve(tmp_path)  # one worker sets a limit; two are then refused, naming it
    await one.start(config(a, server={"master_key": MASTER}, store=store))
    await one.healthy()
    async with httpx.AsyncClient(base_url=one.url, headers=admin, timeout=10) as c:
        assert (await c.post("/admin/v1/keys", json={"user": "ada", "limits": {"rpm": 10}})).status_code == 201
    one.signal(signal.SIGTERM)
    assert await one.wait(30) == 0
    again = Serve(tmp_path)
    await again.start(config(a, server={"master_key": MASTER}, store=store), "--workers", "2")
    assert await again.wait(30) == 2
    assert "this deployment has 1 keys with limits or a budget" in again.stderr


async def test_routers_on_one_store_without_redis_would_each_hold_limits_so_one_is_refused(
        serve: Serve, mocks: Mocks, tmp_path: Path) -> None:
    a = await mocks.start("a")
    conf = config(a, server={"master_key": MASTER, "log_level": "info"},
                  store={"url": f"sqlite:///{tmp_path / 'h.db'}"})
    await serve.start(conf)
    await serve.healthy()
    admin = {"authorization": f"Bearer {MASTER}"}
    async with httpx.AsyncClient(base_url=serve.url, headers=admin, timeout=10) as c:
        assert (await c.post("/admin/v1/users", json={"name": "ada"})).status_code == 201

    second = Serve(tmp_path)  # no limits yet: it starts, and says what it means
    await second.start(conf)
    await second.healthy()
    assert "uses this store too, without sharing limits through Redis" in second.stderr
    for router in (serve, second):  # neither may now set a limit: each would hold it on its own
        async with httpx.AsyncClient(base_url=router.url, headers=admin, timeout=10) as c:
            refused = await c.post("/admin/v1/keys", json={"user": "ada", "limits": {"rpm": 10}})
            assert refused.status_code == 409, refused.text
            assert "uses this store too" in refused.json()["error"]["message"]
    second.signal(signal.SIGTERM)
    assert await second.wait(30) == 0
    async with httpx.AsyncClient(base_url=serve.url, headers=admin, timeout=10) as c:  # alone again: it may
        assert (await c.post("/admin/v1/keys", json={"user": "ada", "limits": {"rpm": 10}})).status_code == 201

    third = Serve(tmp_path)  # with a limit in force, another router on the store is refused, in one line
    await third.start(conf)
    assert await third.wait(30) == 2
    refusal = [line for line in third.stderr.splitlines() if line.startswith("hubroute:")]
    assert len(refusal) == 1 and "Traceback" not in third.stderr, third.stderr
    assert f"pid {serve.proc.pid if serve.proc else 0})" in refusal[0] and "set redis.url" in refusal[0]

    assert serve.proc is not None
    os.kill(serve.proc.pid, signal.SIGKILL)  # a router killed leaves its row; started again, it is not refused
    await serve.proc.wait()
    again = Serve(tmp_path)
    await again.start(conf)
    await again.healthy()
    again.signal(signal.SIGTERM)
    assert await again.wait(30) == 0
