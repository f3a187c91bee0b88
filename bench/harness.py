"""The benchmark's machinery: child processes, CPU placement, /proc readings, HTTP probes, wrk.

Used by run.py; nothing here knows which routers are measured.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WRK_SCRIPT = BENCH / "wrk_post.lua"
MOCK = BENCH / "mock_upstream.py"
HOST = "127.0.0.1"  # the only address anything here listens on or talks to

MODEL = "bench/model"  # the id both routers expose
UPSTREAM_MODEL = "bench-model"  # the id the mock upstream is asked for
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in twenty tokens."},
]
MODES = ("chat", "stream")
CONNECTIONS = (1, 32)

# A run during which processes not started by the benchmark used this much CPU (% of one core) is
# flagged as noisy: on a shared 2-core machine another job easily halves a router's figures.
BUSY_PERCENT = 15.0


T = TypeVar("T")


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def in_workspace(prefix: str, results: Path, run: Callable[[Processes, Path], T], *, keep_logs: bool = False,
                 ) -> T | int:
    """`run(procs, work)` in a temporary folder (children's logs in work/logs), every child process
    stopped however it ends: its result, or 2 on a BenchError (logs kept in results/logs) and 130 on
    Ctrl-C. Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (a background job),
    and SIGTERM/SIGHUP unwind the same way, so the stop always runs. `keep_logs`: keep them anyway."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        procs = Processes(work / "logs")
        try:
            result = run(procs, work)
        except BenchError as exc:
            log(f"FAILED: {exc}")
            procs.stop_all()
            keep_process_logs(work, results)
            return 2
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        finally:
            procs.stop_all()
        if keep_logs:
            keep_process_logs(work, results)
    return result


def write_result(results: Path, prefix: str, out: Any) -> Path:
    """`out` as JSON in results/<prefix>-<time>.json (the folder made if missing); the file's path."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    return path


def keep_process_logs(work: Path, results: Path, out: TextIO = sys.stderr) -> None:
    """Copy the children's logs to results/logs (overwritten each run) for a look after a failure."""
    dest = results / "logs"
    with contextlib.suppress(OSError):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work / "logs", dest)
        print(f"[bench] process logs in {dest}", file=out)


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------------
# processes


class Processes:
    """Every child process the benchmark starts; each in its own process group, all stopped at exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpus: frozenset[int] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        logfile = (self.log_dir / f"{name}.log").open("ab")
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # own process group: stopping it reaches any grandchildren
                preexec_fn=_pin(cpus),  # safe: the benchmark is single-threaded
            )
        finally:
            logfile.close()
        self._procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # the group may outlive its leader (a worker the leader spawned): make sure it is gone
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self._procs = [(n, p) for n, p in self._procs if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(list(self._procs)):
            self.stop(proc)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _pin(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def proc_stats() -> Iterator[tuple[int, str]]:
    """(pid, contents of /proc/<pid>/stat) for every process still there when read."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            yield int(entry.name), (entry / "stat").read_text()
        except OSError:
            continue


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for child, stat in proc_stats():
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(child)
    out, todo = [], [pid]
    while todo and len(out) < 10_000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by pid and its live descendants."""
    ticks = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, ValueError):
            fields = _stat_fields(Path(f"/proc/{p}/stat").read_text())
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> dict[str, Any]:
    """VmRSS and VmHWM (peak RSS) of pid, and VmRSS summed over its process tree, in MB (MiB)."""
    per_pid: dict[int, int] = {}
    hwm = 0
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if "VmRSS" in fields:
            per_pid[p] = int(fields["VmRSS"].split()[0])
        if p == pid and "VmHWM" in fields:
            hwm = int(fields["VmHWM"].split()[0])
    return {
        "rss_mb": round(per_pid.get(pid, 0) / 1024, 1),
        "hwm_mb": round(hwm / 1024, 1),
        "tree_rss_mb": round(sum(per_pid.values()) / 1024, 1),
        "processes": len(per_pid),
    }


@dataclass
class CpuSnapshot:
    per_pid: dict[int, tuple[str, int]]  # pid -> (command name, CPU ticks used so far)
    machine: list[int]  # the "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal ...
    ours: int  # ticks used by this process, the children it reaped and its live descendants


def _stat_fields(stat: str) -> list[str]:
    return stat.rsplit(")", 1)[1].split()  # fields from 3 (state) on; utime is [11], stime [12]


def cpu_snapshot() -> CpuSnapshot:
    per_pid = {}
    for pid, stat in proc_stats():
        fields = _stat_fields(stat)
        per_pid[pid] = (stat[stat.index("(") + 1 : stat.rindex(")")], int(fields[11]) + int(fields[12]))
    machine = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    me = _stat_fields(Path("/proc/self/stat").read_text())
    ours = sum(int(x) for x in me[11:15])  # utime stime cutime cstime
    ours += sum(per_pid.get(pid, ("", 0))[1] for pid in process_tree(os.getpid())[1:])
    return CpuSnapshot(per_pid, machine, ours)


def foreign_cpu(before: CpuSnapshot, seconds: float) -> dict[str, Any]:
    """CPU the rest of the machine used since `before`: all user+system time less this benchmark's
    processes' (so short-lived processes count too), and time stolen by the hypervisor; in % of
    one core. `top` names the busiest processes that are not ours and still exist."""
    after = cpu_snapshot()
    hz = os.sysconf("SC_CLK_TCK")
    scale = 100.0 / hz / max(seconds, 1e-3)
    delta = [a - b for a, b in zip(after.machine, before.machine, strict=False)]
    others = max(0, sum(delta[0:3]) - (after.ours - before.ours))
    ours = set(process_tree(os.getpid()))
    busy = []
    for pid, (name, ticks) in after.per_pid.items():
        used = ticks - before.per_pid.get(pid, (name, 0))[1]
        if pid not in ours and used > 0:
            busy.append((used * scale, f"{name}[{pid}]"))
    busy.sort(reverse=True)
    return {
        "percent_of_one_cpu": round(others * scale, 1),
        "steal_percent_of_one_cpu": round(delta[7] * scale, 1) if len(delta) > 7 else None,
        "top": [f"{who} {p:.0f}%" for p, who in busy[:5] if p >= 1],
    }


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------------
# HTTP probes (http.client, one connection per probe)


def chat_body(model: str, stream: bool) -> bytes:
    body: dict[str, Any] = {"model": model, "messages": MESSAGES, "max_tokens": 64}
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def post(port: int, path: str, body: bytes, auth: str | None, timeout: float) -> Reply:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {auth}"
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def wait_until_answers(
    port: int, path: str, body: bytes, auth: str | None, proc: subprocess.Popen[bytes], timeout: float
) -> float:
    """Poll tightly until a chat request is answered 200; return the time it took, in seconds."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    last_error = "no attempt"
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"process exited with code {proc.returncode} before answering")
        try:
            reply = post(port, path, body, auth, timeout=max(0.1, deadline - time.perf_counter()))
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected) as exc:
            last_error = repr(exc)
            time.sleep(0.002)
            continue
        except OSError as exc:
            last_error = repr(exc)
            time.sleep(0.01)
            continue
        if reply.status == 200:
            return time.perf_counter() - t0
        last_error = f"HTTP {reply.status}: {reply.body[:300]!r}"
        time.sleep(0.01)
    raise BenchError(f"no successful answer within {timeout:.0f} s (last: {last_error})")


def check_replies(
    port: int, model: str, auth: str | None, modes: Sequence[str], expect_headers: dict[str, str | None]
) -> dict[str, Any]:
    """One request per mode, checked for what a client relies on. Raises BenchError if wrong.

    expect_headers: header -> value the answer must carry (None: any value, but present).
    """
    from mock_upstream import TOKENS

    expected = "".join(TOKENS)
    out: dict[str, Any] = {}
    for mode in modes:
        stream = mode == "stream"
        reply = post(port, "/v1/chat/completions", chat_body(model, stream), auth, timeout=60)
        if reply.status != 200:
            raise BenchError(f"{mode}: HTTP {reply.status}: {reply.body[:500]!r}")
        for name, value in expect_headers.items():
            got = reply.headers.get(name)
            if got is None or (value is not None and got != value):
                raise BenchError(f"{mode}: header {name} is {got!r}, expected {value or 'present'!r}")
        info: dict[str, Any] = {
            "x-inference-provider": reply.headers.get("x-inference-provider"),
            "content-type": reply.headers.get("content-type"),
            "bytes": len(reply.body),
        }
        if not stream:
            obj = json.loads(reply.body)
            content = obj["choices"][0]["message"]["content"]
            info["usage"] = obj.get("usage")
        else:
            events = [line[len(b"data:") :].strip() for line in reply.body.split(b"\n") if line.startswith(b"data:")]
            if not events or events[-1] != b"[DONE]":
                raise BenchError(f"stream: does not end with data: [DONE]: {reply.body[-300:]!r}")
            chunks = [json.loads(e) for e in events[:-1]]
            content = "".join((c.get("choices") or [{}])[0].get("delta", {}).get("content") or "" for c in chunks)
            info["events"] = len(events)
            info["usage"] = next((c["usage"] for c in reversed(chunks) if c.get("usage")), None)
        if content != expected:
            raise BenchError(f"{mode}: content {content!r} differs from the upstream's {expected!r}")
        out[mode] = info
    return out


# --------------------------------------------------------------------------------------------------
# wrk


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed: run `sudo apt-get install -y wrk`")
    log("installing wrk (apt-get install -y wrk)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(cmd, env=env, timeout=600, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, timeout=600, check=False)
        subprocess.run(cmd, env=env, timeout=600, check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("wrk still not found after apt-get install")
    return found


def wrk_version(wrk: str) -> str:
    proc = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10, check=False)
    out = (proc.stdout + proc.stderr).strip()
    return out.splitlines()[0].split(" Copyright")[0].strip() if out else "?"


def run_wrk(
    wrk: str,
    port: int,
    body: bytes,
    connections: int,
    duration: float,
    *,
    auth: str | None,
    threads: int,
    cpus: frozenset[int] | None,
    timeout_s: float,
    path: str = "/v1/chat/completions",
) -> dict[str, Any]:
    argv = [
        wrk,
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        f"http://{HOST}:{port}{path}",
    ]
    env = {**os.environ, "BENCH_BODY": body.decode(), "BENCH_AUTH": auth or ""}
    before, t0 = cpu_snapshot(), time.perf_counter()
    proc = subprocess.run(
        argv,
        env=env,
        capture_output=True,
        text=True,
        timeout=duration + timeout_s + 60,
        preexec_fn=_pin(cpus),
        check=False,
    )
    foreign = foreign_cpu(before, time.perf_counter() - t0)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise BenchError(f"wrk failed (exit {proc.returncode}): {proc.stdout[-800:]} {proc.stderr[-800:]}")
    raw = json.loads(line[len("BENCH_JSON ") :])
    lat = raw["latency_us"]
    errors = raw["errors"]
    seconds = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "threads": min(threads, connections),
        "duration_s": round(seconds, 3),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "mean_ms": round(lat["mean"] / 1000, 4),
        "errors": errors,
        "error_count": sum(errors.values()),
        "other_processes_cpu": foreign,
        "wrk_stdout": proc.stdout,
        "argv": argv,
    }


def combine_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Repeated wrk runs of one cell -> medians (and ranges) of req/s, p50 and p99; all runs kept."""
    if len(runs) == 1:
        return {**runs[0], "repeats": 1}

    def med(key: str) -> float:
        return float(statistics.median(r[key] for r in runs))

    errors = {k: sum(r["errors"][k] for r in runs) for k in runs[0]["errors"]}
    noisiest = max(runs, key=lambda r: r["other_processes_cpu"]["percent_of_one_cpu"])
    return {
        "connections": runs[0]["connections"],
        "repeats": len(runs),
        "duration_s": round(sum(r["duration_s"] for r in runs), 3),
        "requests": sum(r["requests"] for r in runs),
        "rps": round(med("rps"), 1),
        "rps_range": [min(r["rps"] for r in runs), max(r["rps"] for r in runs)],
        "p50_ms": med("p50_ms"),
        "p50_range_ms": [min(r["p50_ms"] for r in runs), max(r["p50_ms"] for r in runs)],
        "p99_ms": med("p99_ms"),
        "p99_range_ms": [min(r["p99_ms"] for r in runs), max(r["p99_ms"] for r in runs)],
        "errors": errors,
        "error_count": sum(errors.values()),
        "other_processes_cpu": noisiest["other_processes_cpu"],  # the worst of the runs
        "placement": runs[0]["placement"],
        "runs": runs,
    }


# --------------------------------------------------------------------------------------------------
# the systems under test


LAYOUTS = ("auto", "split", "one-cpu", "mock", "none")


@dataclass(frozen=True)
class Placement:
    """The CPUs each side may run on during one wrk run (None: any)."""

    router: frozenset[int] | None = None
    mock: frozenset[int] | None = None
    wrk: frozenset[int] | None = None

    def describe(self) -> str:
        def cpus(s: frozenset[int] | None) -> str:
            return "any CPU" if s is None else "CPU " + ",".join(map(str, sorted(s)))

        return f"router on {cpus(self.router)}, mock on {cpus(self.mock)}, wrk on {cpus(self.wrk)}"


@dataclass(frozen=True)
class Layout:
    """Where the router, the mock upstream and wrk run, per number of connections.

    split:   the router alone on one CPU, mock and wrk on the other (with 3+ CPUs, wrk gets the rest):
             the router never competes with the load generator for a core.
    one-cpu: all three on one CPU. At one connection the request chain is strictly sequential (wrk
             waits for the router, which waits for the mock), so one CPU is all it can use, and no
             cross-CPU wake-up is charged to the router: on a VM waking an idle vCPU costs tens of
             microseconds per hop (measured here: wrk <-> mock at one connection, p50 19 µs on one
             CPU against 116 µs across two), and the router path has twice the hops of the direct one.
    auto:    one-cpu at 1 connection, split above (default).
    mock:    only the mock pinned (to the last CPU).
    none:    nothing pinned.
    """

    name: str

    def placement(self, connections: int) -> Placement:
        cpus = sorted(os.sched_getaffinity(0))
        name = self.name
        if name == "auto":
            name = "one-cpu" if connections == 1 else "split"
        if name == "none" or len(cpus) < 2:
            return Placement()
        if name == "mock":
            return Placement(mock=frozenset(cpus[-1:]))
        if name == "one-cpu":
            one = frozenset(cpus[:1])
            return Placement(one, one, one)
        wrk = cpus[2:] if len(cpus) > 2 else cpus[1:2]
        return Placement(frozenset(cpus[:1]), frozenset(cpus[1:2]), frozenset(wrk))

    def describe(self) -> str:
        return "; ".join(f"{c} conn: {self.placement(c).describe()}" for c in CONNECTIONS)


def set_affinity(pid: int, cpus: frozenset[int] | None) -> None:
    """Move every thread of pid and of its descendants to cpus (None: all CPUs we may use)."""
    allowed = cpus or frozenset(os.sched_getaffinity(0))
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), allowed)


@dataclass
class Target:
    name: str
    port: int
    model: str
    auth: str | None = None
    expect_headers: dict[str, str | None] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    duration: float = 10.0
    warmup: float = 2.0
    runs: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, Any] | None = None
    rss_idle: dict[str, Any] | None = None
    cold_start_s: list[float] = field(default_factory=list)
    version: str | None = None


# --------------------------------------------------------------------------------------------------
# profiling (py-spy, optional)


def find_py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _frame_package(frame: str) -> str:
    """'send (aiohttp/client.py:12)' -> 'aiohttp'; the event loop's own frames -> 'event loop'."""
    where = frame.rpartition(" (")[2].rstrip(")")
    path = where.rsplit(":", 1)[0]
    if path.startswith(("asyncio/runners.py", "uvloop")):
        return "event loop (uvloop, I/O wait)"
    return path.split("/", 1)[0] if "/" in path else path


_ENTRY = re.compile(r"\(hubroute/(cli|server/serve)\.py:")  # start-up frames under every sample


def summarize_profile(raw: Path, top: int = 15) -> dict[str, Any]:
    """Where samples fall: by package of the innermost Python frame (self time), and by hubroute
    function including what it calls (each function counted once per sample)."""
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        by_package[_frame_package(frames[-1])] += n
        for name in {f.rsplit(":", 1)[0] + ")" for f in frames if "(hubroute/" in f and not _ENTRY.search(f)}:
            inclusive[name] += n

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100.0 * v / total, 1)) for k, v in c.most_common(top)] if total else []

    return {"samples": total, "self_by_package_pct": share(by_package), "hubroute_inclusive_pct": share(inclusive)}
