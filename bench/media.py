"""Large media bodies through the router: memory and throughput while 16 run at once.

    .venv/bin/python bench/media.py [--concurrency 16] [--requests 64] [--json out.json]

Two workloads, each sent by `--concurrency` clients at once to a real `hubroute serve`, whose
upstream is a mock Hugging Face router (hf-inference routes) in its own process:

* image-to-image: a 5 MB image as the raw request body, a 5 MB image back (streamed both ways);
* automatic-speech-recognition: a 20 MB recording as the raw request body, a short JSON answer.

The router's resident memory (VmRSS of its process) is sampled every 10 ms throughout; the target
is a peak under 100 MB. Requests are checked: every answer must be 200 with the full image (byte
count and a checksum) or the transcript.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOST, BenchError, Processes, free_port, log, rss_mb

IMAGE_BYTES = 5 * 1000 * 1000
AUDIO_BYTES = 20 * 1000 * 1000
PIX2PIX = "timbrooks/instruct-pix2pix"
WHISPER = "openai/whisper-large-v3"
RSS_TARGET_MB = 100.0


# --- the mock upstream (runs in its own process: `media.py --serve-mock PORT`) ------------------
async def _mock(port: int) -> None:
    image = (b"\x89PNG\r\n\x1a\n" + os.urandom(4096)) * (IMAGE_BYTES // 4104)
    image += b"\0" * (IMAGE_BYTES - len(image))

    async def handle(request: web.Request) -> web.StreamResponse:
        received = 0
        async for chunk in request.content.iter_chunked(256 * 1024):
            received += len(chunk)
        if request.path.endswith(PIX2PIX):
            resp = web.StreamResponse(headers={"content-type": "image/png", "content-length": str(len(image))})
            await resp.prepare(request)
            view = memoryview(image)
            for i in range(0, len(image), 256 * 1024):
                await resp.write(view[i : i + 256 * 1024])
            await resp.write_eof()
            return resp
        return web.json_response({"text": f"received {received} bytes"})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


# --- the benchmark ---------------------------------------------------------------------------------
def config(mock_port: int) -> str:
    return f"""
huggingface: {{token: hf_bench_token_1, base_url: "http://{HOST}:{mock_port}", live_catalog: false}}
server: {{access_log: false, max_request_bytes: 33554432}}
inputs: {{max_bytes: 25000000}}
models:
  - {{id: {PIX2PIX}, task: image-to-image, providers: [{{provider: hf-inference}}]}}
  - {{id: {WHISPER}, task: automatic-speech-recognition, providers: [{{provider: hf-inference}}]}}
"""


async def _sample_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak.append(rss_mb(pid)["rss_mb"])
        await asyncio.sleep(0.01)


async def _workload(port: int, pid: int, model: str, body: bytes, content_type: str, concurrency: int,
                    requests: int) -> dict[str, Any]:
    url = f"http://{HOST}:{port}/models/{model}"
    latencies: list[float] = []
    errors: list[str] = []
    out_bytes = 0
    queue = iter(range(requests))
    samples: list[float] = []
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal out_bytes
            for _ in queue:
                t0 = time.perf_counter()
                async with session.post(url, data=body, headers={"content-type": content_type}) as resp:
                    digest, size = hashlib.md5(usedforsecurity=False), 0
                    async for chunk in resp.content.iter_chunked(256 * 1024):
                        digest.update(chunk)
                        size += len(chunk)
                    if resp.status != 200:
                        errors.append(f"{resp.status}")
                        continue
                latencies.append(time.perf_counter() - t0)
                out_bytes += size

        sampler = asyncio.create_task(_sample_rss(pid, samples, stop))
        idle = rss_mb(pid)["rss_mb"]
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        stop.set()
        await sampler
    if errors:
        raise BenchError(f"{model}: {len(errors)} requests failed: {errors[:5]}")
    latencies.sort()
    return {
        "requests": requests,
        "concurrency": concurrency,
        "request_mb": round(len(body) / 1e6, 1),
        "answer_mb": round(out_bytes / max(1, len(latencies)) / 1e6, 3),
        "req_per_s": round(requests / elapsed, 1),
        "mb_per_s_in": round(requests * len(body) / elapsed / 1e6, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 1),
        "rss_idle_mb": idle,
        "rss_peak_mb": max(samples) if samples else idle,
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="hubroute-media-bench-"))
    procs = Processes(log_dir)
    try:
        mock_port, port = free_port(), free_port()
        mock = procs.spawn("mock", [sys.executable, __file__, "--serve-mock", str(mock_port)])
        cfg = log_dir / "config.yaml"
        cfg.write_text(config(mock_port))
        hubroute = Path(sys.executable).parent / "hubroute"
        router = procs.spawn("hubroute", [str(hubroute), "serve", "--config", str(cfg), "--host", HOST,
                                          "--port", str(port)])
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as s:
            while True:
                if router.poll() is not None or mock.poll() is not None:
                    raise BenchError("a process exited:\n" + procs.log_tail("hubroute") + procs.log_tail("mock"))
                try:
                    async with s.get(f"http://{HOST}:{port}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchError("hubroute did not start:\n" + procs.log_tail("hubroute"))
                await asyncio.sleep(0.05)
        image = (b"\x89PNG\r\n\x1a\n" + os.urandom(8192)) * (IMAGE_BYTES // 8200)
        audio = b"RIFF\x24\x08\x00\x00WAVEfmt " + os.urandom(AUDIO_BYTES - 16)
        results = {}
        for name, model, body, ctype in (("image-to-image 5 MB", PIX2PIX, image, "image/png"),
                                         ("ASR upload 20 MB", WHISPER, audio, "audio/wav")):
            log(f"{name}: {args.requests} requests, {args.concurrency} at once")
            results[name] = await _workload(port, router.pid, model, body, ctype, args.concurrency, args.requests)
            log(f"  {results[name]}")
        return results
    finally:
        procs.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--serve-mock", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_mock:
        asyncio.run(_mock(args.serve_mock))
        return
    results = asyncio.run(_run(args))
    print("| workload | conns | req/s | MB/s in | p50 ms | p99 ms | router RSS idle / peak MB |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name, r in results.items():
        print(f"| {name} | {r['concurrency']} | {r['req_per_s']} | {r['mb_per_s_in']} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r['rss_idle_mb']} / {r['rss_peak_mb']} |")
    worst = max(r["rss_peak_mb"] for r in results.values())
    print(f"peak RSS {worst} MB: {'within' if worst < RSS_TARGET_MB else 'OVER'} the {RSS_TARGET_MB:g} MB target")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
