"""GET /v1/models and GET /v1/models/{id}, in the JSON shape of Hugging Face's router:

    {"object": "list", "data": [{"id", "object": "model", "created", "owned_by",
      "architecture": {"input_modalities", "output_modalities"},
      "providers": [{"provider", "status", "context_length", "pricing": {"input", "output"},
                     "supports_tools", "supports_structured_output"}]}]}

Only providers this deployment can reach are listed; models with none are left out of the list
(but `GET /v1/models/{id}` still answers for them, with an empty `providers`). The list holds the
chat models unless `?task=` names another task (`?task=text-to-image`), as HF's router does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from hubroute.catalog import ModelEntry
from hubroute.errors import ModelNotFound
from hubroute.server.asgi import Ctx, Scope, send_json
from hubroute.task_names import CONVERSATIONAL, TEXT_GENERATION

if TYPE_CHECKING:
    from hubroute.server.app import App

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


def model_card(app: App, entry: ModelEntry) -> dict[str, Any]:
    providers = []
    for m in entry.providers:
        if app.upstreams.endpoint(m.provider) is None or not m.usable:
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
    inputs, outputs = modalities(entry.task)
    lowered = entry.id.lower()
    if entry.task == "conversational" and ("vision" in lowered or "-vl" in lowered):
        inputs = ["text", "image"]
    return {
        "id": entry.id,
        "object": "model",
        "created": entry.created or 0,
        "owned_by": entry.owned_by or entry.id.split("/")[0],
        "task": entry.task,
        "architecture": {"input_modalities": inputs, "output_modalities": outputs},
        "providers": providers,
    }


async def list_models(app: App, ctx: Ctx, scope: Scope, receive: Any, send: Any) -> None:
    query = parse_qs(ctx.query.decode(errors="replace"))
    task = query.get("task", [""])[0] or None
    data = []
    for entry in app.catalog:
        if (entry.task != task) if task else (entry.task not in CHAT_TASKS):
            continue
        card = model_card(app, entry)
        if card["providers"]:
            data.append(card)
    for alias in app.upstreams.aliases:
        data.append({"id": alias, "object": "model", "created": 0, "owned_by": "hubroute", "providers": []})
    await send_json(send, ctx, 200, {"object": "list", "data": data})


async def get_model(app: App, ctx: Ctx, scope: Scope, receive: Any, send: Any) -> None:
    prefix = "/v1/models/" if ctx.path.startswith("/v1/") else "/models/"
    model_id = unquote(ctx.path[len(prefix):])
    entry = await app.catalog_source.resolve(model_id)
    if entry is None:
        raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
    await send_json(send, ctx, 200, model_card(app, entry))
