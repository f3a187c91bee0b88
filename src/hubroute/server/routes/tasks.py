"""POST /models/{org}/{model} and POST /models/{org}/{model}/pipeline/{task}: Hugging Face's task
API, with the provider chosen server-side by the same policies and failover as chat.

The task is the one named by `/pipeline/{task}` or `?task=`, else the model's task in the catalog.
The provider may be pinned with a `:provider` suffix, `?provider=` or an `X-Inference-Provider`
header. The body is validated against the task's `<Task>Input` (a 400 names the field) and the
provider's answer against its `<Task>Output` before it is relayed.

Binary inputs (image, audio) come as the raw body with their content type, as HF's clients send
them alone, or in JSON `inputs` as base64, a data: URI or a URL (fetched under `inputs:` settings,
never from private addresses unless allowed). So far the tasks that answer in JSON.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import orjson

from hubroute.errors import InvalidRequest, ModelNotFound, NotSupported
from hubroute.inputs import load_binary, sniff
from hubroute.inputs.decode import check_size
from hubroute.providers import HttpRequest, Target
from hubroute.server.asgi import Ctx, Scope, parse_json_object, read_body, send_bytes
from hubroute.server.routes.common import record

if TYPE_CHECKING:
    from hubroute.server.app import App

PREFIX = "/models/"


async def run_task(app: App, ctx: Ctx, scope: Scope, receive: Any, send: Any) -> None:
    import msgspec

    from hubroute import types  # the task types are loaded on first use, not at start-up

    path = unquote(ctx.path[len(PREFIX):])
    model, _, task = path.partition("/pipeline/")
    query = parse_qs(ctx.query.decode(errors="replace"))
    task = task or (query.get("task") or [""])[0]
    provider = (query.get("provider") or [""])[0] or ctx.headers.get(b"x-inference-provider", b"").decode()
    if model.count("/") > 1 or not model.strip("/"):
        raise InvalidRequest(f"'{model}' is not a model id (org/model)", param="model")
    name = f"{model}:{provider}" if provider and provider != "auto" else model

    body = await read_body(receive, app.max_body, app.body_timeout)
    content_type = ctx.headers.get(b"content-type", b"").partition(b";")[0].strip().lower().decode(errors="replace")
    if not task:
        entry = await app.catalog_source.resolve(model)
        if entry is None:
            raise ModelNotFound(f"The model '{model}' does not exist or is not served by any inference provider",
                                param="model")
        task = entry.task
    spec = types.get_spec(task)
    task = spec.task
    if spec.binary_output or (spec.binary_input and spec.binary_fields != ("inputs",)):
        raise NotSupported(f"Task '{task}' is not served through the router yet (tasks answering with media, "
                           "and images inside structured inputs, are being added)", param="task")
    payload_type = "application/json"
    is_json = content_type == "application/json" or (not content_type and body.lstrip()[:1] == b"{")
    if spec.binary_input and not is_json:
        # HF's clients send an image or audio alone as the raw body (huggingface_hub without a type)
        check_size(body, "inputs", app.fetcher.settings.max_bytes)
        payload, payload_type = body, content_type or sniff(body) or "application/octet-stream"
    else:
        raw = parse_json_object(body)
        parsed = types.parse_input(task, raw)
        if spec.binary_input:
            binary = await load_binary(raw["inputs"], field="inputs", fetcher=app.fetcher)
            parameters = raw.get("parameters")
            if parameters:  # base64 in JSON beside the parameters, as HF's API takes them
                payload = orjson.dumps({"inputs": base64.b64encode(binary.data).decode(), "parameters": parameters})
            else:
                payload, payload_type = binary.data, binary.content_type or "application/octet-stream"
        else:
            payload = msgspec.json.encode(parsed)

    plan = await app.router.plan(name, task)
    ctx.model = plan.model

    def build(t: Target) -> HttpRequest:
        return t.provider.build_task(task, payload, t, payload_type)

    def check(t: Target, data: Any) -> Any:
        answer = t.provider.task_answer(task, data)
        types.parse_output(task, answer, provider=t.name)
        return answer

    answer = await app.router.send(plan, build, check)
    record(app, ctx, answer)
    # the checked answer, in the task's shape whatever the provider's wire format was
    await send_bytes(send, ctx, 200, orjson.dumps(answer.data))
