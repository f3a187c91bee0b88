"""hubroute.task_names is the one place task names are spelled: the registries, the providers' routes
and the catalog's data use its names, and every spelling comes back to one name."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from hubroute import catalog, providers, task_names, tasks
from hubroute.errors import NotSupported
from hubroute.inputs import Fetcher
from hubroute.providers import REGISTRY
from hubroute.types import TASKS


def test_every_spelling_has_one_name() -> None:
    assert task_names.canonical("chat-completion") == task_names.canonical("conversational") == "conversational"
    assert task_names.canonical("text-to-image") == "text-to-image"
    assert task_names.canonical("text-to-3d") == "text-to-3d"  # not ours to judge: get_spec refuses it
    assert set(task_names.ALIASES.values()) <= task_names.TASKS
    assert not set(task_names.ALIASES) & task_names.TASKS


def test_providers_name_the_openai_routes_tasks_from_task_names() -> None:
    assert (providers.CHAT, providers.TEXT_GENERATION, providers.EMBEDDINGS) == (
        task_names.CONVERSATIONAL, task_names.TEXT_GENERATION, task_names.FEATURE_EXTRACTION)
    assert TASKS.keys() == task_names.TASKS


@pytest.mark.parametrize("provider", sorted(REGISTRY))
def test_provider_routes_are_known_tasks(provider: str) -> None:
    assert set(REGISTRY[provider].routes) <= task_names.TASKS


def test_catalog_data_names_known_tasks() -> None:
    for name in ("catalog.json", "tasks.json"):
        data = json.loads(resources.files("hubroute.data").joinpath(name).read_text("utf-8"))
        assert {m.get("task", task_names.CONVERSATIONAL) for m in data["models"]} <= task_names.TASKS, name
    assert catalog.ProviderMapping("p", "id").task == task_names.CONVERSATIONAL


@pytest.mark.parametrize("task", ["conversational", "chat-completion"])
async def test_chat_has_no_task_api_form(task: str) -> None:
    # an OpenAI chat body sent to a task route would reach the provider without its model: refused
    with pytest.raises(NotSupported) as err:
        await tasks.load_call(task, {"messages": [{"role": "user", "content": "hi"}]}, Fetcher())
    assert "/v1/chat/completions" in err.value.message and err.value.param == "task"
