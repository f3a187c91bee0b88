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
    task: str
    build: Callable[[Target, dict[str, Any]], HttpRequest]
    check: Callable[[Target, Any, dict[str, Any]], Any]


CHAT_API = Api(CHAT, lambda t, b: t.provider.build_chat(b, t), lambda t, d, b: t.provider.check_chat(d))
COMPLETIONS_API = Api(TEXT_GENERATION, lambda t, b: t.provider.build_completion(b, t),
                      lambda t, d, b: t.provider.check_completion(d))
EMBEDDINGS_API = Api(EMBEDDINGS, lambda t, b: t.provider.build_embeddings(b, t),
                     lambda t, d, b: t.provider.check_embeddings(d, inputs=b["input"], model=t.model,
                                                                 encoding=b.get("encoding_format", "float")))

#: OpenAI route (after /v1/) -> its API
API: dict[str, Api] = {"chat/completions": CHAT_API, "completions": COMPLETIONS_API, "embeddings": EMBEDDINGS_API}


def wants_usage(body: dict[str, Any]) -> bool:
    opts = body.get("stream_options")
    return isinstance(opts, dict) and bool(opts.get("include_usage"))


async def send(router: Router, plan: Plan, api: Api, body: dict[str, Any], finish: Finish | None = None) -> Answer:
    """A whole answer with failover; its `usage` is the provider's, else counted by hubroute."""
    build = api.build
    answer = await router.send(
        plan,
        (lambda t: build(t, body)) if finish is None else (lambda t: finish(build(t, body), t)),
        lambda t, d: api.check(t, d, body),
    )
    if answer.usage is None:
        answer.usage = counted(body, _answer_tokens(answer.data))
    return answer


async def stream(router: Router, plan: Plan, api: Api, body: dict[str, Any], finish: Finish | None = None,
                 ) -> StreamSession:
    """A stream committed on the first provider whose first event arrived intact."""
    wanted = wants_usage(body)
    if not wanted:
        body = {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}
    build = api.build

    def count(chunks: int) -> Usage:
        return counted(body, chunks)

    return await router.stream(
        plan,
        (lambda t: build(t, body)) if finish is None else (lambda t: finish(build(t, body), t)),
        wants_usage=wanted, count=count,
    )


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
