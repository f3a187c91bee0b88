"""Abuse a real `hubroute serve` as issue 11 did: stalled connections, then huge request heads.

    .venv/bin/python bench/stalled.py [--connections 20000] [--hold 15] [--huge-mb 128] [--huge-runs 5]
        [--http-stack fast|stock] [--json out.json]

1. Stalled connections. Attacker processes (this file, `--attack`) open `--connections` connections
   to the router as fast as they can, half of them silent, half sending a request head one byte a
   second, and hold them for `--hold` seconds. Each attacker raises its RLIMIT_NOFILE to the hard
   limit and takes as many connections as that allows (less a margin); as many attackers are
   started as the count needs. Meanwhile a legitimate client asks `GET /health` every 10 ms, each
   time on a new connection with a 2 s timeout. Reported: the share of its requests answered (the
   target is >= 99%), its latency, the connections the attackers opened and saw closed, the
   router's open file descriptors and RSS (sampled every 0.5 s).
2. Huge heads. `--huge-runs` times, one connection sends a request head with a `--huge-mb` MB header
   value (never ended) and reads the answer (431 expected). Reported: the router's CPU time per
   refusal (summed over its threads from /proc/<pid>/task/*/schedstat, in ns; an equally long idle
   interval subtracted), the time to the answer, and the router's RSS before and after (the target:
   under 10 ms of CPU and no RSS growth).

The router runs with its default limits (`server:` untouched but for logging) unless given
`--config-extra`. Everything listens on and talks to 127.0.0.1 only; every wait is bounded; every
process it starts is stopped on exit, Ctrl-C or failure (bench/harness.py's `in_workspace`).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BENCH, HOST, BenchError, Processes, free_port, in_workspace, log, rss_mb
from run import hubroute_argv, router_env

RESULTS = BENCH / "results"
FD_MARGIN = 64  # descriptors an attacker keeps for itself
SLOW_HEAD = b"GET /health HTTP/1.1\r\nhost: bench\r\nx-slow: " + b"a" * 4096


# --- the attacker (a child process: `stalled.py --attack PORT COUNT HOLD OUT`) --------------------
def raise_nofile() -> tuple[int, int]:
    """RLIMIT_NOFILE raised to its hard limit: (soft now, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def attack(port: int, count: int, hold: float, out: Path) -> None:
    soft, hard = raise_nofile()
    count = min(count, soft - FD_MARGIN)
    socks: list[socket.socket] = []
    failed = 0
    started = time.monotonic()
    for i in range(count):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex((HOST, port))
        if err not in (0, 115):  # EINPROGRESS
            failed += 1
            s.close()
            continue
        socks.append(s)
        if i % 200 == 199:
            time.sleep(0.01)  # ~20k connections a second at most: the accept queue keeps up
    opened_in = time.monotonic() - started
    alive = list(range(len(socks)))
    sent = [0] * len(socks)
    closed_at: list[float] = []
    deadline = started + hold
    while time.monotonic() < deadline and alive:
        tick = time.monotonic()
        still = []
        for i in alive:
            try:
                if i % 2:  # a slow head: one byte a second
                    socks[i].send(SLOW_HEAD[sent[i] : sent[i] + 1])
                    sent[i] += 1
                elif socks[i].recv(1, socket.MSG_PEEK) == b"":  # silent: just see whether it is still open
                    raise ConnectionResetError
                still.append(i)
            except (BlockingIOError, InterruptedError):
                still.append(i)
            except OSError:
                closed_at.append(time.monotonic() - started)
        alive = still
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    out.write_text(json.dumps({"nofile_soft": soft, "nofile_hard": hard, "asked": count, "opened": len(socks),
                               "connect_failed": failed, "opened_in_s": round(opened_in, 2),
                               "closed_by_router": len(closed_at),
                               "closed_median_s": round(statistics.median(closed_at), 1) if closed_at else None,
                               "open_at_end": len(alive)}))
    for s in socks:
        s.close()


# --- the measuring side -------------------------------------------------------------------------
def health(port: int, timeout: float) -> tuple[bool, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200, time.perf_counter() - started
    except OSError:
        return False, time.perf_counter() - started
    finally:
        conn.close()


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def cpu_ns(pid: int) -> int:
    """CPU time the process has used, in ns, summed over its threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total


def start_router(procs: Processes, args: argparse.Namespace, work: Path) -> tuple[Any, int]:
    config = work / "hubroute.yaml"
    config.write_text("server:\n  access_log: false\n  log_level: warning\n"
                      f"  http_stack: {args.http_stack}\n{args.config_extra}")
    port = free_port()
    argv = [*hubroute_argv(args), "serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    proc = procs.spawn("hubroute", argv, env=router_env(), cwd=work)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"hubroute exited with {proc.returncode}:\n{procs.log_tail('hubroute')}")
        if health(port, 1)[0]:
            return proc, port
        time.sleep(0.05)
    raise BenchError("hubroute did not answer /health within 30 s")


def stalled(procs: Processes, args: argparse.Namespace, work: Path, proc: Any, port: int) -> dict[str, Any]:
    soft, hard = raise_nofile()
    per = max(1, hard - FD_MARGIN)
    attackers = []
    left = args.connections
    while left > 0 and len(attackers) < 16:
        n = min(per, left)
        out = work / f"attacker{len(attackers)}.json"
        argv = [sys.executable, __file__, "--attack", str(port), str(n), str(args.hold), str(out)]
        attackers.append((procs.spawn(f"attacker{len(attackers)}", argv), out))
        left -= n
    log(f"{len(attackers)} attacker(s) opening {args.connections} connections, held {args.hold:g} s")
    results: list[tuple[bool, float]] = []
    samples: list[tuple[int, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append((fd_count(proc.pid), rss_mb(proc.pid)["rss_mb"]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    deadline = time.monotonic() + args.hold + 5
    while time.monotonic() < deadline and any(p.poll() is None for p, _ in attackers):
        tick = time.monotonic()
        results.append(health(port, 2))
        time.sleep(max(0.0, 0.01 - (time.monotonic() - tick)))
    stop.set()
    sampler.join()
    reports = []
    for p, out in attackers:
        try:
            p.wait(args.hold + 30)
        except Exception:
            procs.stop(p)
        if out.exists():
            reports.append(json.loads(out.read_text()))
    if proc.poll() is not None:
        raise BenchError(f"hubroute died during the attack:\n{procs.log_tail('hubroute')}")
    answered = [t for ok, t in results if ok]
    ms = sorted(t * 1000 for t in answered)
    return {
        "client_nofile": {"soft": soft, "hard": hard},
        "attackers": reports,
        "connections_opened": sum(r["opened"] for r in reports),
        "connections_closed_by_router": sum(r["closed_by_router"] for r in reports),
        "legit_requests": len(results),
        "legit_answered": len(answered),
        "legit_answered_percent": round(100 * len(answered) / max(1, len(results)), 2),
        "legit_p50_ms": round(ms[len(ms) // 2], 2) if ms else None,
        "legit_p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2) if ms else None,
        "router_fds_max": max((f for f, _ in samples), default=None),
        "router_rss_mb_max": max((r for _, r in samples), default=None),
        "router_log_tail": procs.log_tail("hubroute", 5),
    }


def huge_head(proc: Any, port: int, megabytes: int) -> dict[str, Any]:
    """One request with a `megabytes` MB header value: CPU the router spent, the answer, RSS around it."""
    value = b"a" * (1 << 20)
    rss_before = rss_mb(proc.pid)["rss_mb"]
    sock = socket.create_connection((HOST, port), timeout=10)
    sent = 0
    reply = b""

    def send() -> None:
        nonlocal sent
        with contextlib.suppress(OSError):
            sock.sendall(b"GET /health HTTP/1.1\r\nhost: bench\r\nx-huge: ")
            for _ in range(megabytes):
                sock.sendall(value)
                sent += len(value)

    cpu0 = cpu_ns(proc.pid)
    started = time.perf_counter()
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in reply and len(reply) < 65536:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    answered_in = time.perf_counter() - started
    sender.join(10)
    sock.close()
    time.sleep(0.3)  # the router's side of the close
    cpu = cpu_ns(proc.pid) - cpu0
    elapsed = time.perf_counter() - started
    return {"status_line": reply.split(b"\r\n", 1)[0].decode(errors="replace"),
            "answered_ms": round(answered_in * 1000, 2), "client_sent_mb": round(sent / (1 << 20), 1),
            "router_cpu_ns": cpu, "elapsed_s": elapsed,
            "rss_before_mb": rss_before, "rss_after_mb": rss_mb(proc.pid)["rss_mb"]}


def run(procs: Processes, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    proc, port = start_router(procs, args, work)
    result: dict[str, Any] = {"http_stack": args.http_stack, "connections": args.connections, "hold_s": args.hold}
    if args.connections:
        result["stalled"] = stalled(procs, args, work, proc, port)
        s = result["stalled"]
        log(f"stalled: {s['connections_opened']} opened, {s['connections_closed_by_router']} closed by the router; "
            f"legit client {s['legit_answered']}/{s['legit_requests']} answered ({s['legit_answered_percent']}%), "
            f"p50 {s['legit_p50_ms']} ms, p99 {s['legit_p99_ms']} ms; router fds max {s['router_fds_max']}, "
            f"RSS max {s['router_rss_mb_max']} MB")
        time.sleep(1)
    runs = []
    for i in range(args.huge_runs):
        idle0 = cpu_ns(proc.pid)
        t0 = time.perf_counter()
        time.sleep(0.5)
        idle_rate = (cpu_ns(proc.pid) - idle0) / (time.perf_counter() - t0)  # background ns per second
        one = huge_head(proc, port, args.huge_mb)
        one["router_cpu_ms"] = round(max(0, one["router_cpu_ns"] - idle_rate * one.pop("elapsed_s")) / 1e6, 3)
        runs.append(one)
        log(f"huge head {i + 1}: {one['status_line']!r} in {one['answered_ms']} ms, router CPU "
            f"{one['router_cpu_ms']} ms, RSS {one['rss_before_mb']} -> {one['rss_after_mb']} MB")
    if runs:
        result["huge_head"] = {"megabytes": args.huge_mb, "runs": runs,
                               "router_cpu_ms_median": statistics.median(r["router_cpu_ms"] for r in runs),
                               "rss_growth_mb": round(runs[-1]["rss_after_mb"] - runs[0]["rss_before_mb"], 1)}
    result["still_answers"] = health(port, 2)[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=20_000)
    parser.add_argument("--hold", type=float, default=15.0, help="seconds the attackers hold their connections")
    parser.add_argument("--huge-mb", type=int, default=128)
    parser.add_argument("--huge-runs", type=int, default=5)
    parser.add_argument("--http-stack", choices=("fast", "stock"), default="fast")
    parser.add_argument("--config-extra", default="", help="more `server:` lines, indented two spaces")
    parser.add_argument("--hubroute-cmd", default="", help="the router's command (default: .venv/bin/hubroute)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--attack", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        port, count, hold, out = args.attack
        attack(int(port), int(count), float(hold), Path(out))
        return
    if not 0 <= args.connections <= 200_000 or not 0 < args.hold <= 120 or not 0 <= args.huge_runs <= 20:
        parser.error("--connections 0..200000, --hold 0..120, --huge-runs 0..20")
    result = in_workspace("hubroute-stalled-", RESULTS, lambda procs, work: run(procs, work, args))
    if isinstance(result, int):
        sys.exit(result)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
