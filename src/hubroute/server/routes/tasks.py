"""POST /models/{org}/{model} and POST /models/{org}/{model}/pipeline/{task}: Hugging Face's task
API, with the provider chosen server-side by the same policies and failover as chat.

The task is the one named by `/pipeline/{task}` or `?task=`, else the model's task in the catalog.
The provider may be pinned with a `:provider` suffix, `?provider=` or an `X-Inference-Provider`
header. A JSON body is validated against the task's `<Task>Input` (a 400 names the field); binary
inputs come in it as base64, a data: URI or a URL (fetched under the `inputs:` settings, never from
private addresses unless allowed), or alone as the raw body with their content type, as HF's
clients send them, or as multipart/form-data fields (`inputs` a file, `parameters` JSON text). A raw
body is spooled (`SpooledBody`), not held in memory more than once.

Answers: JSON tasks in their output shape; media (an image, audio, a video) as raw bytes with their
content type, relayed as they arrive from the provider or its result URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson

from hubroute import tasks
from hubroute.audio_length import audio_seconds
from hubroute.errors import InvalidRequest, ModelNotFound
from hubroute.inputs.spool import SpooledBody
from hubroute.providers.steps import Media, TaskCall
from hubroute.routing.jobs import MediaStream
from hubroute.server.asgi import Scope, parse_json_object, read_body_spooled, send_bytes
from hubroute.server.multipart import Form, read_form
from hubroute.task_names import AUTOMATIC_SPEECH_RECOGNITION, TEXT_TO_SPEECH
from hubroute.usage import task_usage

if TYPE_CHECKING:
    from hubroute.routing.router import TaskAnswer
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

PREFIX = "/models/"


def form_request(task: str, form: Form) -> dict[str, Any]:
    """A task request sent as a form (`curl -F inputs=@cat.png -F 'parameters={"top_k": 2}'`): the
    binary fields as files (or text: base64, a data: URI, a URL), `parameters` as JSON text, the
    other fields of structured inputs (a question) as text."""
    spec = tasks.spec(task)
    values: dict[str, Any] = {**form.fields, **{k: f.read() for k, f in form.files.items()}}
    raw: dict[str, Any] = {}
    if "parameters" in values:
        try:
            raw["parameters"] = orjson.loads(values.pop("parameters"))
        except orjson.JSONDecodeError:
            raise InvalidRequest("'parameters': is not valid JSON", param="parameters") from None
    if "inputs" in values or not any(path.startswith("inputs.") for path in spec.binary_fields):
        raw["inputs"] = values.pop("inputs", None)
    else:  # structured inputs, e.g. {image, question}: one form field each
        raw["inputs"] = values
        values = {}
    if values:
        raise InvalidRequest(f"unknown form field '{sorted(values)[0]}'", param=sorted(values)[0])
    return raw


def _is_json(content_type: str, body: SpooledBody) -> bool:
    if content_type:
        return content_type == "application/json" or content_type.endswith("+json")
    return body.head(1) == b"{"


async def run_task(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    path = ctx.path[len(PREFIX):]  # (decoded by the HTTP server)
    model, _, task = path.partition("/pipeline/")
    query = parse_qs(ctx.query.decode(errors="replace"))
    task = task or (query.get("task") or [""])[0]
    provider = (query.get("provider") or [""])[0] or ctx.headers.get(b"x-inference-provider", b"").decode()
    if model.count("/") > 1 or not model.strip("/"):
        raise InvalidRequest(f"'{model}' is not a model id (org/model)", param="model")
    name = f"{model}:{provider}" if provider and provider != "auto" else model

    header = ctx.headers.get(b"content-type", b"")
    content_type = header.partition(b";")[0].strip().lower().decode(errors="replace")
    if content_type == "multipart/form-data":
        form = await read_form(receive, header, max_file_bytes=app.fetcher.settings.max_bytes,
                               within=app.body_timeout)
        body: SpooledBody | Form = form
    else:
        body = await read_body_spooled(receive, app.max_body, app.body_timeout, content_type or None)
    try:
        if not task:
            entry = await app.catalog_source.resolve(model)
            if entry is None:
                raise ModelNotFound(f"The model '{model}' does not exist or is not served by any inference "
                                    "provider", param="model")
            task = entry.task
        task = tasks.spec(task).task
        if isinstance(body, Form):
            call = await tasks.load_call(task, form_request(task, body), app.fetcher)
        elif _is_json(content_type, body):
            call = await tasks.load_call(task, parse_json_object(body.read()), app.fetcher)
        else:
            call = tasks.binary_call(task, body, app.fetcher.settings.max_bytes)
        seconds = audio_seconds(call.binary) if task == AUTOMATIC_SPEECH_RECOGNITION else None
        # priced by what it sends: the text to speak, the audio to transcribe (measured while it is here)
        priced = {"input": call.inputs} if task == TEXT_TO_SPEECH and isinstance(call.inputs, str) else None
        plan = await app.plan(ctx, name, task, priced, seconds)
        answer = await tasks.run(app.router, plan, call)
    finally:
        body.close()  # sent (and re-sent on failover) by now: its temporary file goes
    await send_answer(ctx, send, call, answer, seconds)


def metered(ctx: RequestRecord, call: TaskCall, answer: TaskAnswer, output: Any = None, count: int = 1,
            seconds: float | None = None) -> None:
    """The record learns who served a task call and what it used (`output`: its JSON answer, if any;
    `seconds`: the length of the audio it sent, measured before it was sent)."""
    ctx.served(answer.target, answer.ttfb, answer.errors)
    ctx.used(task_usage(call.task, call.inputs, output, count=count, seconds=seconds), answer.target.pricing)


async def send_answer(ctx: RequestRecord, send: Any, call: TaskCall, answer: TaskAnswer,
                      seconds: float | None = None) -> None:
    """The task's output: media as raw bytes with its content type (relayed as it arrives), JSON as is."""
    outcome = answer.outcome
    metered(ctx, call, answer, None if isinstance(outcome, MediaStream) else outcome.value, seconds=seconds)
    if isinstance(outcome, MediaStream):
        await relay_media(ctx, send, outcome)
    elif isinstance(outcome.value, Media):
        media = outcome.value
        await send_bytes(send, ctx, 200, media.data, [(b"content-type", media.content_type.encode())])
    else:
        await send_bytes(send, ctx, 200, orjson.dumps(outcome.value))


async def relay_media(ctx: RequestRecord, send: Any, media: MediaStream) -> None:
    headers = [(b"content-type", media.content_type.encode())]
    if media.length is not None:
        headers.append((b"content-length", str(media.length).encode()))
    ctx.status = 200
    await send({"type": "http.response.start", "status": 200, "headers": ctx.response_headers(headers)})
    async for chunk in media.chunks():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


__all__ = ["metered", "relay_media", "run_task", "send_answer"]
