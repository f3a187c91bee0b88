from __future__ import annotations

from tests.conftest import Mocks, RouterFactory, provider_config
from tests.mocks import json_reply, sse_reply, stream_events

MODELS = """
models:
  - id: acme/chat-model
    providers:
      - {provider: a, provider_id: a-model}
      - {provider: b, provider_id: b-model}
routing: {default_policy: preferred, preferred: [a, b]}
"""


def two_providers(a, b) -> str:
    return f"""
providers:
  a: {{type: openai-compatible, base_url: "{a.url}/v1"}}
  b: {{type: openai-compatible, base_url: "{b.url}/v1"}}
{MODELS}
"""


async def test_chat_roundtrip_sends_provider_model_id(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start("local")
    r = await router.start(provider_config(mock, models="""
models:
  - id: acme/chat-model
    providers: [{provider: local, provider_id: served-name}]
"""))
    async with r.client() as c:
        resp = await c.post("/v1/chat/completions", json={
            "model": "acme/chat-model", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2,
            "some_future_param": {"x": 1}})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-inference-provider"] == "local"
    assert resp.headers["x-request-id"]
    assert resp.json()["choices"][0]["message"]["content"] == "Hello from the mock"
    sent = mock.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "served-name"
    assert sent.json["some_future_param"] == {"x": 1}
    assert sent.json["temperature"] == 0.2


async def test_failover_on_5xx(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": {"message": "overloaded"}}, status=503))
    r = await router.start(two_providers(a, b))
    async with r.client() as c:
        resp = await c.post("/v1/chat/completions", json={
            "model": "acme/chat-model", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 200
    assert resp.headers["x-inference-provider"] == "b"
    assert a.hits == 1 and b.hits == 1


async def test_stream_relayed_and_usage_stripped_unless_asked(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    r = await router.start(two_providers(a, b))
    async with r.client() as c, c.stream("POST", "/v1/chat/completions", json={
            "model": "acme/chat-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as resp:
        body = (await resp.aread()).decode()
    assert resp.headers["x-inference-provider"] == "a"
    frames = [f for f in body.split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    assert '"usage"' not in body
    assert a.received[0].json["stream_options"] == {"include_usage": True}
    async with r.client() as c, c.stream("POST", "/v1/chat/completions", json={
            "model": "acme/chat-model", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}]}) as resp:
        body = (await resp.aread()).decode()
    assert '"usage"' in body


async def test_mid_stream_disconnect_sends_error_event(mocks: Mocks, router: RouterFactory) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(sse_reply(stream_events(["one", "two", "three"]), break_after=2))
    r = await router.start(two_providers(a, b))
    async with r.client() as c, c.stream("POST", "/v1/chat/completions", json={
            "model": "acme/chat-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as resp:
        body = (await resp.aread()).decode()
    frames = [f for f in body.split("\n\n") if f]
    assert '"one"' in frames[0] and '"two"' in frames[1]
    assert '"error"' in frames[-1] and "[DONE]" not in body
    assert b.hits == 0  # never retried after the first byte went out


async def test_a_model_an_openai_compatible_server_lists_goes_to_it_unchanged(
        mocks: Mocks, router: RouterFactory) -> None:
    vllm = await mocks.start("vllm")
    vllm.models = ["my-org/finetune-7b"]  # what its GET /v1/models lists
    r = await router.start(provider_config(vllm))
    async with r.client() as c:
        resp = await c.post("/v1/chat/completions", json={
            "model": "my-org/finetune-7b", "messages": [{"role": "user", "content": "hi"}]})
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-inference-provider"] == "vllm"
        assert vllm.received[0].json["model"] == "my-org/finetune-7b"
        pinned = await c.post("/v1/chat/completions", json={
            "model": "my-org/finetune-7b:vllm", "messages": [{"role": "user", "content": "hi"}]})
        assert pinned.status_code == 200
        unlisted = await c.post("/v1/chat/completions", json={
            "model": "my-org/other-7b", "messages": [{"role": "user", "content": "hi"}]})
        assert unlisted.status_code == 404 and unlisted.json()["error"]["code"] == "model_not_found"
        assert vllm.hits == 2
    r2 = await router.start("")
    async with r2.client() as c:
        resp = await c.post("/v1/chat/completions", json={
            "model": "my-org/finetune-7b", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "model_not_found"


async def test_stream_connections_are_reused(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start("local")
    r = await router.start(provider_config(mock))
    async with r.client() as c:
        for _ in range(3):
            async with c.stream("POST", "/v1/chat/completions", json={
                    "model": "x/y:local", "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as resp:
                assert (await resp.aread()).endswith(b"data: [DONE]\n\n")
    peers = {m.peer for m in mock.received}
    assert len(mock.received) == 3
    assert len(peers) == 1, peers  # one upstream connection served all three streams


async def test_models_trailing_slash_is_404(mocks: Mocks, router: RouterFactory) -> None:
    r = await router.start("")
    async with r.client() as c:
        resp = await c.get("/v1/models/")
    assert resp.status_code == 404


async def test_provider_cookies_never_follow_later_requests(mocks: Mocks, router: RouterFactory) -> None:
    from tests.mocks import json_reply
    mock = await mocks.start("local")
    cookie = {"set-cookie": "session=alice; Path=/"}
    mock.enqueue(json_reply({"choices": [{"message": {"content": "x"}}]}, headers=cookie),
                 sse_reply(stream_events(["a"]), headers=cookie))
    # by name, not IP: clients keep no cookies for bare IP addresses anyway
    r = await router.start(provider_config(mock).replace("127.0.0.1", "localhost"))
    body = {"model": "x/y:local", "messages": [{"role": "user", "content": "hi"}]}
    async with r.client() as c:
        await c.post("/v1/chat/completions", json=body)
        for _ in range(2):
            async with c.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as resp:
                await resp.aread()
        await c.post("/v1/chat/completions", json=body)
    assert len(mock.received) == 4
    assert all("cookie" not in {k.lower() for k in m.headers} for m in mock.received[1:])


async def test_slow_request_body_gets_408_and_frees_the_worker(mocks: Mocks, router: RouterFactory) -> None:
    import asyncio
    mock = await mocks.start("local")
    r = await router.start(provider_config(mock) + "\nserver: {body_timeout: 0.3}\n")
    host, port = r.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"content-length: 100\r\n\r\n" + b'{"model": "x/y", ')
    await writer.drain()
    head = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 408"), head[:100]
    assert b'"request_timeout"' in head
    assert mock.hits == 0
