"""Routed mode: the client talks HTTP to a hubroute router, which picks the provider.

    chat, completions, embeddings   POST {base}/v1/{route}, `model` carrying `:provider` when pinned
    any other task                  POST {base}/models/{org}/{model}/pipeline/{task} with HF's payload,
                                    `X-Inference-Provider` when pinned

The answer is JSON, or for media tasks the raw bytes with their content type; `x-inference-provider`
names who served it. Error answers become hubroute's error classes (`_errors.from_answer`). The
requests go through hubroute's own transport (`transport.py`: pooled keep-alive connections),
created lazily on the event loop that uses them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import quote

import orjson

from hubroute.client._backend import Answer, Chunks, hf_body, model_name, wants_usage, without_usage
from hubroute.client._errors import from_answer
from hubroute.errors import ProviderResponseError
from hubroute.providers import HttpRequest
from hubroute.transport import Timeouts, Transport, UpstreamResponse

#: the name errors of the connection to the router itself carry
ROUTER = "hubroute"
MAX_ANSWER = 512 * 1024 * 1024
#: "no timeout" (huggingface_hub waits indefinitely by default): one year
FOREVER = 365 * 24 * 3600.0


def router_root(url: str) -> str:
    """The router's root from a base URL given with or without OpenAI's `/v1`."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class Routed:
    def __init__(self, base_url: str, *, token: str | None, headers: dict[str, str],
                 timeout: float | None, user_agent: str) -> None:
        self.base = router_root(base_url)
        self.headers = {"content-type": "application/json", **{k.lower(): v for k, v in headers.items()}}
        if token:
            self.headers.setdefault("authorization", f"Bearer {token}")
        limit = timeout if timeout is not None else FOREVER
        self.timeouts = Timeouts(connect=limit, first_byte=limit, idle=limit)
        self.transport = Transport(connect_timeout=min(limit, 60.0), idle_timeout=limit, user_agent=user_agent)

    async def aclose(self) -> None:
        await self.transport.close()

    async def healthy(self) -> bool:
        reply = await self.transport.fetch(HttpRequest("GET", f"{self.base}/health", self.headers), ROUTER,
                                           self.timeouts, 65536)
        return reply.status == 200

    # --- OpenAI routes ---------------------------------------------------------------------------
    async def openai(self, route: str, body: dict[str, Any], provider: str | None) -> Answer:
        body = {**body, "model": model_name(body["model"], provider)}
        req = HttpRequest("POST", f"{self.base}/v1/{route}", self.headers, orjson.dumps(body))
        return await self._send(req, body["model"])

    async def openai_stream(self, route: str, body: dict[str, Any], provider: str | None) -> Chunks:
        model = model_name(body["model"], provider)
        body = {**body, "model": model, "stream": True}
        req = HttpRequest("POST", f"{self.base}/v1/{route}", self.headers, orjson.dumps(body), stream=True)
        resp = await self.transport.open(req, ROUTER, self.timeouts)
        if resp.status >= 400:
            raise from_answer(resp.status, await resp.read(65536), resp.headers.get("x-inference-provider"), model)
        if resp.content_type != "text/event-stream":
            body_text = (await resp.read(65536)).decode(errors="replace")
            raise ProviderResponseError(f"{self.base} answered a stream request with '{resp.content_type}'",
                                        provider=ROUTER, status_code=resp.status, body=body_text[:300])
        events = _events(resp, model, wants_usage(body))
        return Chunks(resp.headers.get("x-inference-provider"), events, events.aclose)

    # --- HF tasks ----------------------------------------------------------------------------------
    async def task(self, task: str, model: str, payload: dict[str, Any], provider: str | None) -> Answer:
        body, content_type = hf_body(payload)
        headers = {**self.headers, "content-type": content_type}
        if provider is not None and provider != "auto":
            headers["x-inference-provider"] = provider
        url = f"{self.base}/models/{quote(model, safe='/')}/pipeline/{task}"
        return await self._send(HttpRequest("POST", url, headers, body), model)

    async def endpoint_task(self, url: str, payload: dict[str, Any]) -> Answer:
        """HF's task payload POSTed to the URL itself: an Inference Endpoint (or a TGI or other HF
        inference server) serving one model, as huggingface_hub calls a URL given as the model."""
        body, content_type = hf_body(payload)
        return await self._send(HttpRequest("POST", url, {**self.headers, "content-type": content_type}, body), url)

    async def _send(self, req: HttpRequest, model: str) -> Answer:
        reply = await self.transport.fetch(req, ROUTER, self.timeouts, MAX_ANSWER)
        provider = reply.headers.get("x-inference-provider")
        if reply.status >= 400:
            raise from_answer(reply.status, reply.body, provider, model)
        if reply.content_type == "application/json" or reply.content_type.endswith("+json"):
            try:
                return Answer(provider, orjson.loads(reply.body))
            except orjson.JSONDecodeError:
                raise ProviderResponseError(f"{self.base} answered JSON that does not parse", provider=ROUTER,
                                            status_code=reply.status) from None
        return Answer(provider, media=reply.body, content_type=reply.content_type or "application/octet-stream")


async def _events(resp: UpstreamResponse, model: str, usage: bool) -> AsyncGenerator[list[Any], None]:
    """The decoded chunks of a router's event stream, a batch per network read; an error event raises
    its error (after the chunks before it)."""
    done = False
    try:
        async for batch in resp.event_batches():
            items: list[Any] = []
            for event in batch.events:
                if event.data == b"[DONE]":
                    done = True
                    if items:
                        yield items
                    return
                obj = orjson.loads(event.data)
                if isinstance(obj, dict) and isinstance(obj.get("error"), dict | str):
                    if items:
                        yield items
                    status = obj["error"].get("provider_status") if isinstance(obj["error"], dict) else None
                    raise from_answer(status if isinstance(status, int) else 502, event.data, None, model)
                if not usage:
                    obj = without_usage(obj)
                    if obj is None:
                        continue
                items.append(obj)
            if items:
                yield items
        done = True
    finally:
        await resp.finish(done)
