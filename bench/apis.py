"""What the Messages and Responses APIs cost over chat: a streamed request's p50 at 1 connection.

    .venv/bin/python bench/apis.py [--duration 5] [--repeat 5]

Starts the mock upstream and one `hubroute serve` as bench/run.py configures it (its default store),
then loads it with wrk at 1 connection with the same streamed conversation sent four ways:
`/v1/chat/completions`, `/v1/messages`, `/v1/responses` with `store: false` (Codex's way) and with
`store: true` (the default: the response kept in the store before its last event). The mock's
stream (20 chunks and a usage chunk) is translated into each API's events. The runs alternate between
the four, `--repeat` times, so that the VM's drift hits each; the table gives each one's median p50
and what it adds over chat's. Issue 14's goal: a streamed `/v1/messages` or `/v1/responses` request
adds at most 0.10 ms p50 over the same streamed chat request.

The router, the mock and wrk run on one CPU, as bench/run.py places them at 1 connection (`--layout
none`: nowhere in particular; this VM's wake-ups across CPUs then add about 0.15 ms to every request,
chat's included, and vary from run to run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from harness import (
    BENCH,
    HOST,
    MESSAGES,
    MODEL,
    Layout,
    Processes,
    chat_body,
    ensure_wrk,
    free_port,
    in_workspace,
    log,
    post,
    run_wrk,
    set_affinity,
    wait_until_answers,
    write_result,
)
from run import hubroute_argv, hubroute_config, router_env, start_mock

SYSTEM, USER = MESSAGES[0]["content"], MESSAGES[1]["content"]


def bodies() -> dict[str, tuple[str, bytes]]:
    """The one conversation as each API's streamed request: (path, body)."""
    def dump(body: dict[str, Any]) -> bytes:
        return json.dumps(body, separators=(",", ":")).encode()

    responses = {"model": MODEL, "instructions": SYSTEM, "input": USER, "max_output_tokens": 64, "stream": True}
    return {
        "chat": ("/v1/chat/completions", chat_body(MODEL, True)),
        "messages": ("/v1/messages", dump({"model": MODEL, "system": SYSTEM, "max_tokens": 64, "stream": True,
                                           "messages": [{"role": "user", "content": USER}]})),
        "responses": ("/v1/responses", dump({**responses, "store": False})),
        "responses-stored": ("/v1/responses", dump(responses)),
    }


# what each stream's last event holds
ENDS = {"chat": b"data: [DONE]", "messages": b"message_stop", "responses": b"response.completed",
        "responses-stored": b"response.completed"}


def check(port: int, path: str, body: bytes, name: str) -> None:
    reply = post(port, path, body, None, timeout=30)
    last = ENDS[name]
    if reply.status != 200 or last not in reply.body[-4000:]:
        raise RuntimeError(f"{name}: HTTP {reply.status}, ends {reply.body[-300:]!r}")


def run(args: argparse.Namespace, procs: Processes, work: Path) -> dict[str, Any]:
    wrk = ensure_wrk()
    where = Layout(args.layout).placement(1)
    mock = start_mock(procs, Layout("none"))
    assert mock.proc is not None
    set_affinity(mock.proc.pid, where.mock)
    config = work / "hubroute.yaml"
    hubroute_config(config, mock.port)
    port = free_port()
    argv = [*hubroute_argv(args), "serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    proc = procs.spawn("hubroute", argv, env=router_env(), cwd=work, cpus=where.router)
    wait_until_answers(port, "/v1/chat/completions", chat_body(MODEL, False), None, proc, 60)
    set_affinity(proc.pid, where.router)  # (its threads too)
    shapes = bodies()
    common: dict[str, Any] = {"auth": None, "threads": 1, "cpus": where.wrk, "timeout_s": 10.0}
    for name, (path, body) in shapes.items():
        check(port, path, body, name)
        run_wrk(wrk, port, body, 1, 2.0, path=path, **common)  # warm-up
    p50: dict[str, list[float]] = {name: [] for name in shapes}
    rps: dict[str, list[float]] = {name: [] for name in shapes}
    for rep in range(args.repeat):
        for name, (path, body) in shapes.items():
            r = run_wrk(wrk, port, body, 1, args.duration, path=path, **common)
            if r["error_count"]:
                raise RuntimeError(f"{name}: {r['errors']}")
            p50[name].append(r["p50_ms"])
            rps[name].append(r["rps"])
            log(f"{name:17} p50 {r['p50_ms']:.3f} ms  {r['rps']:,.0f} req/s [{rep + 1}/{args.repeat}]")
        time.sleep(0.2)
    medians = {name: statistics.median(v) for name, v in p50.items()}
    return {"duration_s": args.duration, "repeat": args.repeat, "placement": where.describe(), "p50_ms": p50,
            "rps": rps,
            "median_p50_ms": medians,
            "added_over_chat_ms": {n: round(m - medians["chat"], 4) for n, m in medians.items() if n != "chat"}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--hubroute-cmd", help="command to run instead of .venv/bin/hubroute")
    ap.add_argument("--layout", choices=("one-cpu", "none"), default="one-cpu",
                    help="one-cpu: the router, the mock and wrk on one CPU, as bench/run.py at 1 connection "
                         "(default); none: nothing pinned")
    ap.add_argument("--results", type=Path, default=BENCH / "results")
    args = ap.parse_args()
    out = in_workspace("hubroute-apis-", args.results, lambda procs, work: run(args, procs, work))
    if isinstance(out, int):
        return out
    print("| streamed, 1 connection | p50 ms (median of runs) | added over chat |\n|---|--:|--:|")
    for name, median in out["median_p50_ms"].items():
        added = out["added_over_chat_ms"].get(name)
        print(f"| {name} | {median:.3f} | {'' if added is None else f'{added:+.3f}'} |")
    log(f"written {write_result(args.results, 'apis', out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
