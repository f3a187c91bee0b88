"""GET /v1/models and GET /v1/models/{id}, in the JSON shape of Hugging Face's router:

    {"object": "list", "data": [{"id", "object": "model", "created", "owned_by",
      "architecture": {"input_modalities", "output_modalities"},
      "providers": [{"provider", "status", "context_length", "pricing": {"input", "output"},
                     "supports_tools", "supports_structured_output"}]}]}

The list is what chat can serve: the catalog's models (built-in, config, live Hub look-ups), the
ids the config's OpenAI-compatible servers list at their `GET /v1/models` (`routing.discovery`),
and the config's aliases and LiteLLM `model_list` names, each with its target's providers. Only
providers this deployment can reach are listed; models with none are left out of the list (but
`GET /v1/models/{id}` still answers for them, with an empty `providers`). The list holds the chat
models unless `?task=` names another task (`?task=text-to-image`), as HF's router does.
`GET /v1/models/{id}` answers for every name chat takes: a model, `model:provider`, an alias.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from hubroute.catalog import ModelEntry
from hubroute.errors import InvalidRequest, ModelNotFound
from hubroute.routing.upstreams import Deployment
from hubroute.server.asgi import Scope, send_json
from hubroute.task_names import CONVERSATIONAL, TEXT_GENERATION

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

#: the tasks listed when no `?task=` is given: what OpenAI's clients expect from /v1/models
CHAT_TASKS = (CONVERSATIONAL, TEXT_GENERATION)


def modalities(task: str) -> tuple[list[str], list[str]]:
    """Input and output modalities of a task, from its spec (binary kinds), text otherwise."""
    if task in CHAT_TASKS:
        return ["text"], ["text"]
    from hubroute import types

    spec = types.TASKS.get(task)
    if spec is None:
        return ["text"], ["text"]
    inputs: list[str] = [spec.binary_input] if spec.binary_input else ["text"]
    if spec.binary_input and len(spec.binary_fields) == 1 and spec.binary_fields != ("inputs",):
        inputs.append("text")  # an image and a question
    return inputs, [spec.binary_output] if spec.binary_output else ["text"]


def model_card(app: App, entry: ModelEntry, *, only: str | None = None) -> dict[str, Any]:
    """The entry in HF's router's shape, with the providers this deployment can reach (`only` one)."""
    providers = []
    for m in entry.providers:
        if (only is not None and m.provider != only) or app.upstreams.endpoint(m.provider) is None or not m.usable:
            continue
        p: dict[str, Any] = {"provider": m.provider, "status": m.status}
        if m.context_length is not None:
            p["context_length"] = m.context_length
        if m.pricing is not None and m.pricing.to_json():
            p["pricing"] = m.pricing.to_json()
        if m.supports_tools is not None:
            p["supports_tools"] = m.supports_tools
        if m.supports_structured_output is not None:
            p["supports_structured_output"] = m.supports_structured_output
        providers.append(p)
    return _card(entry.id, entry.task, providers, created=entry.created or 0,
                 owned_by=entry.owned_by or entry.id.split("/")[0])


def _card(model_id: str, task: str, providers: list[dict[str, Any]], *, created: int = 0,
          owned_by: str = "hubroute") -> dict[str, Any]:
    inputs, outputs = modalities(task)
    lowered = model_id.lower()
    if task == CONVERSATIONAL and ("vision" in lowered or "-vl" in lowered):
        inputs = ["text", "image"]
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": owned_by,
        "task": task,
        "architecture": {"input_modalities": inputs, "output_modalities": outputs},
        "providers": providers,
    }


async def _entry(app: App, model_id: str) -> ModelEntry | None:
    """The catalog's entry (live look-ups included) with the custom servers that list the id."""
    entry = await app.catalog_source.resolve(model_id)
    discovery = app.upstreams.discovery
    return discovery.entry(model_id, entry) if discovery is not None else entry


async def _served(app: App, deployments: Sequence[Deployment]) -> tuple[ModelEntry | None, str | None,
                                                                          list[dict[str, Any]]]:
    """What a name's deployments reach: the first one's catalog entry (None if none has one), its
    task, and the reachable providers of them all, each once, in order."""
    ups = app.upstreams
    first: ModelEntry | None = None
    task: str | None = None
    providers: dict[str, dict[str, Any]] = {}
    for dep in deployments:
        pinned = dep.provider
        fixed = pinned is not None and dep.provider_model is not None
        if pinned is not None and (fixed or (ups.is_custom(pinned) and not ups.maps(pinned, dep.model))):
            # a fixed server (LiteLLM), or any id pinned to a custom server: it goes there as given
            if ups.provider(pinned) is not None and (dep.endpoint or ups.endpoint(pinned)) is not None:
                providers.setdefault(pinned, {"provider": pinned, "status": "live"})
                task = task or CONVERSATIONAL
            continue
        entry = await _entry(app, dep.model)
        if entry is None:
            continue
        first = first or entry
        task = task or entry.task
        for p in model_card(app, entry, only=pinned)["providers"]:
            providers.setdefault(p["provider"], p)
    return first, task, list(providers.values())


def _wanted(task: str | None, card_task: str) -> bool:
    return card_task == task if task else card_task in CHAT_TASKS


async def _alias_card(app: App, name: str, deployments: Sequence[Deployment]) -> dict[str, Any]:
    entry, task, providers = await _served(app, deployments)
    return _card(name, task or (entry.task if entry else CONVERSATIONAL), providers)


async def list_models(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = parse_qs(ctx.query.decode(errors="replace"))
    task = query.get("task", [""])[0] or None
    ups = app.upstreams
    await ups.ready()
    discovery = ups.discovery
    data = []
    seen: set[str] = set()
    for entry in app.catalog:
        seen.add(entry.id.lower())
        if discovery is not None:
            entry = discovery.entry(entry.id, entry) or entry
        if _wanted(task, entry.task):
            card = model_card(app, entry)
            if card["providers"]:
                data.append(card)
    if discovery is not None:  # ids only a custom server lists
        for entry in discovery.entries(skip=seen):
            if _wanted(task, entry.task):
                card = model_card(app, entry)
                if card["providers"]:
                    data.append(card)
    cards = await asyncio.gather(*(_alias_card(app, name, deps) for name, deps in ups.aliases.items()))
    data.extend(card for card in cards if card["providers"] and _wanted(task, card["task"]))
    await send_json(send, ctx, 200, {"object": "list", "data": data})


async def get_model(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    prefix = "/v1/models/" if ctx.path.startswith("/v1/") else "/models/"
    model_id = ctx.path[len(prefix):]  # (decoded by the HTTP server)
    ups = app.upstreams
    await ups.ready()
    aliased = ups.aliases.get(model_id)
    if aliased is not None:
        await send_json(send, ctx, 200, await _alias_card(app, model_id, aliased))
        return
    try:
        deployments = ups.deployments(model_id)
    except InvalidRequest:  # an unknown `:suffix`
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model") from None
    entry, task, providers = await _served(app, deployments)
    if entry is None and not providers:
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
    if entry is None:  # an id pinned to a custom server
        card = _card(deployments[0].model, task or CONVERSATIONAL, providers, owned_by=deployments[0].provider or "")
    else:
        card = _card(entry.id, entry.task, providers, created=entry.created or 0,
                     owned_by=entry.owned_by or entry.id.split("/")[0])
    await send_json(send, ctx, 200, card)


