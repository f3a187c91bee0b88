"""A sync client dropped without close() (as huggingface_hub's examples do) closes its connections
when it is collected or at exit: no "Unclosed client session" warnings, no leaked sockets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hubroute import AsyncInferenceClient
from tests.conftest import Mocks
from tests.mocks import sse_reply, stream_events

ROOT = Path(__file__).resolve().parents[2]
HI = [{"role": "user", "content": "hi"}]
SCRIPT = r'''
import asyncio, gc, os, tempfile, threading
from tests.mocks import MockProvider, json_reply

loop = asyncio.new_event_loop()
mock = MockProvider("hf")
loop.run_until_complete(mock.start())
threading.Thread(target=loop.run_forever, daemon=True).start()
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
    config.write(
        "huggingface: {token: hf_test_token_1, base_url: '%s', live_catalog: false}\n"
        "models: [{id: org/tts, task: text-to-speech, providers: [{provider: hf-inference}]}]\n" % mock.url)
os.environ["HUBROUTE_CONFIG"] = config.name

from hubroute import InferenceClient

# direct mode and a task answering media: the router's transport opens an aiohttp session
mock.enqueue(json_reply(b"RIFF1", content_type="audio/wav"), json_reply(b"RIFF2", content_type="audio/wav"))
client = InferenceClient(provider="hf-inference")
print(client.text_to_speech("Hello", model="org/tts").decode())
del client
gc.collect()
kept = InferenceClient(provider="hf-inference")  # never dropped: closed at exit
print(kept.text_to_speech("Hello", model="org/tts").decode())
'''


def test_dropped_clients_close_their_connections() -> None:
    done = subprocess.run([sys.executable, "-W", "always", "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RIFF1", "RIFF2"]
    assert "Unclosed" not in done.stderr and "ResourceWarning" not in done.stderr, done.stderr


async def test_routed_streams_give_their_connection_back(mocks: Mocks) -> None:
    """A stream read to [DONE] returns its connection to the pool: the next call reuses it."""
    router = await mocks.start()  # stands in for a hubroute router: the same OpenAI wire format
    router.enqueue(sse_reply(stream_events(["a", "b"])), sse_reply(stream_events(["c"])))
    client = AsyncInferenceClient(base_url=router.url)
    try:
        for _ in range(2):
            chunks = [c async for c in await client.chat_completion(HI, model="org/m", stream=True)]
            assert chunks
        assert router.received[0].peer == router.received[1].peer
    finally:
        await client.close()
