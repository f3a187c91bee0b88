"""HubCatalog against a real local HTTP server speaking the Hub's answer shape
(`GET /api/models/{id}?expand[]=inferenceProviderMapping`): caching, single flight, the wait bound,
merge rules and failure handling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from hubroute.catalog import Catalog, ModelEntry, Pricing, ProviderMapping
from hubroute.config import HuggingFaceSettings, ModelProviderSettings, ModelSettings, Settings
from hubroute.hub import HubCatalog
from hubroute.transport import Timeouts, Transport
from tests.ports import free_port

TOKEN = "hf_TopSecretToken0123456789"
KNOWN = frozenset({"groq", "together", "novita", "cerebras", "fireworks-ai", "hf-inference", "sambanova"})
LLAMA = "meta-llama/Llama-3.3-70B-Instruct"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes sent as is
    delay: float = 0.0


@dataclass
class FakeHub:
    """The Hub's model API on 127.0.0.1: one scripted reply per model id, hits counted."""

    url: str = ""
    replies: dict[str, Reply] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    auth: list[str | None] = field(default_factory=list)
    expand: list[list[str]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        self.hits[model] += 1
        self.auth.append(request.headers.get("Authorization"))
        self.expand.append(request.query.getall("expand[]", []))
        reply = self.replies.get(model, Reply(404, {"error": "Repository not found"}))
        if reply.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), reply.delay)
        body = reply.body if isinstance(reply.body, bytes) else orjson.dumps(reply.body)
        return web.Response(status=reply.status, body=body, content_type="application/json")


def hub_answer(model: str, mapping: Any) -> dict[str, Any]:
    """What the Hub sends for `expand[]=inferenceProviderMapping`."""
    return {"_id": "66a1b2c3d4e5f60718293a4b", "id": model, "inferenceProviderMapping": mapping}


@pytest.fixture
async def hub() -> AsyncIterator[FakeHub]:
    fake = FakeHub()
    app = web.Application()
    app.router.add_get("/api/models/{model:.+}", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", free_port())
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    fake.release.set()
    await runner.cleanup()


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    t = Transport()
    yield t
    await t.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def builtin_catalog() -> Catalog:
    groq = ProviderMapping("groq", "llama-3.3-70b-versatile", pricing=Pricing(0.59, 0.79), context_length=131072)
    together = ProviderMapping("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", pricing=Pricing(0.88, 0.88))
    return Catalog([ModelEntry(LLAMA, "conversational", [groq, together])])


def make(
    catalog: Catalog, hub: FakeHub, transport: Transport, *, token: str | None = TOKEN, live: bool = True,
    ttl: float = 600.0, negative_ttl: float = 60.0, wait: float = 2.0, **kw: Any,
) -> HubCatalog:
    settings = Settings(huggingface=HuggingFaceSettings(
        token=token, hub_url=hub.url, live_catalog=live, catalog_ttl=ttl, catalog_negative_ttl=negative_ttl,
        catalog_wait=wait,
    ))
    return HubCatalog(catalog, settings, transport, known_providers=KNOWN, **kw)


def providers(entry: ModelEntry | None) -> dict[str, ProviderMapping]:
    assert entry is not None
    return {m.provider: m for m in entry.providers}


def usable(entry: ModelEntry | None) -> list[str]:
    assert entry is not None
    return [m.provider for m in entry.providers if m.usable]


LIVE_DICT = {
    "novita": {"status": "live", "providerId": "meta-llama/llama-3.3-70b-instruct", "task": "conversational"},
    "groq": {"status": "live", "providerId": "llama-3.3-70b-versatile", "task": "conversational"},
}


# --- answer shapes -------------------------------------------------------------------------------
async def test_dict_shape_merges_live_mappings_and_sends_the_token(hub: FakeHub, transport: Transport) -> None:
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT))
    hc = make(builtin_catalog(), hub, transport)

    entry = await hc.resolve(LLAMA)

    got = providers(entry)
    assert list(got) == ["novita", "groq", "together"]  # the Hub's order first, unmentioned built-ins after
    assert got["novita"].provider_id == "meta-llama/llama-3.3-70b-instruct"
    assert got["novita"].source == "hub"
    # same provider id as the data file: the built-in price and limits are kept
    assert got["groq"].source == "hub"
    assert got["groq"].pricing == Pricing(0.59, 0.79)
    assert got["groq"].context_length == 131072
    assert got["together"].source == "builtin"
    assert hub.hits[LLAMA] == 1
    assert hub.auth == [f"Bearer {TOKEN}"]
    assert hub.expand == [["inferenceProviderMapping"]]


async def test_list_shape_is_accepted(hub: FakeHub, transport: Transport) -> None:
    mapping = [
        {"provider": "cerebras", "hfModelId": LLAMA, "providerId": "llama-3.3-70b", "status": "live",
         "task": "conversational"},
        {"provider": "fireworks-ai", "hfModelId": LLAMA, "status": "staging", "task": "conversational",
         "providerId": "accounts/fireworks/models/llama-v3p3-70b-instruct"},
    ]
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, mapping))
    hc = make(builtin_catalog(), hub, transport)

    got = providers(await hc.resolve(LLAMA))

    assert list(got) == ["cerebras", "fireworks-ai", "groq", "together"]
    assert got["fireworks-ai"].status == "staging"
    assert got["fireworks-ai"].provider_id == "accounts/fireworks/models/llama-v3p3-70b-instruct"


async def test_list_shape_with_one_provider_for_several_tasks_keeps_the_entry_task(
    hub: FakeHub, transport: Transport
) -> None:
    mapping = [
        {"provider": "together", "providerId": "x-t2i", "status": "live", "task": "text-to-image"},
        {"provider": "together", "providerId": "x-chat", "status": "live", "task": "conversational"},
    ]
    hub.replies["org/multi"] = Reply(body=hub_answer("org/multi", mapping))
    hc = make(Catalog(), hub, transport)

    got = providers(await hc.resolve("org/multi"))

    assert got["together"].provider_id == "x-chat"


async def test_unknown_providers_and_error_status_stay_out_of_routing(
    hub: FakeHub, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hubroute.hub")
    mapping = {
        "brand-new-provider": {"status": "live", "providerId": "whatever", "task": "conversational"},
        "novita": {"status": "error", "providerId": "meta-llama/llama-3.3-70b-instruct", "task": "conversational"},
        "together": {"status": "error", "providerId": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                     "task": "conversational"},
        "groq": {"status": "live", "providerId": "llama-3.3-70b-versatile", "task": "conversational"},
        "sambanova": {"status": "live", "task": "conversational"},  # no providerId: malformed
        "cerebras": "not-a-mapping",
    }
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, mapping))
    hc = make(builtin_catalog(), hub, transport)

    entry = await hc.resolve(LLAMA)

    got = providers(entry)
    assert "brand-new-provider" not in got
    assert "sambanova" not in got and "cerebras" not in got
    assert got["novita"].status == "error"
    assert usable(entry) == ["groq"]  # the Hub's error status overrides the built-in together mapping
    assert "brand-new-provider is not known" in caplog.text
    assert "status error" in caplog.text


async def test_unknown_model_is_added_from_the_hub_under_its_canonical_id(
    hub: FakeHub, transport: Transport
) -> None:
    hub.replies["Qwen/Qwen3-32B"] = Reply(body=hub_answer("Qwen/Qwen3-32B", {
        "groq": {"status": "live", "providerId": "qwen/qwen3-32b", "task": "conversational"},
    }))
    hc = make(Catalog(), hub, transport)

    # the requested spelling differs in case: the Hub route is case-insensitive, so the fake is too
    hub.replies["qwen/qwen3-32b"] = hub.replies["Qwen/Qwen3-32B"]
    entry = await hc.resolve("qwen/qwen3-32b")

    assert entry is not None
    assert entry.id == "Qwen/Qwen3-32B"
    assert entry.task == "conversational"
    assert usable(entry) == ["groq"]
    assert hc.get("Qwen/Qwen3-32B") is entry


# --- merge rules -----------------------------------------------------------------------------------
async def test_config_mappings_keep_priority_over_live_ones(hub: FakeHub, transport: Transport) -> None:
    catalog = builtin_catalog()
    catalog.add_config_models([ModelSettings(id=LLAMA, providers=[
        ModelProviderSettings(provider="groq", provider_id="my-groq-finetune"),
    ])])
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, {
        "together": {"status": "live", "providerId": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                     "task": "conversational"},
        "groq": {"status": "error", "providerId": "llama-3.3-70b-versatile", "task": "conversational"},
    }))
    hc = make(catalog, hub, transport)

    entry = await hc.resolve(LLAMA)

    got = providers(entry)
    assert list(got) == ["groq", "together"]
    assert got["groq"].source == "config"
    assert got["groq"].provider_id == "my-groq-finetune"
    assert got["groq"].status == "live"
    assert got["together"].source == "hub"


async def test_a_refresh_drops_live_mappings_the_hub_no_longer_lists(hub: FakeHub, transport: Transport) -> None:
    clock = Clock()
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT))
    hc = make(builtin_catalog(), hub, transport, ttl=10, clock=clock)
    assert "novita" in providers(await hc.resolve(LLAMA))

    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, {}))
    clock.now += 11
    await hc.resolve(LLAMA)
    await hc.wait_idle()

    got = providers(hc.get(LLAMA))
    assert list(got) == ["groq", "together"]  # built-ins stay, the stale live one is gone
    assert all(m.source == "builtin" for m in got.values())


# --- caching -------------------------------------------------------------------------------------
async def test_positive_answers_are_cached_for_the_ttl(hub: FakeHub, transport: Transport) -> None:
    clock = Clock()
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT))
    hc = make(builtin_catalog(), hub, transport, ttl=30, clock=clock)

    await hc.resolve(LLAMA)
    clock.now += 29
    await hc.resolve(LLAMA)
    await hc.resolve(LLAMA.lower())
    assert hub.hits[LLAMA] == 1

    clock.now += 2  # past the TTL: served at once from what is known, refreshed in the background
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, {
        "cerebras": {"status": "live", "providerId": "llama-3.3-70b", "task": "conversational"},
    }))
    entry = await hc.resolve(LLAMA)
    assert "novita" in providers(entry)
    await hc.wait_idle()
    assert hub.hits[LLAMA] == 2
    assert list(providers(hc.get(LLAMA))) == ["cerebras", "groq", "together"]


async def test_404_is_cached_negatively_then_retried(hub: FakeHub, transport: Transport) -> None:
    clock = Clock()
    hc = make(Catalog(), hub, transport, negative_ttl=5, clock=clock)

    assert await hc.resolve("nobody/nothing") is None
    assert await hc.resolve("nobody/nothing") is None
    assert hub.hits["nobody/nothing"] == 1

    clock.now += 6
    hub.replies["nobody/nothing"] = Reply(body=hub_answer("nobody/nothing", {
        "together": {"status": "live", "providerId": "nobody/nothing-turbo", "task": "conversational"},
    }))
    entry = await hc.resolve("nobody/nothing")  # never found before: the request waits for it
    assert hub.hits["nobody/nothing"] == 2
    assert usable(entry) == ["together"]


@pytest.mark.parametrize(
    "reply",
    [
        Reply(401, {"error": "Invalid credentials in Authorization header"}),
        Reply(403, {"error": "Forbidden"}),
        Reply(500, {"error": "Internal Error"}),
        Reply(503, b"<html>upstream connect error</html>"),
        Reply(200, b"{not json"),
        Reply(200, [1, 2, 3]),
    ],
    ids=["401", "403", "500", "503-html", "bad-json", "not-an-object"],
)
async def test_hub_failures_never_reach_the_request_and_are_cached_negatively(
    hub: FakeHub, transport: Transport, caplog: pytest.LogCaptureFixture, reply: Reply
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.replies[LLAMA] = reply
    hc = make(builtin_catalog(), hub, transport)

    entry = await hc.resolve(LLAMA)
    again = await hc.resolve(LLAMA)

    assert usable(entry) == ["groq", "together"]  # built-in data, untouched
    assert again is entry
    assert hub.hits[LLAMA] == 1
    assert "meta-llama/Llama-3.3-70B-Instruct" in caplog.text  # the failure is logged...
    assert TOKEN not in caplog.text  # ...without the token


async def test_hub_timeout_is_logged_and_cached_negatively(
    hub: FakeHub, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT), delay=5)
    hc = make(builtin_catalog(), hub, transport, wait=3, timeouts=Timeouts(connect=1, first_byte=0.3, idle=0.3))

    started = time.perf_counter()
    entry = await hc.resolve(LLAMA)
    assert time.perf_counter() - started < 2

    assert usable(entry) == ["groq", "together"]
    assert "ProviderTimeout" in caplog.text
    assert TOKEN not in caplog.text
    await hc.resolve(LLAMA)
    assert hub.hits[LLAMA] == 1


async def test_unreachable_hub_is_cached_negatively(transport: Transport, caplog: pytest.LogCaptureFixture) -> None:
    dead = FakeHub(url="http://127.0.0.1:9")  # discard port: nothing listens
    hc = make(builtin_catalog(), dead, transport)

    entry = await hc.resolve(LLAMA)

    assert usable(entry) == ["groq", "together"]
    assert "ProviderConnectionError" in caplog.text
    assert TOKEN not in caplog.text


async def test_the_token_is_never_logged_on_success_either(
    hub: FakeHub, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, {**LIVE_DICT, "mystery": {"status": "live", "providerId": "m"}}))
    hc = make(builtin_catalog(), hub, transport)

    await hc.resolve(LLAMA)
    await hc.resolve("nobody/nothing")

    assert caplog.records  # something was logged at debug level
    assert TOKEN not in caplog.text


# --- single flight and the wait bound --------------------------------------------------------------
async def test_concurrent_requests_share_one_look_up(hub: FakeHub, transport: Transport) -> None:
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT), delay=0.3)
    hc = make(builtin_catalog(), hub, transport)

    spellings = [LLAMA, LLAMA.lower(), LLAMA.upper()]
    entries = await asyncio.gather(*(hc.resolve(spellings[i % 3]) for i in range(30)))

    assert hub.hits[LLAMA] == 1
    assert sum(hub.hits.values()) == 1
    assert all(e is entries[0] for e in entries)
    assert "novita" in providers(entries[0])


async def test_a_slow_hub_delays_a_request_by_at_most_catalog_wait(hub: FakeHub, transport: Transport) -> None:
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT), delay=1.0)
    hc = make(builtin_catalog(), hub, transport, wait=0.2)

    started = time.perf_counter()
    entry = await hc.resolve(LLAMA)
    elapsed = time.perf_counter() - started

    assert 0.15 < elapsed < 0.7
    assert list(providers(entry)) == ["groq", "together"]  # went on with the built-in data
    await hc.wait_idle()  # the look-up finished in the background and filled the cache
    assert list(providers(hc.get(LLAMA))) == ["novita", "groq", "together"]
    assert "novita" in providers(await hc.resolve(LLAMA))
    assert hub.hits[LLAMA] == 1


async def test_aclose_cancels_look_ups_under_way(hub: FakeHub, transport: Transport) -> None:
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT), delay=5)
    hc = make(builtin_catalog(), hub, transport, wait=0.05)
    await hc.resolve(LLAMA)

    await hc.aclose()

    await hc.wait_idle()  # returns at once: nothing left running
    assert list(providers(hc.get(LLAMA))) == ["groq", "together"]


# --- when not to look up ---------------------------------------------------------------------------
@pytest.mark.parametrize(("token", "live"), [(None, True), ("", True), (TOKEN, False)])
async def test_no_look_ups_without_a_token_or_with_live_catalog_off(
    hub: FakeHub, transport: Transport, token: str | None, live: bool
) -> None:
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT))
    hc = make(builtin_catalog(), hub, transport, token=token, live=live)

    entry = await hc.resolve(LLAMA)

    assert not hc.enabled
    assert list(providers(entry)) == ["groq", "together"]
    assert await hc.resolve("nobody/nothing") is None
    assert sum(hub.hits.values()) == 0


@pytest.mark.parametrize("model", ["../../etc/passwd", "a/b/c", "org/model?x=1", "org/mo del", ""])
async def test_ids_that_are_not_hub_ids_are_not_looked_up(hub: FakeHub, transport: Transport, model: str) -> None:
    hc = make(Catalog(), hub, transport)

    assert await hc.resolve(model) is None
    assert sum(hub.hits.values()) == 0


async def test_settings_come_from_the_huggingface_section(hub: FakeHub, transport: Transport) -> None:
    settings = Settings.parse(
        f"huggingface:\n  token: os.environ/HF_TOKEN\n  hub_url: {hub.url}/\n  catalog_wait: 0.1\n",
        {"HF_TOKEN": TOKEN},
    )
    hub.replies[LLAMA] = Reply(body=hub_answer(LLAMA, LIVE_DICT), delay=0.5)
    hc = HubCatalog(builtin_catalog(), settings, transport, known_providers=KNOWN)

    started = time.perf_counter()
    await hc.resolve(LLAMA)
    assert time.perf_counter() - started < 0.4
    await hc.wait_idle()
    assert hub.auth == [f"Bearer {TOKEN}"]
    assert "novita" in providers(hc.get(LLAMA))
