"""OpenAI's media routes, mapped onto the tasks with the same provider choice and failover:

    POST /v1/images/generations    -> text-to-image        {created, data: [{b64_json}]} (or a data: URL)
    POST /v1/audio/speech          -> text-to-speech       the audio, as it arrives
    POST /v1/audio/transcriptions  -> automatic-speech-recognition   multipart in; {text} or text out

`model` is a Hub id with the usual suffixes (`:provider`, `:cheapest`...). OpenAI options with no
equivalent in the task's spec (`voice`, `speed`, the audio format...) travel in `TaskCall.extra`
for the adapters whose provider takes them.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import TYPE_CHECKING, Any

import orjson

from hubroute import tasks
from hubroute.audio_length import audio_seconds
from hubroute.errors import HubrouteError, InvalidRequest
from hubroute.providers.steps import Media, TaskCall
from hubroute.routing.jobs import read_outcome
from hubroute.server.asgi import Scope, parse_json_object, read_body, send_bytes, send_json
from hubroute.server.multipart import read_form
from hubroute.server.routes.tasks import metered, send_answer
from hubroute.task_names import AUTOMATIC_SPEECH_RECOGNITION, TEXT_TO_IMAGE, TEXT_TO_SPEECH

if TYPE_CHECKING:
    from hubroute.routing.router import TaskAnswer
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

MAX_IMAGES = 10
_IMAGE_PARAMETERS = ("negative_prompt", "seed", "num_inference_steps", "guidance_scale")
_TRANSCRIPT_FORMATS = ("json", "text", "verbose_json")


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' is required and must be a non-empty string", param="model")
    return model.strip()


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"'{key}' is required and must be a non-empty string", param=key)
    return value


def image_parameters(body: dict[str, Any]) -> dict[str, Any]:
    """text-to-image parameters from OpenAI's body: `size` "WxH" -> width/height, and the diffusion
    knobs OpenAI lacks but image users send (negative_prompt, seed, steps, guidance)."""
    parameters: dict[str, Any] = {k: body[k] for k in _IMAGE_PARAMETERS if body.get(k) is not None}
    size = body.get("size")
    if size is not None and size != "auto":
        width, x, height = str(size).partition("x")
        # isdecimal, not isdigit: int() refuses digits such as '²' that isdigit takes
        if not (x and width.isdecimal() and height.isdecimal() and int(width) > 0 and int(height) > 0):
            raise InvalidRequest(f"'size' must be 'WIDTHxHEIGHT' (e.g. 1024x1024), not {str(size)[:40]!r}",
                                 param="size")
        parameters["width"], parameters["height"] = int(width), int(height)
    return parameters


async def images_generations(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    model, prompt = _model(body), _text(body, "prompt")
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
        raise InvalidRequest(f"'n' must be an integer from 1 to {MAX_IMAGES}", param="n")
    response_format = body.get("response_format") or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise InvalidRequest("'response_format' must be 'b64_json' or 'url'", param="response_format")
    raw = {"inputs": prompt, "parameters": image_parameters(body)}
    call = await tasks.load_call(TEXT_TO_IMAGE, raw, app.fetcher)
    plan = await app.plan(ctx, model, call.task, body)

    async def one() -> tuple[TaskAnswer, Any]:
        answer = await tasks.run(app.router, plan, call)
        return answer, await read_outcome(answer.outcome)  # read here: no answer is left open

    try:  # n images at once; the first failure cancels the others (their connections are closed)
        async with asyncio.TaskGroup() as group:
            jobs = [group.create_task(one()) for _ in range(n)]
    except* HubrouteError as failed:
        raise failed.exceptions[0] from None
    results = [job.result() for job in jobs]
    metered(ctx, call, results[0][0], count=n)
    data = []
    for _, image in results:
        assert isinstance(image, Media)  # check_outcome guarantees media for text-to-image
        encoded = base64.b64encode(image.data).decode()
        data.append({"b64_json": encoded} if response_format == "b64_json"
                    else {"url": f"data:{image.content_type};base64,{encoded}"})
    await send_json(send, ctx, 200, {"created": int(time.time()), "data": data})


async def audio_speech(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    model, text = _model(body), _text(body, "input")
    extra = {k: body[k] for k in ("voice", "speed", "response_format", "instructions") if body.get(k) is not None}
    call = TaskCall(TEXT_TO_SPEECH, text, {}, extra=extra)
    plan = await app.plan(ctx, model, call.task, {"input": text})
    await send_answer(ctx, send, call, await tasks.run(app.router, plan, call))


async def audio_transcriptions(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    form = await read_form(receive, ctx.headers.get(b"content-type", b""),
                           max_file_bytes=app.fetcher.settings.max_bytes, within=app.body_timeout)
    try:
        model = _model(form.fields)
        audio = form.files.get("file")
        if audio is None or audio.size == 0:
            raise InvalidRequest("'file' is required: the audio to transcribe, as a form file", param="file")
        response_format = form.fields.get("response_format") or "json"
        if response_format not in _TRANSCRIPT_FORMATS:
            raise InvalidRequest(f"'response_format' must be one of {', '.join(_TRANSCRIPT_FORMATS)}",
                                 param="response_format")
        extra = {k: form.fields[k] for k in ("language", "prompt", "temperature") if form.fields.get(k)}
        call = TaskCall(AUTOMATIC_SPEECH_RECOGNITION, audio, {}, extra=extra)
        seconds = audio_seconds(audio)  # measured while the upload is here: it is priced by its length
        plan = await app.plan(ctx, model, call.task, seconds=seconds)
        answer = await tasks.run(app.router, plan, call)
    finally:
        form.close()
    output = await read_outcome(answer.outcome)
    metered(ctx, call, answer, output, seconds=seconds)
    text = output.get("text", "") if isinstance(output, dict) else ""
    if response_format == "text":
        await send_bytes(send, ctx, 200, text.encode(), [(b"content-type", b"text/plain; charset=utf-8")])
        return
    result: dict[str, Any] = {"text": text}
    if response_format == "verbose_json":
        result["task"] = "transcribe"
        if extra.get("language"):
            result["language"] = extra["language"]
        chunks = output.get("chunks") if isinstance(output, dict) else None
        if isinstance(chunks, list):
            result["segments"] = [
                {"id": i, "start": (c.get("timestamp") or [None, None])[0],
                 "end": (c.get("timestamp") or [None, None])[-1], "text": c.get("text", "")}
                for i, c in enumerate(chunks) if isinstance(c, dict)
            ]
    await send_bytes(send, ctx, 200, orjson.dumps(result))
