"""The Inference Providers page's JavaScript examples (seed 004: 228, 234, 302, 339, 372) run by
`node` against a real hubroute router, with the npm packages the seed names pinned in
tests/js/package.json (`@huggingface/inference`, `openai`) and installed by `npm ci`.

Each example is a file under tests/js/examples/ holding the seed's code block as printed (checked
against the seed below). The openai one has its `baseURL` changed to hubroute's
(`process.env.HUBROUTE_URL + "/v1"`) and one added line printing the answer. The
@huggingface/inference ones are unchanged: the package has no setting for its router URL
(`HF_ROUTER_URL` is a constant; `endpointUrl` switches to the hf-inference helpers and refuses a
`provider`), so node preloads tests/js/hubroute-router.mjs, which sends router.huggingface.co's
requests to hubroute and huggingface.co's (the provider-mapping look-up) to a mock of the Hub, as
tests/e2e/test_passthrough.py does for huggingface_hub. HF_TOKEN is hubroute's `hf_`-prefixed key;
the mock providers must see the provider's own credential instead. 004:339 does not run as printed
with the pinned client (it no longer knows `provider: "sambanova"`); its test pins that.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.client.test_seed_examples import SEEDS
from tests.conftest import Mocks, RouterFactory
from tests.mocks import MockProvider, chat_completion, json_reply
from tests.npm import npm_ci

JS = Path(__file__).resolve().parents[1] / "js"
EXAMPLES = JS / "examples"
MASTER = "hf_hubroute_master_key_js"  # hubroute's key, given to the examples as HF_TOKEN
HF_UPSTREAM = "hf_upstream_token_js"  # hubroute's own token for Hugging Face's router
SAMBANOVA_KEY = "sambanova-key-js"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360f8cfc0f01f0005000201ef6a5d8a0000000049454e44ae426082")

# file -> (seed line of the opening fence, the lines changed from the seed's text)
EXAMPLE_FILES = {
    "004_234_chat_completion.mjs": (234, {}),
    "004_302_text_to_image.mjs": (302, {}),
    "004_339_provider_selection.mjs": (339, {}),
    "004_372_openai.mjs": (372, {'  baseURL: process.env.HUBROUTE_URL + "/v1",':
                                 '  baseURL: "https://router.huggingface.co/v1",'}),
}
ADDED = "\n// added by the test, not in the seed: print the answer the seed leaves in `completion`\n"


@pytest.fixture(scope="session")
def node_modules() -> str:
    """`npm ci` into tests/js (once per lock); node's path."""
    return npm_ci(JS, "the seed's JavaScript examples need node and npm")


def _seed_block(fence_line: int) -> str:
    lines = next(SEEDS.glob("004_*.txt")).read_text(encoding="utf-8").split("\n")
    start = fence_line - 1
    while lines[start].strip() != "```":
        start += 1
    end = start + 1
    while lines[end].strip() != "```":
        end += 1
    return "\n".join(lines[start + 1:end]) + "\n"


@pytest.mark.parametrize("name", sorted(EXAMPLE_FILES))
def test_example_files_are_the_seed_text(name: str) -> None:
    """The .mjs files are the seed's code blocks, but for the endpoint and the added print."""
    fence, changed = EXAMPLE_FILES[name]
    text = (EXAMPLES / name).read_text(encoding="utf-8").split(ADDED)[0]
    for ours, seed in changed.items():
        assert ours in text
        text = text.replace(ours, seed)
    assert text == _seed_block(fence)


def test_package_json_pins_the_seed_packages() -> None:
    """004:228 (`npm install @huggingface/inference`) and the openai package, pinned exactly."""
    deps = json.loads((JS / "package.json").read_text())["dependencies"]
    assert deps == {"@huggingface/inference": "4.13.30", "openai": "7.55.0"}
    lock = json.loads((JS / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/@huggingface/inference"]["version"] == "4.13.30"
    assert lock["node_modules/openai"]["version"] == "7.55.0"


async def run_node(node: str, example: str, router_url: str, hub: MockProvider, cwd: Path) -> str:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "HF_TOKEN": MASTER,
           "HUBROUTE_URL": router_url, "HF_HUB_MOCK_URL": hub.url, "NODE_PATH": str(JS / "node_modules")}
    proc = await asyncio.create_subprocess_exec(
        node, "--import", str(JS / "hubroute-router.mjs"), str(EXAMPLES / example), cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"node {example} exited {proc.returncode}:\n{out.decode()}\n{err.decode()}"
    return out.decode()


class Env:
    def __init__(self, hf: MockProvider, sambanova: MockProvider, hub: MockProvider, url: str) -> None:
        self.hf, self.sambanova, self.hub, self.url = hf, sambanova, hub, url


@pytest.fixture
async def env(mocks: Mocks, router: RouterFactory) -> Env:
    hf, sambanova, hub = await mocks.start("hf"), await mocks.start("sambanova"), await mocks.start("hub")
    r = await router.start(f"""
server: {{master_key: {MASTER}}}
huggingface: {{token: {HF_UPSTREAM}, base_url: "{hf.url}", live_catalog: false}}
providers:
  sambanova: {{api_key: {SAMBANOVA_KEY}, base_url: "{sambanova.url}/v1"}}
""")
    return Env(hf, sambanova, hub, r.url)


def _mapping(provider: str, provider_id: str, task: str) -> dict[str, object]:
    return {"inferenceProviderMapping": {provider: {"providerId": provider_id, "status": "live", "task": task}}}


async def test_huggingface_js_chat_completion(node_modules: str, env: Env, tmp_path: Path) -> None:
    """004:234: `client.chatCompletion` with no provider: the client posts to the router's
    /v1/chat/completions; hubroute picks a provider serving the model and swaps in its credential."""
    env.hf.default = env.sambanova.default = json_reply(chat_completion("There are 2 G's in 'huggingface'."))
    out = await run_node(node_modules, "004_234_chat_completion.mjs", env.url, env.hub, tmp_path)
    assert out == "{ role: 'assistant', content: \"There are 2 G's in 'huggingface'.\" }\n"
    received = env.sambanova.received + env.hf.received
    assert len(received) == 1 and received[0].path.endswith("/chat/completions")
    sent = received[0]
    assert "DeepSeek-V3" in sent.json["model"] and sent.headers["Authorization"] != f"Bearer {MASTER}"
    assert sent.json["messages"] == [{"role": "user", "content": "How many 'G's in 'huggingface'?"}]
    assert sent.headers["Authorization"] in (f"Bearer {SAMBANOVA_KEY}", f"Bearer {HF_UPSTREAM}")
    assert env.hub.hits == 0  # the auto chat route needs no mapping look-up


async def test_huggingface_js_text_to_image(node_modules: str, env: Env, tmp_path: Path) -> None:
    """004:302: `client.textToImage` FLUX.1-dev: the client looks the provider up on the Hub, posts
    to the router's /hf-inference/models/... route; the image is written to generated_image.png."""
    env.hub.enqueue(json_reply(_mapping("hf-inference", "black-forest-labs/FLUX.1-dev", "text-to-image")))
    env.hf.enqueue(json_reply(PNG, content_type="image/png"))
    await run_node(node_modules, "004_302_text_to_image.mjs", env.url, env.hub, tmp_path)
    assert (tmp_path / "generated_image.png").read_bytes() == PNG
    assert env.hub.received[0].path == "/api/models/black-forest-labs/FLUX.1-dev"
    sent = env.hf.received[0]
    assert sent.path == "/hf-inference/models/black-forest-labs/FLUX.1-dev"
    assert sent.json["inputs"] == "A serene lake surrounded by mountains at sunset, photorealistic style"
    assert sent.headers["Authorization"] == f"Bearer {HF_UPSTREAM}"


async def test_huggingface_js_provider_selection(node_modules: str, env: Env, tmp_path: Path) -> None:
    """004:339: as printed, this example no longer runs with the pinned @huggingface/inference
    (4.13.30): the client itself refuses `provider: "sambanova"` (dropped from its provider list)
    before sending anything, so neither the Hub, hubroute nor a provider is reached. This pins that
    drift of the seed; the call without a provider is the one 004:234 makes."""
    env.hf.default = env.sambanova.default = json_reply(chat_completion("unused"))
    with pytest.raises(AssertionError) as refused:
        await run_node(node_modules, "004_339_provider_selection.mjs", env.url, env.hub, tmp_path)
    assert "exited 1" in str(refused.value)
    assert "Provider 'sambanova' not supported" in str(refused.value)
    assert env.hub.hits == env.hf.hits == env.sambanova.hits == 0


async def test_openai_js_base_url(node_modules: str, env: Env, tmp_path: Path) -> None:
    """004:372: the openai npm package with `baseURL` at hubroute's /v1."""
    env.hf.default = env.sambanova.default = json_reply(chat_completion("Hello! How can I help?"))
    out = await run_node(node_modules, "004_372_openai.mjs", env.url, env.hub, tmp_path)
    assert out.strip() == "Hello! How can I help?"
    received = env.sambanova.received + env.hf.received
    assert len(received) == 1 and received[0].path.endswith("/chat/completions")
    assert "llama-3.1-8b" in received[0].json["model"].lower()  # the provider's id for the model
    assert received[0].json["messages"] == [{"role": "user", "content": "Hello!"}]
    assert received[0].headers["Authorization"] in (f"Bearer {SAMBANOVA_KEY}", f"Bearer {HF_UPSTREAM}")
