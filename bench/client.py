"""The Python client's own cost: per-call time of hubroute's client next to a bare HTTP call and to
huggingface_hub's client, all against the same fast mock upstream; and `import hubroute`'s time.

    .venv/bin/python bench/client.py [--calls 3000] [--warmup 300] [--repeat 3]

One process per target measures `--calls` sequential chat completions (and streams of 20 chunks)
after `--warmup` calls, on one connection, the mock pinned to another CPU when there are two:

    bare httpx2 / aiohttp         POST + read + JSON decode: the floor any client pays
    hubroute routed               AsyncInferenceClient(base_url=<mock>) / InferenceClient: its full path
                                  (request body, the transport, answer records), upstream = the mock
    hubroute direct               AsyncInferenceClient with the mock as an openai-compatible provider:
                                  the router's engine in-process (plan, adapter, failover bookkeeping)
    huggingface_hub               AsyncInferenceClient(base_url=<mock>) / InferenceClient

Each figure is the median per-call time over `--repeat` runs (each run's own median). Prints a
Markdown table and writes the figures to bench/results/client-latest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BENCH, HOST, MESSAGES, MOCK, Processes, chat_body, free_port, wait_until_answers

MODEL = "bench-model"
RESULTS = BENCH / "results"

# --- one measurement (run in its own process: `client.py --measure TARGET`) ---------------------------


def chunk(line: str) -> Any:
    """One SSE line decoded, as every client must (the bare calls too: a fair floor)."""
    import orjson

    line = line.strip()
    data = line[6:] if line.startswith("data: ") else line
    return data if data == "[DONE]" else orjson.loads(data)


def _targets(url: str) -> dict[str, Callable[[bool], Any]]:
    """target -> factory(stream) of a per-call function (a coroutine function, or a plain one for sync)."""
    body = chat_body(MODEL, False)
    stream_body = chat_body(MODEL, True)
    chat_url = f"{url}/v1/chat/completions"

    def httpx_async(stream: bool) -> Callable[[], Awaitable[Any]]:
        import httpx2 as httpx
        import orjson

        client = httpx.AsyncClient(timeout=30)
        headers = {"content-type": "application/json"}

        async def call() -> Any:
            if stream:
                async with client.stream("POST", chat_url, content=stream_body, headers=headers) as resp:
                    return [chunk(line) async for line in resp.aiter_lines() if line]
            resp = await client.post(chat_url, content=body, headers=headers)
            return orjson.loads(resp.content)

        return call

    def aiohttp_async(stream: bool) -> Callable[[], Awaitable[Any]]:
        import aiohttp
        import orjson

        session: list[aiohttp.ClientSession] = []
        headers = {"content-type": "application/json"}

        async def call() -> Any:
            if not session:
                session.append(aiohttp.ClientSession())
            async with session[0].post(chat_url, data=stream_body if stream else body, headers=headers) as resp:
                if stream:
                    return [chunk(line.decode()) async for line in resp.content if line.strip()]
                return orjson.loads(await resp.read())

        return call

    def httpx_sync(stream: bool) -> Callable[[], Any]:
        import httpx2 as httpx
        import orjson

        client = httpx.Client(timeout=30)
        headers = {"content-type": "application/json"}

        def call() -> Any:
            if stream:
                with client.stream("POST", chat_url, content=stream_body, headers=headers) as resp:
                    return [chunk(line) for line in resp.iter_lines() if line]
            return orjson.loads(client.post(chat_url, content=body, headers=headers).content)

        return call

    def hub_async(make: Callable[[], Any]) -> Callable[[bool], Callable[[], Awaitable[Any]]]:
        def factory(stream: bool) -> Callable[[], Awaitable[Any]]:
            client = make()

            async def call() -> Any:
                if stream:
                    return [c async for c in await client.chat_completion(MESSAGES, model=MODEL, max_tokens=64,
                                                                          stream=True)]
                return await client.chat_completion(MESSAGES, model=MODEL, max_tokens=64)

            return call

        return factory

    def hub_sync(make: Callable[[], Any]) -> Callable[[bool], Callable[[], Any]]:
        def factory(stream: bool) -> Callable[[], Any]:
            client = make()

            def call() -> Any:
                if stream:
                    return list(client.chat_completion(MESSAGES, model=MODEL, max_tokens=64, stream=True))
                return client.chat_completion(MESSAGES, model=MODEL, max_tokens=64)

            return call

        return factory

    def direct_settings() -> Any:
        from hubroute.config import Settings

        return Settings.parse(json.dumps({
            "providers": {"mock": {"type": "openai-compatible", "base_url": f"{url}/v1"}},
            "models": [{"id": MODEL, "providers": [{"provider": "mock", "provider_id": MODEL}]}],
            "huggingface": {"live_catalog": False},
        }), {})

    def hubroute_async() -> Any:
        from hubroute import AsyncInferenceClient

        return AsyncInferenceClient(base_url=url, environ={})

    def hubroute_direct() -> Any:
        from hubroute import AsyncInferenceClient

        return AsyncInferenceClient(config=direct_settings(), environ={})

    def hubroute_sync() -> Any:
        from hubroute import InferenceClient

        return InferenceClient(base_url=url, environ={})

    def hf_async() -> Any:
        from huggingface_hub import AsyncInferenceClient

        return AsyncInferenceClient(base_url=url, api_key="unused")

    def hf_sync() -> Any:
        from huggingface_hub import InferenceClient

        return InferenceClient(base_url=url, api_key="unused")

    return {
        "bare httpx2 (async)": httpx_async,
        "bare aiohttp (async)": aiohttp_async,
        "hubroute routed (async)": hub_async(hubroute_async),
        "hubroute direct (async)": hub_async(hubroute_direct),
        "huggingface_hub (async)": hub_async(hf_async),
        "bare httpx2 (sync)": httpx_sync,
        "hubroute routed (sync)": hub_sync(hubroute_sync),
        "huggingface_hub (sync)": hub_sync(hf_sync),
    }


def measure(target: str, url: str, calls: int, warmup: int) -> dict[str, float]:
    """Median and mean seconds per call, chat and stream, for one target (in this process)."""
    out: dict[str, float] = {}
    factory = _targets(url)[target]
    for mode in ("chat", "stream"):
        call = factory(mode == "stream")
        times: list[float] = []
        if asyncio.iscoroutinefunction(call):
            async def run(call: Callable[[], Awaitable[Any]] = call, times: list[float] = times) -> None:
                for i in range(warmup + calls):
                    t0 = time.perf_counter()
                    await call()
                    if i >= warmup:
                        times.append(time.perf_counter() - t0)

            asyncio.run(run())
        else:
            for i in range(warmup + calls):
                t0 = time.perf_counter()
                call()
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
        out[f"{mode}_p50"] = statistics.median(times)
        out[f"{mode}_mean"] = statistics.fmean(times)
    return out


# --- import time -----------------------------------------------------------------------------------
_IMPORT = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def import_time(module: str, runs: int = 7) -> float:
    times = [float(subprocess.run([sys.executable, "-c", _IMPORT.format(m=module)], capture_output=True,
                                  text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


# --- the command -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append", help="measure only this target (repeatable)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:  # a child: one target, figures as JSON on stdout
        print(json.dumps(measure(args.measure, args.url, args.calls, args.warmup)))
        return 0

    two_cpus = (os.cpu_count() or 1) >= 2
    procs = Processes(RESULTS / "logs")
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)
    port = free_port()
    mock = procs.spawn("client-mock", [sys.executable, str(MOCK), "--port", str(port)],
                       cpus=frozenset({1}) if two_cpus else None)
    try:
        wait_until_answers(port, "/v1/chat/completions", chat_body(MODEL, False), None, mock, 15)
        url = f"http://{HOST}:{port}"
        targets = args.only or list(_targets(url))
        figures: dict[str, list[dict[str, float]]] = {t: [] for t in targets}
        for _ in range(args.repeat):
            for target in targets:  # interleaved, so that a noisy moment spreads over all of them
                cmd = [sys.executable, __file__, "--measure", target, "--url", url, "--calls", str(args.calls),
                       "--warmup", str(args.warmup)]
                if two_cpus:
                    cmd = ["taskset", "-c", "0", *cmd]
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    print(done.stderr, file=sys.stderr)
                    return 1
                figures[target].append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        procs.stop_all()
    result = {t: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for t, runs in figures.items()}
    imports = {m: import_time(m) for m in ("hubroute", "huggingface_hub", "httpx2", "aiohttp")}
    report(result, imports, args)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "client-latest.json").write_text(json.dumps(
        {"date": time.strftime("%Y-%m-%d %H:%M"), "calls": args.calls, "repeat": args.repeat,
         "per_call_seconds": result, "import_seconds": imports}, indent=2) + "\n")
    return 0


def report(result: dict[str, dict[str, float]], imports: dict[str, float], args: argparse.Namespace) -> None:
    def us(seconds: float) -> str:
        return f"{seconds * 1e6:,.0f}"

    def base(target: str) -> str:
        return "bare httpx2 (sync)" if target.endswith("(sync)") else "bare httpx2 (async)"

    print(f"\n{args.calls} calls x {args.repeat} runs, one connection, median per call (µs)\n")
    print("| client | chat p50 | vs httpx2 | vs aiohttp | stream p50 | vs httpx2 |")
    print("|---|--:|--:|--:|--:|--:|")
    aio = result.get("bare aiohttp (async)")
    for target, r in result.items():
        ref = result.get(base(target))
        vs = f"{r['chat_p50'] / ref['chat_p50']:.2f}x" if ref else "-"
        vs_s = f"{r['stream_p50'] / ref['stream_p50']:.2f}x" if ref else "-"
        vs_aio = f"{r['chat_p50'] / aio['chat_p50']:.2f}x" if aio and target.endswith("(async)") else "-"
        print(f"| {target} | {us(r['chat_p50'])} | {vs} | {vs_aio} | {us(r['stream_p50'])} | {vs_s} |")
    print("\n| import | ms |\n|---|--:|")
    for module, seconds in imports.items():
        print(f"| `import {module}` | {seconds * 1e3:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
