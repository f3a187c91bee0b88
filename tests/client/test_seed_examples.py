# ruff: noqa: E501  (the inventory table's rows are one line each)
"""Every code example of the five seed documents (tests/fixtures/README.md says which), run against hubroute.

Python examples run as written with only the import changed (`huggingface_hub` / `litellm` ->
`hubroute`), keys and URLs swapped for test values, model ids as in the seed. Mock providers on real
sockets stand in for the network, speaking each provider's wire format: a mock of Hugging Face's
router (the `hf_` token route: `/{provider}/...`), of the Hub (`/api/tasks`), direct Together,
SambaNova and Replicate, and an OpenAI-compatible / Inference-Endpoint server. Server-side examples
(curl, the openai SDK, the LiteLLM proxy config) are in tests/e2e/test_seed_examples.py.

Inventory: seed file, line, what the example does -> the test that runs it
(S = tests/client/test_seeds.py, C = this module, E = tests/e2e/test_seed_examples.py)

| seed | line | example | test |
|---|---|---|---|
| 000 | 35 | `export HF_TOKEN=...` (bash) | every C/S test setting HF_TOKEN; E::test_litellm_proxy_* |
| 000 | 39 | `completion(..., api_key="hf_xxxxxx")` | C::test_litellm_api_key_argument |
| 000 | 46 | `huggingface/<provider>/<org>/<model>` (a name format, not code) | C::test_litellm_model_name_forms |
| 000 | 54 | three `completion(model=...)` name forms (together, sambanova, HF Inference) | C::test_litellm_model_name_forms |
| 000 | 73 | basic completion, together/DeepSeek-R1 | S::test_litellm_completion_and_streaming |
| 000 | 94 | streaming completion | S::test_litellm_completion_and_streaming |
| 000 | 119 | image input, sambanova/Llama-3.2-11B-Vision | S::test_litellm_image_input_and_function_calling |
| 000 | 150 | function calling, sambanova/Llama-3.3-70B | S::test_litellm_image_input_and_function_calling |
| 000 | 204 | `huggingface/tgi` + api_base, basic | S::test_litellm_inference_endpoint_with_api_base |
| 000 | 220 | `huggingface/tgi` streaming | S::test_litellm_inference_endpoint_with_api_base |
| 000 | 239 | `huggingface/tgi` image input (seed line 262 has a stray `"`: a SyntaxError as printed) | C::test_litellm_tgi_image_input |
| 000 | 269 | `huggingface/tgi` + `functions=` | S::test_litellm_inference_endpoint_with_api_base |
| 000 | 309 | LiteLLM proxy `config.yaml` (`model_list`, `os.environ/HF_TOKEN`) | E::test_litellm_proxy_config_curl_and_openai |
| 000 | 318 | `litellm --config /path/to/config.yaml` -> `hubroute serve --config` | E::test_litellm_proxy_config_curl_and_openai |
| 000 | 326 | curl `POST /chat/completions` `my-r1-model` | E::test_litellm_proxy_config_curl_and_openai |
| 000 | 343 | openai SDK, `base_url` without `/v1`, `api_key="anything"` | E::test_litellm_proxy_config_curl_and_openai |
| 000 | 369 | `embedding(huggingface/microsoft/codebert-base)` | S::test_litellm_embedding |
| 001 | 25 | name format (not code) | = 000:46 |
| 001 | 32 | three name forms | = 000:54, C::test_litellm_model_name_forms |
| 001 | 45 | basic completion | = 000:73 |
| 001 | 65 | streaming (`print(chunk)` unindented: an IndentationError as printed) | = 000:94 |
| 001 | 89 | image input | = 000:119 |
| 001 | 119 | function calling | = 000:150 |
| 002 | 187 | Inference Endpoint URL as the model, `HUGGINGFACE_API_KEY` | S::test_litellm_endpoint_url_as_model, C::test_litellm_endpoint_url_output_and_key |
| 002 | 206 | the answer's shape (choices, finish_reason, created, model, usage) | C::test_litellm_endpoint_url_output_and_key |
| 003 | 23 | Replicate `text_to_image` FLUX.1-schnell with a Replicate key, `.save()` | C::test_hf_replicate_text_to_image |
| 003 | 42 | Together `chat_completion` with a Together key -> ChatCompletionOutput | S::test_hf_chat_with_a_provider_key, C::test_hf_chat_output_type |
| 003 | 84 | `InferenceClient(provider="replicate", api_key=...)` | C::test_hf_replicate_text_to_image |
| 003 | 93 | model on the client or per call (`text_to_image(...)`, Llama-3.1-8B-Instruct) | C::test_hf_model_on_client_or_per_call |
| 003 | 111 | Inference Endpoint URL as `model` (client or per call), `text_to_image` | C::test_hf_inference_endpoint_url_text_to_image |
| 003 | 125 | local OpenAI-compatible endpoint, `chat.completions.create` | S::test_hf_local_endpoint |
| 003 | 148 | `provider="replicate", api_key="hf_****"` (routed through HF) | C::test_hf_authentication_forms |
| 003 | 157 | `provider="replicate", token="hf_****"` | C::test_hf_authentication_forms |
| 003 | 166 | `provider="replicate", api_key="r8_****"` (direct) | C::test_hf_authentication_forms |
| 003 | 178 | provider x task table (a table, not code) | C::test_provider_task_table_003 |
| 003 | 1057 | OpenAI -> InferenceClient(base_url, api_key), stream, max_tokens | C::test_hf_openai_compatible_stream (+ E: openai side) |
| 003 | 1086 | AsyncInferenceClient() chat stream (and the AsyncOpenAI() side) | S::test_hf_async_stream, E::test_async_openai_from_environment |
| 003 | 1119 | Nebius tool calling, `InferenceClient(provider="nebius")` (key: NEBIUS_API_KEY; HF's router no longer serves Nebius) | C::test_hf_nebius_function_calling |
| 003 | 1168 | Cerebras structured output (json_schema) | C::test_hf_cerebras_structured_output |
| 003 | 1217 | `pip install huggingface_hub[inference]` | not run: installs huggingface_hub, not hubroute |
| 003 | 1227 | async `text_to_image` with no model (the Hub's recommended one) | C::test_hf_async_no_model_recommended |
| 003 | 1233 | async `text_generation(stream=True)` with no model | C::test_hf_async_text_generation_stream_no_model |
| 003 | 1250 | MCPClient with a remote SSE MCP server (Nebius; the mcp SDK's server on 127.0.0.1 for the Space) | C::test_hf_mcp_client_sse (+ tests/client/test_mcp.py) |
| 003 | 1291 | `tiny-agents run julien-c/flux-schnell-generator` | not run: huggingface_hub's CLI + an agent from the Hub |
| 003 | 1309 | fal-ai `text_to_image` with `bill_to="openai"` | C::test_hf_fal_bill_to |
| 003 | 1325 | `timeout=30`, InferenceTimeoutError | S::test_hf_timeout |
| 003 | 1343 | `image_classification(URL)` with no model | C::test_hf_image_classification_url_no_model |
| 004 | 16 | partner x task list (a table, not code) | C::test_provider_task_table_004 |
| 004 | 185 | `pip install huggingface_hub; huggingface-cli login` | C::test_hf_token_from_login (the stored token; the CLI itself is huggingface_hub's) |
| 004 | 193 | quick start chat, DeepSeek-V3-0324 | S::test_hf_quick_start_chat_and_text_to_image |
| 004 | 228 | `npm install @huggingface/inference` | run by tests/e2e/test_js_examples.py (`npm ci` of tests/js, pinned 4.13.30) |
| 004 | 234 | huggingface.js `chatCompletion` | run by tests/e2e/test_js_examples.py |
| 004 | 257 | curl `router.../v1/chat/completions` DeepSeek-V3-0324 | E::test_curl_chat_completions_deepseek |
| 004 | 282 | quick start `text_to_image` FLUX.1-dev | S::test_hf_quick_start_chat_and_text_to_image |
| 004 | 302 | huggingface.js `textToImage` | run by tests/e2e/test_js_examples.py |
| 004 | 339 | huggingface.js `chatCompletion` with/without `provider` | run by tests/e2e/test_js_examples.py (fails as printed: @huggingface/inference 4.13.30 refuses `provider: "sambanova"`) |
| 004 | 372 | openai JS SDK with `baseURL` | run by tests/e2e/test_js_examples.py |
| 004 | 389 | curl `/v1/chat/completions` Llama-3.1-8B-Instruct | E::test_curl_chat_completions_llama |
"""

from __future__ import annotations

import asyncio
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from hubroute.client import _completion
from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, chat_completion, json_reply, sse_reply, stream_events

#: the seed documents whose text the tests read (the provider x task tables, the JavaScript examples)
SEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "seeds"
RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"


def _png(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "blue").save(buffer, "PNG")
    return buffer.getvalue()


PNG = _png()


def prediction(status: str, output: Any, pid: str) -> dict[str, Any]:
    """Replicate's prediction object."""
    get = f"https://api.replicate.com/v1/predictions/{RID}"
    return {"id": RID, "model": pid, "version": "v", "input": {}, "logs": "", "output": output, "error": None,
            "status": status, "urls": {"get": get, "cancel": f"{get}/cancel"}}


@dataclass
class Env:
    hf: MockProvider  # Hugging Face's router
    hub: MockProvider  # the Hub (api/tasks)
    replicate: MockProvider
    together: MockProvider
    sambanova: MockProvider
    endpoint: MockProvider  # an Inference Endpoint / TGI / local OpenAI-compatible server
    nebius: MockProvider
    tmp: Path
    monkeypatch: pytest.MonkeyPatch


@pytest.fixture
async def env(mocks: Mocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    hf, hub = await mocks.start("hf"), await mocks.start("hub")
    replicate, together = await mocks.start("replicate"), await mocks.start("together")
    sambanova, endpoint = await mocks.start("sambanova"), await mocks.start("endpoint")
    nebius = await mocks.start("nebius")
    conf = {
        "huggingface": {"base_url": hf.url, "hub_url": hub.url, "live_catalog": False},
        # LiteLLM sends huggingface/<org>/<model> to HF Inference; hubroute picks among every provider
        # serving the model (by policy): this order makes HF Inference the pick, as in the seed
        "routing": {"default_policy": "preferred", "preferred": ["hf-inference"]},
        "providers": {"replicate": {"base_url": replicate.url}, "together": {"base_url": together.url},
                      "sambanova": {"base_url": sambanova.url}, "nebius": {"base_url": nebius.url}},
        # huggingface/<org>/<model> is HF Inference in LiteLLM: the one mapping for this model here
        "models": [{"id": "meta-llama/Llama-3.3-70B-Instruct", "task": "conversational",
                    "providers": [{"provider": "hf-inference", "provider_id": "meta-llama/Llama-3.3-70B-Instruct"}]},
                   # the seed's pairing (000:58), which the built-in catalog no longer has
                   {"id": "Qwen/Qwen2.5-72B-Instruct", "task": "conversational",
                    "providers": [{"provider": "sambanova", "provider_id": "Qwen2.5-72B-Instruct"},
                                  {"provider": "nebius", "provider_id": "Qwen/Qwen2.5-72B-Instruct"}]}],
    }
    path = tmp_path / "hubroute.yaml"
    path.write_text(yaml.safe_dump(conf))
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_TOKEN", "_KEY")) or name.startswith(("HUBROUTE_", "HF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no stored token from the machine
    monkeypatch.setenv("HUBROUTE_CONFIG", str(path))
    monkeypatch.setattr(_completion, "_CLIENTS", {})
    return Env(hf, hub, replicate, together, sambanova, endpoint, nebius, tmp_path, monkeypatch)


# --- LiteLLM (000, 001, 002) ------------------------------------------------------------------------
def litellm_api_key_argument() -> Any:
    from hubroute import completion  # was: from litellm import completion

    return completion(model="huggingface/together/deepseek-ai/DeepSeek-R1",
                      messages=[{"role": "user", "content": "Hi"}], api_key="hf_xxxxxx")


async def test_litellm_api_key_argument(env: Env) -> None:
    """000:39 `completion(..., api_key="hf_xxxxxx")`: the token given, not the environment's."""
    response = await asyncio.to_thread(litellm_api_key_argument)
    assert response.choices[0].message.content == "Hello from the mock" and response.provider == "together"
    sent = env.hf.received[0]
    assert sent.path == "/together/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer hf_xxxxxx"


def litellm_name_forms() -> list[Any]:
    from hubroute import completion

    os.environ["HF_TOKEN"] = "hf_xxxxxx"
    messages = [{"role": "user", "content": "Hello"}]
    # Run DeepSeek-R1 inference through Together AI
    a = completion(model="huggingface/together/deepseek-ai/DeepSeek-R1", messages=messages)
    # Run Qwen2.5-72B-Instruct inference through Sambanova
    b = completion(model="huggingface/sambanova/Qwen/Qwen2.5-72B-Instruct", messages=messages)
    # Run Llama-3.3-70B-Instruct inference through HF Inference API
    c = completion(model="huggingface/meta-llama/Llama-3.3-70B-Instruct", messages=messages)
    return [a, b, c]


async def test_litellm_model_name_forms(env: Env) -> None:
    """000:54 / 001:32. SambaNova is reached with its own key (HF's router no longer serves it for
    this model); the other two through HF's router with the HF token."""
    env.monkeypatch.setenv("SAMBANOVA_API_KEY", "sn-test-key-0000")
    a, b, c = await asyncio.to_thread(litellm_name_forms)
    assert [a.provider, b.provider, c.provider] == ["together", "sambanova", "hf-inference"]
    together, hf_inference = env.hf.received
    assert together.path == "/together/v1/chat/completions" and together.json["model"] == "deepseek-ai/DeepSeek-R1"
    assert hf_inference.path == "/hf-inference/models/meta-llama/Llama-3.3-70B-Instruct/v1/chat/completions"
    assert env.sambanova.received[0].path == "/v1/chat/completions"


def litellm_tgi_image(api_base: str) -> Any:
    from hubroute import completion

    os.environ["HF_TOKEN"] = "hf_xxxxxx"
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What's in this image?"},
        {"type": "image_url", "image_url": {
            "url": "https://awsmp-logos.s3.amazonaws.com/seller-xw5kijmvmzasy/c233c9ade2ccb5491072ae232c814942.png"}},
    ]}]
    response = completion(model="huggingface/tgi", messages=messages, api_base=api_base)
    print(response.choices[0])
    return response


async def test_litellm_tgi_image_input(env: Env) -> None:
    """000:239, with the seed's stray quote after api_base removed (a SyntaxError as printed)."""
    env.endpoint.enqueue(json_reply(chat_completion("A logo")))
    response = await asyncio.to_thread(litellm_tgi_image, f"{env.endpoint.url}/v1/")
    assert response.choices[0].message.content == "A logo"
    sent = env.endpoint.received[0]
    assert sent.path == "/v1/chat/completions" and sent.headers["Authorization"] == "Bearer hf_xxxxxx"
    assert sent.json["messages"][0]["content"][1]["image_url"]["url"].startswith("https://awsmp-logos")


def litellm_endpoint_url(url: str) -> Any:
    from hubroute import completion

    # Set env variables
    os.environ["HUGGINGFACE_API_KEY"] = "huggingface_api_key"
    messages = [{"content": "There's a llama in my garden 😱 What should I do?", "role": "user"}]
    # model = <custom_llm_provider>/<model_id>
    response = completion(model=f"huggingface/{url}", messages=messages)
    print(response)
    return response


async def test_litellm_endpoint_url_output_and_key(env: Env) -> None:
    """002:187 and the output shown at 002:206: the endpoint gets HUGGINGFACE_API_KEY; the answer has
    choices[].finish_reason/index/message.{content, role}, created, model and usage."""
    env.endpoint.enqueue(json_reply(chat_completion("\U0001f631\n\nComment: @SarahSzabo I'm",
                                                    usage={"prompt_tokens": 14, "completion_tokens": 11,
                                                           "total_tokens": 25})))
    response = await asyncio.to_thread(litellm_endpoint_url, env.endpoint.url)
    choice = response.choices[0]
    assert (choice.finish_reason, choice.index, choice.message.role) == ("stop", 0, "assistant")
    assert choice.message.content.startswith("\U0001f631")
    assert isinstance(response.created, int | float) and response.model
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == \
        (14, 11, 25)
    sent = env.endpoint.received[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers.get("Authorization") == "Bearer huggingface_api_key"


# --- huggingface_hub (003) ------------------------------------------------------------------------
def replicate_text_to_image(path: Path) -> Any:
    from hubroute import InferenceClient  # was: from huggingface_hub import InferenceClient

    # Example with an external provider (e.g. replicate)
    replicate_client = InferenceClient(
        provider="replicate",
        api_key="my_replicate_api_key",
    )
    replicate_image = replicate_client.text_to_image(
        "A flying car crossing a futuristic cityscape.",
        model="black-forest-labs/FLUX.1-schnell",
    )
    replicate_image.save(path)
    return replicate_image


def _replicate_flux(mock: MockProvider) -> None:
    pid = "black-forest-labs/flux-schnell"
    mock.enqueue(json_reply(prediction("succeeded", [f"{mock.url}/files/out.png"], pid), status=201),
                 json_reply(PNG, content_type="image/png"))


async def test_hf_replicate_text_to_image(env: Env) -> None:
    """003:23 (and 003:84's constructor): direct to Replicate with its own key; a PIL image saved."""
    _replicate_flux(env.replicate)
    path = env.tmp / "flying_car.png"
    await asyncio.to_thread(replicate_text_to_image, path)
    assert Image.open(path).size == (8, 8)
    submit, download = env.replicate.received
    assert submit.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert submit.headers["Authorization"] == "Bearer my_replicate_api_key"
    assert submit.json["input"]["prompt"] == "A flying car crossing a futuristic cityscape."
    assert download.path == "/files/out.png"
    assert not env.hf.received


def authentication_forms() -> list[Any]:
    from hubroute import InferenceClient

    clients = [
        InferenceClient(provider="replicate", api_key="hf_****"),  # Your HF token
        InferenceClient(provider="replicate", token="hf_****"),  # Your HF token
        InferenceClient(provider="replicate", api_key="r8_****"),  # Your Replicate API key
    ]
    return [c.text_to_image("A flying car", model="black-forest-labs/FLUX.1-schnell") for c in clients]


async def test_hf_authentication_forms(env: Env) -> None:
    """003:148, 157, 166: an HF token (api_key or token) goes through HF's router to Replicate's
    route; a Replicate key goes straight to Replicate."""
    for mock in (env.hf, env.hf, env.replicate):
        _replicate_flux(mock)
    images = await asyncio.to_thread(authentication_forms)
    assert [im.size for im in images] == [(8, 8)] * 3
    routed = [r for r in env.hf.received if r.path.endswith("/predictions")]
    assert [r.path for r in routed] == ["/replicate/v1/models/black-forest-labs/flux-schnell/predictions"] * 2
    assert [r.headers["Authorization"] for r in routed] == ["Bearer hf_****"] * 2
    direct = env.replicate.received[0]
    assert direct.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert direct.headers["Authorization"] == "Bearer r8_****"


def chat_output_type() -> Any:
    from hubroute import InferenceClient

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    client = InferenceClient(provider="together", model="meta-llama/Meta-Llama-3-8B-Instruct",
                             api_key="my_together_api_key")
    return client.chat_completion(messages, max_tokens=100)


async def test_hf_chat_output_type(env: Env) -> None:
    """003:42: the printed output is a ChatCompletionOutput with choices, usage and the content."""
    env.together.enqueue(json_reply(chat_completion("The capital of France is Paris.")))
    out = await asyncio.to_thread(chat_output_type)
    assert type(out).__name__ == "ChatCompletionOutput"
    assert repr(out).startswith("ChatCompletionOutput(")
    assert out.choices[0].message.content == "The capital of France is Paris."
    assert out.usage.total_tokens == 12 and out.choices[0].index == 0


def model_on_client_or_call() -> list[Any]:
    from hubroute import InferenceClient

    # Initialize client for a specific model
    client = InferenceClient(provider="together", model="meta-llama/Llama-3.1-8B-Instruct")
    first = client.text_to_image("A lighthouse")
    # Or use a generic client but pass your model as an argument
    client = InferenceClient(provider="together")
    second = client.text_to_image("A lighthouse", model="meta-llama/Llama-3.1-8B-Instruct")
    return [first, second]


async def test_hf_model_on_client_or_per_call(env: Env) -> None:
    """003:93. The seed's `...` stands for a prompt. Its model is a chat model: no provider makes
    images with it, so both forms fail, as with huggingface_hub, with the same clear error (not a
    request to Together's image API)."""
    from hubroute.errors import HubrouteError

    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    with pytest.raises(HubrouteError) as info:
        await asyncio.to_thread(model_on_client_or_call)
    assert "text-to-image" in str(info.value) and "meta-llama/Llama-3.1-8B-Instruct" in str(info.value)
    assert not env.hf.received and not env.together.received

    # the same two forms with a model Together does make images with
    def both() -> list[Any]:
        from hubroute import InferenceClient

        client = InferenceClient(provider="together", model="black-forest-labs/FLUX.1-schnell")
        first = client.text_to_image("A lighthouse")
        client = InferenceClient(provider="together")
        return [first, client.text_to_image("A lighthouse", model="black-forest-labs/FLUX.1-schnell")]

    import base64

    b64 = base64.b64encode(PNG).decode()
    for _ in range(2):
        env.hf.enqueue(json_reply({"id": "x", "model": "m", "object": "list", "data": [{"b64_json": b64}]}))
    images = await asyncio.to_thread(both)
    assert [im.size for im in images] == [(8, 8)] * 2
    assert [r.path for r in env.hf.received] == ["/together/v1/images/generations"] * 2
    assert {r.json["model"] for r in env.hf.received} == {"black-forest-labs/FLUX.1-schnell"}


def endpoint_text_to_image(url: str) -> list[Any]:
    from hubroute import InferenceClient

    client = InferenceClient(model=url)
    first = client.text_to_image("An astronaut riding a horse")
    # or
    client = InferenceClient()
    second = client.text_to_image("An astronaut riding a horse", model=url)
    return [first, second]


async def test_hf_inference_endpoint_url_text_to_image(env: Env) -> None:
    """003:111: an Inference Endpoint's URL as the model; HF's payload POSTed to that URL, which
    answers the image's bytes."""
    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    env.endpoint.enqueue(json_reply(PNG, content_type="image/png"), json_reply(PNG, content_type="image/png"))
    url = f"{env.endpoint.url}/deepfloyd-if"
    images = await asyncio.to_thread(endpoint_text_to_image, url)
    assert [im.size for im in images] == [(8, 8)] * 2
    assert [r.path for r in env.endpoint.received] == ["/deepfloyd-if"] * 2
    assert env.endpoint.received[0].json["inputs"] == "An astronaut riding a horse"
    assert env.endpoint.received[0].headers["Authorization"] == "Bearer hf_xxxxxx"


async def test_hf_openai_compatible_stream(env: Env, router: RouterFactory) -> None:
    """003:1057: `InferenceClient(base_url=..., api_key=...)` in place of `OpenAI(...)`, here with a
    hubroute router as the base_url, streaming with max_tokens."""
    conf = yaml.safe_dump({
        "providers": {"together": {"api_key": "tg-test-key-0000", "base_url": env.together.url}},
        "huggingface": {"live_catalog": False},
    })
    running = await router.start(conf)
    env.together.enqueue(sse_reply(stream_events(["1", " 2", " 3"])))

    def run() -> list[Any]:
        from hubroute import InferenceClient  # was: from openai import OpenAI

        client = InferenceClient(base_url=f"{running.url}/v1", api_key="hubroute-key")
        output = client.chat.completions.create(
            model="meta-llama/Meta-Llama-3-8B-Instruct",
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Count to 10"},
            ],
            stream=True,
            max_tokens=1024,
        )
        printed = []
        for chunk in output:
            print(chunk.choices[0].delta.content)
            printed.append(chunk.choices[0].delta.content)
        return printed

    printed = await asyncio.to_thread(run)
    assert "".join(p or "" for p in printed) == "1 2 3"
    sent = env.together.received[0]
    assert sent.json["max_tokens"] == 1024 and sent.json["stream"] is True
    assert sent.json["model"] == "meta-llama/Meta-Llama-3-8B-Instruct-Turbo"


def nebius_tools() -> Any:
    from hubroute import InferenceClient

    tools = [{
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get current temperature for a given location.",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string", "description": "City and country e.g. Paris, France"}},
                "required": ["location"],
            },
        },
    }]
    client = InferenceClient(provider="nebius")
    response = client.chat.completions.create(
        model="Qwen/Qwen2.5-72B-Instruct",
        messages=[{"role": "user", "content": "What's the weather like the next 3 days in London, UK?"}],
        tools=tools,
        tool_choice="auto",
    )
    print(response.choices[0].message.tool_calls[0].function.arguments)
    return response


async def test_hf_nebius_function_calling(env: Env) -> None:
    """003:1119: no key given. Hugging Face's router no longer serves Nebius (huggingface_hub 2.x
    dropped it too), so the key is Nebius's own, from NEBIUS_API_KEY; the code is the seed's."""
    env.monkeypatch.setenv("NEBIUS_API_KEY", "nb-test-key-0000")
    answer = chat_completion()
    answer["choices"][0].update(finish_reason="tool_calls", message={"role": "assistant", "content": None,
                                "tool_calls": [{"id": "call_1", "type": "function", "function": {
                                    "name": "get_weather", "arguments": '{"location": "London, UK"}'}}]})
    env.nebius.enqueue(json_reply(answer))
    response = await asyncio.to_thread(nebius_tools)
    assert response.choices[0].message.tool_calls[0].function.arguments == '{"location": "London, UK"}'
    sent = env.nebius.received[0]
    assert sent.path == "/v1/chat/completions" and sent.json["model"] == "Qwen/Qwen2.5-72B-Instruct"
    assert sent.json["tool_choice"] == "auto" and sent.json["tools"][0]["function"]["name"] == "get_weather"
    assert sent.headers["Authorization"] == "Bearer nb-test-key-0000"


def cerebras_structured() -> Any:
    from hubroute import InferenceClient

    json_schema = {
        "name": "book",
        "schema": {
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "authors": {"items": {"type": "string"}, "title": "Authors", "type": "array"},
            },
            "required": ["name", "authors"],
            "title": "Book",
            "type": "object",
        },
        "strict": True,
    }
    client = InferenceClient(provider="cerebras")
    completion = client.chat.completions.create(
        model="Qwen/Qwen3-32B",
        messages=[
            {"role": "system", "content": "Extract the books information."},
            {"role": "user", "content": "I recently read 'The Great Gatsby' by F. Scott Fitzgerald."},
        ],
        response_format={"type": "json_schema", "json_schema": json_schema},
    )
    print(completion.choices[0].message)
    return completion


async def test_hf_cerebras_structured_output(env: Env) -> None:
    """003:1168: the json_schema response_format reaches Cerebras (through HF's router) as sent."""
    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    book = '{"name": "The Great Gatsby", "authors": ["F. Scott Fitzgerald"]}'
    env.hf.enqueue(json_reply(chat_completion(book)))
    completion = await asyncio.to_thread(cerebras_structured)
    assert completion.choices[0].message.content == book
    sent = env.hf.received[0]
    assert sent.path == "/cerebras/v1/chat/completions" and sent.json["model"] == "qwen-3-32b"
    assert sent.json["response_format"]["type"] == "json_schema"
    assert sent.json["response_format"]["json_schema"]["name"] == "book"


def _recommended(env: Env) -> None:
    """The Hub's /api/tasks: each task's recommended models (`widgetModels`), as huggingface_hub reads it."""
    env.hub.default = json_reply({
        "text-to-image": {"id": "text-to-image", "widgetModels": ["black-forest-labs/FLUX.1-dev"]},
        "text-generation": {"id": "text-generation", "widgetModels": ["Qwen/Qwen2.5-7B-Instruct"]},
        "image-classification": {"id": "image-classification", "widgetModels": ["google/vit-base-patch16-224"]},
    })


async def test_hf_async_no_model_recommended(env: Env) -> None:
    """003:1227, `text_to_image` with no model: as huggingface_hub does, the task's recommended model
    from the Hub, on HF Inference."""
    from hubroute import AsyncInferenceClient

    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    _recommended(env)
    env.hf.enqueue(json_reply(PNG, content_type="image/png"))
    client = AsyncInferenceClient()
    image = await client.text_to_image("An astronaut riding a horse on the moon.")
    image.save(env.tmp / "astronaut.png")
    await client.close()
    assert Image.open(env.tmp / "astronaut.png").size == (8, 8)
    sent = env.hf.received[0]
    assert sent.path == "/hf-inference/models/black-forest-labs/FLUX.1-dev"
    assert sent.json["inputs"] == "An astronaut riding a horse on the moon."
    assert env.hub.received[0].path == "/api/tasks"


async def test_hf_async_text_generation_stream_no_model(env: Env) -> None:
    """003:1233: `text_generation(..., stream=True)` with no model: the recommended model on HF
    Inference, TGI's token stream."""
    from hubroute import AsyncInferenceClient

    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    _recommended(env)
    tgi_stream = [b'data: {"index":%d,"token":{"id":%d,"text":"%s","logprob":0,"special":false},'
                  b'"generated_text":null,"details":null}' % (i, i, w.encode())
                  for i, w in enumerate([" a", " platform", " for", " ML."])]
    env.hf.enqueue(sse_reply(tgi_stream))
    client = AsyncInferenceClient()
    text = ""
    try:
        async for token in await client.text_generation("The Huggingface Hub is", stream=True):
            print(token, end="")
            text += token
    finally:
        await client.close()
    assert text == " a platform for ML."
    sent = env.hf.received[0]
    assert sent.path == "/hf-inference/models/Qwen/Qwen2.5-7B-Instruct"
    assert sent.json["inputs"] == "The Huggingface Hub is" and sent.json["stream"] is True  # TGI's API


def mcp_client_example(sse_url: str) -> Any:
    """003:1250 as written (import changed; `main` returned instead of run under `__main__`); the
    Space's URL is swapped for `sse_url`."""
    import os

    from hubroute import ChatCompletionInputMessage, ChatCompletionStreamOutput, MCPClient

    async def main():  # type: ignore[no-untyped-def]
        async with MCPClient(
            provider="nebius",
            model="Qwen/Qwen2.5-72B-Instruct",
            api_key=os.environ["HF_TOKEN"],
        ) as client:
            await client.add_mcp_server(type="sse", url=sse_url)

            messages = [
                {
                    "role": "user",
                    "content": "Generate a picture of a cat on the moon",
                }
            ]

            async for chunk in client.process_single_turn_with_tools(messages):
                # Log messages
                if isinstance(chunk, ChatCompletionStreamOutput):
                    delta = chunk.choices[0].delta
                    if delta.content:
                        print(delta.content, end="")

                # Or tool calls
                elif isinstance(chunk, ChatCompletionInputMessage):
                    print(
                        f"\nCalled tool '{chunk.name}'. Result: '{chunk.content if len(chunk.content) < 1000 else chunk.content[:1000] + '...'}'"
                    )

    return main


async def test_hf_mcp_client_sse(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    """003:1250: MCPClient on Nebius with a remote SSE MCP server. The MCP server is the mcp SDK's,
    with the Flux Space's tool, served over SSE on 127.0.0.1 at the Space's path; Nebius (a mock) streams
    a call of that tool. HF's router no longer serves Nebius, so the key in HF_TOKEN is Nebius's own."""
    from tests.client.test_mcp import FLUX_CALL, mcp_url, tool_call_stream

    env.monkeypatch.setenv("HF_TOKEN", "nb-test-key-0000")
    env.nebius.enqueue(sse_reply(tool_call_stream([FLUX_CALL], content="Let me draw it.")))
    calls: list[dict[str, Any]] = []
    async with mcp_url("sse", calls, sse_path="/gradio_api/mcp/sse") as url:
        await mcp_client_example(url)()
    printed = capsys.readouterr().out
    assert printed == ("Let me draw it.\nCalled tool 'flux1_schnell_infer'. Result: 'Generated 1024x1024 image of "
                       "'a cat on the moon' at https://example.test/image.webp'\n")
    assert calls == [{"tool": "flux1_schnell_infer", "prompt": "a cat on the moon", "seed": 42, "width": 1024,
                      "height": 1024}]
    sent = env.nebius.received[0]
    assert sent.path == "/v1/chat/completions" and sent.json["model"] == "Qwen/Qwen2.5-72B-Instruct"
    assert sent.json["stream"] is True and sent.json["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in sent.json["tools"]] == ["flux1_schnell_infer", "get_weather", "draw"]
    assert sent.headers["Authorization"] == "Bearer nb-test-key-0000"


def fal_bill_to(path: Path) -> Any:
    from hubroute import InferenceClient

    client = InferenceClient(provider="fal-ai", bill_to="openai")
    image = client.text_to_image(
        "A majestic lion in a fantasy forest",
        model="black-forest-labs/FLUX.1-schnell",
    )
    image.save(path)
    return image


async def test_hf_fal_bill_to(env: Env) -> None:
    """003:1309: fal-ai through HF's router, the organisation billed in X-HF-Bill-To."""
    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    env.hf.enqueue(json_reply({"images": [{"url": f"{env.hf.url}/files/lion.png", "width": 8, "height": 8}]}),
                   json_reply(PNG, content_type="image/png"))
    await asyncio.to_thread(fal_bill_to, env.tmp / "lion.png")
    assert Image.open(env.tmp / "lion.png").size == (8, 8)
    submit = env.hf.received[0]
    assert submit.path == "/fal-ai/fal-ai/flux/schnell"
    headers = {k.lower(): v for k, v in submit.headers.items()}
    assert headers["x-hf-bill-to"] == "openai" and headers["authorization"] == "Bearer hf_xxxxxx"
    assert submit.json["prompt"] == "A majestic lion in a fantasy forest"


async def test_hf_image_classification_url_no_model(env: Env) -> None:
    """003:1343: a URL input (downloaded by the client) and no model (the recommended one)."""
    env.monkeypatch.setenv("HF_TOKEN", "hf_xxxxxx")
    _recommended(env)
    env.endpoint.enqueue(json_reply(PNG, content_type="image/jpeg"))
    env.hf.enqueue(json_reply([{"score": 0.9779096841812134, "label": "Blenheim spaniel"},
                               {"score": 0.01, "label": "Japanese spaniel"}]))
    url = f"{env.endpoint.url}/wikipedia/commons/thumb/4/43/Cute_dog.jpg/320px-Cute_dog.jpg"

    def run() -> Any:
        from hubroute import InferenceClient

        client = InferenceClient()
        return client.image_classification(url)

    out = await asyncio.to_thread(run)
    assert out[0]["label"] == "Blenheim spaniel" and out[0].score == pytest.approx(0.9779096841812134)
    sent = env.hf.received[0]
    assert sent.path == "/hf-inference/models/google/vit-base-patch16-224"
    assert sent.body == PNG


async def test_hf_token_from_login(env: Env) -> None:
    """004:185 then 004:193: after `huggingface-cli login` (which writes $HF_HOME/token) the client
    finds the token with no HF_TOKEN in the environment, as huggingface_hub does."""
    home = env.tmp / "hf-home"
    home.mkdir()
    (home / "token").write_text("hf_stored_login_token\n")
    env.hf.enqueue(json_reply(chat_completion("There are 2 G's.")))

    def run() -> Any:
        from hubroute import InferenceClient

        client = InferenceClient()
        completion = client.chat.completions.create(
            model="deepseek-ai/DeepSeek-V3-0324",
            messages=[{"role": "user", "content": "How many 'G's in 'huggingface'?"}],
        )
        print(completion.choices[0].message)
        return completion

    completion = await asyncio.to_thread(run)
    assert completion.choices[0].message.content == "There are 2 G's."
    assert env.hf.received[0].headers["Authorization"] == "Bearer hf_stored_login_token"


# --- the provider x task tables (003:178, 004:16) ------------------------------------------------
def _table_003() -> set[tuple[str, str]]:
    text = (SEEDS / "003_huggingface_hub_inference_guide.txt").read_text(encoding="utf-8")
    _, _, rest = text.partition("\nTask\n")
    body, _, _ = rest.partition("Check out the [Tasks]")
    cells = [c.strip() for c in body.split("\n") if c.strip()]
    providers = cells[:14]
    names = {"Black Forest Labs": "black-forest-labs", "Cerebras": "cerebras", "Cohere": "cohere",
             "fal-ai": "fal-ai", "Featherless AI": "featherless-ai", "Fireworks AI": "fireworks-ai",
             "Groq": "groq", "HF Inference": "hf-inference", "Hyperbolic": "hyperbolic",
             "Nebius AI Studio": "nebius", "Novita AI": "novita", "Replicate": "replicate",
             "Sambanova": "sambanova", "Together": "together"}
    pairs = set()
    rows = cells[14:]
    for i in range(0, len(rows), 15):
        method = re.match(r"\[(\w+)\\?\(\)\]|\[([\w\\]+)\(\)\]", rows[i])
        assert method, rows[i]
        task = (method.group(1) or method.group(2)).replace("\\_", "_").replace("_", "-")
        for provider, mark in zip(providers, rows[i + 1:i + 15], strict=True):
            if mark not in ("❌",):
                pairs.add((names[provider], "conversational" if task == "chat-completion" else task))
    return pairs


def _supported(provider: str, task: str) -> bool:
    from hubroute.providers import REGISTRY

    adapter = REGISTRY[provider]
    return task in adapter.routes


def test_provider_task_table_003() -> None:
    """Every ✅ of huggingface_hub's provider x task table is a task hubroute's adapter serves."""
    pairs = _table_003()
    assert len(pairs) == 54
    missing = {p for p in pairs if not _supported(*p)}
    assert not missing, missing


def test_provider_task_table_004() -> None:
    """Every ✅ of the Inference Providers partner list (004:16) is served by hubroute's adapter."""
    text = (SEEDS / "004_inference_providers.txt").read_text(encoding="utf-8")
    tasks = {"Chat completion (LLM)": "conversational", "Chat completion (VLM)": "conversational",
             "Feature Extraction": "feature-extraction", "Text to Image": "text-to-image",
             "Text to video": "text-to-video", "Speech to text": "automatic-speech-recognition"}
    names = {"Fal AI": "fal-ai", "Fireworks": "fireworks-ai", "HF Inference": "hf-inference",
             "SambaNova": "sambanova", "Featherless AI": "featherless-ai"}
    pairs = set()
    provider = ""
    for line in text.splitlines():
        if m := re.match(r"\* Provider: (.+)", line):
            provider = names.get(m.group(1), m.group(1).lower())
        elif (m := re.match(r"  \* (.+?): (.*)", line)) and provider and m.group(2).strip():
            pairs.add((provider, tasks[m.group(1)]))
    assert len(pairs) == 27  # LLM and VLM chat are both `conversational`
    missing = sorted(p for p in pairs if not _supported(*p))
    assert not missing, missing
