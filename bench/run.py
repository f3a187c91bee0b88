"""hubroute benchmark: the router's own cost, next to the same upstream reached directly and LiteLLM.

    .venv/bin/python bench/run.py [--skip-litellm] [--duration S] [--only chat|stream]

One run starts a fast mock OpenAI-compatible upstream (bench/mock_upstream.py), then measures with
wrk, at 1 and 32 connections, non-streaming and streaming chat completions:

  direct    wrk -> mock
  hubroute  wrk -> `hubroute serve` (one process) -> mock
  litellm   wrk -> LiteLLM proxy (one worker, pinned version, own virtualenv) -> mock

and reports requests/s, p50/p99 latency, the p50 each router adds over direct at one connection,
each router's RSS after its run and hubroute's cold start. It prints a Markdown table, writes it and
the raw figures to bench/results/, and says which targets are met. See bench/README.md.

Every process it starts runs in its own process group and is stopped on exit, Ctrl-C or failure.
Everything listens on and talks to 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
WRK_SCRIPT = BENCH / "wrk_post.lua"
MOCK = BENCH / "mock_upstream.py"
HOST = "127.0.0.1"  # the only address anything here listens on or talks to

# LiteLLM is pinned so that runs compare like with like. 1.106.2 is the newest release whose
# `litellm[proxy]` resolves from the package index as it stands: every later release (1.106.3+,
# 1.108.x, 1.109.x) requires certifi>=2026.10.19 or litellm-proxy-extras/-enterprise builds that
# the index does not serve. Raise the pin when a newer one installs.
LITELLM_VERSION = "1.106.2"
LITELLM_VENV = BENCH / ".litellm-venv"
LITELLM_KEY = "sk-bench-master-key"

MODEL = "bench/model"  # the id both routers expose
UPSTREAM_MODEL = "bench-model"  # the id the mock upstream is asked for
MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in twenty tokens."},
]
MODES = ("chat", "stream")
CONNECTIONS = (1, 32)

# Targets for a 2-core machine (DESIGN.md, "Performance rules").
TARGET_ADDED_P50_MS = 0.25
TARGET_RATIO = {"chat": 50.0, "stream": 100.0}
TARGET_RSS_MB = 80.0
TARGET_COLD_START_S = 1.0
# A run during which processes not started by the benchmark used this much CPU (% of one core) is
# flagged as noisy: on a shared 2-core machine another job easily halves a router's figures.
BUSY_PERCENT = 15.0


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


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


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo and len(out) < 10_000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


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


def cpu_snapshot() -> dict[int, tuple[str, int]]:
    """pid -> (command name, CPU ticks used so far) for every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (name, int(fields[11]) + int(fields[12]))  # utime + stime
    return out


def foreign_cpu(before: dict[int, tuple[str, int]], seconds: float) -> dict[str, Any]:
    """CPU used since `before` by processes this benchmark did not start (other work on the machine)."""
    after = cpu_snapshot()
    ours = set(process_tree(os.getpid()))
    hz = os.sysconf("SC_CLK_TCK")
    busy = []
    for pid, (name, ticks) in after.items():
        if pid in ours:
            continue
        used = ticks - before.get(pid, (name, 0))[1]
        if used > 0:
            busy.append((100.0 * used / hz / max(seconds, 1e-3), f"{name}[{pid}]"))
    busy.sort(reverse=True)
    return {
        "percent_of_one_cpu": round(sum(p for p, _ in busy), 1),
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


def check_replies(port: int, model: str, auth: str | None, modes: Sequence[str]) -> dict[str, Any]:
    """One request per mode, checked for what a client relies on. Raises BenchError if wrong."""
    from mock_upstream import TOKENS

    expected = "".join(TOKENS)
    out: dict[str, Any] = {}
    for mode in modes:
        stream = mode == "stream"
        reply = post(port, "/v1/chat/completions", chat_body(model, stream), auth, timeout=60)
        if reply.status != 200:
            raise BenchError(f"{mode}: HTTP {reply.status}: {reply.body[:500]!r}")
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
        f"http://{HOST}:{port}/v1/chat/completions",
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
    proc: subprocess.Popen[bytes] | None = None
    duration: float = 10.0
    warmup: float = 2.0
    runs: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, Any] | None = None
    rss_idle: dict[str, Any] | None = None
    cold_start_s: list[float] = field(default_factory=list)
    version: str | None = None


def start_mock(procs: Processes, layout: Layout) -> Target:
    port = free_port()
    argv = [sys.executable, str(MOCK), "--host", HOST, "--port", str(port)]
    proc = procs.spawn("mock_upstream", argv, cpus=layout.placement(max(CONNECTIONS)).mock)
    target = Target("direct", port, UPSTREAM_MODEL, proc=proc)
    try:
        wait_until_answers(port, "/v1/chat/completions", chat_body(UPSTREAM_MODEL, False), None, proc, 20)
    except BenchError as exc:
        raise BenchError(f"mock upstream did not start: {exc}\n{procs.log_tail('mock_upstream')}") from exc
    return target


def hubroute_config(path: Path, upstream_port: int) -> None:
    path.write_text(
        "# written by bench/run.py\n"
        "server: {access_log: false, log_level: warning}\n"
        "providers:\n"
        "  mock:\n"
        "    type: openai-compatible\n"
        f"    base_url: http://{HOST}:{upstream_port}/v1\n"
        "models:\n"
        f"  - id: {MODEL}\n"
        f"    providers: [{{provider: mock, provider_id: {UPSTREAM_MODEL}}}]\n"
    )


def hubroute_argv(args: argparse.Namespace) -> list[str]:
    if args.hubroute_cmd:
        return shlex.split(args.hubroute_cmd)
    for candidate in (ROOT / ".venv" / "bin" / "hubroute", Path(sys.executable).with_name("hubroute")):
        if candidate.exists():
            return [str(candidate)]
    found = shutil.which("hubroute")
    if not found:
        raise BenchError("`hubroute` not found: install the project (`pip install -e .`) into .venv")
    return [found]


def router_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a router: this one, less provider credentials it might pick up."""
    # PYTHONDONTWRITEBYTECODE goes too: an installed router has its bytecode compiled, and
    # recompiling every module at each start would be measured as cold start.
    drop = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUBROUTE_MASTER_KEY", "OPENAI_API_KEY", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_PROXY")}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env.update(extra or {})
    return env


def start_hubroute(
    procs: Processes, args: argparse.Namespace, layout: Layout, work: Path, upstream_port: int
) -> Target:
    config = work / "hubroute.yaml"
    hubroute_config(config, upstream_port)
    target = Target("hubroute", 0, MODEL, duration=args.duration, warmup=args.warmup)
    body = chat_body(MODEL, False)
    # Cold start: spawn to first successfully answered chat request, several times; the last
    # process stays up and is the one measured.
    for i in range(args.cold_starts):
        target.port = free_port()
        argv = [*hubroute_argv(args), "serve", "--config", str(config), "--host", HOST, "--port", str(target.port)]
        cpus = layout.placement(max(CONNECTIONS)).router
        proc = procs.spawn("hubroute", argv, cpus=cpus, env=router_env(), cwd=work)
        try:
            seconds = wait_until_answers(target.port, "/v1/chat/completions", body, None, proc, args.start_timeout)
        except BenchError as exc:
            procs.stop(proc)
            raise BenchError(f"hubroute did not start: {exc}\n{procs.log_tail('hubroute')}") from exc
        target.cold_start_s.append(round(seconds, 4))
        log(f"hubroute cold start {i + 1}/{args.cold_starts}: {seconds * 1000:.0f} ms")
        if i < args.cold_starts - 1:
            procs.stop(proc)
        else:
            target.proc = proc
    version = subprocess.run(
        [*hubroute_argv(args), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    target.version = version.rsplit("version", 1)[-1].strip() or "?"
    return target


def litellm_installed_version() -> str | None:
    python = LITELLM_VENV / "bin" / "python"
    if not (LITELLM_VENV / "bin" / "litellm").exists() or not python.exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.stdout.strip() or None


def ensure_litellm() -> None:
    if litellm_installed_version() == LITELLM_VERSION:
        return
    log(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV.relative_to(ROOT)} (first run only)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True, timeout=300)
    pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}"], check=True, timeout=1800)
    if litellm_installed_version() != LITELLM_VERSION:
        raise BenchError("litellm install finished but the version check failed")


def litellm_config(path: Path, upstream_port: int) -> None:
    path.write_text(
        "# written by bench/run.py\n"
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: openai/{UPSTREAM_MODEL}\n"
        f"      api_base: http://{HOST}:{upstream_port}/v1\n"
        "      api_key: sk-mock-upstream\n"
        "general_settings:\n"
        "  master_key: os.environ/LITELLM_MASTER_KEY\n"
    )


def start_litellm(procs: Processes, args: argparse.Namespace, layout: Layout, work: Path, upstream_port: int) -> Target:
    ensure_litellm()
    config = work / "litellm.yaml"
    litellm_config(config, upstream_port)
    port = free_port()
    duration = args.litellm_duration or max(args.duration, 15.0)
    target = Target("litellm", port, MODEL, auth=LITELLM_KEY, duration=duration, warmup=max(args.warmup, 3.0))
    target.version = LITELLM_VERSION
    env = router_env(
        {
            "LITELLM_MASTER_KEY": LITELLM_KEY,
            "LITELLM_LOG": "WARNING",  # also turns uvicorn's access log off, as hubroute's is
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map from the network
            "LITELLM_TELEMETRY": "False",
            "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
        }
    )
    argv = [
        str(LITELLM_VENV / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        HOST,
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    proc = procs.spawn("litellm", argv, cpus=layout.placement(max(CONNECTIONS)).router, env=env, cwd=work)
    target.proc = proc
    try:
        seconds = wait_until_answers(
            port, "/v1/chat/completions", chat_body(MODEL, False), LITELLM_KEY, proc, args.litellm_start_timeout
        )
    except BenchError as exc:
        raise BenchError(f"LiteLLM did not start: {exc}\n{procs.log_tail('litellm')}") from exc
    target.cold_start_s.append(round(seconds, 3))
    log(f"litellm answered its first request {seconds:.1f} s after spawn")
    return target


def measure(
    target: Target, wrk: str, args: argparse.Namespace, layout: Layout, modes: Sequence[str], mock_pid: int
) -> None:
    target.checks = check_replies(target.port, target.model, target.auth, modes)
    if target.proc is not None:
        target.rss_idle = rss_mb(target.proc.pid)

    def place(connections: int) -> Placement:
        where = layout.placement(connections)
        set_affinity(mock_pid, where.mock)
        if target.proc is not None:
            set_affinity(target.proc.pid, where.router)
        return where

    for mode in modes:
        body = chat_body(target.model, mode == "stream")
        common = {"auth": target.auth, "threads": args.wrk_threads, "timeout_s": 10.0}
        if target.warmup > 0:
            where = place(max(CONNECTIONS))
            run_wrk(wrk, target.port, body, max(CONNECTIONS), target.warmup, cpus=where.wrk, **common)
        target.runs[mode] = {}
        for connections in CONNECTIONS:
            where = place(connections)
            r = run_wrk(wrk, target.port, body, connections, target.duration, cpus=where.wrk, **common)
            r["placement"] = where.describe()
            target.runs[mode][connections] = r
            flag = f"  ERRORS {r['errors']}" if r["error_count"] else ""
            if r["other_processes_cpu"]["percent_of_one_cpu"] >= BUSY_PERCENT:
                flag += f"  (machine busy: {', '.join(r['other_processes_cpu']['top'])})"
            log(
                f"{target.name:8} {mode:6} c={connections:<3} {r['rps']:>10.1f} req/s"
                f"  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms{flag}"
            )
    if target.proc is not None:
        if target.proc.poll() is not None:
            raise BenchError(f"{target.name} exited during the run (code {target.proc.returncode})")
        target.rss = rss_mb(target.proc.pid)


# --------------------------------------------------------------------------------------------------
# report


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def build_report(
    targets: dict[str, Target], modes: Sequence[str], meta: dict[str, Any]
) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    direct, hub, lite = targets.get("direct"), targets.get("hubroute"), targets.get("litellm")
    lines = [
        f"# hubroute benchmark, {meta['date']}",
        "",
        f"- machine: {meta['cpu_model']}, {meta['cpus']} CPUs; {meta['layout']}; Python {meta['python']}",
        f"- hubroute {meta['hubroute_version']} (commit {meta['git_commit']}), LiteLLM {LITELLM_VERSION}, "
        f"{meta['wrk_version']}",
        f"- load: wrk, {meta['wrk_threads']} thread, {meta['duration_s']:g} s per run "
        f"(LiteLLM {meta['litellm_duration_s']:g} s) after a {meta['warmup_s']:g} s warm-up at "
        f"{max(CONNECTIONS)} connections; latencies are wrk's, request sent to last byte received",
        "- mock upstream: 20-token answer; streaming = 20 content chunks + a usage chunk + [DONE]",
        "",
        "| target | mode | conns | req/s | p50 ms | p99 ms | errors | other procs' CPU |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for t in targets.values():
        for mode in modes:
            for c, r in t.runs.get(mode, {}).items():
                lines.append(
                    f"| {t.name} | {mode} | {c} | {r['rps']:,.0f} | {fmt(r['p50_ms'])} | {fmt(r['p99_ms'])} "
                    f"| {r['error_count'] or ''} | {r['other_processes_cpu']['percent_of_one_cpu']:.0f}% |"
                )

    checks: list[dict[str, Any]] = []

    def check(name: str, value: float | None, unit: str, target: str, ok: bool | None, note: str = "") -> None:
        checks.append({"check": name, "value": value, "unit": unit, "target": target, "met": ok, "note": note})

    def errors_in(t: Target | None, mode: str) -> int:
        return sum(r["error_count"] for r in t.runs.get(mode, {}).values()) if t else 0

    summary: dict[str, Any] = {}
    for mode in modes:
        for t in (hub, lite):
            if not (t and direct and mode in t.runs and mode in direct.runs):
                continue
            added = t.runs[mode][1]["p50_ms"] - direct.runs[mode][1]["p50_ms"]
            summary[f"{t.name}_added_p50_ms_{mode}"] = round(added, 3)
            if t is hub:
                bad = errors_in(hub, mode) + errors_in(direct, mode)
                check(
                    f"hubroute added p50 at 1 connection, {mode}",
                    round(added, 3),
                    "ms",
                    f"<= {TARGET_ADDED_P50_MS}",
                    None if bad else added <= TARGET_ADDED_P50_MS,
                    f"{bad} errors in the runs" if bad else "",
                )
        if hub and mode in hub.runs:
            hub_rps = hub.runs[mode][max(CONNECTIONS)]["rps"]
            if lite and mode in lite.runs:
                lite_rps = lite.runs[mode][max(CONNECTIONS)]["rps"]
                ratio = hub_rps / lite_rps if lite_rps else None
                summary[f"throughput_ratio_{mode}"] = None if ratio is None else round(ratio, 1)
                bad = errors_in(hub, mode) + errors_in(lite, mode)
                check(
                    f"hubroute / LiteLLM req/s at {max(CONNECTIONS)} connections, {mode}",
                    None if ratio is None else round(ratio, 1),
                    "x",
                    f">= {TARGET_RATIO[mode]:g}",
                    None if ratio is None or bad else ratio >= TARGET_RATIO[mode],
                    f"{bad} errors in the runs" if bad else "",
                )
            else:
                check(
                    f"hubroute / LiteLLM req/s at {max(CONNECTIONS)} connections, {mode}",
                    None,
                    "x",
                    f">= {TARGET_RATIO[mode]:g}",
                    None,
                    "LiteLLM not measured",
                )
    if hub and hub.rss:
        check(
            "hubroute RSS after the run",
            hub.rss["tree_rss_mb"],
            "MB",
            f"<= {TARGET_RSS_MB:g}",
            hub.rss["tree_rss_mb"] <= TARGET_RSS_MB,
        )
    if hub and hub.cold_start_s:
        med = statistics.median(hub.cold_start_s)
        check(
            "hubroute cold start (median)",
            round(med, 3),
            "s",
            f"< {TARGET_COLD_START_S:g}",
            med < TARGET_COLD_START_S,
            "runs: " + ", ".join(f"{s:.3f}" for s in hub.cold_start_s),
        )

    lines += [
        "",
        "| router | added p50 @1 conn, chat | added p50 @1 conn, stream | RSS after run | "
        "peak RSS | first answer after spawn |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for t in (hub, lite):
        if not t:
            continue
        added = [summary.get(f"{t.name}_added_p50_ms_{m}") for m in MODES]
        cold = statistics.median(t.cold_start_s) if t.cold_start_s else None
        lines.append(
            f"| {t.name} | {fmt(added[0])} ms | {fmt(added[1])} ms | "
            f"{fmt(t.rss and t.rss['tree_rss_mb'], 1)} MB | {fmt(t.rss and t.rss['hwm_mb'], 1)} MB | "
            f"{fmt(cold, 3)} s |"
        )

    lines += ["", "| target | value | goal | met |", "|---|--:|--:|:-:|"]
    for c in checks:
        met = {True: "yes", False: "**NO**", None: "n/a"}[c["met"]]
        value = "-" if c["value"] is None else f"{c['value']:g} {c['unit']}"
        note = f" ({c['note']})" if c["note"] else ""
        lines.append(f"| {c['check']}{note} | {value} | {c['target']} {c['unit']} | {met} |")
    return "\n".join(lines) + "\n", summary, checks


def machine_meta(args: argparse.Namespace, layout: Layout, wrk: str) -> dict[str, Any]:
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "layout": layout.describe(),
        "python": platform.python_version(),
        "git_commit": commit + ("+dirty" if dirty else ""),
        "wrk_version": wrk_version(wrk),
        "wrk_threads": args.wrk_threads,
        "duration_s": args.duration,
        "litellm_duration_s": args.litellm_duration or max(args.duration, 15.0),
        "warmup_s": args.warmup,
        "load_average_at_start": os.getloadavg(),
        "hubroute_version": "?",
    }


# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark hubroute against the same mock upstream reached directly and LiteLLM's proxy."
    )
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    ap.add_argument(
        "--litellm-duration",
        type=float,
        default=None,
        help="seconds per wrk run against LiteLLM (default max(--duration, 15))",
    )
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load before each mode")
    ap.add_argument("--only", choices=MODES, help="measure only non-streaming (chat) or streaming")
    ap.add_argument("--skip-litellm", action="store_true", help="do not install or measure LiteLLM")
    ap.add_argument("--cold-starts", type=int, default=3, help="hubroute cold starts to time (median reported)")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="CPU pinning (see Layout in run.py): auto = all on one CPU at 1 connection, router "
        "alone on one CPU and mock + wrk on the other at 32 (default); split; one-cpu; mock; none",
    )
    ap.add_argument("--hubroute-cmd", help="command to run instead of .venv/bin/hubroute (e.g. a stand-in)")
    ap.add_argument("--start-timeout", type=float, default=30.0, help="seconds hubroute may take to answer")
    ap.add_argument("--litellm-start-timeout", type=float, default=180.0)
    ap.add_argument("--results", type=Path, default=RESULTS, help="where to write results (default bench/results)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = ap.parse_args(argv)
    if args.duration <= 0 or args.cold_starts < 1 or args.wrk_threads < 1:
        ap.error("--duration, --cold-starts and --wrk-threads must be positive")
    return args


def run(args: argparse.Namespace, procs: Processes, work: Path) -> tuple[dict[str, Target], dict[str, Any]]:
    wrk = ensure_wrk()
    modes = (args.only,) if args.only else MODES
    layout = Layout(args.layout)
    meta = machine_meta(args, layout, wrk)
    log(f"layout: {layout.describe()}; load average {meta['load_average_at_start']}")
    if max(meta["load_average_at_start"]) > 0.5 * (os.cpu_count() or 1):
        log("WARNING: the machine is busy; figures will be noisy")

    targets: dict[str, Target] = {}
    direct = start_mock(procs, layout)
    assert direct.proc is not None
    mock_pid, direct.proc = direct.proc.pid, None  # the mock's own RSS is not a result
    direct.duration, direct.warmup = args.duration, args.warmup
    targets["direct"] = direct
    measure(direct, wrk, args, layout, modes, mock_pid)

    hub = start_hubroute(procs, args, layout, work, direct.port)
    targets["hubroute"] = hub
    meta["hubroute_version"] = hub.version
    measure(hub, wrk, args, layout, modes, mock_pid)
    assert hub.proc is not None
    procs.stop(hub.proc)

    if not args.skip_litellm:
        lite = start_litellm(procs, args, layout, work, direct.port)
        targets["litellm"] = lite
        measure(lite, wrk, args, layout, modes, mock_pid)
        assert lite.proc is not None
        procs.stop(lite.proc)
    meta["load_average_at_end"] = os.getloadavg()
    return targets, meta


def write_results(
    out_dir: Path, report: str, targets: dict[str, Target], meta: dict[str, Any], summary: Any, checks: Any
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = {
        "meta": meta,
        "summary": summary,
        "checks": checks,
        "targets": {
            name: {
                "port": t.port,
                "model": t.model,
                "version": t.version,
                "duration_s": t.duration,
                "checks": t.checks,
                "rss_idle": t.rss_idle,
                "rss_after_run": t.rss,
                "first_answer_after_spawn_s": t.cold_start_s,
                "runs": {m: {str(c): r for c, r in rs.items()} for m, rs in t.runs.items()},
            }
            for name, t in targets.items()
        },
    }
    md, js = out_dir / f"bench-{stamp}.md", out_dir / f"bench-{stamp}.json"
    md.write_text(report)
    js.write_text(json.dumps(raw, indent=2) + "\n")
    for src, name in ((md, "latest.md"), (js, "latest.json")):
        shutil.copyfile(src, out_dir / name)
    return md, js


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (a background job), and
    # SIGTERM/SIGHUP unwind the same way, so the finally below stops every child process.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="hubroute-bench-") as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        procs = Processes(work / "logs")
        try:
            targets, meta = run(args, procs, work)
        except BenchError as exc:
            log(f"FAILED: {exc}")
            _keep_logs(work, args.results)
            return 2
        except KeyboardInterrupt:
            log("interrupted")
            return 130
        finally:
            procs.stop_all()
        _keep_logs(work, args.results)
    modes = (args.only,) if args.only else MODES
    report, summary, checks = build_report(targets, modes, meta)
    md, js = write_results(args.results, report, targets, meta, summary, checks)
    print(report)
    log(f"written {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md} and {js.name}")
    missed = [c for c in checks if c["met"] is False]
    return 1 if args.strict and missed else 0


def _keep_logs(work: Path, results: Path, out: TextIO = sys.stderr) -> None:
    """Copy the children's logs to results/logs (overwritten each run) for a look after a failure."""
    dest = results / "logs"
    with contextlib.suppress(OSError):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(work / "logs", dest)
        print(f"[bench] process logs in {dest}", file=out)


if __name__ == "__main__":
    sys.exit(main())
