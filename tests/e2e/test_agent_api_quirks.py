"""Providers' quirks under the Messages and Responses APIs, end to end: a real router, builtin adapters
pointed at mock providers, Anthropic's and OpenAI's own SDKs. A JSON schema reaches each provider in its
own shape (`json_schema_mode`); a provider's streamed reasoning, in `reasoning_content` (Z.ai's
`reasoning_key`) or in `reasoning`, comes back as a thinking block or a reasoning item signed with that
provider and its model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import MODEL, config
from tests.mocks import MockProvider, chat_completion, chunk, json_reply, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"
#: the model's id on the provider (hf-inference puts it in its route)
SERVED = "org/served-model"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "rain": {"type": "boolean"}},
          "required": ["city", "rain"], "additionalProperties": False}

Clients = list[anthropic.AsyncAnthropic | openai.AsyncOpenAI]


async def builtin(mocks: Mocks, router: RouterFactory, name: str) -> tuple[MockProvider, str]:
    """A router whose MODEL is served by the builtin adapter `name` only, that adapter's API a mock;
    the mock and the router's URL."""
    mock = await mocks.start(name)
    r = await router.start(config(server={"master_key": MASTER}, routing={"preferred": [name]},
                                  providers={name: {"base_url": mock.url, "api_key": "k"}},
                                  models=[{"id": MODEL, "providers": [{"provider": name, "provider_id": SERVED}]}]))
    return mock, r.url


async def served_by(mocks: Mocks, router: RouterFactory, name: str) -> tuple[MockProvider, str, str]:
    """The mock, the router's URL and what signs the reasoning: `zai-org` (builtin, `reasoning_content`)
    or `a` (an OpenAI-compatible server, `reasoning`)."""
    if name == "zai-org":
        mock, url = await builtin(mocks, router, name)
        return mock, url, f"hubroute:zai-org:{SERVED}"
    mock = await mocks.start(name)
    r = await router.start(config(mock, server={"master_key": MASTER}))
    return mock, r.url, f"hubroute:{name}:{name}-model"


def openai_client(clients: Clients, url: str) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=MASTER, max_retries=0)
    clients.append(client)
    return client


def anthropic_client(clients: Clients, url: str) -> anthropic.AsyncAnthropic:
    client = anthropic.AsyncAnthropic(base_url=url, api_key=MASTER, max_retries=0)
    clients.append(client)
    return client


# --- a JSON schema in each provider's shape -------------------------------------------------------------
#: provider -> its chat route, and the response_format it gets for SCHEMA (its adapt_response_format)
SHAPES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "together": ("/v1/chat/completions", lambda s: {"type": "json_schema", "schema": s}),  # flat_schema
    "hf-inference": (f"/models/{SERVED}/v1/chat/completions",
                     lambda s: {"type": "json_object", "value": s}),  # json_object_with_value (TGI's grammar)
    "zai-org": ("/api/paas/v4/chat/completions", lambda s: {"type": "json_object"}),  # json_object: no schema
    "cohere": ("/compatibility/v1/chat/completions",
               lambda s: {"type": "json_object", "schema": s}),  # json_object_with_schema
}


@pytest.mark.parametrize("provider", list(SHAPES))
async def test_a_responses_json_schema_reaches_the_provider_in_its_own_shape(
        provider: str, mocks: Mocks, router: RouterFactory, clients: Clients) -> None:
    mock, url = await builtin(mocks, router, provider)
    mock.default = json_reply(chat_completion('{"city": "Paris", "rain": false}'))
    made = await openai_client(clients, url).responses.create(
        model=MODEL, input="Paris?", store=False,
        text={"format": {"type": "json_schema", "name": "weather", "schema": SCHEMA, "strict": True}})
    assert orjson.loads(made.output_text) == {"city": "Paris", "rain": False}
    route, shape = SHAPES[provider]
    [received] = mock.received
    assert received.path == route
    assert received.json["response_format"] == shape(SCHEMA)
    assert received.json["model"] == SERVED and received.json["messages"] == [{"role": "user", "content": "Paris?"}]


# --- streamed reasoning, signed with its provider and model ---------------------------------------------
def reasoning_stream(field: str) -> list[bytes]:
    """A provider's stream: its reasoning in `field` (two pieces), then the answer."""
    frames = []
    for piece in ("Paris is ", "in France."):
        obj = orjson.loads(chunk())
        obj["choices"][0]["delta"] = {field: piece}
        frames.append(b"data: " + orjson.dumps(obj))
    return [*frames, *stream_events(["Paris."])]


#: the provider serving, and the field its stream reasons in
REASONERS = [("zai-org", "reasoning_content"), ("a", "reasoning")]


@pytest.mark.parametrize(("provider", "field"), REASONERS)
async def test_streamed_reasoning_is_a_signed_thinking_block(
        provider: str, field: str, mocks: Mocks, router: RouterFactory, clients: Clients) -> None:
    mock, url, signed = await served_by(mocks, router, provider)
    mock.default = sse_reply(reasoning_stream(field))
    async with anthropic_client(clients, url).messages.stream(
            model=MODEL, max_tokens=100, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "Where is Paris?"}]) as stream:
        deltas = [e.delta.type async for e in stream if e.type == "content_block_delta"]
        final = await stream.get_final_message()
    assert deltas == ["thinking_delta", "thinking_delta", "signature_delta", "text_delta"]
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Paris is in France."
    assert thinking.signature == signed
    assert text.type == "text" and text.text == "Paris."


@pytest.mark.parametrize(("provider", "field"), REASONERS)
async def test_streamed_reasoning_is_a_signed_reasoning_item(
        provider: str, field: str, mocks: Mocks, router: RouterFactory, clients: Clients) -> None:
    mock, url, signed = await served_by(mocks, router, provider)
    mock.default = sse_reply(reasoning_stream(field))
    async with openai_client(clients, url).responses.stream(model=MODEL, input="Where is Paris?",
                                                            store=False) as stream:
        deltas = [(e.type, e.delta) async for e in stream
                  if e.type in ("response.reasoning_text.delta", "response.output_text.delta")]
        final = await stream.get_final_response()
    assert deltas == [("response.reasoning_text.delta", "Paris is "), ("response.reasoning_text.delta", "in France."),
                      ("response.output_text.delta", "Paris.")]
    reasoning, message = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == signed
    assert reasoning.content is not None and reasoning.content[0].text == "Paris is in France."
    assert message.type == "message" and final.output_text == "Paris."
