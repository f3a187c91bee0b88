"""From a model name to an answer: plan the candidates, then try them in turn.

`plan()` resolves aliases and suffixes, reads the catalog (live Hub data included), keeps the
providers this deployment can reach for the task, and orders them by policy. `send()`, `stream()`
and `run_task()` (tasks run as an exchange of steps: see `routing.jobs`) try the candidates with
failover:

- a connection error, a connect or first-byte timeout, a 429, a 5xx, a 401/403/404 from the provider
  (our credentials or its catalog are wrong, another may be right), or a 2xx that is not valid for
  the API moves on to the next candidate;
- any other 4xx is the client's mistake and is returned at once, unchanged in substance;
- at most `routing.max_attempts` attempts within `routing.deadline` seconds; pairs whose circuit is
  open are skipped without spending an attempt;
- a stream is committed once its first event has arrived intact: after that nothing is retried.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson

from hubroute.catalog import ModelEntry, ProviderMapping
from hubroute.config import Settings
from hubroute.errors import (
    HubrouteError,
    ModelNotFound,
    NoProviderAvailable,
    NotSupported,
    ProviderError,
    ProviderResponseError,
)
from hubroute.providers import CHAT, TEXT_GENERATION, HttpRequest, Target
from hubroute.providers.steps import Next
from hubroute.routing import policy
from hubroute.routing.discovery import DISCOVERED
from hubroute.routing.health import Health
from hubroute.routing.jobs import MediaStream, Outcome, run_job
from hubroute.routing.session import Frames, StreamSession, stream_error
from hubroute.routing.upstreams import Deployment, Upstreams
from hubroute.transport import EventBatches, SSEBatch, Timeouts, Transport, UpstreamResponse
from hubroute.usage import Usage

T = TypeVar("T")


class CatalogSource(Protocol):
    async def resolve(self, model_id: str) -> ModelEntry | None: ...


class Observer(Protocol):
    """Told about every attempt; metrics and (later) usage metering hang off this seam."""

    def attempt_failed(self, target: Target, error: ProviderError) -> None: ...

    def circuit_opened(self, target: Target) -> None: ...


@dataclass(slots=True)
class Plan:
    requested: str
    model: str
    task: str
    targets: list[Target]
    skipped: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Answer:
    target: Target
    body: bytes
    data: Any
    ttfb: float
    errors: list[ProviderError]
    #: the provider's usage object, read (None when it sent none)
    usage: Usage | None = None


@dataclass(slots=True)
class TaskAnswer:
    target: Target
    #: the task's JSON output (`Done`), media in memory (`Done(Media)`) or media still arriving
    outcome: Outcome
    #: seconds until the outcome (for media, its first bytes) was there
    ttfb: float
    errors: list[ProviderError]


def task_matches(mapping: ProviderMapping, task: str, supports: Callable[[str], bool]) -> bool:
    if not supports(task):
        return False
    if mapping.task == task or mapping.source == DISCOVERED:  # a server's model list names no task
        return True
    # a chat model served by a provider with a completions route also answers /v1/completions
    return task == TEXT_GENERATION and mapping.task == CHAT


@dataclass(slots=True)
class _Usable:
    """What a deployment can do with one catalog entry for one task (`Router._usable_targets`)."""

    entry: ModelEntry
    targets: dict[ProviderMapping, Target]
    #: why the other providers are not used
    reasons: list[str]
    #: targets only a caller's own key reaches (this deployment has no credentials for them), and why
    wanting: dict[ProviderMapping, tuple[Target, str]]


class Router:
    def __init__(
        self,
        settings: Settings,
        catalog: CatalogSource,
        upstreams: Upstreams,
        transport: Transport,
        health: Health,
        observer: Observer,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.upstreams = upstreams
        self.transport = transport
        self.health = health
        self.observer = observer
        #: (deployment, task) -> (catalog entry, its usable targets, why others are not)
        self._usable: dict[tuple[Deployment, str], _Usable] = {}
        r = settings.routing
        self.timeouts = Timeouts(r.timeouts.connect, r.timeouts.first_byte, r.timeouts.idle)

    # --- planning -------------------------------------------------------------------------------
    async def plan(self, name: str, task: str, own: frozenset[str] = frozenset()) -> Plan:
        """The targets to try for `name` and `task`, in order. `own`: the providers its caller has keys
        of its own for (BYOK), reachable with them even where this deployment has no credentials."""
        discovery = self.upstreams.discovery
        if discovery is not None and not discovery.ready:  # the custom servers' lists, read at start
            await discovery.wait()
        deployments = self.upstreams.deployments(name)
        targets: list[Target] = []
        skipped: list[str] = []
        known_model = False
        for dep in deployments:
            found, got = await self._targets(dep, task, skipped, own)
            known_model = known_model or found
            targets.extend(got)
        unique = targets
        if len(targets) > 1:  # the same provider and id reached twice (two deployments, or catalogs) goes once
            seen: set[tuple[str, str]] = set()
            unique = []
            for t in targets:
                if (t.name, t.provider_model) not in seen:
                    seen.add((t.name, t.provider_model))
                    unique.append(t)
        model = deployments[0].model
        if not unique:
            if not known_model:
                custom = self.upstreams.custom
                hint = (f" (the OpenAI-compatible servers {', '.join(custom)} serve the ids their GET /v1/models "
                        f"lists, and any id pinned to them: '{model}:{custom[0]}')") if custom else ""
                raise ModelNotFound(
                    f"The model '{model}' does not exist or is not served by any inference provider{hint}",
                    param="model",
                )
            why = "; ".join(skipped) if skipped else "no provider maps it for this task"
            raise NotSupported(
                f"The requested model '{model}' is not supported by any provider you have enabled "
                f"for task '{task}' ({why})",
                param="model",
            )
        return Plan(name, model, task, unique, skipped)

    async def _targets(self, dep: Deployment, task: str, skipped: list[str],
                       own: frozenset[str]) -> tuple[bool, list[Target]]:
        ups = self.upstreams
        if dep.provider_model is not None and dep.provider is not None:
            provider = ups.provider(dep.provider)
            endpoint = dep.endpoint or ups.endpoint(dep.provider) or (
                ups.keyless(dep.provider) if dep.provider in own else None)
            if provider is None or endpoint is None:
                skipped.append(f"{dep.provider}: {ups.why_unreachable(dep.provider)}")
                return True, []
            return True, [Target(provider, dep.model, dep.provider_model, task, endpoint)]
        pinned = dep.provider
        if pinned is not None and ups.is_custom(pinned) and not ups.maps(pinned, dep.model):
            # pinned to an OpenAI-compatible server of the config: any id goes to it, as given
            return True, self._as_given(dep, task, skipped)

        entry = await self.catalog.resolve(dep.model)
        if ups.discovery is not None:  # the custom servers that list the id serve it too
            entry = ups.discovery.entry(dep.model, entry)
        if entry is None:
            return False, []

        cached = self._usable.get((dep, task))
        if cached is None or cached.entry is not entry:
            cached = self._usable_targets(entry, dep, task)
            if len(self._usable) >= 4096:  # names come from clients: keep the cache bounded
                self._usable.clear()
            self._usable[(dep, task)] = cached
        usable = cached.targets
        skipped.extend(cached.reasons)
        if cached.wanting:  # reachable with a key of the caller's own, or skipped for want of one
            mine = {m: t for m, (t, _) in cached.wanting.items() if m.provider in own}
            skipped.extend(why for m, (_, why) in cached.wanting.items() if m not in mine)
            if mine:
                usable = {**usable, **mine}
        if not usable and pinned is not None and ups.is_custom(pinned):  # mapped there, for another task
            return True, self._as_given(dep, task, skipped)
        if len(usable) <= 1:
            return True, list(usable.values())
        ordered = policy.order(
            list(usable),
            dep.policy or self.settings.routing.default_policy,
            model=entry.id,
            health=self.health,
            preferred=self.settings.routing.preferred,
        )
        return True, [usable[m] for m in ordered]

    def _as_given(self, dep: Deployment, task: str, skipped: list[str]) -> list[Target]:
        """`dep.model` sent unchanged to the custom server `dep.provider`, if it has a route for `task`."""
        assert dep.provider is not None
        provider = self.upstreams.provider(dep.provider)
        endpoint = dep.endpoint or self.upstreams.endpoint(dep.provider)
        if provider is None or endpoint is None:
            skipped.append(f"{dep.provider}: {self.upstreams.why_unreachable(dep.provider)}")
            return []
        if not provider.supports(task):
            skipped.append(f"{dep.provider}: does not support task '{task}'")
            return []
        return [Target(provider, dep.model, dep.model, task, endpoint)]

    def _usable_targets(self, entry: ModelEntry, dep: Deployment, task: str) -> _Usable:
        """The targets of `entry` this deployment can use for `task`, those it could with a caller's
        own key, and why the others are not. Depends only on the entry (replaced, never mutated, when
        the catalog changes) and the config, so `_targets` caches it per entry."""
        ups = self.upstreams
        usable: dict[ProviderMapping, Target] = {}
        wanting: dict[ProviderMapping, tuple[Target, str]] = {}
        skipped: list[str] = []
        mappings = [m for m in entry.providers if dep.provider is None or m.provider == dep.provider]
        if dep.provider is not None and not mappings:
            skipped.append(f"{dep.provider} does not serve {entry.id}")
        for m in mappings:
            provider = ups.provider(m.provider)
            endpoint = dep.endpoint or ups.endpoint(m.provider)
            keyless = ups.keyless(m.provider) if endpoint is None and provider is not None else None
            if provider is None or (endpoint is None and keyless is None):
                skipped.append(f"{m.provider}: {ups.why_unreachable(m.provider)}")
            elif not m.usable:
                skipped.append(f"{m.provider}: mapping status is '{m.status}'")
            elif not provider.supports(task):
                skipped.append(f"{m.provider}: does not support task '{task}'")
            elif not task_matches(m, task, provider.supports):
                skipped.append(f"{m.provider}: serves it for '{m.task}', not '{task}'")
            else:
                extra = {"adapter": m.adapter, "adapter_weights_path": m.adapter_weights_path} \
                    if m.adapter_weights_path else {}
                reach = endpoint or keyless
                assert reach is not None
                target = Target(provider, entry.id, m.provider_id or entry.id, task, reach, extra, m.pricing)
                if endpoint is not None:
                    usable[m] = target
                else:
                    wanting[m] = (target, f"{m.provider}: {ups.why_unreachable(m.provider)}")
        return _Usable(entry, usable, skipped, wanting)

    # --- execution ------------------------------------------------------------------------------
    def _candidates(self, plan: Plan, errors: list[ProviderError]) -> Iterator[Target]:
        """The targets to try, in order, lazily: a circuit is asked (and a half-open one's probe slot
        claimed) only when its turn comes. Open circuits are skipped without spending an attempt."""
        tried = 0
        for target in plan.targets:
            if tried >= self.settings.routing.max_attempts:
                return
            key = (target.name, target.model)
            if not self.health.allow(key):
                wait = self.health.retry_in(key)
                err = ProviderError(
                    f"circuit open after repeated failures; retrying in {wait or 0:.0f}s",
                    provider=target.name, retry_after=wait,
                )
                err.code = "circuit_open"
                errors.append(err)
                continue
            tried += 1
            yield target

    def attempt_failed(self, target: Target, error: ProviderError) -> None:
        """Count a failed attempt (metrics, circuit breaker)."""
        self.observer.attempt_failed(target, error)
        key = (target.name, target.model)
        if not error.retryable:
            self.health.release_probe(key)  # the provider answered; the request was at fault
        elif self.health.failure(key, error.retry_after):
            self.observer.circuit_opened(target)

    async def failover(
        self, plan: Plan, attempt: Callable[[Target, Timeouts], Awaitable[T]], errors: list[ProviderError],
        *, deadline: float | None = None,
    ) -> T:
        """Run `attempt` on each candidate in turn until one succeeds.

        A retryable ProviderError moves on to the next candidate; any other ProviderError is the
        request's fault and is raised at once; when the candidates or the deadline run out, one
        NoProviderAvailable carries what each provider said. Failed attempts are appended to
        `errors`. `attempt` must release what it opened when it fails.
        """
        deadline = time.monotonic() + (deadline or self.settings.routing.deadline)
        for target in self._candidates(plan, errors):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t = self.timeouts
            timeouts = t if remaining >= t.first_byte and remaining >= t.connect else \
                Timeouts(min(t.connect, remaining), min(t.first_byte, remaining), t.idle)
            try:
                result = await attempt(target, timeouts)
            except ProviderError as exc:
                self.attempt_failed(target, exc)
                errors.append(exc)
                if not exc.retryable:
                    raise
                continue
            except BaseException:
                self.health.release_probe((target.name, target.model))
                raise
            return result
        raise NoProviderAvailable(plan.model, errors)

    async def send(
        self, plan: Plan, build: Callable[[Target], HttpRequest], check: Callable[[Target, Any], Any]
    ) -> Answer:
        """A non-streamed request with failover. `check` validates the decoded answer."""
        errors: list[ProviderError] = []

        async def attempt(target: Target, timeouts: Timeouts) -> Answer:
            resp = await self.transport.fetch(build(target), target.name, timeouts,
                                              self.transport.max_answer_bytes)
            ttfb = resp.ttfb
            if resp.status >= 400:
                raise self.transport.http_error(resp)
            raw = resp.body
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ProviderResponseError(
                    f"{target.name} answered {resp.status} with a body that is not JSON",
                    provider=target.name, status_code=resp.status, body=raw[:300].decode(errors="replace"),
                ) from None
            checked = check(target, data)
            body = orjson.dumps(checked) if target.provider.rewrites(target.task) else raw
            key = (target.name, target.model)
            self.health.success(key)
            usage = Usage.from_openai(data.get("usage")) if isinstance(data, dict) else None
            self.health.observe(key, ttfb=ttfb, tokens=usage.output_tokens if usage is not None else None,
                                seconds=time.perf_counter() - resp.started)
            return Answer(target, body, checked, ttfb, errors, usage)

        return await self.failover(plan, attempt, errors)

    async def run_task(
        self, plan: Plan, start: Callable[[Target], Next], check: Callable[[Target, Outcome], Outcome]
    ) -> TaskAnswer:
        """A task exchange (submit, poll, download: `routing.jobs`) with failover. `check` validates
        the outcome (the output's shape, or that media came where media was due) and may replace it.
        A job may run longer than a chat request: the deadline is the larger of the two bounds."""
        errors: list[ProviderError] = []
        jobs = self.settings.jobs
        deadline = max(self.settings.routing.deadline, jobs.max_wait)

        async def attempt(target: Target, timeouts: Timeouts) -> TaskAnswer:
            started = time.perf_counter()
            outcome = await run_job(self.transport, start(target), target.name, timeouts, jobs)
            try:
                outcome = check(target, outcome)
            except BaseException:
                if isinstance(outcome, MediaStream):
                    await outcome.close()
                raise
            key = (target.name, target.model)
            self.health.success(key)
            seconds = time.perf_counter() - started
            self.health.observe(key, ttfb=seconds, tokens=None, seconds=seconds)
            return TaskAnswer(target, outcome, seconds, errors)

        return await self.failover(plan, attempt, errors, deadline=deadline)

    async def stream(
        self, plan: Plan, build: Callable[[Target], HttpRequest], *, wants_usage: bool = True,
        count: Callable[[int], Usage] | None = None, frames: type[Frames] = Frames,
    ) -> StreamSession:
        """Open a stream with failover, up to and including its first batch of events: the session
        the caller then reads (see `routing.session`). `wants_usage`: whether the caller gets the
        usage chunk; `count(chunks)`: hubroute's usage when the provider reports none; `frames`: how
        its events are read (chat's, or a provider's own Responses API stream's)."""
        errors: list[ProviderError] = []

        async def attempt(target: Target, timeouts: Timeouts) -> StreamSession:
            resp: UpstreamResponse | None = None
            try:
                # the head, then the first event, within first_byte of sending the request
                resp = await self.transport.open(build(target), target.name, timeouts)
                if resp.status >= 400:
                    raise await self.transport.error_from(resp)
                if resp.content_type != "text/event-stream":
                    body = (await resp.read(65536)).decode(errors="replace")
                    raise ProviderResponseError(
                        f"{target.name} answered a stream request with '{resp.content_type}', not an event stream",
                        provider=target.name, status_code=resp.status, body=body[:300],
                    )
                batches = resp.event_batches(first_by=resp.started + timeouts.first_byte)
                first = await self._first_batch(target, batches)
            except BaseException:
                if resp is not None:
                    await resp.close()
                raise
            return StreamSession(self, target, first, batches, resp, time.perf_counter() - resp.started, errors,
                                 wants_usage=wants_usage, count=count, frames=frames)

        return await self.failover(plan, attempt, errors)

    async def _first_batch(self, target: Target, batches: EventBatches) -> SSEBatch:
        try:
            first = await anext(batches)
        except StopAsyncIteration:
            raise ProviderResponseError(
                f"{target.name} closed the stream before sending any event", provider=target.name, status_code=200
            ) from None
        event = first.first()
        error = stream_error(target.name, event)
        if error is not None:
            raise error
        if event.data == b"[DONE]":
            raise ProviderResponseError(
                f"{target.name} ended the stream before sending any chunk", provider=target.name, status_code=200
            )
        try:  # the one event parsed whole on the fast path: what commits the stream must be a chunk
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            raise ProviderResponseError(
                f"{target.name} sent a first stream event that is not a JSON object", provider=target.name,
                status_code=200, body=event.data[:300].decode(errors="replace"),
            )
        return first


__all__ = ["Answer", "HubrouteError", "Plan", "Router", "StreamSession", "stream_error"]
