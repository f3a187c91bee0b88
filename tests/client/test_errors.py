"""Failover and errors, in both modes: `provider="auto"` moves on to the next provider, every failure
leaves as a class of hubroute's one error tree (with the provider's status and body, or the list of
providers tried), and a timeout as InferenceTimeoutError."""

from __future__ import annotations

import pytest

from hubroute.client import InferenceTimeoutError
from hubroute.errors import AuthError, ModelNotFound, NoProviderAvailable, ProviderTimeout
from tests.client.conftest import make_client
from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import HI, MODEL, config
from tests.mocks import hang, json_reply

MODES = pytest.mark.parametrize("mode", ["routed", "direct"])


@MODES
async def test_auto_fails_over_to_the_next_provider(mode: str, mocks: Mocks, router: RouterFactory) -> None:
    first = await mocks.start("first")
    second = await mocks.start("second")
    first.enqueue(json_reply({"error": {"message": "overloaded"}}, status=503))
    client, _ = await make_client(mode, config(first, second), router, provider="auto")
    out = await client.chat_completion(HI, model=MODEL)
    await client.close()
    assert out.provider == "second"
    assert (first.hits, second.hits) == (1, 1)
    assert second.received[0].json["model"] == "second-model"


@MODES
async def test_all_providers_failing_lists_each(mode: str, mocks: Mocks, router: RouterFactory) -> None:
    first = await mocks.start("first")
    second = await mocks.start("second")
    first.enqueue(json_reply({"error": {"message": "boom"}}, status=500))
    second.enqueue(json_reply({"error": {"message": "slow down"}}, status=429))
    client, _ = await make_client(mode, config(first, second), router)
    with pytest.raises(NoProviderAvailable) as info:
        await client.chat_completion(HI, model=MODEL)
    await client.close()
    err = info.value
    assert [(e.provider, e.status_code) for e in err.errors] == [("first", 500), ("second", 429)]
    assert "boom" in str(err) and "slow down" in str(err)


@MODES
async def test_timeout_is_an_inference_timeout_error(mode: str, mocks: Mocks, router: RouterFactory) -> None:
    slow = await mocks.start("slow")
    slow.enqueue(hang(5))
    client, _ = await make_client(mode, config(slow), router, timeout=0.5)
    with pytest.raises(InferenceTimeoutError) as info:
        await client.chat_completion(HI, model=MODEL)
    await client.close()
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, ProviderTimeout)


async def test_every_provider_timing_out_is_an_inference_timeout_error_naming_them(
        mocks: Mocks, router: RouterFactory) -> None:
    slow = await mocks.start("slow")
    slow.enqueue(hang(5))
    conf = config(slow, routing={"timeouts": {"first_byte": 0.3}})
    client, _ = await make_client("direct", conf, router)
    with pytest.raises(InferenceTimeoutError) as info:
        await client.chat_completion(HI, model=MODEL)
    await client.close()
    assert [e.provider for e in info.value.errors] == ["slow"]


@MODES
async def test_unknown_model(mode: str, mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start("mock")
    client, _ = await make_client(mode, config(mock), router)
    with pytest.raises(ModelNotFound):
        await client.text_classification("x", model="nobody/nothing")
    await client.close()
    assert mock.hits == 0


async def test_routed_mode_sends_the_key_and_bill_to(mocks: Mocks, router: RouterFactory) -> None:
    mock = await mocks.start("mock")
    conf = config(mock, server={"master_key": "sk-router-key-123"})
    client, running = await make_client("routed", conf, router)
    with pytest.raises(AuthError):
        await client.chat_completion(HI, model=MODEL)
    await client.close()
    assert running is not None
    from hubroute.client import AsyncInferenceClient

    keyed = AsyncInferenceClient(base_url=f"{running.url}/v1", api_key="sk-router-key-123", bill_to="acme",
                                 environ={})
    out = await keyed.chat_completion(HI, model=MODEL)
    await keyed.close()
    assert out.provider == "mock"
    assert mock.hits == 1
