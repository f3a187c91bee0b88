"""LiteLLM's model names, read by one module (`routing.litellm`) for the config's `model_list` and the
client's `completion()`: the same name means the same thing in both."""

from __future__ import annotations

import pytest

from hubroute.client._completion import parse_model
from hubroute.config import Settings
from hubroute.errors import ConfigError, InvalidRequest
from hubroute.providers import REGISTRY
from hubroute.routing import litellm
from hubroute.routing.litellm import LiteLLMName
from hubroute.routing.upstreams import Upstreams

PROVIDERS = frozenset(REGISTRY)


@pytest.mark.parametrize(("model", "api_base", "expected"), [
    ("huggingface/together/deepseek-ai/DeepSeek-R1", None, LiteLLMName("deepseek-ai/DeepSeek-R1", "together")),
    ("huggingface/meta-llama/Llama-3.3-70B-Instruct", None, LiteLLMName("meta-llama/Llama-3.3-70B-Instruct")),
    ("huggingface/meta-llama/Llama-3.3-70B-Instruct:cheapest", None,
     LiteLLMName("meta-llama/Llama-3.3-70B-Instruct:cheapest")),
    ("huggingface/gpt2", None, LiteLLMName("gpt2")),  # a Hub id without an organisation
    # an organisation named like a provider is still an organisation when one segment follows
    ("huggingface/openai/gpt-oss-120b", None, LiteLLMName("openai/gpt-oss-120b")),
    ("huggingface/groq/openai/gpt-oss-120b", None, LiteLLMName("openai/gpt-oss-120b", "groq")),
    ("huggingface/tgi", "http://h:8080/v1/", LiteLLMName("tgi", server="http://h:8080/v1/")),
    ("huggingface/https://x.endpoints.huggingface.cloud", None,
     LiteLLMName("tgi", server="https://x.endpoints.huggingface.cloud")),
    ("openai/gpt-4o", None, LiteLLMName("gpt-4o", "openai")),
    ("openai/Qwen/Qwen2.5-7B-Instruct", "http://127.0.0.1:8000/v1",
     LiteLLMName("Qwen/Qwen2.5-7B-Instruct", server="http://127.0.0.1:8000/v1")),
])
def test_names(model: str, api_base: str | None, expected: LiteLLMName) -> None:
    assert litellm.parse(model, api_base, PROVIDERS) == expected


@pytest.mark.parametrize(("model", "api_base", "param", "words"), [
    ("huggingface/tgi", None, "api_base", "api_base"),
    ("huggingface/nosuch/org/model", None, "model", "unknown provider 'nosuch'"),
    ("huggingface/a/b/c/d", None, "model", "huggingface/<provider>/<org>/<model>"),
    ("huggingface/org/", None, "model", "huggingface/<org>/<model>"),
    ("azure/gpt-4o", None, "model", "huggingface/... or openai/..."),
    ("openai/x", "ftp://host", "api_base", "http(s) URL"),
    ("", None, "model", "non-empty"),
])
def test_bad_names_name_the_field(model: str, api_base: str | None, param: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        litellm.parse(model, api_base, PROVIDERS)
    assert info.value.param == param and words in info.value.message


def test_the_client_reads_openai_names_as_hub_ids() -> None:
    """In `completion()`, `openai/gpt-oss-120b` is the Hub's `openai` organisation; only
    `huggingface/...` names are LiteLLM's there."""
    assert parse_model("openai/gpt-oss-120b", None) == ("openai/gpt-oss-120b", None, None)
    with pytest.raises(InvalidRequest, match="huggingface/"):
        litellm.parse("openai/gpt-oss-120b", None, PROVIDERS, openai=False)


@pytest.mark.parametrize(("model", "api_base"), [
    ("huggingface/together/deepseek-ai/DeepSeek-R1", None),
    ("huggingface/meta-llama/Llama-3.3-70B-Instruct", None),
    ("huggingface/tgi", "http://127.0.0.1:9/v1"),
])
def test_the_client_and_the_config_agree(model: str, api_base: str | None) -> None:
    """The same name, read by the client and by a router's `model_list`, asks for the same model on
    the same provider (or server)."""
    name, provider, base = parse_model(model, api_base)
    settings = Settings.parse(f"model_list: [{{model_name: x, litellm_params: {{model: '{model}'"
                              + (f", api_base: '{api_base}'" if api_base else "") + "}}]", {})
    dep = Upstreams(settings, {}).aliases["x"][0]
    if base is not None:
        assert dep.provider_model == name == "tgi"
        assert dep.endpoint is not None and dep.endpoint.base_url.startswith(base.rstrip("/"))
    else:
        assert (dep.model, dep.provider) == (name, provider)


def test_a_bad_model_list_name_is_a_config_error_naming_the_key() -> None:
    settings = Settings.parse("model_list: [{model_name: x, litellm_params: {model: huggingface/tgi}}]", {})
    with pytest.raises(ConfigError) as info:
        Upstreams(settings, {})
    assert info.value.key == "model_list[0].litellm_params.api_base"
