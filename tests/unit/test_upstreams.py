"""`routing.upstreams`: config mistakes only it can see, the names of LiteLLM servers, the Hub URL
an endpoint carries; and `NoProviderAvailable`'s status when every provider said the model is not
there."""

from __future__ import annotations

import pytest

from hubroute.config import Settings
from hubroute.errors import ConfigError, NoProviderAvailable, ProviderConnectionError, ProviderHTTPError
from hubroute.providers import Target
from hubroute.providers.fal_ai import FalAI
from hubroute.providers.replicate import Replicate
from hubroute.routing.upstreams import Upstreams

VLLM = "providers: {my-vllm: {type: openai-compatible, base_url: 'http://127.0.0.1:8000/v1'}}\n"


def upstreams(conf: str, environ: dict[str, str] | None = None) -> Upstreams:
    return Upstreams(Settings.parse(conf, environ or {}), environ or {})


# --- config errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("conf", "key", "words"), [
    ("aliases: {fast: 'meta-llama/Llama-3.3-70B-Instruct:nosuch'}", "aliases.fast", ":nosuch"),
    ("aliases: {fast: 'meta-llama/Llama-3.3-70B-Instruct:quickest'}", "aliases.fast", ":cheapest"),
    ("models: [{id: a/b, providers: [{provider: groq}, {provider: my-vlm}]}]", "models[0].providers[1].provider",
     "unknown provider 'my-vlm'"),
    (VLLM + "models: [{id: a/b, providers: [{provider: my-vllm}]}, {id: c/d, providers: [{provider: togther}]}]",
     "models[1].providers[0].provider", "my-vllm"),  # the message lists the configured ones
])
def test_config_mistakes_are_config_errors_naming_the_key(conf: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        upstreams(conf)
    assert info.value.key == key
    assert words in info.value.message
    assert info.value.message.startswith(f"config: {key}: ")


def test_valid_aliases_and_models_pass() -> None:
    ups = upstreams(VLLM + "models: [{id: a/b, providers: [{provider: my-vllm}, {provider: groq}]}]\n"
                    "aliases: {fast: 'a/b:my-vllm', cheap: 'a/b:cheapest'}")
    assert ups.aliases["fast"][0].provider == "my-vllm" and ups.aliases["cheap"][0].policy == "cheapest"
    assert ups.maps("my-vllm", "A/B") and not ups.maps("groq", "a/b") and not ups.maps("my-vllm", "c/d")


# --- names of LiteLLM's own servers --------------------------------------------------------------------
def model_list(*entries: tuple[str, str, str]) -> str:
    items = ", ".join(f"{{model_name: {name}, litellm_params: {{model: '{model}', api_base: '{base}'}}}}"
                      for name, model, base in entries)
    return f"model_list: [{items}]\n"


def test_a_model_list_server_is_named_after_its_entry_not_its_address() -> None:
    ups = upstreams(model_list(("my-tgi", "huggingface/tgi", "http://10.0.0.5:8080"),
                               ("pool", "openai/m1", "http://10.0.0.6:8000/v1"),
                               ("pool", "openai/m2", "http://10.0.0.7:8000/v1"),
                               ("pool", "openai/m3", "http://10.0.0.6:8000/v1"),
                               ("Team R1 / prod", "openai/r1", "http://10.0.0.8/v1")))
    names = [[d.provider for d in deps] for deps in ups.aliases.values()]
    assert names == [["my-tgi"], ["pool", "pool-2", "pool"], ["Team-R1-prod"]]
    assert ups.providers["pool-2"].base_url == "http://10.0.0.7:8000/v1"
    assert ups.providers["my-tgi"].name == "my-tgi"  # what x-inference-provider shows


def test_a_model_list_server_that_is_a_configured_provider_takes_its_name() -> None:
    ups = upstreams(VLLM + model_list(("qwen", "openai/Qwen/Qwen2.5-7B-Instruct", "http://127.0.0.1:8000/v1/"),
                                      ("my-vllm", "openai/other", "http://127.0.0.1:8001")))
    assert ups.aliases["qwen"][0].provider == "my-vllm"
    other = ups.aliases["my-vllm"][0]
    assert other.provider == "my-vllm-2" and ups.providers["my-vllm-2"].base_url == "http://127.0.0.1:8001/v1"


def test_a_model_list_entry_named_like_a_builtin_provider_does_not_replace_it() -> None:
    ups = upstreams(model_list(("together", "openai/x", "http://10.0.0.9/v1")))
    assert ups.aliases["together"][0].provider == "together-2"
    assert ups.providers["together"].base_url == "https://api.together.xyz"


# --- the Hub URL an endpoint carries -------------------------------------------------------------------
def test_endpoints_carry_the_configured_hub_url_to_lora_urls() -> None:
    conf = "huggingface: {hub_url: 'https://hub.internal.example/'}\n"
    ups = upstreams(conf, {"FAL_KEY": "fal-key-123", "REPLICATE_API_TOKEN": "r8_token_123"})
    fal, rep = ups.endpoint("fal-ai"), ups.endpoint("replicate")
    assert fal is not None and rep is not None
    assert fal.hub_url == rep.hub_url == "https://hub.internal.example"
    extra = {"adapter": "lora", "adapter_weights_path": "pixel.safetensors"}
    target = Target(FalAI(), "org/pixel-lora", "fal-ai/flux-lora", "text-to-image", fal, extra)
    assert FalAI.lora(target)["loras"][0]["path"] == \
        "https://hub.internal.example/org/pixel-lora/resolve/main/pixel.safetensors"
    from hubroute.providers.steps import TaskCall

    call = TaskCall("text-to-image", "a cat", {}, {})
    rep_target = Target(Replicate(), "org/pixel-lora", "owner/flux-lora", "text-to-image", rep, extra)
    assert Replicate().payload(call, rep_target)["input"]["lora_weights"] == \
        "https://hub.internal.example/org/pixel-lora"


def test_the_hub_url_defaults_to_the_public_hub_and_follows_hf_endpoint() -> None:
    assert upstreams("", {"FAL_KEY": "fal-key-123"}).endpoint("fal-ai").hub_url == "https://huggingface.co"  # type: ignore[union-attr]
    env = {"FAL_KEY": "fal-key-123", "HF_ENDPOINT": "https://mirror.example"}
    assert upstreams("", env).endpoint("fal-ai").hub_url == "https://mirror.example"  # type: ignore[union-attr]


# --- every provider: 404 for the model ------------------------------------------------------------------
def not_found(provider: str, body: str) -> ProviderHTTPError:
    return ProviderHTTPError(provider=provider, status_code=404, body=body)


def test_every_provider_saying_no_such_model_is_a_404_naming_them() -> None:
    err = NoProviderAvailable("nope/nope", [
        not_found("my-vllm", '{"object":"error","message":"The model `nope/nope` does not exist.","code":404}'),
        not_found("ollama", '{"error":{"message":"model \\"nope/nope\\" not found, try pulling it first"}}'),
    ])
    assert (err.status, err.code, err.type) == (404, "model_not_found", "invalid_request_error")
    assert "my-vllm, ollama" in err.message and "nope/nope" in err.message
    assert [p["provider"] for p in err.to_openai()["error"]["providers"]] == ["my-vllm", "ollama"]


@pytest.mark.parametrize("errors", [
    # a bare route 404 is a wrong URL (or a job's result gone), not a missing model
    [not_found("a", '{"detail": "Not Found"}')],
    [not_found("a", "The model `x` does not exist."),
     ProviderConnectionError("connection refused", provider="b")],
])
def test_other_failures_stay_failures(errors: list) -> None:  # type: ignore[type-arg]
    err = NoProviderAvailable("x", errors)
    assert err.status == 502 and err.code == "all_providers_failed"
