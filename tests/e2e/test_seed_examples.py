"""The seed documents' server-side examples against a real `hubroute serve` subprocess: LiteLLM's proxy
config file (000:309) started with `hubroute serve --config` in place of `litellm --config` (000:318),
then called with the seed's curl command (the real `curl` binary, 000:326) and the openai SDK
(000:343); the Inference Providers page's curl calls (004:257, 004:389) against hubroute in place of
router.huggingface.co; the openai SDK of huggingface_hub's OpenAI-compatibility section (003:1057,
003:1086). A mock of Hugging Face's router stands in for it (`huggingface.base_url`).

The inventory of every seed example and the test that runs it is in
tests/client/test_seed_examples.py."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.conftest import Mocks, RouterFactory
from tests.e2e.serving import Serve, clean_env
from tests.mocks import MockProvider, chat_completion, json_reply, sse_reply, stream_events

HF_TOKEN = "hf_xxxxxx"

# 000:309, verbatim
LITELLM_CONFIG = """\
model_list:
  - model_name: my-r1-model
    litellm_params:
      model: huggingface/together/deepseek-ai/DeepSeek-R1
      api_key: os.environ/HF_TOKEN # ensure you have `HF_TOKEN` in your .env
"""


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    s = Serve(tmp_path)
    yield s
    await s.stop()


async def curl(*args: str) -> Any:
    """Run curl as the seed does; its stdout parsed as JSON."""
    assert shutil.which("curl"), "curl is not installed"
    proc = await asyncio.create_subprocess_exec("curl", "--silent", "--show-error", "--max-time", "20", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def start(serve: Serve, hf: MockProvider, conf: str = "") -> Serve:
    """`hubroute serve` with the seed's config, HF's router on the mock, HF_TOKEN in its environment."""
    conf += f"huggingface:\n  base_url: {hf.url}\n  live_catalog: false\n"
    await serve.start(conf, env=clean_env(HF_TOKEN=HF_TOKEN))
    await serve.healthy()
    return serve


async def test_litellm_proxy_config_curl_and_openai(serve: Serve, mocks: Mocks) -> None:
    """000:309-359: the LiteLLM config served by hubroute; the curl call and the openai client (its
    base_url without /v1, so it posts to /chat/completions) both reach Together through HF's router
    with the HF token named by `os.environ/HF_TOKEN`."""
    hf = await mocks.start("hf")
    hf.enqueue(json_reply(chat_completion("I'm fine, thanks.")), json_reply(chat_completion("Fine too.")))
    await start(serve, hf, LITELLM_CONFIG)
    body = await curl("--location", f"{serve.url}/chat/completions",
                      "--header", "Content-Type: application/json",
                      "--data", """{
    "model": "my-r1-model",
    "messages": [
        {
            "role": "user",
            "content": "Hello, how are you?"
        }
    ]
}""")
    assert body["choices"][0]["message"]["content"] == "I'm fine, thanks."

    def run() -> Any:
        from openai import OpenAI

        client = OpenAI(
            base_url=serve.url,  # was: http://0.0.0.0:4000
            api_key="anything",
            max_retries=0,
        )
        response = client.chat.completions.create(
            model="my-r1-model",
            messages=[{"role": "user", "content": "Hello, how are you?"}],
        )
        print(response)
        return response

    response = await asyncio.to_thread(run)
    assert response.choices[0].message.content == "Fine too."
    assert [r.path for r in hf.received] == ["/together/v1/chat/completions"] * 2
    assert {r.headers["Authorization"] for r in hf.received} == {f"Bearer {HF_TOKEN}"}
    assert {r.json["model"] for r in hf.received} == {"deepseek-ai/DeepSeek-R1"}


async def test_curl_chat_completions_deepseek(serve: Serve, mocks: Mocks) -> None:
    """004:257: the quick-start curl, `router.huggingface.co` replaced by hubroute's address; the
    router picks a provider serving DeepSeek-V3-0324 (through HF's router with its HF token)."""
    hf = await mocks.start("hf")
    hf.enqueue(json_reply(chat_completion("There are 2 G's in huggingface.")))
    await start(serve, hf)
    body = await curl(f"{serve.url}/v1/chat/completions",
                      "-H", f"Authorization: Bearer {HF_TOKEN}",
                      "-H", "Content-Type: application/json",
                      "-d", """{
        "messages": [
            {
                "role": "user",
                "content": "How many G in huggingface?"
            }
        ],
        "model": "deepseek-ai/DeepSeek-V3-0324",
        "stream": false
    }""")
    assert body["choices"][0]["message"]["content"] == "There are 2 G's in huggingface."
    sent = hf.received[0]
    assert sent.path.endswith("/chat/completions") and sent.json["stream"] is False
    assert sent.headers["Authorization"] == f"Bearer {HF_TOKEN}"


async def test_curl_chat_completions_llama(serve: Serve, mocks: Mocks) -> None:
    """004:389: the OpenAI-compatible endpoint by curl, Llama-3.1-8B-Instruct."""
    hf = await mocks.start("hf")
    hf.enqueue(json_reply(chat_completion("Hello! How can I help?")))
    await start(serve, hf)
    body = await curl(f"{serve.url}/v1/chat/completions",
                      "-H", f"Authorization: Bearer {HF_TOKEN}",
                      "-H", "Content-Type: application/json",
                      "-d", """{
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "messages": [
      {
        "role": "user",
        "content": "Hello!"
      }
    ]
  }""")
    assert body["choices"][0]["message"]["content"] == "Hello! How can I help?"
    assert body["object"] == "chat.completion"
    assert hf.received[0].path.endswith("/chat/completions")


async def test_openai_side_of_the_compatibility_example(mocks: Mocks, router: RouterFactory) -> None:
    """003:1057, the `openai` side of the diff: `OpenAI(base_url=..., api_key=...)` on hubroute,
    streaming with max_tokens=1024."""
    hf = await mocks.start("hf")
    hf.enqueue(sse_reply(stream_events(["1", " 2", " 3"])))
    r = await router.start(f"huggingface:\n  base_url: {hf.url}\n  live_catalog: false\n  token: {HF_TOKEN}\n")

    def run() -> str:
        from openai import OpenAI

        client = OpenAI(base_url=f"{r.url}/v1", api_key="anything", max_retries=0)
        output = client.chat.completions.create(
            model="meta-llama/Meta-Llama-3-8B-Instruct",
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Count to 10"},
            ],
            stream=True,
            max_tokens=1024,
        )
        text = ""
        for chunk in output:
            print(chunk.choices[0].delta.content)
            text += chunk.choices[0].delta.content or ""
        return text

    assert await asyncio.to_thread(run) == "1 2 3"
    assert hf.received[0].json["max_tokens"] == 1024


async def test_async_openai_from_environment(mocks: Mocks, router: RouterFactory,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """003:1086, the `openai` side: `AsyncOpenAI()` with no arguments, pointed at hubroute by
    OPENAI_BASE_URL / OPENAI_API_KEY as the openai SDK reads them."""
    hf = await mocks.start("hf")
    hf.enqueue(sse_reply(stream_events(["This", " is", " a", " test"])))
    r = await router.start(f"huggingface:\n  base_url: {hf.url}\n  live_catalog: false\n  token: {HF_TOKEN}\n")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{r.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "anything")

    client = openai.AsyncOpenAI()
    printed = ""
    stream = await client.chat.completions.create(
        model="meta-llama/Meta-Llama-3-8B-Instruct",
        messages=[{"role": "user", "content": "Say this is a test"}],
        stream=True,
    )
    async for chunk in stream:
        printed += chunk.choices[0].delta.content or ""
    await client.close()
    assert printed == "This is a test"
