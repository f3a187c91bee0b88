"""Direct mode: no router in between. The client builds the router's own engine in-process
(`hubroute.engine`: the same catalog, upstreams, policies, circuit breakers, failover and provider
adapters as `hubroute serve`) from a config file, the environment and the client's arguments, and
calls the providers itself.

    settings_for(provider, token, config, environ)   the Settings a client runs with
    Direct(settings, environ, headers)                the Backend over that engine
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

import orjson

from hubroute.catalog import ModelEntry, ProviderMapping
from hubroute.client._backend import Answer, Chunks, model_name, plain
from hubroute.config import POLICIES, ProviderSettings, Settings
from hubroute.engine import build_engine
from hubroute.errors import InvalidRequest, ProviderResponseError
from hubroute.inputs import Fetcher
from hubroute.providers import HttpRequest, Target
from hubroute.routing import openai
from hubroute.routing.session import StreamSession


def settings_for(provider: str | None, token: str | None, config: str | Path | Settings | None,
                 environ: Mapping[str, str]) -> Settings:
    """The config file (`config`, else $HUBROUTE_CONFIG) or the environment alone, with the client's
    key applied: an `hf_` token (or any key with no provider named) is the Hugging Face token; a
    key given with a provider is that provider's own key."""
    if isinstance(config, Settings):
        settings = config
    else:
        path = config or environ.get("HUBROUTE_CONFIG")
        settings = Settings.load(path, environ) if path else Settings.from_env(environ)
    if not token and not settings.huggingface.token:
        settings.huggingface.token = stored_token(environ)
    if token:
        pinned = provider is not None and provider != "auto" and provider not in POLICIES
        if pinned and not token.startswith("hf_"):
            assert provider is not None
            current = settings.providers.get(provider) or ProviderSettings()
            settings.providers[provider] = ProviderSettings(api_key=token, base_url=current.base_url,
                                                            type=current.type, enabled=current.enabled)
        else:
            settings.huggingface.token = token
    return settings


def stored_token(environ: Mapping[str, str]) -> str | None:
    """The token `huggingface-cli login` / `hf auth login` saved, where huggingface_hub looks for it:
    $HF_TOKEN_PATH, else $HF_HOME/token (default ~/.cache/huggingface/token), unless
    $HF_HUB_DISABLE_IMPLICIT_TOKEN is set."""
    if environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN", "").lower() in ("1", "true", "yes", "on"):
        return None
    path = environ.get("HF_TOKEN_PATH")
    if not path:
        cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = os.path.join(environ.get("HF_HOME") or os.path.join(cache, "huggingface"), "token")
    try:
        token = Path(os.path.expanduser(path)).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token or None


class Direct:
    def __init__(self, settings: Settings, *, environ: Mapping[str, str] = os.environ,
                 headers: Mapping[str, str] | None = None, bill_to: str | None = None,
                 user_agent: str = "hubroute-client") -> None:
        self.engine = build_engine(settings, environ=environ, user_agent=user_agent)
        self.router = self.engine.router
        self.transport = self.engine.transport
        #: binary inputs arrive here as bytes (the client reads files and URLs itself); the fetcher
        #: only bounds their size
        self.fetcher = Fetcher(settings.inputs)
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        #: sent only through Hugging Face's router (it bills an organisation there)
        self.bill_to = bill_to

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self.fetcher.aclose()

    def _finish(self, req: HttpRequest, target: Target) -> HttpRequest:
        """The caller's extra headers on a request an adapter built."""
        if self.headers:
            req.headers.update(self.headers)
        if self.bill_to and target.endpoint.via_hf:
            req.headers["x-hf-bill-to"] = self.bill_to
        return req

    def serve_recommended(self, model: str, task: str) -> None:
        """The Hub's recommended model for a task goes to HF Inference, as huggingface_hub sends it
        (no provider mapping asked for): mapped there when the catalog does not map it already."""
        entry = self.engine.catalog.get(model)
        if entry is None or entry.mapping("hf-inference") is None:
            mapping = ProviderMapping("hf-inference", model, task, source="recommended")
            self.engine.catalog.merge(ModelEntry(model, task, [mapping]))

    # --- OpenAI routes ---------------------------------------------------------------------------
    async def openai(self, route: str, body: dict[str, Any], provider: str | None) -> Answer:
        api = _api(route)
        plan = await self.router.plan(model_name(body["model"], provider), api.task)
        answer = await openai.send(self.router, plan, api, body, self._finish)
        return Answer(answer.target.name, answer.data)

    async def openai_stream(self, route: str, body: dict[str, Any], provider: str | None) -> Chunks:
        api = _api(route)
        body = {**body, "stream": True}
        plan = await self.router.plan(model_name(body["model"], provider), api.task)
        session = await openai.stream(self.router, plan, api, body, self._finish)
        events = _chunks(session)
        return Chunks(session.target.name, events, events.aclose)

    # --- HF tasks ----------------------------------------------------------------------------------
    async def task(self, task: str, model: str, payload: dict[str, Any], provider: str | None) -> Answer:
        """The server's task path (`hubroute.tasks`): validate, plan, run the provider exchange with
        failover, check the outcome; the client's headers go on every request of the exchange."""
        from hubroute import tasks
        from hubroute.providers.steps import Media, Next
        from hubroute.routing.jobs import read_outcome

        call = await tasks.load_call(task, plain(payload), self.fetcher)
        plan = await self.router.plan(model_name(model, provider), call.task)

        def start(t: Target) -> Next:
            step = t.provider.start_task(call, t)
            self._finish(step.request, t)
            return step

        answer = await self.router.run_task(plan, start, tasks.check_outcome(call.task))
        value = await read_outcome(answer.outcome)
        if isinstance(value, Media):
            return Answer(answer.target.name, media=value.data, content_type=value.content_type)
        return Answer(answer.target.name, value)


async def _chunks(session: StreamSession) -> AsyncGenerator[list[Any], None]:
    """The decoded chunks of a committed stream, a batch per network read; an error event raises it.
    Stopping early (closing this generator) ends the session as abandoned; an event that is not JSON
    (the session relays events it need not read as they came) ends it as the provider's failure."""
    async with session:
        async for out in session:
            if out:
                try:
                    chunks = [orjson.loads(frame[6:]) for frame in out.split(b"\n\n") if frame]
                except orjson.JSONDecodeError:
                    name = session.target.name
                    raise ProviderResponseError(
                        f"{name} sent a stream event that is not valid JSON", provider=name, status_code=200,
                        body=out[:300].decode(errors="replace")) from None
                yield chunks


def _api(route: str) -> openai.Api:
    try:
        return openai.API[route]
    except KeyError:
        raise InvalidRequest(f"No OpenAI route '{route}' in direct mode") from None
