"""`hubroute serve --workers N` (or `server.workers`): N router processes on one port, the kernel
spreading connections among them (each worker listens on a socket of its own, SO_REUSEPORT).

The process started is the supervisor: it checks the config and the store once, holds the port
(bound, not listening: the port cannot be taken from it, and no connection waits on it), starts the
workers and keeps N of them: a worker that dies is replaced, in one log line; one that dies within
`QUICK` seconds of its start `GIVE_UP` times in a row stops them all (exit 1: what cannot run is not
restarted forever). SIGTERM or SIGINT is passed on to each worker, which stops accepting, finishes
its requests (up to `server.shutdown_timeout`), writes its ledger rows and exits; the supervisor
exits when all have (those still running `shutdown_timeout` + `GRACE` seconds later are killed).
Workers run in a process group of their own (a terminal's Ctrl-C reaches the supervisor alone, which
passes it on once) and stop gracefully on their own if the supervisor dies.

Rate limits, budgets and credits are held by each process: with several workers each would allow
the whole limit. A deployment that has any refuses to start with more than one worker, and its
admin API refuses to add any while several run (`App.single_process`), until they are shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import wait
from typing import TYPE_CHECKING, Any

from hubroute.server import logs
from hubroute.server.serve import listen, raise_fd_limit, serve, warn_if_unreachable

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from hubroute.config import Settings
    from hubroute.server.app import App

log = logging.getLogger("hubroute.server")

#: a worker that dies sooner than this after its start has not really run
QUICK = 10.0
#: that many quick deaths in a row stop the supervisor
GIVE_UP = 5
#: seconds after `server.shutdown_timeout` before workers still running are killed
GRACE = 5.0


def supervise(settings: Settings, app: App) -> None:
    """Run `settings.server.workers` workers of the deployment `app.deployment` (`serve.alone` has
    checked that what they would hold on their own is nothing)."""
    n = settings.server.workers
    s = settings.server
    held = listen(s.host, s.port, reuse_port=True)
    warn_if_unreachable(app)
    context = multiprocessing.get_context("spawn")  # (a fresh interpreter: nothing of the supervisor's state)
    workers: dict[int, tuple[BaseProcess, float]] = {}
    stopping = False
    quick_deaths = 0

    def start(index: int) -> None:
        process = context.Process(target=_worker, args=(settings, index, app.deployment),
                                  name=f"hubroute-worker-{index}")
        process.start()
        workers[index] = (process, time.monotonic())

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            log.info("stopping %d workers (signal %d)", len(workers), signum)
        stopping = True
        for process, _ in workers.values():
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(n):
            start(index)
        log.info("supervisor %d: %d workers on %s:%d", os.getpid(), n, s.host, s.port)
        while workers and not stopping:
            wait([p.sentinel for p, _ in workers.values()], timeout=1.0)
            for index, (process, started) in list(workers.items()):
                if process.is_alive() or stopping:
                    continue
                del workers[index]
                quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK else 0
                if quick_deaths >= GIVE_UP:
                    log.error("worker %d exited with code %s, %d times in a row within %gs of its start: "
                              "stopping", index, process.exitcode, quick_deaths, QUICK)
                    stop(signal.SIGTERM, None)
                    break
                log.warning("worker %d (pid %d) exited with code %s: replaced", index, process.pid, process.exitcode)
                start(index)
        deadline = time.monotonic() + s.shutdown_timeout + GRACE
        for process, _ in workers.values():
            process.join(max(deadline - time.monotonic(), 0))
            if process.is_alive():
                log.error("worker pid %d still running %gs after the signal: killed", process.pid,
                          s.shutdown_timeout + GRACE)
                process.kill()
                process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sock in held:
            sock.close()
    if quick_deaths >= GIVE_UP:
        raise SystemExit(1)


def _worker(settings: Settings, index: int, deployment: str) -> None:
    """One worker: the router on a socket of its own."""
    os.setpgid(0, 0)  # (a terminal's Ctrl-C goes to the supervisor, which passes it on once)
    logs.configure(settings.server.log_level)
    raise_fd_limit()
    from hubroute.server.app import App

    supervisor = os.getppid()
    app = App(settings, deployment=deployment)
    s = settings.server
    sockets = listen(s.host, s.port, reuse_port=True)

    watching: list[asyncio.Task[None]] = []

    def watch(server: Any) -> None:
        async def orphaned() -> None:  # the supervisor gone (killed): stop as on SIGTERM
            while not server.should_exit:
                await asyncio.sleep(1.0)
                if os.getppid() != supervisor:
                    log.warning("worker %d: the supervisor is gone: stopping", index)
                    server.should_exit = True

        watching.append(asyncio.get_running_loop().create_task(orphaned()))

    try:
        serve(app, settings, sockets, worker=f" (worker {index}, pid {os.getpid()})", on_ready=watch)
    finally:
        for sock in sockets:
            sock.close()
