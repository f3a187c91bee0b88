"""OpenAI's API routes over the router: chat completions, completions, embeddings. Shared by the
server's routes and the client's direct mode, so both build, check, stream and meter alike.

    API[route]                          the route's task and how an adapter builds and checks it
    send(router, plan, api, body)       a whole answer, with failover; `usage` always set
    stream(router, plan, api, body)     a committed `StreamSession`

Streams always ask the provider for its usage chunk (`stream_options.include_usage`: metering needs
it); the session leaves it out of what the caller gets unless the caller asked for it. When a
provider reports no usage, hubroute counts it (`hubroute.usage`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubroute.providers import CHAT, EMBEDDINGS, TEXT_GENERATION, HttpRequest, Target
from hubroute.usage import Usage, counted, estimate_tokens

if TYPE_CHECKING:
    from hubroute.routing.router import Answer, Plan, Router
    from hubroute.routing.session import StreamSession

Finish = Callable[[HttpRequest, Target], HttpRequest]


@dataclass(slots=True, frozen=True)
class Api:
    """An OpenAI route's task, and for one request body how an adapter builds its request
    (`builder(body)`) and checks the provider's answer (`checker(body)`)."""

    task: str
    builder: Callable[[dict[str, Any]], Callable[[Target], HttpRequest]]
    checker: Callable[[dict[str, Any]], Callable[[Target, Any], Any]]


def _check_chat(t: Target, data: Any) -> Any:
    return t.provider.check_chat(data)


def _check_completion(t: Target, data: Any) -> Any:
    return t.provider.check_completion(data)


CHAT_API = Api(CHAT, lambda body: lambda t: t.provider.build_chat(body, t), lambda body: _check_chat)
COMPLETIONS_API = Api(TEXT_GENERATION, lambda body: lambda t: t.provider.build_completion(body, t),
                      lambda body: _check_completion)
EMBEDDINGS_API = Api(
    EMBEDDINGS,
    lambda body: lambda t: t.provider.build_embeddings(body, t),
    lambda body: lambda t, data: t.provider.check_embeddings(
        data, inputs=body["input"], model=t.model, encoding=body.get("encoding_format", "float")),
)

#: OpenAI route (after /v1/) -> its API
API: dict[str, Api] = {"chat/completions": CHAT_API, "completions": COMPLETIONS_API, "embeddings": EMBEDDINGS_API}


async def send(router: Router, plan: Plan, api: Api, body: dict[str, Any], finish: Finish | None = None) -> Answer:
    """A whole answer with failover; its `usage` is the provider's, else counted by hubroute."""
    answer = await router.send(plan, _build(api, body, finish), api.checker(body))
    if answer.usage is None:
        answer.usage = counted(body, _answer_tokens(answer.data))
    return answer


async def stream(router: Router, plan: Plan, api: Api, body: dict[str, Any], finish: Finish | None = None,
                 ) -> StreamSession:
    """A stream committed on the first provider whose first event arrived intact."""
    opts = body.get("stream_options")
    wanted = isinstance(opts, dict) and bool(opts.get("include_usage"))
    if not wanted:
        body = {**body, "stream_options": {**(opts or {}), "include_usage": True}}

    def count(chunks: int) -> Usage:
        return counted(body, chunks)

    build = api.builder(body) if finish is None else _build(api, body, finish)
    return await router.stream(plan, build, wants_usage=wanted, count=count)


def _build(api: Api, body: dict[str, Any], finish: Finish | None) -> Callable[[Target], HttpRequest]:
    build = api.builder(body)
    if finish is None:
        return build
    return lambda t: finish(build(t), t)


def _answer_tokens(data: Any) -> int | None:
    """Output tokens of a chat or completions answer, counted from its text (None for embeddings)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list):
        return None
    total = 0
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        text = message.get("content") if isinstance(message, dict) else choice.get("text")
        if isinstance(text, str):
            total += estimate_tokens(text)
    return total
