"""The client against mock providers, in both modes: `routed` through a real router on a real socket,
`direct` with the router's engine in-process. Both reach the same mocks speaking the providers' wire
formats: Together AI (its own adapter, base_url on a mock) for chat, completions and embeddings,
and hf-inference behind a mock of Hugging Face's router for every classic task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from hubroute.client import AsyncInferenceClient
from hubroute.config import Settings
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.mocks import MockProvider

CHAT_MODEL = "acme/chat-model"
CHAT_ID = "acme/Chat-Turbo"
EMBED_MODEL = "acme/embed-model"
HF_TOKEN = "hf_test_token_123"
TOGETHER_KEY = "tg-test-key-0000"


def task_model(task: str) -> str:
    return f"acme/{task}-model"


def hf_tasks() -> list[str]:
    from hubroute.providers import REGISTRY

    # text-generation: the client serves it over /v1/completions (test_chat.py), not the task API
    return sorted(t for t in REGISTRY["hf-inference"].routes if t not in ("conversational", "text-generation"))


def config(hf: MockProvider, together: MockProvider, **extra: Any) -> str:
    models: list[dict[str, Any]] = [
        {"id": CHAT_MODEL, "task": "conversational", "providers": [{"provider": "together", "provider_id": CHAT_ID}]},
        {"id": EMBED_MODEL, "task": "feature-extraction",
         "providers": [{"provider": "together", "provider_id": "acme/Embed-v1"}]},
    ]
    models += [{"id": task_model(t), "task": t, "providers": [{"provider": "hf-inference"}]} for t in hf_tasks()]
    conf: dict[str, Any] = {
        "huggingface": {"token": HF_TOKEN, "base_url": hf.url, "live_catalog": False},
        "providers": {"together": {"api_key": TOGETHER_KEY, "base_url": together.url}},
        "models": models,
        **extra,
    }
    return yaml.safe_dump(conf, sort_keys=False)


@dataclass
class Setup:
    mode: str
    client: AsyncInferenceClient
    hf: MockProvider
    together: MockProvider
    router: RunningRouter | None = None


async def make_client(mode: str, conf: str, router: RouterFactory, **kw: Any) -> tuple[AsyncInferenceClient,
                                                                                        RunningRouter | None]:
    if mode == "routed":
        running = await router.start(conf)
        return AsyncInferenceClient(base_url=running.url, environ={}, **kw), running
    return AsyncInferenceClient(config=Settings.parse(conf, {}), environ={}, **kw), None


@pytest.fixture(params=["routed", "direct"])
async def setup(request: pytest.FixtureRequest, mocks: Mocks, router: RouterFactory) -> AsyncIterator[Setup]:
    hf = await mocks.start("hf")
    together = await mocks.start("together")
    client, running = await make_client(request.param, config(hf, together), router)
    yield Setup(request.param, client, hf, together, running)
    await client.close()
