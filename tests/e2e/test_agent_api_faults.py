"""The Messages and Responses APIs when providers fail, as chat does: failover before a stream commits,
a stream cut after it did (its end in the API's own shape, its usage counted and recorded), no
provider able to answer (Anthropic's 529; OpenAI's 503), a provider that stalls past its deadline."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hubroute.server.record import RequestRecord
from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.support import MODEL, config
from tests.mocks import Reply, hang, json_reply, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"
AUTH = {"authorization": f"Bearer {MASTER}"}
PRICES = {"a": {"input": 1.0, "output": 2.0}, "b": {"input": 3.0, "output": 6.0}}
MESSAGES = ("/v1/messages", {"model": MODEL, "max_tokens": 50, "stream": True,
                             "messages": [{"role": "user", "content": "hi"}]})
RESPONSES = ("/v1/responses", {"model": MODEL, "input": "hi", "stream": True})


def records(r: RunningRouter) -> list[RequestRecord]:
    got: list[RequestRecord] = []
    r.app.sinks.append(got.append)
    return got


def events(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.mark.parametrize(("path", "body"), [MESSAGES, RESPONSES], ids=["messages", "responses"])
async def test_a_failed_provider_is_passed_over_before_the_stream_commits(
        path: str, body: dict[str, Any], mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": "overloaded"}, status=503))
    b.default = sse_reply(stream_events(["Fine", "."]))
    r = await router.start(config(a, b, pricing=PRICES, server={"master_key": MASTER}))
    got = records(r)
    async with r.client(headers=AUTH) as http:
        resp = await http.post(path, json=body)
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "b"
    assert events(resp.text)[-1]["type"] in ("message_stop", "response.completed")
    [rec] = got
    assert (rec.provider, rec.attempts, rec.failovers) == ("b", 2, 1)
    assert (rec.usage.input_tokens, rec.usage.output_tokens) == (7, 2)  # type: ignore[union-attr]
    assert rec.cost == pytest.approx((7 * 3.0 + 2 * 6.0) / 1e6)


async def failed_stream(path: str, body: dict[str, Any], reply: Reply, mocks: Mocks,
                        router: RouterFactory) -> tuple[str, RequestRecord]:
    """Stream `body` to `path` from provider "a" answering `reply`, which says "One two" and then fails:
    the error its answer's last event gives, checked to be the API's own failure (Anthropic's
    `api_error` with no `message_stop`; `response.failed` with the text and usage so far), and the
    request's record."""
    a = await mocks.start("a")
    a.default = reply
    r = await router.start(config(a, pricing=PRICES, server={"master_key": MASTER}))
    got = records(r)
    async with r.client(headers=AUTH) as http:
        resp = await http.post(path, json=body)
    assert resp.status_code == 200
    last = events(resp.text)[-1]
    if path == "/v1/messages":
        assert last["type"] == "error" and last["error"]["type"] == "api_error"
        assert "message_stop" not in resp.text
        message = last["error"]["message"]
    else:
        assert last["type"] == "response.failed" and last["response"]["status"] == "failed"
        assert last["response"]["usage"]["output_tokens"] == 2
        assert last["response"]["output"][0]["content"][0]["text"] == "One two"
        message = last["response"]["error"]["message"]
    [rec] = got
    return message, rec


@pytest.mark.parametrize(("path", "body"), [MESSAGES, RESPONSES], ids=["messages", "responses"])
async def test_a_stream_cut_after_it_committed_ends_in_the_apis_shape_with_its_usage(
        path: str, body: dict[str, Any], mocks: Mocks, router: RouterFactory) -> None:
    reply = sse_reply(stream_events(["One", " two", " three"]), break_after=2)
    message, rec = await failed_stream(path, body, reply, mocks, router)
    assert message
    assert rec.error is not None and rec.usage is not None and rec.usage.output_tokens == 2
    assert rec.usage.source == "hubroute" and rec.cost is not None and rec.cost > 0


async def test_no_provider_able_to_answer(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    a.default = json_reply({"error": "overloaded"}, status=503)
    r = await router.start(config(a, server={"master_key": MASTER}, routing={"max_attempts": 1}))
    async with r.client(headers=AUTH) as http:
        anthropic = await http.post(MESSAGES[0], json=MESSAGES[1])
        openai = await http.post(RESPONSES[0], json=RESPONSES[1])
    assert anthropic.status_code == 529 and anthropic.json()["error"]["type"] == "overloaded_error"
    assert openai.status_code == 503 and openai.json()["error"]["code"]


@pytest.mark.parametrize(("path", "body"), [MESSAGES, RESPONSES], ids=["messages", "responses"])
async def test_a_stalled_provider_is_passed_over_at_its_first_byte_deadline(
        path: str, body: dict[str, Any], mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.default = hang(10)
    r = await router.start(config(a, b, server={"master_key": MASTER},
                                  routing={"timeouts": {"first_byte": 0.5}}))
    async with r.client(headers=AUTH) as http:
        resp = await http.post(path, json=body)
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "b"


@pytest.mark.parametrize(("path", "body"), [MESSAGES, RESPONSES], ids=["messages", "responses"])
@pytest.mark.parametrize("odd", [b'{"choices":[7]}', b'{"choices":[{"delta":{"content":"!"', b'{"choices":{"0":{}}}'],
                         ids=["choice-not-object", "not-json", "choices-not-list"])
async def test_a_chunk_that_cannot_be_read_ends_the_stream_as_the_providers_failure(
        path: str, body: dict[str, Any], odd: bytes, mocks: Mocks, router: RouterFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    frames = stream_events(["One", " two"])
    reply = sse_reply([*frames[:2], b"data: " + odd, *frames[2:]])
    message, rec = await failed_stream(path, body, reply, mocks, router)
    assert message.startswith("a sent a stream event")
    assert rec.error == "provider_bad_response" and rec.usage is not None and rec.usage.output_tokens == 2
    assert "stream relay failed" not in caplog.text  # (not the router's own failure)
