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
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import (
    BENCH,
    BUSY_PERCENT,
    CONNECTIONS,
    HOST,
    LAYOUTS,
    MOCK,
    MODEL,
    MODES,
    ROOT,
    UPSTREAM_MODEL,
    BenchError,
    Layout,
    Placement,
    Processes,
    Target,
    chat_body,
    check_replies,
    combine_runs,
    ensure_wrk,
    find_py_spy,
    free_port,
    in_workspace,
    log,
    post,
    rss_mb,
    run_wrk,
    set_affinity,
    summarize_profile,
    wait_until_answers,
)
from report import build_report, machine_meta, write_results

RESULTS = BENCH / "results"

# LiteLLM is pinned so that runs compare like with like. 1.106.2 is the newest release whose
# `litellm[proxy]` resolves from the package index as it stands: every later release (1.106.3+,
# 1.108.x, 1.109.x) requires certifi>=2026.10.19 or litellm-proxy-extras/-enterprise builds that
# the index does not serve. Raise the pin when a newer one installs.
LITELLM_VERSION = "1.106.2"
LITELLM_VENV = BENCH / ".litellm-venv"
LITELLM_KEY = "sk-bench-master-key"


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


#: the target name of the router without a store (--stateless, --accounts)
STATELESS = "hubroute-stateless"

#: with --accounts: the master key the bench makes its user and key with
ACCOUNTS_MASTER = "sk-bench-hubroute-master"


def hubroute_config(path: Path, upstream_port: int, accounts: bool = False, store: bool = True,
                    redis: str | None = None) -> None:
    """The router's config; `redis`: its rate limits, credits and budgets kept there (under a prefix
    of the run's own, so that runs never share counters)."""
    master = f", master_key: {ACCOUNTS_MASTER}" if accounts else ""
    shared = f"redis: {{url: '{redis}', prefix: 'hubroute-bench-{os.getpid()}-{free_port()}:'}}\n" if redis else ""
    path.write_text(
        "# written by bench/run.py\n"
        f"server: {{access_log: false, log_level: warning{master}}}\n"
        + ("" if store else "store: {enabled: false}\n")
        + shared
        +
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
    env["HUBROUTE_HOME"] = "."  # the store (hubroute.db) in the run's work directory, the router's cwd
    env.update(extra or {})
    return env


def start_hubroute(
    procs: Processes, args: argparse.Namespace, layout: Layout, work: Path, upstream_port: int,
    name: str = "hubroute", store: bool = True,
) -> Target:
    """`hubroute serve` as configured by the flags (with `store` False: no database at all, the
    stateless router), its cold start timed; the last process started stays up."""
    accounts = args.accounts and store
    config = work / f"{name}.yaml"
    hubroute_config(config, upstream_port, accounts, store, args.redis if accounts else None)
    target = Target(name, 0, MODEL, auth=ACCOUNTS_MASTER if accounts else None, duration=args.duration,
                    warmup=args.warmup)
    target.expect_headers = {"x-inference-provider": "mock", "x-request-id": None}
    body = chat_body(MODEL, False)
    # Cold start: spawn to first successfully answered chat request, several times; the last
    # process stays up and is the one measured.
    for i in range(args.cold_starts):
        target.port = free_port()
        argv = [*hubroute_argv(args), "serve", "--config", str(config), "--host", HOST, "--port", str(target.port)]
        cpus = layout.placement(max(CONNECTIONS)).router
        proc = procs.spawn("hubroute", argv, cpus=cpus, env=router_env(), cwd=work)
        try:
            seconds = wait_until_answers(target.port, "/v1/chat/completions", body, target.auth, proc,
                                         args.start_timeout)
        except BenchError as exc:
            procs.stop(proc)
            raise BenchError(f"hubroute did not start: {exc}\n{procs.log_tail('hubroute')}") from exc
        target.cold_start_s.append(round(seconds, 4))
        log(f"hubroute cold start {i + 1}/{args.cold_starts}: {seconds * 1000:.0f} ms")
        if i < args.cold_starts - 1:
            procs.stop(proc)
        else:
            target.proc = proc
    if accounts:
        target.auth = stored_key(target.port)
    version = subprocess.run(
        [*hubroute_argv(args), "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    target.version = version.rsplit("version", 1)[-1].strip() or "?"
    return target


def stored_key(port: int) -> str:
    """A user and a key of the store with every kind of limit and a budget (none of them reached by the
    run), made with the admin API: requests then pay for each check a deployment with accounts makes."""
    def admin(path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = post(port, path, json.dumps(body).encode(), ACCOUNTS_MASTER, timeout=30)
        if reply.status != 201:
            raise BenchError(f"POST {path}: {reply.status} {reply.body[:300]!r}")
        return dict(json.loads(reply.body))

    admin("/admin/v1/users", {"name": "bench"})
    key = admin("/admin/v1/keys", {"user": "bench", "name": "bench", "limits": {
        "rpm": 2_000_000_000, "tpm": 2_000_000_000, "concurrency": 100_000},
        "budget": {"usd": 1_000_000, "period": "month"}})
    return str(key["key"])


def local_redis_pid(url: str) -> int | None:
    """The process id of the Redis at `url` when it runs on this machine and we may move it (INFO's
    `process_id`); None otherwise (it is then left where the kernel puts it)."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=5) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            data = b""
            while b"process_id:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    found = re.search(rb"process_id:(\d+)", data)
    if found is None:
        return None
    pid = int(found.group(1))
    try:
        os.sched_setaffinity(pid, os.sched_getaffinity(pid))  # (allowed to move it?)
    except OSError:
        return None
    return pid


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


def ensure_litellm(log_dir: Path) -> None:
    if litellm_installed_version() == LITELLM_VERSION:
        return
    log(f"installing litellm[proxy]=={LITELLM_VERSION} into {LITELLM_VENV.relative_to(ROOT)} (first run only)")
    pip_log = log_dir / "litellm-install.log"
    with pip_log.open("wb") as out:
        for step in (
            [sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)],
            [
                str(LITELLM_VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                f"litellm[proxy]=={LITELLM_VERSION}",
            ],
        ):
            if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, timeout=1800, check=False).returncode:
                tail = "\n".join(pip_log.read_text(errors="replace").splitlines()[-15:])
                raise BenchError(f"installing LiteLLM failed: {shlex.join(step)}\n{tail}")
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
    ensure_litellm(procs.log_dir)
    config = work / "litellm.yaml"
    litellm_config(config, upstream_port)
    port = free_port()
    duration = args.litellm_duration or max(args.duration, 10.0)
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
    target: Target,
    wrk: str,
    args: argparse.Namespace,
    layout: Layout,
    modes: Sequence[str],
    upstream: Sequence[int],
    procs: Processes,
    results: Path,
) -> None:
    """`upstream`: the processes a request reaches besides the router (the mock; with --redis, a Redis
    on this machine), placed as the layout places the mock."""
    target.checks = check_replies(target.port, target.model, target.auth, modes, target.expect_headers)
    if target.proc is not None:
        target.rss_idle = rss_mb(target.proc.pid)

    def place(connections: int) -> Placement:
        where = layout.placement(connections)
        for pid in upstream:
            set_affinity(pid, where.mock)
        if target.proc is not None:
            set_affinity(target.proc.pid, where.router)
        return where

    for mode in modes:
        body = chat_body(target.model, mode == "stream")
        common = {"auth": target.auth, "threads": args.wrk_threads, "timeout_s": 10.0}
        if target.warmup > 0:
            where = place(max(CONNECTIONS))
            run_wrk(wrk, target.port, body, max(CONNECTIONS), target.warmup, cpus=where.wrk, **common)
        runs: dict[int, list[dict[str, Any]]] = {c: [] for c in CONNECTIONS}
        for rep in range(args.repeat):  # rounds alternate the connection counts, so drift hits both
            for connections in CONNECTIONS:
                where = place(connections)
                spy = raw = None
                if args.profile and rep == 0 and target.name.startswith("hubroute") and target.proc is not None:
                    raw = results / f"profile-{target.name}-{mode}-c{connections}.txt"
                    spy = start_profile(procs, target.proc.pid, target.duration, raw, where)
                r = run_wrk(wrk, target.port, body, connections, target.duration, cpus=where.wrk, **common)
                r["placement"] = where.describe()
                if spy is not None and raw is not None:
                    r["profile"] = finish_profile(procs, spy, raw)
                runs[connections].append(r)
                log_run(target.name, mode, connections, r, f" [{rep + 1}/{args.repeat}]" if args.repeat > 1 else "")
        target.runs[mode] = {c: combine_runs(rs) for c, rs in runs.items()}
    if target.proc is not None:
        if target.proc.poll() is not None:
            raise BenchError(f"{target.name} exited during the run (code {target.proc.returncode})")
        target.rss = rss_mb(target.proc.pid)


def log_run(name: str, mode: str, connections: int, r: dict[str, Any], suffix: str) -> None:
    flag = f"  ERRORS {r['errors']}" if r["error_count"] else ""
    noise = r["other_processes_cpu"]
    if noise["percent_of_one_cpu"] + (noise["steal_percent_of_one_cpu"] or 0) >= BUSY_PERCENT:
        flag += (
            f"  (machine busy: others {noise['percent_of_one_cpu']:.0f}%,"
            f" steal {noise['steal_percent_of_one_cpu']}%; {', '.join(noise['top'])})"
        )
    log(
        f"{name:8} {mode:6} c={connections:<3} {r['rps']:>10.1f} req/s"
        f"  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms{suffix}{flag}"
    )


def start_profile(procs: Processes, pid: int, duration: float, raw: Path, where: Placement) -> subprocess.Popen[bytes]:
    """py-spy record on pid for the coming wrk run, on a CPU the router does not use if there is one."""
    py_spy = find_py_spy()
    assert py_spy is not None  # checked in run()
    raw.parent.mkdir(parents=True, exist_ok=True)
    spare = frozenset(os.sched_getaffinity(0)) - (where.router or frozenset())
    argv = [py_spy, "record", "-p", str(pid), "-d", str(max(1, int(duration))), "-r", "200"]
    argv += ["-f", "raw", "-o", str(raw)]  # blocking mode: --nonblocking tears stacks
    return procs.spawn("py-spy", argv, cpus=spare or None)


def finish_profile(procs: Processes, spy: subprocess.Popen[bytes], raw: Path) -> dict[str, Any]:
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(60)
    procs.stop(spy)
    if not raw.exists():
        return {"error": f"py-spy wrote nothing; see {procs.log_dir / 'py-spy.log'}"}
    summary = summarize_profile(raw)
    summary["raw"] = str(raw)
    top = ", ".join(f"{k} {v:g}%" for k, v in summary["self_by_package_pct"][:6])
    log(f"  profile ({summary['samples']} samples), self time by package: {top}")
    return summary


# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark hubroute against the same mock upstream reached directly and LiteLLM's proxy."
    )
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    ap.add_argument(
        "--litellm-duration",
        type=float,
        default=None,
        help="seconds per wrk run against LiteLLM (default max(--duration, 10))",
    )
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load before each mode")
    ap.add_argument("--only", choices=MODES, help="measure only non-streaming (chat) or streaming")
    ap.add_argument("--skip-litellm", action="store_true", help="do not install or measure LiteLLM")
    ap.add_argument("--cold-starts", type=int, default=3, help="hubroute cold starts to time (median reported)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="wrk runs per target, mode and connection count; the table shows their median (default 3)",
    )
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
    ap.add_argument(
        "--profile",
        action="store_true",
        help="record each hubroute target with py-spy during its runs (bench/results/profile-<target>-*.txt, "
        "summary in the JSON); figures of profiled runs are perturbed",
    )
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    ap.add_argument("--stateless", action="store_true",
                    help=f"measure also the router without a store ({STATELESS!r}: store.enabled false), to "
                         "compare; --accounts implies it")
    ap.add_argument("--accounts", action="store_true",
                    help="hubroute with a master key, requests made with a stored key that has rate limits and a "
                         "budget (the ledger is on either way)")
    ap.add_argument("--redis", nargs="?", const="redis://127.0.0.1:6379/0", metavar="URL",
                    help="with --accounts (which it implies): the rate limits, credits and budgets kept in Redis "
                         "(redis.url; default redis://127.0.0.1:6379/0), as several instances share them")
    args = ap.parse_args(argv)
    if args.redis:
        args.accounts = True
    if args.duration <= 0 or min(args.cold_starts, args.wrk_threads, args.repeat) < 1:
        ap.error("--duration, --cold-starts, --repeat and --wrk-threads must be positive")
    return args


def run(args: argparse.Namespace, procs: Processes, work: Path) -> tuple[dict[str, Target], dict[str, Any]]:
    wrk = ensure_wrk()
    if args.profile and find_py_spy() is None:
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    modes = (args.only,) if args.only else MODES
    layout = Layout(args.layout)
    meta = machine_meta(args, layout, wrk)
    meta["litellm_version"] = None if args.skip_litellm else LITELLM_VERSION
    log(f"layout: {layout.describe()}; load average {meta['load_average_at_start']}")
    if meta["load_average_at_start"][0] > 0.5 * (os.cpu_count() or 1):  # 1-minute load average
        log("WARNING: the machine is busy; figures will be noisy")

    targets: dict[str, Target] = {}
    direct = start_mock(procs, layout)
    assert direct.proc is not None
    mock_pid, direct.proc = direct.proc.pid, None  # the mock's own RSS is not a result
    upstream = [mock_pid]
    redis_pid = local_redis_pid(args.redis) if args.redis else None
    if redis_pid is None:
        return run_targets(args, procs, work, wrk, modes, layout, meta, targets, direct, upstream)
    # a Redis of this machine is placed as the mock is (on the router's CPU at 1 connection: this VM's
    # wake-ups across CPUs cost a request about 0.1 ms), its affinity given back after
    meta["redis_placed_with_the_mock"] = True
    redis_cpus = os.sched_getaffinity(redis_pid)
    try:
        return run_targets(args, procs, work, wrk, modes, layout, meta, targets, direct, [*upstream, redis_pid])
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(redis_pid, redis_cpus)


def run_targets(args: argparse.Namespace, procs: Processes, work: Path, wrk: str, modes: Sequence[str], layout: Layout,
                meta: dict[str, Any], targets: dict[str, Target], direct: Target,
                upstream: list[int]) -> tuple[dict[str, Target], dict[str, Any]]:
    """The routers measured one after the other against the mock (`direct`, measured already)."""
    mock_pid = upstream[0]
    direct.duration, direct.warmup = args.duration, args.warmup
    targets["direct"] = direct
    measure(direct, wrk, args, layout, modes, [mock_pid], procs, args.results)

    if args.stateless or args.accounts:  # the same router without a store, to compare with
        bare = start_hubroute(procs, args, layout, work, direct.port, name=STATELESS, store=False)
        targets[STATELESS] = bare
        measure(bare, wrk, args, layout, modes, upstream, procs, args.results)
        assert bare.proc is not None
        procs.stop(bare.proc)

    hub = start_hubroute(procs, args, layout, work, direct.port)
    targets["hubroute"] = hub
    meta["hubroute_version"] = hub.version
    measure(hub, wrk, args, layout, modes, upstream, procs, args.results)
    assert hub.proc is not None
    procs.stop(hub.proc)

    if not args.skip_litellm:
        lite = start_litellm(procs, args, layout, work, direct.port)
        targets["litellm"] = lite
        measure(lite, wrk, args, layout, modes, [mock_pid], procs, args.results)
        assert lite.proc is not None
        procs.stop(lite.proc)
    meta["load_average_at_end"] = os.getloadavg()
    return targets, meta


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    done = in_workspace("hubroute-bench-", args.results, lambda procs, work: run(args, procs, work), keep_logs=True)
    if isinstance(done, int):
        return done
    targets, meta = done
    modes = (args.only,) if args.only else MODES
    report, summary, checks = build_report(targets, modes, meta)
    md, js = write_results(args.results, report, targets, meta, summary, checks)
    print(report)
    log(f"written {md.relative_to(ROOT) if md.is_relative_to(ROOT) else md} and {js.name}")
    missed = [c for c in checks if c["met"] is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
