"""The seed documents' examples (LiteLLM's Hugging Face pages, huggingface_hub's
inference guide, HF's Inference Providers page), run with only the import changed. Mock providers
stand in for the network: a mock of Hugging Face's router (the `HF_TOKEN` route), a direct SambaNova
(which HF no longer routes: reached with its own key), a direct Together, and an OpenAI-compatible
endpoint for `huggingface/tgi` and Inference Endpoint URLs. A config file ($HUBROUTE_CONFIG) points
the providers at the mocks and maps the seed models; the examples' code is unchanged."""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from hubroute.client import _completion
from tests.conftest import Mocks
from tests.mocks import MockProvider, chat_completion, json_reply


@dataclass
class Seeds:
    hf: MockProvider
    sambanova: MockProvider
    together: MockProvider
    endpoint: MockProvider
    tmp: Path


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
async def seeds(mocks: Mocks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeds:
    hf, sambanova = await mocks.start("hf"), await mocks.start("sambanova")
    together, endpoint = await mocks.start("together"), await mocks.start("endpoint")

    def model(id_: str, provider: str, provider_id: str | None = None, task: str = "conversational") -> Any:
        return {"id": id_, "task": task, "providers": [{"provider": provider, "provider_id": provider_id or id_}]}

    conf = {
        "huggingface": {"base_url": hf.url, "live_catalog": False},
        "providers": {"sambanova": {"base_url": sambanova.url}, "together": {"base_url": together.url}},
        "models": [
            model("deepseek-ai/DeepSeek-R1", "together"),
            model("deepseek-ai/DeepSeek-V3-0324", "together", "deepseek-ai/DeepSeek-V3"),
            model("meta-llama/Meta-Llama-3-8B-Instruct", "together", "meta-llama/Llama-3-8b-chat-hf"),
            model("meta-llama/Llama-3.2-11B-Vision-Instruct", "sambanova", "Llama-3.2-11B-Vision-Instruct"),
            model("meta-llama/Llama-3.3-70B-Instruct", "sambanova", "Meta-Llama-3.3-70B-Instruct"),
            model("microsoft/codebert-base", "hf-inference", task="feature-extraction"),
            model("black-forest-labs/FLUX.1-dev", "hf-inference", task="text-to-image"),
        ],
    }
    path = tmp_path / "hubroute.yaml"
    path.write_text(yaml.safe_dump(conf))
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_TOKEN")) or name.startswith("HUBROUTE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUBROUTE_CONFIG", str(path))
    monkeypatch.setenv("SAMBANOVA_API_KEY", "sn-test-key-0000")  # HF no longer routes SambaNova
    monkeypatch.setattr(_completion, "_CLIENTS", {})
    return Seeds(hf, sambanova, together, endpoint, tmp_path)


# --- LiteLLM (000, 001) -----------------------------------------------------------------------------
def litellm_basic_and_streaming() -> tuple[Any, list[Any]]:
    from hubroute import completion  # was: from litellm import completion

    os.environ["HF_TOKEN"] = "hf_xxxxxx"
    response = completion(
        model="huggingface/together/deepseek-ai/DeepSeek-R1",
        messages=[{"role": "user", "content": "How many r's are in the word 'strawberry'?"}],
    )
    print(response)
    stream = completion(
        model="huggingface/together/deepseek-ai/DeepSeek-R1",
        messages=[{"role": "user", "content": "How many r's are in the word `strawberry`?"}],
        stream=True,
    )
    chunks = []
    for chunk in stream:
        print(chunk)
        chunks.append(chunk)
    return response, chunks


async def test_litellm_completion_and_streaming(seeds: Seeds) -> None:
    response, chunks = await asyncio.to_thread(litellm_basic_and_streaming)
    assert response.choices[0].message.content == "Hello from the mock"
    assert response["choices"][0]["message"]["content"] == "Hello from the mock"
    assert response.provider == "together"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the mock"
    assert type(response).__name__ == "ModelResponse" and type(chunks[0]).__name__ == "ModelResponseStream"
    sent = seeds.hf.received[0]
    assert sent.path == "/together/v1/chat/completions"  # through HF's router with the HF token
    assert sent.headers["Authorization"] == "Bearer hf_xxxxxx"
    assert sent.json["model"] == "deepseek-ai/DeepSeek-R1"


def litellm_image_input_and_tools() -> tuple[Any, Any]:
    from hubroute import completion

    os.environ["HF_TOKEN"] = "hf_xxxxxx"
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What's in this image?"},
        {"type": "image_url", "image_url": {"url": "https://awsmp-logos.s3.amazonaws.com/seller-xw5kijmvmzasy/"
                                                   "c233c9ade2ccb5491072ae232c814942.png"}},
    ]}]
    vision = completion(model="huggingface/sambanova/meta-llama/Llama-3.2-11B-Vision-Instruct", messages=messages)
    print(vision.choices[0])
    tools = [{"type": "function", "function": {
        "name": "get_current_weather", "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, "required": ["location"]}}}]
    messages = [{"role": "user", "content": "What's the weather like in Boston today?"}]
    response = completion(model="huggingface/sambanova/meta-llama/Llama-3.3-70B-Instruct", messages=messages,
                          tools=tools, tool_choice="auto")
    print(response)
    return vision, response


async def test_litellm_image_input_and_function_calling(seeds: Seeds) -> None:
    answer = chat_completion()
    answer["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_current_weather", "arguments": '{"location": "Boston"}'}}]}
    seeds.sambanova.enqueue(json_reply(chat_completion("A logo")), json_reply(answer))
    vision, response = await asyncio.to_thread(litellm_image_input_and_tools)
    assert vision.choices[0].message.content == "A logo" and vision.provider == "sambanova"
    assert response.choices[0].message.tool_calls[0].function.name == "get_current_weather"
    first, second = seeds.sambanova.received
    assert first.path == second.path == "/v1/chat/completions"
    assert first.json["model"] == "Llama-3.2-11B-Vision-Instruct"
    assert first.json["messages"][0]["content"][1]["type"] == "image_url"
    assert second.json["tool_choice"] == "auto" and second.json["tools"][0]["function"]["name"] == \
        "get_current_weather"
    assert second.headers["Authorization"] == "Bearer sn-test-key-0000"


def litellm_tgi(api_base: str) -> tuple[Any, list[Any], Any]:
    from hubroute import completion

    os.environ["HF_TOKEN"] = "hf_xxxxxx"
    response = completion(model="huggingface/tgi", messages=[{"content": "Hello, how are you?", "role": "user"}],
                          api_base=api_base)
    stream = completion(model="huggingface/tgi", messages=[{"content": "Hello, how are you?", "role": "user"}],
                        api_base=api_base, stream=True)
    chunks = list(stream)
    functions = [{"name": "get_weather", "description": "Get the weather in a given location", "parameters": {
        "type": "object", "properties": {"location": {"type": "string", "description": "The location"}},
        "required": ["location"]}}]
    called = completion(model="huggingface/tgi", messages=[{"content": "Weather in SF?", "role": "user"}],
                        api_base=api_base, functions=functions)
    return response, chunks, called


async def test_litellm_inference_endpoint_with_api_base(seeds: Seeds) -> None:
    response, chunks, called = await asyncio.to_thread(litellm_tgi, f"{seeds.endpoint.url}/v1/")
    assert response.choices[0].message.content == "Hello from the mock"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello from the mock"
    assert called.choices[0].message.content == "Hello from the mock"
    sent = seeds.endpoint.received
    assert [r.path for r in sent] == ["/v1/chat/completions"] * 3
    assert sent[0].json["model"] == "tgi" and sent[2].json["functions"][0]["name"] == "get_weather"
    assert sent[0].headers["Authorization"] == "Bearer hf_xxxxxx"


def litellm_embedding() -> Any:
    from hubroute import embedding

    os.environ["HF_TOKEN"] = "hf_xxxxxx"
    return embedding(model="huggingface/microsoft/codebert-base", input=["good morning from litellm"])


async def test_litellm_embedding(seeds: Seeds) -> None:
    seeds.hf.enqueue(json_reply([[0.1, 0.2, 0.3]]))
    response = await asyncio.to_thread(litellm_embedding)
    assert response.data[0].embedding == [0.1, 0.2, 0.3] and response["data"][0]["index"] == 0
    assert response.provider == "hf-inference"
    sent = seeds.hf.received[0]
    assert sent.path == "/hf-inference/models/microsoft/codebert-base/pipeline/feature-extraction"
    assert sent.json == {"inputs": ["good morning from litellm"]}


def litellm_endpoint_url(url: str) -> Any:
    from hubroute import completion

    os.environ["HUGGINGFACE_API_KEY"] = "huggingface_api_key"
    messages = [{"content": "There's a llama in my garden 😱 What should I do?", "role": "user"}]
    return completion(model=f"huggingface/{url}", messages=messages)


async def test_litellm_endpoint_url_as_model(seeds: Seeds) -> None:
    response = await asyncio.to_thread(litellm_endpoint_url, seeds.endpoint.url)
    assert response.choices[0].message.content == "Hello from the mock"
    assert seeds.endpoint.received[0].path == "/v1/chat/completions"


# --- huggingface_hub (003, 004) ---------------------------------------------------------------------
def hf_provider_chat() -> Any:
    from hubroute import InferenceClient  # was: from huggingface_hub import InferenceClient

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    client = InferenceClient(provider="together", model="meta-llama/Meta-Llama-3-8B-Instruct",
                             api_key="my_together_api_key")
    return client.chat_completion(messages, max_tokens=100)


async def test_hf_chat_with_a_provider_key(seeds: Seeds) -> None:
    out = await asyncio.to_thread(hf_provider_chat)
    assert out.choices[0].message.content == "Hello from the mock"
    sent = seeds.together.received[0]  # direct to Together with its own key
    assert sent.headers["Authorization"] == "Bearer my_together_api_key"
    assert sent.json == {"model": "meta-llama/Llama-3-8b-chat-hf", "max_tokens": 100,
                         "messages": [{"role": "user", "content": "What is the capital of France?"}]}


def hf_quick_start(path: Path) -> Any:
    from hubroute import InferenceClient

    client = InferenceClient()
    completion = client.chat.completions.create(
        model="deepseek-ai/DeepSeek-V3-0324",
        messages=[{"role": "user", "content": "How many 'G's in 'huggingface'?"}],
    )
    print(completion.choices[0].message)
    client = InferenceClient(api_key=os.environ["HF_TOKEN"])
    image = client.text_to_image(
        prompt="A serene lake surrounded by mountains at sunset, photorealistic style",
        model="black-forest-labs/FLUX.1-dev",
    )
    image.save(path)
    return completion


async def test_hf_quick_start_chat_and_text_to_image(seeds: Seeds, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_quickstart_token")
    seeds.hf.enqueue(json_reply(chat_completion("There are 2 G's.")),
                     json_reply(_png(), content_type="image/png"))
    path = seeds.tmp / "generated_image.png"
    completion = await asyncio.to_thread(hf_quick_start, path)
    assert completion.choices[0].message.content == "There are 2 G's."
    assert Image.open(path).size == (8, 8)
    chat, image = seeds.hf.received
    assert chat.path == "/together/v1/chat/completions" and chat.json["model"] == "deepseek-ai/DeepSeek-V3"
    assert image.path == "/hf-inference/models/black-forest-labs/FLUX.1-dev"
    assert image.json["inputs"].startswith("A serene lake")


def hf_local_endpoint(url: str) -> Any:
    from hubroute import InferenceClient

    client = InferenceClient(model=url)
    response = client.chat.completions.create(
        messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=100)
    print(response.choices[0].message.content)
    return response


async def test_hf_local_endpoint(seeds: Seeds) -> None:
    response = await asyncio.to_thread(hf_local_endpoint, seeds.endpoint.url)
    assert response.choices[0].message.content == "Hello from the mock"
    assert seeds.endpoint.received[0].path == "/v1/chat/completions"


async def test_hf_async_stream(seeds: Seeds, monkeypatch: pytest.MonkeyPatch) -> None:
    from hubroute import AsyncInferenceClient  # was: from huggingface_hub import AsyncInferenceClient

    monkeypatch.setenv("HF_TOKEN", "hf_async_token")
    client = AsyncInferenceClient()
    stream = await client.chat.completions.create(
        model="meta-llama/Meta-Llama-3-8B-Instruct",
        messages=[{"role": "user", "content": "Say this is a test"}],
        stream=True,
    )
    text = ""
    async for chunk in stream:
        text += chunk.choices[0].delta.content or ""
    await client.close()
    assert text == "Hello from the mock"
    assert seeds.hf.received[0].path == "/together/v1/chat/completions"


def hf_timeout() -> str:
    from hubroute import InferenceClient, InferenceTimeoutError

    client = InferenceClient(timeout=0.3)
    try:
        client.text_to_image("A flying car", model="black-forest-labs/FLUX.1-dev")
    except InferenceTimeoutError:
        return "Inference timed out after 30s."
    return "no timeout"


async def test_hf_timeout(seeds: Seeds, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.mocks import hang

    monkeypatch.setenv("HF_TOKEN", "hf_timeout_token")
    seeds.hf.enqueue(hang(3))
    assert await asyncio.to_thread(hf_timeout) == "Inference timed out after 30s."
