"""GET /openapi.json, and schemathesis fuzzing a live router against it.

The router runs for real (uvicorn on a real socket, `tests.conftest.RouterFactory`) in a thread of
its own, with a mock Hugging Face router (`tests.mocks.MockProvider`) answering every provider call
in the provider's wire format: chat and completions (JSON and SSE), embeddings, and each task's
output shape (media as bytes). Schemathesis generates requests from the document and checks each
answer: no 5xx, a documented status, a documented content type, a body that conforms to the
document. The catalog holds the models the document's examples name, so generated requests reach
the providers, not only the validation.
"""

from __future__ import annotations

import asyncio
import os
import threading
import typing
from base64 import b64encode
from collections.abc import Coroutine, Iterator
from typing import Any

import httpx2 as httpx
import jsonschema_rs
import msgspec
import orjson
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hubroute import types
from hubroute.server.openapi import document, task_examples
from hubroute.server.routes import TABLE
from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, chat_completion, sse_reply, stream_events

KEY = "sk-openapi-test-key"
#: the models the document's examples name (one per task, from the built-in catalog), and their tasks
MODELS = {model: task for task, model in task_examples().items()}
MEDIA = {"image": ("image/png", b"\x89PNG\r\n\x1a\n mock"), "audio": ("audio/flac", b"fLaC mock"),
         "video": ("video/mp4", b"\x00\x00\x00\x18ftypmp42 mock")}


def _minimal(tp: Any) -> Any:
    """The smallest valid value of a task output type: required fields only."""
    if typing.get_origin(tp) is list:
        return []
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return {f.encode_name: _minimal(f.type) for f in msgspec.structs.fields(tp) if f.required}
    options = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    if options:  # a union: its first type
        return _minimal(options[0])
    return {str: "mock", float: 0.5, int: 1, bool: True}.get(tp, "mock")


def task_output(task: str) -> web.Response:
    spec = types.TASKS[task]
    if spec.binary_output is not None:
        content_type, data = MEDIA[spec.binary_output]
        return web.Response(body=data, content_type=content_type)
    return web.json_response(_minimal(spec.output_type))


async def provider(request: web.Request, mock: MockProvider) -> web.StreamResponse:
    """Hugging Face's router with its providers, answering every call in their wire format: OpenAI's
    routes, hf-inference's task API, and wavespeed's jobs (the video tasks, which hf-inference lacks)."""
    body = await request.read()
    path = request.path
    payload = orjson.loads(body) if body.startswith(b"{") else {}
    if path.endswith("/chat/completions"):
        if payload.get("stream"):
            return await sse_reply(stream_events(["Hello", " there"]))(request, mock)
        return web.json_response(chat_completion())
    if path.endswith("/completions"):
        if payload.get("stream"):
            return await sse_reply(stream_events(["Hello"]))(request, mock)
        return web.json_response({"id": "cmpl-mock", "object": "text_completion", "created": 1700000000,
                                  "model": "mock", "choices": [{"index": 0, "text": "Hello", "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}})
    if path.endswith("/embeddings"):
        inputs = payload.get("input")
        n = len(inputs) if isinstance(inputs, list) else 1
        return web.json_response({"object": "list", "model": "mock", "usage": {"prompt_tokens": n, "total_tokens": n},
                                  "data": [{"object": "embedding", "index": i, "embedding": [0.5, -0.25]}
                                           for i in range(n)]})
    if path.startswith("/wavespeed/"):  # the video tasks: a job finished at once, its video inline
        content_type, data = MEDIA["video"]
        video = f"data:{content_type};base64,{b64encode(data).decode()}"
        return web.json_response({"code": 200, "message": "success",
                                  "data": {"id": "job-1", "status": "completed", "outputs": [video]}})
    model, _, task = path.removeprefix("/hf-inference/models/").partition("/pipeline/")
    if task == "feature-extraction" or (not task and MODELS.get(model) == "feature-extraction"):
        inputs = payload.get("inputs")
        return web.json_response([[0.5, -0.25]] * (len(inputs) if isinstance(inputs, list) else 1))
    return task_output(task or MODELS.get(model, "text-classification"))


class Live:
    """The router and its mock provider, served from an event loop in a thread of their own, so
    schemathesis's synchronous client can call them from the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-router", daemon=True)
        self.thread.start()
        self.mocks = Mocks()
        self.routers = RouterFactory()
        hf = self.run(self.mocks.start("hf", default=provider))
        entries = "".join(f"  - {{id: {m}, task: {t}, providers: [{{provider: hf-inference}}]}}\n"
                          for m, t in MODELS.items())
        config = f"""
routing: {{default_policy: preferred, preferred: [hf-inference, wavespeed]}}
server: {{master_key: {KEY}}}
huggingface: {{token: hf_test_token_123, base_url: "{hf.url}", live_catalog: false}}
models:
{entries}"""
        self.url = self.run(self.routers.start(config)).url

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        for running in self.routers.running:
            self.run(running.stop())
        for mock in self.mocks.started:
            self.run(mock.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    live = Live()
    yield live
    live.close()


#: examples per operation: a few in CI (the whole file ~30 s); more for a deeper local run
EXAMPLES = int(os.environ.get("HUBROUTE_OPENAPI_EXAMPLES", "8"))
#: the document, built from the route table as the router builds it (the served one is compared to
#: it below); schemathesis makes one test per operation of it at collection
schema = schemathesis.openapi.from_dict(document(TABLE.routes), config=schemathesis.Config.from_dict(
    {"generation": {"max-examples": EXAMPLES}}))

#: what every answer must satisfy (schemathesis's response_headers_conformance has nothing to check:
#: no response headers are documented; the negative-data checks are not about answers)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_live_router_conforms(case: schemathesis.Case, live: Live) -> None:
    case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS, timeout=10)


def test_document_covers_the_route_table(live: Live) -> None:
    resp = httpx.get(f"{live.url}/openapi.json", timeout=10)  # no key needed: the API's shape is public
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    loaded = schemathesis.openapi.from_dict(doc)
    loaded.validate()  # against the OpenAPI 3.1 meta-schema
    operations = {op.ok().label for op in loaded.get_all_operations()}
    for route in TABLE.routes:
        assert route.doc is not None, f"{route.method} {route.path} is not documented"
        for path in [*(route.doc.paths or (route.path,)), *(route.doc.more() if route.doc.more else ())]:
            assert f"{route.method} {path}" in operations
            op = doc["paths"][path][route.method.lower()]
            assert op["security"] == ([] if not route.auth else [{"bearer": []}, {"apiKey": []}])
    chat = doc["paths"]["/v1/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["required"] == ["model", "messages"]
    assert chat["responses"]["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    for task in types.TASKS:  # one operation per task of the task API, with its own types
        op = doc["paths"].get(f"/models/{{org}}/{{model}}/pipeline/{task}", {}).get("post")
        assert (op is None) == (task == "conversational"), task  # chat is at /v1/chat/completions
    op = doc["paths"]["/models/{org}/{model}/pipeline/text-classification"]["post"]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TextClassificationInput"}
    assert "TextClassificationInput" in doc["components"]["schemas"]
    assert doc == orjson.loads(orjson.dumps(document(TABLE.routes)))  # the table's document, as tested here
    assert resp.content == httpx.get(f"{live.url}/openapi.json", timeout=10).content  # built once, kept


def test_validation_and_document_agree(live: Live) -> None:
    """Bodies the chat schema rejects are refused by the router (400), and one it accepts is served."""
    doc = httpx.get(f"{live.url}/openapi.json", timeout=10).json()
    request = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.Draft202012Validator(request)
    good = {"model": "meta-llama/Llama-3.3-70B-Instruct", "messages": [{"role": "user", "content": "hi"}]}
    bad = [{**good, "messages": []}, {**good, "max_tokens": 0}, {**good, "stream": "yes"}, {**good, "n": 1.5},
           {**good, "stream_options": {}}, {"messages": good["messages"]}, {**good, "model": " "},
           {**good, "messages": [{"role": "robot"}]}, {**good, "tools": [{"type": "function"}]},
           {**good, "response_format": {"type": "json_schema"}}, {**good, "temperature": True},
           # found by schemathesis: an unhashable role or response_format type was a 500
           {**good, "messages": [{"role": ["user"]}]}, {**good, "response_format": {"type": {"a": 1}}}]
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as c:
        assert validator.is_valid(good)
        assert c.post("/v1/chat/completions", json=good).status_code == 200
        for body in bad:
            assert not validator.is_valid(body), body
            assert c.post("/v1/chat/completions", json=body).status_code == 400, body


def test_answers_to_bodies_beyond_the_document(live: Live) -> None:
    """Bodies outside the document's schemas (the fuzzing's negative cases) still get no 5xx: an
    image size in digits int() refuses is a 400; `stream` sent to embeddings is ignored."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=10) as c:
        image = {"model": "black-forest-labs/FLUX.1-dev", "prompt": "a cat"}
        bad = c.post("/v1/images/generations", json={**image, "size": "\u00b2x1"})  # '²': isdigit, not int()
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["param"] == "size"
        assert c.post("/v1/images/generations", json={**image, "size": "4x3"}).status_code == 200
        embeddings = c.post("/v1/embeddings", json={"model": "BAAI/bge-base-en-v1.5", "input": "x", "stream": True})
        assert embeddings.status_code == 200, embeddings.text
        assert embeddings.json()["data"][0]["embedding"] == [0.5, -0.25]
