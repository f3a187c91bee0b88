"""Instructions per proxied request in the router, counted by callgrind: a figure the VM's noise does
not reach (the same code executes the same instructions whatever else the machine does).

    .venv/bin/python bench/instructions.py [--requests 300] [--warmup 200] [--only MODE [MODE ...]]
        [--hubroute-cmd "PYTHONPATH=/other/checkout/src .venv/bin/hubroute"]

For each mode (whole chat answers, then streamed ones; with `--only`, also the same streamed
conversation through `/v1/messages`, `/v1/responses` with `store: false` (`responses`) and with
`store: true` (`responses-stored`), the bodies bench/apis.py sends) it starts the mock upstream and `hubroute
serve` (the configuration bench/run.py uses) under `valgrind --tool=callgrind --instr-atstart=yes`,
waits for /health, checks one answer, sends `--warmup` requests over one keep-alive connection,
zeroes the counters (`callgrind_control -z <pid>`), sends `--requests` more over the same
connection, dumps (`callgrind_control -d <pid>`) and divides the dump's total by `--requests`. Each
mode gets a router of its own, so neither figure depends on what the other mode warmed up.

Prints a table and writes the figures to bench/results/instructions-<time>.json. Every process it
starts is in its own process group and is stopped on exit, Ctrl-C or failure; everything listens on
127.0.0.1 only; every wait is bounded. See bench/README.md (last section).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apis import ENDS, bodies
from harness import (
    BENCH,
    HOST,
    MODEL,
    MODES,
    ROOT,
    BenchError,
    Layout,
    Processes,
    chat_body,
    check_replies,
    free_port,
    in_workspace,
    log,
    write_result,
)
from run import hubroute_argv, hubroute_config, router_env, start_mock, stored_key

RESULTS = BENCH / "results"
PATH = "/v1/chat/completions"
HEADERS = {"Content-Type": "application/json"}
MODE_NAMES = {"chat": "whole chat answers", "stream": "streamed chat answers", "messages": "streamed /v1/messages",
              "responses": "streamed /v1/responses, store false", "responses-stored": "streamed /v1/responses, stored"}
#: the streamed conversation of bench/apis.py, through the agent APIs (its `bodies()` names)
API_MODES = ("messages", "responses", "responses-stored")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def split_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The router's argv and extra environment. Leading NAME=value words of --hubroute-cmd (and a
    leading `env`) become environment variables: valgrind must start the router itself, since a
    program started through `env` would be exec'd outside callgrind's reach. A relative path to the
    command is taken from the current directory."""
    argv = hubroute_argv(args)
    if argv and Path(argv[0]).name == "env":
        argv = argv[1:]
    extra: dict[str, str] = {}
    while argv and _ASSIGNMENT.match(argv[0]):
        name, _, value = argv.pop(0).partition("=")
        extra[name] = value
    if not argv:
        raise BenchError(f"--hubroute-cmd names no command: {args.hubroute_cmd!r}")
    if "/" in argv[0]:  # the router runs in a scratch directory: a relative path is this one's
        argv[0] = str(Path(argv[0]).resolve())
    return argv, extra


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if not found:
        raise BenchError(f"{name} is not installed (apt-get install -y valgrind)")
    return found


def code_version(extra_env: dict[str, str]) -> dict[str, Any]:
    """Which checkout the router's code comes from (the first PYTHONPATH entry if one is given) and
    its commit, marked dirty when src/ has uncommitted changes."""
    pythonpath = extra_env.get("PYTHONPATH", "").split(os.pathsep)[0]
    where = Path(pythonpath) if pythonpath else ROOT / "src"
    out: dict[str, Any] = {"source": str(where)}
    git = ["git", "-C", str(where)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30)
    if head.returncode == 0:
        status = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=60)
        out["commit"] = head.stdout.strip()
        out["dirty"] = bool(status.stdout.strip())
    return out


# --------------------------------------------------------------------------------------------------
# the router under callgrind


def wait_for_health(port: int, proc: subprocess.Popen[bytes], timeout: float) -> float:
    t0 = time.monotonic()
    deadline = t0 + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the router exited with code {proc.returncode} before answering /health")
        conn = http.client.HTTPConnection(HOST, port, timeout=max(0.5, min(10.0, deadline - time.monotonic())))
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return time.monotonic() - t0
            last = f"HTTP {resp.status}"
        except OSError as exc:  # refused while it starts; a timeout is an OSError too
            last = repr(exc)
        finally:
            conn.close()
        time.sleep(0.1)
    raise BenchError(f"no 200 from /health within {timeout:.0f} s (last: {last})")


def callgrind_control(ctl: str, option: str, pid: int) -> None:
    proc = subprocess.run([ctl, option, str(pid)], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or "Error" in proc.stdout + proc.stderr:
        output = f"{proc.stdout} {proc.stderr}".strip()
        raise BenchError(f"callgrind_control {option} {pid} failed (exit {proc.returncode}): {output}")


def dump_files(out_dir: Path, pid: int) -> set[Path]:
    return set(out_dir.glob(f"callgrind.out.{pid}*"))


def read_dump(path: Path) -> int | None:
    """The dump's instruction count (its `summary:` line, else `totals:`); None while incomplete
    (callgrind writes `totals:` last)."""
    summary = totals = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("summary:"):
            summary = int(line.split()[1])
        elif line.startswith("totals:"):
            totals = int(line.split()[1])
    if totals is None:
        return None
    return summary if summary is not None else totals


def wait_for_dump(out_dir: Path, pid: int, before: set[Path], timeout: float = 60.0) -> tuple[Path, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(dump_files(out_dir, pid) - before):
            count = read_dump(path)
            if count is not None:
                return path, count
        time.sleep(0.1)
    raise BenchError(f"callgrind wrote no complete dump in {out_dir} within {timeout:.0f} s")


class KeepAlive:
    """Sequential requests over one HTTP/1.1 connection; fails if the router closes it."""

    def __init__(self, port: int, timeout: float, auth: str | None = None) -> None:
        self.headers = {**HEADERS, **({"Authorization": f"Bearer {auth}"} if auth else {})}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock

    def send(self, body: bytes, stream: bool, n: int, path: str = PATH, end: bytes = b"data: [DONE]") -> None:
        for i in range(n):
            self.conn.request("POST", path, body=body, headers=self.headers)
            resp = self.conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise BenchError(f"request {i + 1}: HTTP {resp.status}: {data[:300]!r}")
            if stream and end not in data[-4000:]:
                raise BenchError(f"request {i + 1}: the stream does not end with {end!r}: {data[-200:]!r}")
            if not stream and b'"choices"' not in data:
                raise BenchError(f"request {i + 1}: no choices in the answer: {data[:300]!r}")
            if self.conn.sock is None or self.conn.sock is not self.sock:
                raise BenchError(f"request {i + 1}: the router did not keep the connection open")

    def close(self) -> None:
        self.conn.close()


def measure_mode(
    mode: str, args: argparse.Namespace, procs: Processes, work: Path, upstream_port: int
) -> dict[str, Any]:
    valgrind, ctl = tool("valgrind"), tool("callgrind_control")
    argv, extra_env = split_command(args)
    out_dir = work / f"callgrind-{mode}"
    out_dir.mkdir()
    config = work / "hubroute.yaml"
    accounts = args.store in ("accounts", "redis")
    redis = f"redis://127.0.0.1:{args.redis_port}/0" if args.store == "redis" else None
    hubroute_config(config, upstream_port, accounts=accounts, store=args.store != "off", redis=redis)
    port = free_port()
    command = [
        valgrind,
        "--tool=callgrind",
        "--instr-atstart=yes",
        f"--callgrind-out-file={out_dir / 'callgrind.out.%p'}",
        *argv,
        "serve",
        "--config",
        str(config),
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    assignments = "".join(f"{shlex.quote(f'{k}={v}')} " for k, v in extra_env.items())
    log(f"{mode}: starting {assignments}{shlex.join(command)}")
    # (its store in its own directory: each mode's router makes its user and key anew)
    proc = procs.spawn(f"hubroute-{mode}", command, env=router_env(extra_env), cwd=out_dir)
    try:
        started = wait_for_health(port, proc, args.start_timeout)
        log(f"{mode}: /health answered {started:.1f} s after spawn (pid {proc.pid})")
        auth = stored_key(port) if accounts else None
        check_replies(port, MODEL, auth, [mode if mode in MODES else "stream"],
                      {"x-inference-provider": "mock", "x-request-id": None})
        path, body = bodies()[mode] if mode in API_MODES else (PATH, chat_body(MODEL, mode == "stream"))
        stream, end = mode != "chat", ENDS.get(mode, b"data: [DONE]")
        client = KeepAlive(port, args.request_timeout, auth)
        try:
            t0 = time.monotonic()
            client.send(body, stream, args.warmup, path, end)
            log(f"{mode}: {args.warmup} warm-up requests in {time.monotonic() - t0:.1f} s")
            time.sleep(args.settle)  # let the router finish the last request's work before the zero
            callgrind_control(ctl, "-z", proc.pid)
            t0 = time.monotonic()
            client.send(body, stream, args.requests, path, end)
            seconds = time.monotonic() - t0
            time.sleep(args.settle)  # ... and before the dump
            before = dump_files(out_dir, proc.pid)
            callgrind_control(ctl, "-d", proc.pid)
            dump, total = wait_for_dump(out_dir, proc.pid, before)
        finally:
            client.close()
        if proc.poll() is not None:
            raise BenchError(f"the router exited during the run (code {proc.returncode})")
    except BenchError as exc:
        raise BenchError(f"{mode}: {exc}\n{procs.log_tail(f'hubroute-{mode}')}") from exc
    finally:
        procs.stop(proc, timeout=30)
    if args.keep_dumps is not None:  # for callgrind_annotate
        args.keep_dumps.mkdir(parents=True, exist_ok=True)
        shutil.copy(dump, args.keep_dumps / f"callgrind-{args.store}-{mode}.out")
    per_request = total / args.requests
    log(f"{mode}: {total:,} instructions over {args.requests} requests ({seconds:.1f} s): {per_request:,.0f} each")
    return {
        "mode": mode,
        "instructions": total,
        "requests": args.requests,
        "warmup": args.warmup,
        "instructions_per_request": round(per_request),
        "seconds_under_valgrind": round(seconds, 2),
        "startup_under_valgrind_s": round(started, 1),
        "dump": dump.name,
    }


# --------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Instructions per proxied request in `hubroute serve`, counted by callgrind, whole and streamed."
    )
    ap.add_argument("--requests", type=int, default=300, help="measured requests per mode (default 300)")
    ap.add_argument("--warmup", type=int, default=200, help="requests before the counters are zeroed (default 200)")
    ap.add_argument("--only", nargs="+", choices=(*MODES, *API_MODES), metavar="MODE",
                    help="measure only these: chat (whole answers), stream (streamed), messages, responses "
                         "(store false), responses-stored (default: chat stream)")
    ap.add_argument("--keep-dumps", type=Path, metavar="DIR",
                    help="copy each mode's callgrind dump there (callgrind_annotate reads them)")
    ap.add_argument("--store", choices=("on", "off", "accounts", "redis"), default="on",
                    help="the router as bench/run.py runs it: its default store (on), none (off), with a "
                         "stored key that has rate limits and a budget (accounts; as run.py --accounts), or "
                         "the same with its limits and budget kept in Redis (redis; as run.py --redis)")
    ap.add_argument("--redis-port", type=int, default=6379,
                    help="with --store redis: the port of the Redis on 127.0.0.1 (default 6379; only the "
                         "router's instructions are counted, not Redis's)")
    ap.add_argument(
        "--hubroute-cmd",
        help="command to run instead of .venv/bin/hubroute; leading NAME=value words set its environment, "
        'e.g. "PYTHONPATH=/tmp/baseline/src .venv/bin/hubroute" for another checkout\'s router',
    )
    ap.add_argument("--start-timeout", type=float, default=120.0, help="seconds the router may take to answer /health")
    ap.add_argument("--request-timeout", type=float, default=60.0, help="seconds per request (default 60)")
    ap.add_argument("--settle", type=float, default=0.3, help="idle seconds before zeroing and before dumping")
    ap.add_argument("--results", type=Path, default=RESULTS, help="where to write results (default bench/results)")
    args = ap.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.start_timeout <= 0 or args.request_timeout <= 0:
        ap.error("--requests must be positive, --warmup not negative, timeouts positive")
    return args


def run(args: argparse.Namespace, procs: Processes, work: Path) -> dict[str, Any]:
    _, extra_env = split_command(args)
    modes = tuple(args.only) if args.only else MODES
    mock = start_mock(procs, Layout("none"))
    results: dict[str, Any] = {}
    for mode in modes:
        results[mode] = measure_mode(mode, args, procs, work, mock.port)
    valgrind = subprocess.run([tool("valgrind"), "--version"], capture_output=True, text=True, timeout=30)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "hubroute_cmd": args.hubroute_cmd or shlex.join(hubroute_argv(args)),
        "code": code_version(extra_env),
        "valgrind": valgrind.stdout.strip(),
        "python": sys.version.split()[0],
        "machine": os.uname().machine,
        "requests": args.requests,
        "warmup": args.warmup,
        "store": args.store,
        "modes": results,
    }


def table(out: dict[str, Any]) -> str:
    code = out["code"]
    where = f"{code.get('commit', '?')}{' (dirty)' if code.get('dirty') else ''} from {code['source']}"
    lines = [
        f"Instructions per proxied request in the router (callgrind; {out['requests']} requests after "
        f"{out['warmup']} warm-up, one connection; store {out.get('store', 'on')}); code {where}",
        "",
        "| mode | instructions per request |",
        "|---|--:|",
    ]
    for mode, r in out["modes"].items():
        lines.append(f"| {MODE_NAMES[mode]} ({mode}) | {r['instructions_per_request']:,} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = in_workspace("hubroute-instructions-", args.results, lambda procs, work: run(args, procs, work))
    if isinstance(out, int):
        return out
    path = write_result(args.results, "instructions", out)
    print(table(out))
    with contextlib.suppress(ValueError):
        path = path.relative_to(ROOT)
    log(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
