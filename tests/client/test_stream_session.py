"""Direct mode's streams end through the same session as the router's: a stream the caller stops
reading frees a half-open circuit's probe slot, so the provider is tried again (before, the circuit
stayed shut for the life of the client: "circuit open ... retrying in 0s")."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from hubroute.client import AsyncInferenceClient
from hubroute.errors import NoProviderAvailable
from tests.conftest import Mocks
from tests.mocks import chat_completion, json_reply, sse_reply, stream_events

MODEL = "acme/chat-model"
HI = [{"role": "user", "content": "hi"}]


async def test_an_abandoned_probe_stream_lets_the_next_call_through(mocks: Mocks) -> None:
    local = await mocks.start("local")
    local.enqueue(
        json_reply({"error": "down"}, status=503),  # opens the circuit (threshold 1)
        sse_reply(stream_events([f"w{i}" for i in range(100)]), delay=0.02),  # the probe, abandoned
        json_reply(chat_completion("back")),
    )
    config = {
        "providers": {"local": {"type": "openai-compatible", "base_url": f"{local.url}/v1"}},
        "models": [{"id": MODEL, "providers": [{"provider": "local", "provider_id": "m"}]}],
        "routing": {"circuit_breaker": {"failures": 1, "cooldown": 0.2}, "max_attempts": 1},
    }
    client = AsyncInferenceClient(provider="auto", environ={}, config=_settings(config))
    try:
        with pytest.raises(NoProviderAvailable):
            await client.chat_completion(HI, model=MODEL)
        await asyncio.sleep(0.3)  # cool-down over: the next call is the half-open circuit's probe
        stream = await client.chat_completion(HI, model=MODEL, stream=True)
        first = await anext(stream)
        assert first.choices[0].delta.content == "w0"
        await stream.aclose()  # the caller stops reading
        answer = await client.chat_completion(HI, model=MODEL)
        assert answer.choices[0].message.content == "back"
    finally:
        await client.close()


def _settings(config: dict[str, object]) -> object:
    from hubroute.config import Settings

    return Settings.parse(yaml.safe_dump(config), {})
