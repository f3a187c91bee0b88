"""The client against a real `hubroute serve` process (routed mode over a real socket), every task,
and the import-time promise: `import hubroute` is fast and loads nothing heavy."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from hubroute.client import AsyncInferenceClient, InferenceClient
from tests.client.conftest import CHAT_MODEL, config, hf_tasks, task_model
from tests.client.test_tasks import CALLS, check_output, reply_for
from tests.conftest import Mocks
from tests.e2e.serving import Serve

HI = [{"role": "user", "content": "hi"}]


async def test_every_task_through_hubroute_serve(serve: Serve, mocks: Mocks) -> None:
    hf = await mocks.start("hf")
    together = await mocks.start("together")
    await serve.start(config(hf, together))
    await serve.healthy()
    client = AsyncInferenceClient(base_url=serve.url, environ={})
    assert await client.health_check()
    for task in hf_tasks():
        hf.enqueue(reply_for(task))
        client.model = task_model(task)
        check_output(task, await CALLS[task](client))  # type: ignore[arg-type]
    assert hf.hits == len(hf_tasks())
    client.model = None
    out = await client.chat_completion(HI, model=CHAT_MODEL)
    assert out.provider == "together"
    await client.close()

    def sync_stream() -> str:
        with InferenceClient(base_url=f"{serve.url}/v1", environ={}) as sync:
            return "".join(c.choices[0].delta.content or ""
                           for c in sync.chat_completion(HI, model=CHAT_MODEL, stream=True))

    assert await asyncio.to_thread(sync_stream) == "Hello from the mock"


IMPORT = """
import sys, time
started = time.perf_counter()
import hubroute
elapsed = time.perf_counter() - started
heavy = ("numpy", "PIL", "aiohttp", "httptools", "hubroute.server", "hubroute.client", "uvicorn", "msgspec")
print(elapsed, [m for m in heavy if m in sys.modules])
from hubroute import InferenceClient, completion
client = InferenceClient(base_url="http://127.0.0.1:9")  # routed: its transport opens on first call
print([m for m in ("numpy", "PIL", "hubroute.server", "uvicorn", "starlette", "aiohttp", "httptools")
       if m in sys.modules])
"""


def test_import_hubroute_is_fast_and_light() -> None:
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", IMPORT], capture_output=True, text=True, check=True).stdout
        first, second = out.splitlines()
        elapsed, loaded = first.split(" ", 1)
        assert loaded == "[]", loaded  # nothing heavy on `import hubroute`
        assert second == "[]", second  # the client loads numpy, PIL, its HTTP clients only when used
        runs.append(float(elapsed))
    assert min(runs) < 0.150, runs
