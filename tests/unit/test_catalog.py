"""The built-in data file and the catalog's merge rules."""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Any

import pytest

from hubroute.catalog import Catalog, ModelEntry, Pricing, ProviderMapping, entries_from_json, mapping_from_json
from hubroute.config import ModelProviderSettings, ModelSettings, PricingSettings

# The providers hubroute has adapters for. Another change is adding the remaining ones to
# hubroute.providers.REGISTRY; until it lands, the data file is checked against this list
# (test_every_provider_is_in_the_registry does the REGISTRY check once it is complete).
PROVIDERS = frozenset({
    "baseten", "cerebras", "cohere", "deepinfra", "featherless-ai", "fireworks-ai", "groq", "hf-inference",
    "hyperbolic", "nebius", "novita", "nscale", "openai", "ovhcloud", "publicai", "sambanova", "scaleway",
    "together", "zai-org", "fal-ai", "replicate", "wavespeed", "black-forest-labs",
})
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAPPING_KEYS = {
    "providerId", "status", "pricing", "context_length", "supports_tools", "supports_structured_output",
    "throughput", "task",
}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("hubroute.data").joinpath("catalog.json").read_text("utf-8"))
    return data


@pytest.fixture(scope="module")
def builtin() -> Catalog:
    return Catalog.builtin()


# --- the data file -------------------------------------------------------------------------------
def test_data_file_loads_with_enough_chat_models(builtin: Catalog, raw: dict[str, Any]) -> None:
    chat = [e for e in builtin if e.task in ("conversational", "text-generation")]
    assert len(chat) >= 45
    assert {e.id for e in chat} >= {m["id"] for m in raw["models"]}  # every chat entry loaded
    for entry in raw["models"]:
        assert entry["task"] in ("conversational", "text-generation"), entry["id"]
        assert entry["providers"], entry["id"]


def test_task_data_file_covers_every_task_with_registered_providers(builtin: Catalog) -> None:
    from hubroute.types import TASKS

    data = json.loads(resources.files("hubroute.data").joinpath("tasks.json").read_text("utf-8"))
    raw_models = data["models"]
    chat = json.loads(resources.files("hubroute.data").joinpath("catalog.json").read_text("utf-8"))["models"]
    assert len(builtin) == len(raw_models) + len(chat)  # no id appears twice across the two files
    tasks = {m["task"] for m in raw_models}
    assert tasks >= set(TASKS) - {"chat-completion", "conversational"}, set(TASKS) - tasks
    for m in raw_models:
        assert m["task"] in TASKS and m["providers"], m["id"]


def test_ids_are_well_formed_and_unique(builtin: Catalog) -> None:
    seen: set[str] = set()
    for entry in builtin:
        assert HUB_ID.match(entry.id), entry.id
        assert entry.id.lower() not in seen, f"{entry.id} is listed twice (ids are case-insensitive)"
        seen.add(entry.id.lower())
        assert entry.owned_by == entry.id.split("/")[0]
        for m in entry.providers:
            assert m.provider_id, (entry.id, m.provider)
            assert m.provider_id == m.provider_id.strip() and not re.search(r"\s", m.provider_id), m
            assert m.task == entry.task


def test_every_mapping_names_a_provider_hubroute_has_an_adapter_for(builtin: Catalog) -> None:
    for entry in builtin:
        names = [m.provider for m in entry.providers]
        assert len(names) == len(set(names)), entry.id
        assert set(names) <= PROVIDERS, (entry.id, set(names) - PROVIDERS)


def test_every_registered_provider_serves_the_tasks_it_is_mapped_for(builtin: Catalog) -> None:
    from hubroute.providers import REGISTRY

    for entry in builtin:
        for m in entry.providers:
            if m.provider in REGISTRY:
                assert REGISTRY[m.provider].supports(m.task), (entry.id, m.provider, m.task)


def test_every_provider_is_in_the_registry(builtin: Catalog) -> None:
    from hubroute.providers import REGISTRY

    missing = PROVIDERS - set(REGISTRY)
    if missing:
        pytest.skip(f"adapters not registered yet: {sorted(missing)}")
    for entry in builtin:
        for m in entry.providers:
            assert m.provider in REGISTRY, (entry.id, m.provider)
            assert REGISTRY[m.provider].supports(m.task), (entry.id, m.provider, m.task)


def test_mapping_fields_are_sane(builtin: Catalog, raw: dict[str, Any]) -> None:
    for model in raw["models"]:
        assert set(model) == {"id", "task", "providers"}, model["id"]
        for name, mp in model["providers"].items():
            assert set(mp) <= MAPPING_KEYS, (model["id"], name, set(mp) - MAPPING_KEYS)
    for entry in builtin:
        for m in entry.providers:
            where = (entry.id, m.provider)
            assert m.status == "live", where
            assert m.usable
            if m.pricing is not None:
                for price in (m.pricing.input, m.pricing.output):
                    assert isinstance(price, int | float) and not isinstance(price, bool), where
                    assert math.isfinite(price) and 0 <= price < 100, where
            if m.context_length is not None:
                assert isinstance(m.context_length, int) and 2048 <= m.context_length <= 10_485_760, where
            for flag in (m.supports_tools, m.supports_structured_output):
                assert flag is None or isinstance(flag, bool), where
            if m.throughput is not None:
                assert 0 < m.throughput < 10_000, where


def test_provider_ids_follow_each_providers_conventions(builtin: Catalog) -> None:
    for entry in builtin:
        if entry.task not in ("conversational", "text-generation"):
            continue  # the conventions are those of chat ids (image models are named otherwise)
        for m in entry.providers:
            where = (entry.id, m.provider, m.provider_id)
            if m.provider == "fireworks-ai":
                assert m.provider_id.startswith("accounts/fireworks/models/"), where
            if m.provider in ("hf-inference", "featherless-ai", "nebius", "hyperbolic", "deepinfra", "baseten"):
                assert HUB_ID.match(m.provider_id), where  # these serve Hub repo ids
            if m.provider in ("groq", "cerebras", "cohere", "zai-org", "scaleway"):
                assert m.provider_id == m.provider_id.lower(), where
            if m.provider == "novita":
                assert m.provider_id == m.provider_id.lower(), where


@pytest.mark.parametrize(
    ("model", "provider", "provider_id"),
    [
        ("meta-llama/Llama-3.3-70B-Instruct", "groq", "llama-3.3-70b-versatile"),
        ("meta-llama/Llama-3.3-70B-Instruct", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
        ("meta-llama/Llama-3.3-70B-Instruct", "sambanova", "Meta-Llama-3.3-70B-Instruct"),
        ("meta-llama/Llama-3.3-70B-Instruct", "novita", "meta-llama/llama-3.3-70b-instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "cerebras", "llama3.1-8b"),
        ("meta-llama/Llama-3.1-8B-Instruct", "nebius", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "ovhcloud", "Llama-3.1-8B-Instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "scaleway", "llama-3.1-8b-instruct"),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "groq", "meta-llama/llama-4-scout-17b-16e-instruct"),
        ("deepseek-ai/DeepSeek-R1", "fireworks-ai", "accounts/fireworks/models/deepseek-r1"),
        ("CohereLabs/c4ai-command-r7b-12-2024", "cohere", "command-r7b-12-2024"),
        ("zai-org/GLM-4.5", "zai-org", "glm-4.5"),
        ("openai/gpt-oss-120b", "scaleway", "gpt-oss-120b"),
        ("moonshotai/Kimi-K2-Instruct", "fireworks-ai", "accounts/fireworks/models/kimi-k2-instruct"),
        ("swiss-ai/Apertus-8B-Instruct-2509", "publicai", "swiss-ai/apertus-8b-instruct"),
        ("mistralai/Mistral-7B-Instruct-v0.2", "hf-inference", "mistralai/Mistral-7B-Instruct-v0.2"),
    ],
)
def test_known_real_mappings(builtin: Catalog, model: str, provider: str, provider_id: str) -> None:
    """Mappings confirmed by recorded traffic, huggingface.js tests or the Hub's provider docs."""
    entry = builtin.get(model)
    assert entry is not None, model
    mapping = entry.mapping(provider)
    assert mapping is not None, (model, provider)
    assert mapping.provider_id == provider_id


def test_popular_families_are_covered(builtin: Catalog) -> None:
    for model in (
        "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.2-3B-Instruct",
        "meta-llama/Llama-3.2-11B-Vision-Instruct", "meta-llama/Llama-3.2-90B-Vision-Instruct",
        "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct",
        "Qwen/Qwen2.5-Coder-32B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct", "Qwen/Qwen3-8B", "Qwen/Qwen3-14B",
        "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B", "Qwen/Qwen3-Coder-480B-A35B-Instruct",
        "Qwen/QwQ-32B", "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3-0324", "deepseek-ai/DeepSeek-V3.1",
        "deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1-0528", "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
        "openai/gpt-oss-20b", "openai/gpt-oss-120b", "mistralai/Mistral-7B-Instruct-v0.3",
        "mistralai/Mistral-Nemo-Instruct-2407", "mistralai/Mistral-Small-3.2-24B-Instruct-2506",
        "mistralai/Mixtral-8x7B-Instruct-v0.1", "google/gemma-2-27b-it", "google/gemma-3-27b-it",
        "zai-org/GLM-4.5", "zai-org/GLM-4.5-Air", "zai-org/GLM-4.6", "moonshotai/Kimi-K2-Instruct",
        "NousResearch/Hermes-3-Llama-3.1-70B", "microsoft/phi-4",
    ):
        assert builtin.get(model) is not None, model
    used = {m.provider for e in builtin for m in e.providers}
    # openai's API does not serve the open-weight gpt-oss models: no mapping names it
    assert used == PROVIDERS - {"openai"}


# --- parsing ---------------------------------------------------------------------------------------
def test_mapping_from_json_reads_camel_and_snake_case() -> None:
    camel = mapping_from_json("fal-ai", {
        "providerId": "fal-ai/flux-lora", "status": "staging", "task": "text-to-image",
        "adapter": "lora", "adapterWeightsPath": "w.safetensors", "contextLength": 4096,
    }, "conversational")
    assert (camel.provider_id, camel.status, camel.task) == ("fal-ai/flux-lora", "staging", "text-to-image")
    assert (camel.adapter, camel.adapter_weights_path, camel.context_length) == ("lora", "w.safetensors", 4096)
    snake = mapping_from_json("groq", {"provider_id": "x", "pricing": {"input": 1, "output": 2}}, "conversational")
    assert (snake.provider_id, snake.task, snake.status) == ("x", "conversational", "live")
    assert snake.pricing == Pricing(1, 2)
    assert snake.source == "builtin"


def test_entries_from_json_accepts_dict_and_list_provider_shapes() -> None:
    entries = entries_from_json({"models": [
        {"id": "a/dict", "providers": {"groq": {"providerId": "g"}, "novita": {"providerId": "n", "status": "error"}}},
        {"id": "b/list", "task": "text-generation", "providers": [{"provider": "together", "providerId": "t"}]},
    ]})
    assert [(e.id, e.task) for e in entries] == [("a/dict", "conversational"), ("b/list", "text-generation")]
    assert [(m.provider, m.usable) for m in entries[0].providers] == [("groq", True), ("novita", False)]
    assert entries[1].providers[0].task == "text-generation"


# --- merge rules ---------------------------------------------------------------------------------
def _entry() -> ModelEntry:
    return ModelEntry("org/m", "conversational", [ProviderMapping("groq", "g1"), ProviderMapping("together", "t1")])


def test_merged_replaces_same_provider_in_place_and_appends_new_ones() -> None:
    merged = _entry().merged([ProviderMapping("together", "t2"), ProviderMapping("novita", "n1")], first=False)
    got = [(m.provider, m.provider_id) for m in merged.providers]
    assert got == [("groq", "g1"), ("together", "t2"), ("novita", "n1")]


def test_merged_first_puts_newer_mappings_in_front() -> None:
    merged = _entry().merged([ProviderMapping("together", "t2"), ProviderMapping("novita", "n1")], first=True)
    got = [(m.provider, m.provider_id) for m in merged.providers]
    assert got == [("together", "t2"), ("novita", "n1"), ("groq", "g1")]


def test_catalog_lookups_are_case_insensitive_and_merge_adds_or_folds() -> None:
    catalog = Catalog([_entry()])
    assert catalog.get("ORG/M") is catalog.get("org/m")
    catalog.merge(ModelEntry("Org/M", "conversational", [ProviderMapping("novita", "n1")]))
    assert [m.provider for m in catalog.get("org/m").providers] == ["groq", "together", "novita"]  # type: ignore[union-attr]
    catalog.merge(ModelEntry("new/model", "conversational", [ProviderMapping("groq", "x")]))
    assert len(catalog) == 2


async def test_catalog_resolve_is_the_plain_lookup() -> None:
    catalog = Catalog([_entry()])
    assert await catalog.resolve("org/M") is catalog.get("org/m")
    assert await catalog.resolve("not/there") is None


def test_config_models_come_first_win_and_are_marked_as_config(builtin: Catalog) -> None:
    catalog = Catalog(list(builtin))
    catalog.add_config_models([
        ModelSettings(id="meta-llama/llama-3.3-70b-instruct", providers=[
            ModelProviderSettings(
                provider="groq", provider_id="my-groq-id", pricing=PricingSettings(input=0.5, output=0.6)
            ),
            ModelProviderSettings(provider="my-vllm"),
        ]),
        ModelSettings(id="me/private-model", providers=[ModelProviderSettings(provider="my-vllm")]),
    ])
    entry = catalog.get("meta-llama/Llama-3.3-70B-Instruct")
    assert entry is not None
    assert [m.provider for m in entry.providers[:2]] == ["groq", "my-vllm"]
    groq = entry.mapping("groq")
    assert groq is not None
    assert (groq.provider_id, groq.pricing, groq.source) == ("my-groq-id", Pricing(0.5, 0.6), "config")
    vllm = entry.mapping("my-vllm")
    assert vllm is not None and vllm.provider_id == "meta-llama/llama-3.3-70b-instruct"  # defaults to the model id
    together = entry.mapping("together")
    assert together is not None and together.source == "builtin"
    assert len([m for m in entry.providers if m.provider == "groq"]) == 1
    private = catalog.get("me/private-model")
    assert private is not None and private.providers[0].source == "config"
