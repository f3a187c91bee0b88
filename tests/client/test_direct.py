"""Direct mode's set-up: keys from the environment (each provider's usual variable), from `api_key`,
the config file given by $HUBROUTE_CONFIG with its base URL overrides, and `bill_to` on the requests
that go through Hugging Face's router (and only those)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from hubroute.client import AsyncInferenceClient, InferenceClient
from hubroute.errors import NotSupported
from tests.conftest import Mocks

MODEL = "acme/chat-model"
HI = [{"role": "user", "content": "hi"}]


def write_config(tmp_path: Path, together_url: str, hf_url: str) -> Path:
    path = tmp_path / "hubroute.yaml"
    path.write_text(yaml.safe_dump({
        "huggingface": {"base_url": hf_url, "live_catalog": False},
        "providers": {"together": {"base_url": together_url}},
        "models": [{"id": MODEL, "providers": [{"provider": "together", "provider_id": "acme/Chat-Turbo"}]}],
    }))
    return path


async def test_keys_from_the_environment_and_the_config_file(mocks: Mocks, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    environ = {"HUBROUTE_CONFIG": str(write_config(tmp_path, together.url, hf.url))}
    with pytest.raises(NotSupported, match="no credentials"):  # no key anywhere: said so, nothing sent
        await AsyncInferenceClient(environ=environ).chat_completion(HI, model=MODEL)
    client = AsyncInferenceClient(environ={**environ, "TOGETHER_API_KEY": "tg-env-key-123"})
    out = await client.chat_completion(HI, model=MODEL)
    await client.close()
    assert out.provider == "together"
    assert together.received[0].headers["Authorization"] == "Bearer tg-env-key-123"  # direct, at the override
    assert hf.hits == 0


async def test_an_hf_token_goes_through_hugging_face_with_bill_to(mocks: Mocks, tmp_path: Path) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    environ = {"HUBROUTE_CONFIG": str(write_config(tmp_path, together.url, hf.url))}
    client = AsyncInferenceClient(provider="together", api_key="hf_user_token_456", bill_to="acme-org",
                                  headers={"X-Trace": "t1"}, environ=environ)
    await client.chat_completion(HI, model=MODEL)
    await client.close()
    sent = hf.received[0]
    assert sent.path == "/together/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer hf_user_token_456"
    assert sent.headers["X-Hf-Bill-To"] == "acme-org" and sent.headers["X-Trace"] == "t1"
    assert together.hits == 0

    direct = AsyncInferenceClient(provider="together", api_key="tg-own-key-789", bill_to="acme-org",
                                  environ=environ)
    await direct.chat_completion(HI, model=MODEL)
    await direct.close()
    assert together.received[0].headers["Authorization"] == "Bearer tg-own-key-789"
    assert "X-Hf-Bill-To" not in together.received[0].headers  # billing an org is HF's, not Together's


async def test_sync_client_attributes_reach_the_client_underneath(mocks: Mocks, tmp_path: Path) -> None:
    together, hf = await mocks.start("together"), await mocks.start("hf")
    environ = {"HUBROUTE_CONFIG": str(write_config(tmp_path, together.url, hf.url)), "TOGETHER_API_KEY": "k" * 12}

    def run() -> str:
        client = InferenceClient(environ=environ)
        client.model = MODEL
        assert client.mode == "direct"
        return str(client.chat_completion(HI).choices[0].message.content)

    assert await asyncio.to_thread(run) == "Hello from the mock"


@pytest.mark.parametrize(("name", "api_base", "expected"), [
    ("huggingface/together/deepseek-ai/DeepSeek-R1", None, ("deepseek-ai/DeepSeek-R1", "together", None)),
    ("huggingface/meta-llama/Llama-3.3-70B-Instruct", None, ("meta-llama/Llama-3.3-70B-Instruct", None, None)),
    ("huggingface/tgi", "http://h:8080/v1/", ("tgi", None, "http://h:8080/v1/")),
    ("huggingface/https://x.endpoints.huggingface.cloud", None, ("tgi", None, "https://x.endpoints.huggingface.cloud")),
    ("meta-llama/Llama-3.3-70B-Instruct:cheapest", None, ("meta-llama/Llama-3.3-70B-Instruct:cheapest", None, None)),
    ("meta-llama/Llama-3.3-70B-Instruct:groq", "http://router", ("meta-llama/Llama-3.3-70B-Instruct:groq", None,
                                                                 "http://router")),
])
def test_litellm_model_names(name: str, api_base: str | None, expected: tuple[str, str | None, str | None]) -> None:
    from hubroute.client._completion import parse_model

    assert parse_model(name, api_base) == expected


def test_huggingface_tgi_needs_an_api_base() -> None:
    from hubroute.client._completion import parse_model
    from hubroute.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="api_base"):
        parse_model("huggingface/tgi", None)
