"""Malformed and impossible client requests: a precise 4xx naming the field, in OpenAI's error shape,
before any provider is contacted; never a 500.

The router is stateless for these requests, so one router (and one mock provider) serves the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import CHAT, HI, MODEL, assert_error, config
from tests.mocks import MockProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
OK = {"model": MODEL, "messages": HI}


class Served:
    def __init__(self, r: RunningRouter, a: MockProvider) -> None:
        self.r, self.a = r, a
        self.hits = a.hits

    def provider_untouched(self) -> bool:
        return self.a.hits == self.hits


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared() -> AsyncIterator[tuple[RunningRouter, MockProvider]]:
    mocks, routers = Mocks(), RouterFactory()
    a = await mocks.start("a")
    # A built-in provider pointed at the mock: with an OpenAI-compatible server in the config, unknown
    # models would go to it unchanged instead of being a 404.
    r = await routers.start(config(providers={"together": {"api_key": "tg-key-0000", "base_url": a.url}},
                                   server={"max_request_bytes": 4096}, models=[
        {"id": MODEL, "providers": [{"provider": "together", "provider_id": "acme/Chat-Turbo"}]},
        # no groq key and no HF token: groq is not reachable
        {"id": "acme/orphan", "providers": [{"provider": "groq", "provider_id": "orphan-versatile"}]},
    ]))
    yield r, a
    await r.stop()
    await a.stop()


@pytest.fixture
def served(shared: tuple[RunningRouter, MockProvider]) -> Served:
    return Served(*shared)


async def post(r: RunningRouter, path: str = CHAT, **kw: Any):
    async with r.client() as c:
        return await c.post(path, **kw)


# (body changes, the field the message must name)
BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing-model", {"model": None}, "model"),
    ("empty-model", {"model": "  "}, "model"),
    ("model-not-string", {"model": 42}, "model"),
    ("missing-messages", {"messages": None}, "messages"),
    ("empty-messages", {"messages": []}, "messages"),
    ("messages-not-list", {"messages": "hi"}, "messages"),
    ("message-not-object", {"messages": ["hi"]}, "messages[0]"),
    ("wrong-role", {"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ("missing-role", {"messages": [{"content": "hi"}]}, "messages[0].role"),
    ("content-number", {"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    ("content-part-no-type", {"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0]"),
    ("bad-response-format-type", {"response_format": {"type": "yaml"}}, "response_format.type"),
    ("response-format-not-object", {"response_format": "json"}, "response_format"),
    ("json-schema-missing", {"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
    ("stream-not-bool", {"stream": "yes"}, "stream"),
    ("stream-options-without-stream", {"stream_options": {"include_usage": True}}, "stream_options"),
    ("n-zero", {"n": 0}, "n"),
    ("n-float", {"n": 1.5}, "n"),
    ("n-bool", {"n": True}, "n"),
    ("max-tokens-zero", {"max_tokens": 0}, "max_tokens"),
    ("temperature-string", {"temperature": "hot"}, "temperature"),
    ("stop-number", {"stop": 5}, "stop"),
    ("tools-not-list", {"tools": {"type": "function"}}, "tools"),
    ("tool-without-name", {"tools": [{"type": "function", "function": {}}]}, "tools[0]"),
    ("tool-not-object", {"tools": ["search"]}, "tools[0]"),
    ("tool-function-string", {"tools": [{"type": "function", "function": "search"}]}, "tools[0]"),
    ("tool-choice-number", {"tool_choice": 1}, "tool_choice"),
    ("unknown-suffix", {"model": f"{MODEL}:nonsense"}, ":nonsense"),
    ("empty-suffix", {"model": f"{MODEL}:"}, "model"),
]


@pytest.mark.parametrize(("change", "field"), [(c, f) for _, c, f in BAD_BODIES], ids=[i for i, _, _ in BAD_BODIES])
async def test_bad_body_is_a_400_naming_the_field(served: Served, change: dict[str, Any], field: str) -> None:
    r = served.r
    body = {k: v for k, v in {**OK, **change}.items() if v is not None}
    err = assert_error(await post(r, json=body), 400)
    assert err["type"] == "invalid_request_error"
    assert field in err["message"] or err.get("param") == field, err
    assert served.provider_untouched()


@pytest.mark.parametrize(("raw", "words"), [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "JSON object"),
    (b"null", "JSON object"),
    (b'"a string"', "JSON object"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[" * 1500 + b"]" * 1500, "not valid JSON"),
    (b'{"model": "m", "messages": [], "max_tokens": 123456789012345678901234567890}', "max_tokens"),
], ids=["invalid-json", "empty", "array", "null", "string", "not-utf8", "deep-nesting", "huge-int"])
async def test_unparseable_body_is_a_400(served: Served, raw: bytes, words: str) -> None:
    r = served.r
    err = assert_error(await post(r, content=raw, headers={"content-type": "application/json"}), 400)
    assert words in err["message"], err
    assert served.provider_untouched()


async def test_body_over_max_request_bytes_is_refused(served: Served) -> None:
    r = served.r
    big = {**OK, "messages": [{"role": "user", "content": "x" * 10_000}]}
    err = assert_error(await post(r, json=big), (400, 413), "request_too_large")
    assert "4096" in err["message"]
    assert served.provider_untouched()
    assert (await post(r, json=OK)).status_code == 200  # the server is fine afterwards


async def test_completions_without_prompt_is_a_400(served: Served) -> None:
    r = served.r
    err = assert_error(await post(r, "/v1/completions", json={"model": MODEL}), 400)
    assert "prompt" in err["message"]
    assert served.provider_untouched()


async def test_unknown_model_is_404_model_not_found(served: Served) -> None:
    r = served.r
    err = assert_error(await post(r, json={**OK, "model": "nobody/no-such-model"}), 404, "model_not_found")
    assert "nobody/no-such-model" in err["message"]
    async with r.client() as c:
        assert_error(await c.get("/v1/models/nobody/no-such-model"), 404, "model_not_found")
    assert served.provider_untouched()


async def test_known_model_without_usable_provider_is_400_not_supported(served: Served) -> None:
    r = served.r
    err = assert_error(await post(r, json={**OK, "model": "acme/orphan"}), 400, "model_not_supported")
    assert "not supported by any provider you have enabled" in err["message"]
    assert "groq" in err["message"]
    # A pin to a provider that does not serve the model says so too.
    err = assert_error(await post(r, json={**OK, "model": f"{MODEL}:cerebras"}), 400, "model_not_supported")
    assert "cerebras" in err["message"]
    assert served.provider_untouched()


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/nothing-here", 404),
    ("POST", "/v2/chat/completions", 404),
    ("GET", "/", 404),
    ("GET", CHAT, 405),
    ("PUT", CHAT, 405),
    ("POST", "/v1/models", 405),
    ("POST", f"/v1/models/{MODEL}", 405),
    ("DELETE", "/health", 405),
])
async def test_unknown_route_and_wrong_method(served: Served, method: str, path: str, status: int) -> None:
    r = served.r
    async with r.client() as c:
        resp = await c.request(method, path)
    assert_error(resp, status)


# Odd but well-formed requests must never end in a 500.
ODD: list[dict[str, Any]] = [
    {"messages": [{"role": "user", "content": "x", "name": {"nested": [1, 2]}}]},
    {"messages": [{"role": "assistant", "content": None, "tool_calls": "garbage"}]},
    {"response_format": {"type": "json_schema", "json_schema": {"schema": "not an object"}}},
    {"stop": [1, None]},
    {"logit_bias": {"50256": "x"}},
    {"tool_choice": {"type": "function"}},
    {"model": "a/b/c/d:e:f"},
    {"model": "x" * 3000},
    {"model": ":"},
    {"model": "http://127.0.0.1:1/v1"},
    {"stream": True, "stream_options": None},
    {"stream": True, "stream_options": {"include_usage": "yes"}},
]


@pytest.mark.parametrize("change", ODD, ids=[orjson.dumps(c).decode()[:40] for c in ODD])
async def test_odd_requests_never_500(served: Served, change: dict[str, Any]) -> None:
    r = served.r
    resp = await post(r, json={**OK, **change})
    assert resp.status_code != 500, resp.text
    if resp.status_code >= 400:
        assert_error(resp, resp.status_code)
    assert "Traceback" not in resp.text
