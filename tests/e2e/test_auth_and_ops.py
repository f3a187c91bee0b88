"""The master key, secrets staying out of logs and error messages, the access log, /metrics and
request ids."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import CHAT, HI, MODEL, assert_error, chat, config, frame_json, header, stream_chat, until
from tests.mocks import json_reply, sse_reply, stream_events

MASTER = "hr-master-key-0123456789"
WRONG = "hr-wrong-key-9876543210"





def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


# --- the master key -------------------------------------------------------------------------------
async def test_master_key_is_required(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a, server={"master_key": MASTER}))
    for headers in ({}, bearer(WRONG), {"authorization": MASTER}, {"authorization": f"Basic {MASTER}"},
                    {"authorization": "Bearer"}):
        err = assert_error(await chat(r, headers=headers), 401, "invalid_api_key")
        assert err["type"] == "authentication_error"
    async with r.client() as c:
        # a malformed body with a wrong key is still a 401: nothing is parsed before auth
        assert_error(await c.post(CHAT, content=b"{", headers=bearer(WRONG)), 401)
        for path in ("/v1/models", f"/v1/models/{MODEL}", "/metrics"):
            assert_error(await c.get(path), 401)
            assert (await c.get(path, headers=bearer(MASTER))).status_code == 200
        health = await c.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert a.hits == 0
    resp = await chat(r, headers=bearer(MASTER))
    assert resp.status_code == 200
    # the router's own key is never forwarded to a provider
    assert MASTER not in str(a.received[0].headers)


def keyed(a, key: str, **sections: Any) -> str:
    """Config where provider a is called with its own API key."""
    return config(a, providers={"a": {"type": "openai-compatible", "base_url": f"{a.url}/v1", "api_key": key}},
                  **sections)


async def test_no_key_appears_in_the_access_log(mocks: Mocks, router: RouterFactory, access_log) -> None:
    provider_key = "sk-proj-ProviderSecret000111222"
    a = await mocks.start("a")
    r = await router.start(keyed(a, provider_key, server={"master_key": MASTER}))
    await chat(r, headers=bearer(WRONG))
    await chat(r, headers=bearer(MASTER))
    await stream_chat(r, headers=bearer(MASTER))
    await until(lambda: len(access_log) >= 3)
    assert header(a.received[0], "authorization") == f"Bearer {provider_key}"
    text = orjson.dumps(access_log).decode()
    for secret in (MASTER, WRONG, provider_key):
        assert secret not in text


# A provider that echoes the key it was given, as real ones do in their 401 messages.
KEYS = {
    "openai-style": ("sk-proj-ProviderSecret000111222", "Incorrect API key provided: {key}. You can find your API "
                     "key at https://platform.openai.com/account/api-keys."),
    "hf-style": ("hf_ProviderSecret000111222", "Invalid credentials in Authorization header ({key})"),
    "bearer": ("ProviderSecret000111222", "Authorization: Bearer {key} was rejected"),
}


@pytest.mark.parametrize("style", list(KEYS))
@pytest.mark.parametrize("how", ["all-failed", "client-error", "stream-error"])
async def test_provider_key_is_never_echoed_to_the_client(
    mocks: Mocks, router: RouterFactory, access_log, style: str, how: str
) -> None:
    key, template = KEYS[style]
    echo = {"error": {"message": template.format(key=key), "type": "invalid_request_error"}}
    a = await mocks.start("a")
    r = await router.start(keyed(a, key))
    if how == "all-failed":
        a.enqueue(json_reply(echo, status=401))
        resp = await chat(r)
        err = assert_error(resp, 502)
        text = resp.text
        assert err["providers"][0]["status"] == 401
    elif how == "client-error":
        a.enqueue(json_reply(echo, status=400))
        resp = await chat(r)
        assert_error(resp, 400)
        text = resp.text
    else:
        a.enqueue(sse_reply([*stream_events(["hi"], usage=False, done=b"")[:1], b"data: " + orjson.dumps(echo)]))
        resp, frames = await stream_chat(r)
        assert "error" in frame_json(frames[-1])
        text = "".join(frames)
    assert header(a.received[0], "authorization") == f"Bearer {key}"
    assert key not in text
    assert "API key" in text or "credentials" in text or "rejected" in text  # the message itself is kept
    await until(lambda: len(access_log) >= 1)
    assert key not in orjson.dumps(access_log).decode()


async def test_prefixless_provider_key_is_never_echoed(mocks: Mocks, router: RouterFactory) -> None:
    key = "0123456789abcdef0123456789abcdef"  # e.g. a legacy Together / self-hosted key
    a = await mocks.start("a")
    a.enqueue(json_reply({"error": {"message": f"Invalid API key: {key}"}}, status=401))
    r = await router.start(keyed(a, key))
    resp = await chat(r)
    assert_error(resp, 502)
    assert key not in resp.text


# --- access log -----------------------------------------------------------------------------------
async def test_access_log_line(mocks: Mocks, router: RouterFactory, access_log) -> None:
    a, b = await mocks.start("a"), await mocks.start("b")
    a.enqueue(json_reply({"error": "down"}, status=503))
    r = await router.start(config(a, b))
    resp = await chat(r, headers={"x-request-id": "client-req-42"})
    assert resp.headers["x-request-id"] == "client-req-42"
    await chat(r, f"{MODEL}:nonsense")
    await until(lambda: len(access_log) >= 2)
    ok, bad = access_log[0], access_log[1]
    assert ok["logger"] == "hubroute.access"
    assert ok["request_id"] == "client-req-42"
    assert (ok["method"], ok["path"], ok["status"]) == ("POST", CHAT, 200)
    assert ok["provider"] == "b" and ok["model"] == MODEL
    assert (ok["attempts"], ok["failovers"]) == (2, 1)
    assert ok["latency_ms"] > 0 and ok["ttfb_ms"] >= 0
    assert (ok["surface"], ok["requested"], ok["task"]) == ("chat", MODEL, "conversational")
    assert ok["usage"] == {"input_tokens": 7, "output_tokens": 5, "requests": 1, "source": "provider"}
    assert bad["status"] == 400 and bad["error"] == "invalid_model_suffix"
    assert "provider" not in bad


# --- metrics --------------------------------------------------------------------------------------
async def test_metrics_after_traffic(mocks: Mocks, router: RouterFactory) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a))
    await chat(r)
    await stream_chat(r)
    await chat(r, f"{MODEL}:nonsense")
    async with r.client() as c:
        resp = await c.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert f'hubroute_requests_total{{model="{MODEL}",provider="a",route="chat",status="200"}} 2.0' in text
    assert 'hubroute_requests_total{model="unknown",provider="none",route="chat",status="400"} 1.0' in text
    assert 'hubroute_request_duration_seconds_count{provider="a",route="chat"} 2.0' in text
    assert 'hubroute_request_duration_seconds_bucket{le="0.005",provider="a",route="chat"}' in text
    assert 'hubroute_time_to_first_token_seconds_count{provider="a"} 2.0' in text
    assert f'hubroute_tokens_total{{kind="completion",model="{MODEL}",provider="a"}} 9.0' in text  # 5 + 4
    assert "hubroute_open_circuits 0.0" in text


# --- request ids ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("sent", "echoed"), [
    ("abc-123_DEF", True),
    ("x" * 128, True),
    ("x" * 129, False),
    ("has space", False),
    ("semi;colon", False),
    ("naïve", False),
])
async def test_request_id(mocks: Mocks, router: RouterFactory, sent: str, echoed: bool) -> None:
    a = await mocks.start("a")
    r = await router.start(config(a))
    async with r.client() as c:
        ok = await c.post(CHAT, json={"model": MODEL, "messages": HI}, headers={"x-request-id": sent.encode()})
        missing = await c.get("/v1/models/nobody/nothing", headers={"x-request-id": sent.encode()})
        fresh = [(await c.get("/health")).headers["x-request-id"] for _ in range(2)]
    for resp in (ok, missing):
        rid = resp.headers["x-request-id"]
        assert (rid == sent) is echoed
        assert rid and rid.isascii() and " " not in rid
    assert fresh[0] != fresh[1]
