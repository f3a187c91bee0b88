"""Direct mode builds, for every provider huggingface_hub also supports, the request huggingface_hub's
own provider helper builds for the same call (`get_provider_helper(...).prepare_request(...)`),
field by field: route, credential header, body (model id, messages, parameters, quirks such as a
JSON schema's shape). With the provider's own key, and with an HF token through HF's router."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from huggingface_hub.hf_api import InferenceProviderMapping
from huggingface_hub.inference._providers import PROVIDERS, get_provider_helper
from huggingface_hub.inference._providers._common import HARDCODED_MODEL_INFERENCE_MAPPING

from hubroute.client import AsyncInferenceClient
from hubroute.config import Settings
from hubroute.providers import REGISTRY
from tests.conftest import Mocks

MODEL = "acme/Some-Model"
PROVIDER_ID = "provider-model-id"
HI = [{"role": "user", "content": "hi"}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
PARAMS: dict[str, Any] = {
    "max_tokens": 20, "temperature": 0.5, "seed": 3,
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}},
}
#: providers whose requests carry the Hub id itself (no provider-side id to map to)
SAME_ID = {"hf-inference", "openai"}
#: where the two differ on purpose: our adapters follow the provider's own docs
DELIBERATE = {("baseten", "own-key"): "baseten's direct API takes `Api-Key` auth (README: quirks)"}
#: where they differ and one of them is wrong: reported, to be settled in providers/
DRIFT = {
    "fireworks-ai": "huggingface_hub sends a json_schema response_format to fireworks as "
                    "{type: json_object, schema}; hubroute's adapter sends it unchanged",
    "zai-org": "hubroute's adapter turns a json_schema response_format into {type: json_object} for zai-org; "
               "huggingface_hub sends it unchanged",
}
#: providers both know, for chat
CHAT_PROVIDERS = sorted(p for p in REGISTRY if "conversational" in PROVIDERS.get(p, {}))  # type: ignore[call-overload]


def provider_id(provider: str) -> str:
    return MODEL if provider in SAME_ID else PROVIDER_ID


def theirs(provider: str, key: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from huggingface_hub.inference._providers import hf_inference

    mapping = InferenceProviderMapping(provider=provider, hf_model_id=MODEL, providerId=provider_id(provider),
                                       task="conversational", status="live")
    monkeypatch.setitem(HARDCODED_MODEL_INFERENCE_MAPPING, provider, {MODEL: mapping})
    monkeypatch.setattr(hf_inference, "_check_supported_task", lambda model, task: None)  # a Hub look-up
    helper = get_provider_helper(provider, task="conversational", model=MODEL)
    return helper.prepare_request(inputs=HI, parameters={"model": MODEL, **PARAMS}, headers={}, model=MODEL,
                                  api_key=key)


def cases() -> list[Any]:
    out = []
    for provider in CHAT_PROVIDERS:
        for via in ("own-key", "hf-token"):
            adapter = REGISTRY[provider]
            if (via == "own-key" and adapter.base_url is None) or (via == "hf-token" and not adapter.hf_routed):
                continue  # a way neither client reaches that provider
            marks = [pytest.mark.xfail(strict=True, reason=DRIFT[provider])] if provider in DRIFT else []
            out.append(pytest.param(provider, via, marks=marks, id=f"{provider}-{via}"))
    return out


@pytest.mark.parametrize(("provider", "via"), cases())
async def test_chat_request_matches_huggingface_hub(provider: str, via: str, mocks: Mocks,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = REGISTRY[provider]
    key = "hf_test_token_123" if via == "hf-token" else "sk-provider-key-0123"
    mock = await mocks.start(provider)
    conf: dict[str, Any] = {
        "huggingface": {"live_catalog": False, "base_url": mock.url},
        "models": [{"id": MODEL, "providers": [{"provider": provider, "provider_id": provider_id(provider)}]}],
    }
    if via == "own-key":
        conf["providers"] = {provider: {"base_url": mock.url}}
    client = AsyncInferenceClient(provider=provider, api_key=key, config=Settings.parse(_yaml(conf), {}),
                                  environ={})
    await client.chat_completion(HI, model=MODEL, **PARAMS)
    await client.close()

    ours = mock.received[0]
    expected = theirs(provider, key, monkeypatch)
    their_url = urlsplit(expected.url)
    their_path = their_url.path
    if via == "own-key":
        assert their_url.netloc == urlsplit(adapter.base_url or "").netloc  # the same public API root
    assert ours.path == their_path
    assert ours.json == expected.json
    headers = {k.lower(): v for k, v in ours.headers.items()}
    if (provider, via) in DELIBERATE:
        scheme = expected.headers["authorization"].split()[0]
        assert headers["authorization"] == expected.headers["authorization"].replace(scheme, adapter.auth_scheme)
    else:
        assert headers["authorization"] == expected.headers["authorization"]
    for name, value in expected.headers.items():
        if name not in ("user-agent", "authorization"):
            assert headers.get(name) == value, name


def _yaml(conf: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(conf)
