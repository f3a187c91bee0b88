"""The soak: a real `hubroute serve` under mixed traffic with faults injected, its memory and file
descriptors sampled. Flat is the goal: RSS within 10% of its value after the warm-up, descriptors
back to their baseline once the traffic stops.

    .venv/bin/python bench/soak.py                     # 30 minutes
    .venv/bin/python bench/soak.py --duration 120      # a quick look

The upstream is `bench/fault_upstream.py` standing in for two providers (`a`, `b`) of one model,
so failover, circuits and Retry-After pauses all take part. Each client request is drawn from a fixed
mix: whole and streamed chat, each provider-side fault (500, 429 with each kind of Retry-After,
garbage, a slow head, a reset stream, a broken usage event, a huge event, a dropped connection),
clients that go away mid-stream, unknown models and malformed bodies. Every answer is checked: a
5xx the fault does not explain, or a request with no answer within its timeout, is counted as a
failure. The router's RSS and open descriptors are sampled every `--sample` seconds.

Writes bench/results/soak-<time>.json and prints a summary; exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from harness import BenchError, Processes, free_port, in_workspace, log, rss_mb, wait_until_answers, write_result
from run import hubroute_argv, router_env

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MODEL = "soak/model"

#: scenario -> (weight, request body extras, whether streamed, statuses a client may get)
SCENARIOS: dict[str, tuple[int, dict[str, Any], bool, frozenset[int]]] = {
    "chat": (30, {}, False, frozenset({200})),
    "stream": (30, {}, True, frozenset({200})),
    "500@a": (4, {"user": "fault:500@a"}, False, frozenset({200})),
    "429@a": (3, {"user": "fault:429@a"}, False, frozenset({200})),
    "429big@a": (1, {"user": "fault:429big@a"}, False, frozenset({200})),
    "429inf@a": (1, {"user": "fault:429inf@a"}, False, frozenset({200})),
    "429date@a": (1, {"user": "fault:429date@a"}, False, frozenset({200})),
    "garbage@a": (3, {"user": "fault:garbage@a"}, False, frozenset({200})),
    "slow@a": (2, {"user": "fault:slow@a"}, False, frozenset({200})),
    "drop@a": (2, {"user": "fault:drop@a"}, False, frozenset({200})),
    "reset@a": (3, {"user": "fault:reset@a"}, True, frozenset({200})),
    "badusage@a": (3, {"user": "fault:badusage@a"}, True, frozenset({200})),
    "hugeevent@a": (1, {"user": "fault:hugeevent@a"}, True, frozenset({200})),
    "gone": (4, {}, True, frozenset({200})),
    "unknown": (3, {"model": "nobody/nothing"}, False, frozenset({404})),
    "malformed": (3, {}, False, frozenset({400})),
}
#: a stream's faults seen after its first event end it with one error event (still 200); failing
#: every provider (a circuit or pause on both) is a 502/503 the fault explains
TOLERATED = frozenset({502, 503, 504})


def config(path: Path, upstream: int) -> None:
    providers = "".join(f"  {p}: {{type: openai-compatible, base_url: http://{HOST}:{upstream}/{p}/v1}}\n"
                        for p in ("a", "b"))
    path.write_text(
        "# written by bench/soak.py\n"
        "server: {access_log: false, log_level: warning}\n"
        f"providers:\n{providers}"
        "models:\n"
        f"  - id: {MODEL}\n"
        "    providers: [{provider: a, provider_id: soak-model}, {provider: b, provider_id: soak-model}]\n"
        "routing:\n"
        "  default_policy: preferred\n"
        "  preferred: [a, b]\n"
        "  timeouts: {connect: 2, first_byte: 1, idle: 5}\n"
        "  circuit_breaker: {failures: 5, cooldown: 2}\n"
    )


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


class Load:
    def __init__(self, port: int, seed: int) -> None:
        self.url = f"http://{HOST}:{port}/v1/chat/completions"
        self.random = random.Random(seed)
        names = list(SCENARIOS)
        self.names, self.weights = names, [SCENARIOS[n][0] for n in names]
        self.counts: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    async def one(self, session: aiohttp.ClientSession) -> None:
        name = self.random.choices(self.names, self.weights)[0]
        _, extra, stream, expected = SCENARIOS[name]
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}
        data = b'{"model": "soak/model", "messages": [' if name == "malformed" else json.dumps(body).encode()
        self.counts[name] += 1
        try:
            async with asyncio.timeout(30):
                async with session.post(self.url, data=data, headers={"content-type": "application/json"}) as resp:
                    if name == "gone":
                        await resp.content.readline()  # one line of the stream, then the client goes away
                        resp.close()
                        return
                    text = await resp.text()
                    ok = resp.status in expected or resp.status in TOLERATED
                    if resp.status == 200 and stream and not (text.rstrip().endswith("[DONE]")
                                                              or '"error"' in text.rsplit("data:", 1)[-1]):
                        ok = False  # a stream must end with [DONE] or one error event
                    if resp.status >= 500 and '"error"' not in text:
                        ok = False  # never a bare 500
                    if not ok:
                        self.fail(name, f"HTTP {resp.status}: {text[-300:]}")
        except TimeoutError:
            self.fail(name, "no answer within 30 s")
        except aiohttp.ClientError as exc:
            self.fail(name, repr(exc))

    def fail(self, name: str, what: str) -> None:
        self.failures[name] += 1
        self.examples.setdefault(name, what)

    async def worker(self, until: float) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            while time.monotonic() < until:
                await self.one(session)
                await asyncio.sleep(self.random.uniform(0, 0.02))


async def drive(args: argparse.Namespace, port: int, pid: int) -> dict[str, Any]:
    load = Load(port, args.seed)
    samples: list[dict[str, Any]] = []
    baseline_fds = fds(pid)
    start = time.monotonic()
    until = start + args.duration
    workers = [asyncio.create_task(load.worker(until)) for _ in range(args.concurrency)]
    while time.monotonic() < until:
        await asyncio.sleep(min(args.sample, max(0.0, until - time.monotonic())))
        sample = {"t": round(time.monotonic() - start, 1), **rss_mb(pid), "fds": fds(pid),
                  "requests": sum(load.counts.values())}
        samples.append(sample)
        log(f"t={sample['t']:.0f}s rss={sample['rss_mb']} MB fds={sample['fds']} requests={sample['requests']}")
    await asyncio.gather(*workers)
    await asyncio.sleep(args.settle)  # idle keep-alive connections to the upstreams expire
    after = {**rss_mb(pid), "fds": fds(pid)}
    warm = next((s for s in samples if s["t"] >= args.warmup), samples[0] if samples else after)
    peak = max((s["rss_mb"] for s in samples), default=after["rss_mb"])
    return {
        "duration_s": args.duration, "concurrency": args.concurrency, "requests": sum(load.counts.values()),
        "by_scenario": dict(load.counts), "failures": dict(load.failures), "failure_examples": load.examples,
        "fds_baseline": baseline_fds, "fds_after": after["fds"], "rss_after_warmup_mb": warm["rss_mb"],
        "rss_peak_mb": peak, "rss_end_mb": after["rss_mb"],
        "rss_growth_pct": round(100 * (max(peak, after["rss_mb"]) - warm["rss_mb"]) / warm["rss_mb"], 1)
        if warm["rss_mb"] else None,
        "samples": samples,
    }


def run(args: argparse.Namespace, procs: Processes, work: Path) -> dict[str, Any]:
    upstream = procs.spawn("fault_upstream", [sys.executable, str(ROOT / "bench" / "fault_upstream.py"),
                                              "--port", str(port := free_port())])
    time.sleep(0.5)
    if upstream.poll() is not None:
        raise BenchError(f"fault upstream did not start:\n{procs.log_tail('fault_upstream')}")
    path = work / "hubroute.yaml"
    config(path, port)
    router_port = free_port()
    router = procs.spawn("hubroute", [*hubroute_argv(args), "serve", "--config", str(path), "--host", HOST,
                                      "--port", str(router_port)], env=router_env(), cwd=work)
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
    try:
        wait_until_answers(router_port, "/v1/chat/completions", body, None, router, 60)
    except BenchError as exc:
        raise BenchError(f"hubroute did not start: {exc}\n{procs.log_tail('hubroute')}") from exc
    out = asyncio.run(drive(args, router_port, router.pid))
    if router.poll() is not None:
        raise BenchError(f"hubroute exited during the soak:\n{procs.log_tail('hubroute')}")
    out["router_log_tracebacks"] = (work / "logs" / "hubroute.log").read_text(errors="replace").count("Traceback")
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=1800.0, help="seconds of traffic (default 1800)")
    p.add_argument("--warmup", type=float, default=120.0, help="seconds before RSS is taken as the reference")
    p.add_argument("--concurrency", type=int, default=8, help="clients at once (default 8)")
    p.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--settle", type=float, default=70.0,
                   help="seconds of quiet before the final reading (idle upstream connections close after 60 s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hubroute-cmd", help="run another command instead of .venv/bin/hubroute")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args(argv)
    args.warmup = min(args.warmup, args.duration / 4)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = in_workspace("hubroute-soak-", args.results, lambda procs, work: run(args, procs, work))
    if isinstance(out, int):
        return out
    path = write_result(args.results, "soak", out)
    flat = out["rss_growth_pct"] is not None and out["rss_growth_pct"] <= 10
    fds_back = out["fds_after"] <= out["fds_baseline"]
    failures = sum(out["failures"].values())
    print(f"requests {out['requests']} in {out['duration_s']:.0f} s, failures {failures} {out['failures']}")
    print(f"RSS after warm-up {out['rss_after_warmup_mb']} MB, peak {out['rss_peak_mb']} MB, end "
          f"{out['rss_end_mb']} MB: growth {out['rss_growth_pct']}% ({'flat' if flat else 'NOT flat'})")
    print(f"descriptors {out['fds_baseline']} before, {out['fds_after']} after "
          f"({'back to baseline' if fds_back else 'NOT back'}); tracebacks in the log: {out['router_log_tracebacks']}")
    for name, example in out["failure_examples"].items():
        print(f"  {name}: {example}")
    log(f"written {path}")
    return 0 if flat and fds_back and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
