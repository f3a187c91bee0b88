"""POST /models/{org}/{model} and POST /models/{org}/{model}/pipeline/{task}: Hugging Face's task
API, with the provider chosen server-side by the same policies and failover as chat.

The task is the one named by `/pipeline/{task}` or `?task=`, else the model's task in the catalog.
The provider may be pinned with a `:provider` suffix, `?provider=` or an `X-Inference-Provider`
header. The body is validated against the task's `<Task>Input` (a 400 names the field) and the
provider's answer against its `<Task>Output` before it is relayed.

So far: the JSON-in, JSON-out tasks. Binary inputs and outputs are the rest of the tasks issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import orjson

from hubroute.errors import InvalidRequest, ModelNotFound, NotSupported
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

    raw = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    if not task:
        entry = await app.catalog_source.resolve(model)
        if entry is None:
            raise ModelNotFound(f"The model '{model}' does not exist or is not served by any inference provider",
                                param="model")
        task = entry.task
    spec = types.get_spec(task)
    task = spec.task
    if spec.binary_input or spec.binary_output:
        raise NotSupported(f"Task '{task}' is not served through the router yet (binary inputs and outputs "
                           "are being added)", param="task")
    payload = msgspec.json.encode(types.parse_input(task, raw))

    plan = await app.router.plan(name, task)
    ctx.model = plan.model

    def build(t: Target) -> HttpRequest:
        return t.provider.build_task(task, payload, t)

    def check(t: Target, data: Any) -> Any:
        answer = t.provider.task_answer(task, data)
        types.parse_output(task, answer, provider=t.name)
        return answer

    answer = await app.router.send(plan, build, check)
    record(app, ctx, answer)
    # the checked answer, in the task's shape whatever the provider's wire format was
    await send_bytes(send, ctx, 200, orjson.dumps(answer.data))
