"""The soak: a real `hubroute serve` under mixed traffic with faults injected, its memory and file
descriptors sampled. Flat is the goal: RSS within 10% of its value after the warm-up, and once the
traffic stops no more descriptors than at the end of the warm-up (the pools of connections to the
upstreams, the database and Redis are warm by then and keep what they hold: a leak grows past it).

    .venv/bin/python bench/soak.py                     # 30 minutes
    .venv/bin/python bench/soak.py --duration 120      # a quick look

    .venv/bin/python bench/soak.py --redis             # with a stored key, its limits and budget in Redis

The upstream is `bench/fault_upstream.py` standing in for two providers (`a`, `b`) of one model,
so failover, circuits and Retry-After pauses all take part. Each client request is drawn from a fixed
mix: whole and streamed chat, each provider-side fault (500, 429 with each kind of Retry-After,
garbage, a slow head, a reset stream, a broken usage event, a huge event, a dropped connection),
clients that go away mid-stream, unknown models and malformed bodies, and Anthropic's Messages and
OpenAI's Responses APIs, whole and streamed (responses kept in the store, and not). With
`--accounts` every request is made with a stored key that has rate limits and a budget (none
reached); `--redis` keeps them in Redis, as several instances would. Every answer is checked: a
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
from run import ACCOUNTS_MASTER, hubroute_argv, router_env, stored_key

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
#: the agent APIs over the same providers: scenario -> (weight, path, body, streamed, the events a
#: stream may end with: its own end, or its API's error event)
APIS: dict[str, tuple[int, str, dict[str, Any], bool, tuple[str, ...]]] = {
    "messages": (3, "/v1/messages", {"model": MODEL, "max_tokens": 32, "messages": [
        {"role": "user", "content": "hi"}]}, False, ()),
    "messages-stream": (3, "/v1/messages", {"model": MODEL, "max_tokens": 32, "stream": True, "messages": [
        {"role": "user", "content": "hi"}]}, True, ("event: message_stop", "event: error")),
    "responses": (3, "/v1/responses", {"model": MODEL, "input": "hi"}, False, ()),  # (kept in the store)
    "responses-stream": (3, "/v1/responses", {"model": MODEL, "input": "hi", "store": False, "stream": True}, True,
                         ("event: response.completed", "event: response.incomplete", "event: response.failed",
                          "event: error")),
}
#: a stream's faults seen after its first event end it with one error event (still 200); failing
#: every provider (a circuit or pause on both) is a 502/503 the fault explains
TOLERATED = frozenset({502, 503, 504})


def config(path: Path, upstream: int, accounts: bool = False, redis: str | None = None) -> None:
    providers = "".join(f"  {p}: {{type: openai-compatible, base_url: http://{HOST}:{upstream}/{p}/v1}}\n"
                        for p in ("a", "b"))
    master = f", master_key: {ACCOUNTS_MASTER}" if accounts else ""
    shared = f"redis: {{url: '{redis}', prefix: 'hubroute-soak-{os.getpid()}-{free_port()}:'}}\n" if redis else ""
    path.write_text(
        "# written by bench/soak.py\n"
        f"server: {{access_log: false, log_level: warning{master}}}\n"
        f"{shared}"
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


def _ended(text: str, ends: tuple[str, ...]) -> bool:
    """Whether a stream ended as it must: its last event one of `ends` (its own end, or its error event)."""
    last = text.rstrip().rsplit("\n\n", 1)[-1]
    return any(last.startswith(end) for end in ends)


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


class Load:
    def __init__(self, port: int, seed: int, key: str | None = None) -> None:
        self.base = f"http://{HOST}:{port}"
        self.headers = {"content-type": "application/json"}
        if key is not None:
            self.headers["authorization"] = f"Bearer {key}"
        self.random = random.Random(seed)
        names = [*SCENARIOS, *APIS]
        self.names = names
        self.weights = [SCENARIOS[n][0] if n in SCENARIOS else APIS[n][0] for n in names]
        self.counts: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.examples: dict[str, str] = {}

    async def one(self, session: aiohttp.ClientSession) -> None:
        name = self.random.choices(self.names, self.weights)[0]
        if name in APIS:
            _, path, body, stream, ends = APIS[name]
            data, expected = json.dumps(body).encode(), frozenset({200})
        else:
            _, extra, stream, expected = SCENARIOS[name]
            path, ends = "/v1/chat/completions", ("data: [DONE]", 'data: {"error":')
            body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **extra}
            data = b'{"model": "soak/model", "messages": [' if name == "malformed" else json.dumps(body).encode()
        self.counts[name] += 1
        try:
            async with asyncio.timeout(30):
                async with session.post(self.base + path, data=data, headers=self.headers) as resp:
                    if name == "gone":
                        await resp.content.readline()  # one line of the stream, then the client goes away
                        resp.close()
                        return
                    text = await resp.text()
                    ok = resp.status in expected or resp.status in TOLERATED
                    if resp.status == 200 and stream and not _ended(text, ends):
                        ok = False  # a stream must end with its end, or one error event
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


async def drive(args: argparse.Namespace, port: int, pid: int, key: str | None) -> dict[str, Any]:
    load = Load(port, args.seed, key)
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
    await asyncio.sleep(args.settle)  # requests in flight end; what stays open is what the pools keep
    after = {**rss_mb(pid), "fds": fds(pid)}
    warm = next((s for s in samples if s["t"] >= args.warmup), samples[0] if samples else after)
    peak = max((s["rss_mb"] for s in samples), default=after["rss_mb"])
    return {
        "duration_s": args.duration, "concurrency": args.concurrency, "requests": sum(load.counts.values()),
        "by_scenario": dict(load.counts), "failures": dict(load.failures), "failure_examples": load.examples,
        "fds_baseline": baseline_fds, "fds_after_warmup": warm["fds"], "fds_after": after["fds"],
        "rss_after_warmup_mb": warm["rss_mb"],
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
    config(path, port, args.accounts, args.redis)
    router_port = free_port()
    router = procs.spawn("hubroute", [*hubroute_argv(args), "serve", "--config", str(path), "--host", HOST,
                                      "--port", str(router_port)], env=router_env(), cwd=work)
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode()
    try:
        wait_until_answers(router_port, "/v1/chat/completions", body, ACCOUNTS_MASTER if args.accounts else None,
                           router, 60)
    except BenchError as exc:
        raise BenchError(f"hubroute did not start: {exc}\n{procs.log_tail('hubroute')}") from exc
    key = stored_key(router_port) if args.accounts else None
    out = asyncio.run(drive(args, router_port, router.pid, key))
    out["accounts"], out["redis"] = args.accounts, bool(args.redis)
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
                   help="seconds of quiet before the final reading (the router's pool closes an idle upstream "
                        "connection when a later request finds it idle past 60 s; the fault upstream keeps "
                        "them for aiohttp's 3,630 s: they count as warm, not as leaks)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hubroute-cmd", help="run another command instead of .venv/bin/hubroute")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--accounts", action="store_true",
                   help="requests made with a stored key that has rate limits and a budget (none reached)")
    p.add_argument("--redis", nargs="?", const="redis://127.0.0.1:6379/0", metavar="URL",
                   help="with --accounts (which it implies): its limits and budget kept in Redis")
    args = p.parse_args(argv)
    args.accounts = args.accounts or bool(args.redis)
    args.warmup = min(args.warmup, args.duration / 4)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = in_workspace("hubroute-soak-", args.results, lambda procs, work: run(args, procs, work))
    if isinstance(out, int):
        return out
    path = write_result(args.results, "soak", out)
    flat = out["rss_growth_pct"] is not None and out["rss_growth_pct"] <= 10
    fds_flat = out["fds_after"] <= out["fds_after_warmup"]
    failures = sum(out["failures"].values())
    print(f"requests {out['requests']} in {out['duration_s']:.0f} s, failures {failures} {out['failures']}")
    print(f"RSS after warm-up {out['rss_after_warmup_mb']} MB, peak {out['rss_peak_mb']} MB, end "
          f"{out['rss_end_mb']} MB: growth {out['rss_growth_pct']}% ({'flat' if flat else 'NOT flat'})")
    print(f"descriptors {out['fds_baseline']} before the traffic, {out['fds_after_warmup']} after the warm-up, "
          f"{out['fds_after']} after it ({'flat' if fds_flat else 'NOT flat'}); tracebacks in the log: "
          f"{out['router_log_tracebacks']}")
    for name, example in out["failure_examples"].items():
        print(f"  {name}: {example}")
    log(f"written {path}")
    return 0 if flat and fds_flat and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
