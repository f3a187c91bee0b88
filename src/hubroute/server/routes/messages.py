"""POST /v1/messages and POST /v1/messages/count_tokens: Anthropic's Messages API on every chat provider.

The request becomes a chat completion request (`hubroute.messages_api`), goes through the router as
chat does (plan, failover, metering, billing), and its answer or stream comes back in Anthropic's
shape; errors too, mid-stream included (`anthropic_error`). Keys come as `x-api-key` or
`Authorization: Bearer`; `anthropic-version`, `anthropic-beta` and `?beta=true` are accepted (and
change nothing). Model names are hubroute's: HF ids, `:provider`, policies, aliases.

`count_tokens` counts with the model's tokenizer when its `tokenizer.json` is in the Hugging Face Hub
cache and the `tokenizers` package is installed, else estimates (about four characters a token),
over the text the model would read plus fixed amounts per message and per image (`hubroute.tokens`);
`x-hubroute-token-count` says which (`tokenizer` or `estimate`). It never fails on a model it
cannot count for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hubroute import messages_api, replayed, tokens
from hubroute.errors import HubrouteError, NoProviderAvailable
from hubroute.routing import openai
from hubroute.routing.session import StreamSession
from hubroute.server.asgi import Scope, parse_json_object, read_body, send_bytes
from hubroute.server.routes.chat import Translated, relay_stream
from hubroute.server.routes.validate import validate_chat
from hubroute.usage import prompt_length, tokens_in

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord

#: HTTP status -> Anthropic's error type
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
          404: "not_found_error", 408: "timeout_error", 413: "request_too_large", 429: "rate_limit_error",
          503: "overloaded_error", 529: "overloaded_error"}


def anthropic_error(exc: HubrouteError) -> dict[str, Any]:
    """An error as Anthropic's API gives it (the route table's renderer for these routes). No provider
    available at all is Anthropic's `overloaded_error`."""
    return {"type": "error", "error": {"type": error_type(exc.status), "message": exc.message}}


def anthropic_status(exc: HubrouteError) -> int:
    """No provider could answer (all down, overloaded or their circuits open): Anthropic's 529."""
    return 529 if isinstance(exc, NoProviderAvailable) and exc.status == 503 else exc.status


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


async def messages(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    chat = messages_api.to_chat(body)
    validate_chat(chat)  # (the values passed on as they came: checked as chat checks them)
    model = body["model"]
    plan = await app.plan(ctx, model, openai.CHAT_API.task, chat)
    if chat.get("stream"):
        session = await openai.stream(app.router, plan, openai.CHAT_API, chat)
        signed = replayed.signature(session.target.name, session.target.provider_model)
        shape = _Events(model, tokens_in(prompt_length(chat)), signed, messages_api.thinks(body))
        await relay_stream(ctx, session, receive, send, shape)
        return
    answer = await openai.send(app.router, plan, openai.CHAT_API, chat)
    ctx.served(answer.target, answer.ttfb, answer.errors)
    ctx.used(answer.usage, answer.target.pricing)
    data = answer.data if isinstance(answer.data, dict) else orjson.loads(answer.body)
    signed = replayed.signature(answer.target.name, answer.target.provider_model)
    answered = messages_api.from_chat(data, model, answer.usage, signed, thinking=messages_api.thinks(body))
    await send_bytes(send, ctx, 200, orjson.dumps(answered))


async def count_tokens(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    chat = messages_api.to_chat({"max_tokens": 1, **body})
    counted = await tokens.count_chat(tokens.model_id(app.upstreams, chat["model"]), chat, app.upstreams.environ)
    await send_bytes(send, ctx, 200, orjson.dumps({"input_tokens": counted.tokens}),
                     [(b"x-hubroute-token-count", counted.source.encode())])


class _Events(Translated[messages_api.MessageStream]):
    """A chat stream as Anthropic's events; a `ping` while the provider sends nothing."""

    keepalive = messages_api.event("ping", {})

    headers = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
               (b"x-accel-buffering", b"no")]

    def __init__(self, model: str, input_tokens: int, signed: str, thinking: bool) -> None:
        self.stream = messages_api.MessageStream(model, input_tokens, signed, thinking=thinking)

    def begin(self) -> bytes:
        return self.stream.start()

    def end(self, session: StreamSession) -> bytes:
        return self.stream.finish(session.usage)

    def error(self, status: int, body: dict[str, Any], session: StreamSession) -> bytes:
        message = (body.get("error") or {}).get("message", "") if isinstance(body, dict) else ""
        return self.stream.error(error_type(status), str(message))
