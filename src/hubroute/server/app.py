"""The router's ASGI application: route → authenticate → handle → record, errors in the route's shape.

One `App` owns the components of one router process (transport, catalog, router, metrics) and
dispatches requests through the route table (`server.routes.TABLE`); what every request goes
through is here, once: its request id, its principal (`Authenticator`), the one error handler, and
its `RequestRecord`, emitted when it ends to the sinks (metrics, the access log).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubroute.catalog import Catalog
from hubroute.config import Settings
from hubroute.engine import build_engine
from hubroute.errors import (
    HubrouteError,
    InvalidRequest,
    NoProviderAvailable,
    PermissionDenied,
    ProviderError,
    QuotaError,
)
from hubroute.inputs import Fetcher
from hubroute.routing.health import Health
from hubroute.routing.router import CatalogSource, Router
from hubroute.routing.upstreams import Upstreams
from hubroute.server.admission import admit
from hubroute.server.asgi import Scope, send_json
from hubroute.server.auth import Authenticator, MasterKeyAuth, StoredKeyAuth
from hubroute.server.billing import Billing, default_org
from hubroute.server.byok import OwnKeys, use_own_keys
from hubroute.server.limits import LocalLimits
from hubroute.server.logs import access_log
from hubroute.server.metrics import Metrics
from hubroute.server.record import RequestRecord, Sink
from hubroute.server.routes import TABLE
from hubroute.server.table import RouteTable
from hubroute.transport import Transport

if TYPE_CHECKING:
    from hubroute.catalog import Pricing
    from hubroute.routing.router import Plan
    from hubroute.store import Store

log = logging.getLogger("hubroute.server")


class App:
    def __init__(
        self,
        settings: Settings,
        *,
        catalog: CatalogSource | None = None,
        authenticator: Authenticator | None = None,
        environ: Mapping[str, str] = os.environ,
        deployment: str | None = None,
    ) -> None:
        self.settings = settings
        #: the processes of one `hubroute serve` (its workers) share it (`store.presence`)
        self.deployment = deployment or uuid.uuid4().hex
        self.health = Health(
            failures=settings.routing.circuit_breaker.failures, cooldown=settings.routing.circuit_breaker.cooldown,
            max_pause=settings.routing.max_retry_after,
        )
        self.metrics = Metrics(self.health)
        self.engine = build_engine(settings, environ=environ, health=self.health, observer=self.metrics,
                                   catalog=catalog)
        self.transport: Transport = self.engine.transport
        self.upstreams: Upstreams = self.engine.upstreams
        self.catalog: Catalog = self.engine.catalog
        self.catalog_source: CatalogSource = self.engine.source
        self.router: Router = self.engine.router
        self._authenticator = authenticator
        self.auth: Authenticator = authenticator or MasterKeyAuth(settings.server.master_key)
        #: accounts and keys (opened at startup unless `store.enabled` is false)
        self.store: Store | None = None
        self.routes: RouteTable = TABLE
        #: told about every request when it ends (see server.record)
        self.sinks: list[Sink] = [self.metrics.record]
        if settings.server.access_log:
            self.sinks.append(access_log)
        self.max_body = settings.server.max_request_bytes
        self.body_timeout = settings.server.body_timeout
        self.fetcher = Fetcher(settings.inputs)  # user-given input URLs; its session opens on first use
        #: the stored keys' rate limits (this process's own, or shared through Redis: `redis.url`),
        #: and their credits and budgets (with a store)
        self.limits: Any = LocalLimits()  # server.limits.LocalLimits | store.shared_limits.SharedLimits
        self.redis: Any = None  # store.redislink.RedisLink, with `redis.url`
        self.shared_health: Any = None  # store.shared_health.SharedHealth, with `redis.url`
        self.billing: Billing | None = None
        #: the provider keys users and organisations bring (with a store)
        self.provider_keys: Any = None  # store.provider_keys.ProviderKeys
        self.own_keys: OwnKeys | None = None
        self.inflight = 0
        self.presence: Any = None  # store.presence.Presence (with a store)
        #: the Responses API's stored responses (with a store)
        self.responses: Any = None  # store.responses.Responses

    async def startup(self) -> None:
        if self.settings.redis.url:
            await self._share_limits()
        if self.settings.store.enabled:
            from hubroute.store import Store, default_url, redacted
            from hubroute.store.provider_keys import ProviderKeys
            from hubroute.store.sealing import Sealer

            conf = self.settings.store
            url = conf.url or default_url()
            self.store = await Store.open(url, flush_interval=conf.flush_interval,
                                          spill_dir=Path(conf.spill_dir) if conf.spill_dir else None,
                                          ledger_retention_days=conf.ledger_retention_days,
                                          ledger_partition=conf.ledger_partition)
            log.info("store: %s", redacted(url))
            self.metrics.watch_store(self.store)
            if self._authenticator is None:
                self.auth = StoredKeyAuth(self.settings.server.master_key, self.store.accounts)
            self.store.ledger.start()
            if self.store.retention is not None:  # (stopped by self.store.close())
                self.store.retention.start()
            self.sinks.append(self._to_ledger)
            from hubroute.store.presence import Presence

            self.presence = Presence(self.store.engine, self.deployment, shared=bool(self.settings.redis.url))
            await self.presence.start()
            from hubroute.store.responses import Responses

            self.responses = Responses(self.store.engine, retention_days=self.settings.responses.retention_days,
                                       trips=self.store.trips)
            self.responses.start()
            b = self.settings.billing
            money: dict[str, Any] = dict(credits=b.credits, default_max_tokens=b.default_max_tokens,
                                         markup=b.markup, flush=self.store.ledger.flush)
            if self.settings.redis.url:
                from hubroute.store.shared_money import SharedBilling

                self.billing = SharedBilling(self.store.accounts, self.redis, self.limits,
                                             prefix=self.settings.redis.prefix, lease=self.settings.redis.lease,
                                             **money)
            else:
                self.billing = Billing(self.store.accounts, **money)
            self.billing.start()
            secret = self.settings.accounts.encryption_key
            self.provider_keys = ProviderKeys(self.store.accounts, Sealer(secret) if secret else None)
            await self.provider_keys.ensure_openable()
            self.own_keys = OwnKeys(self.provider_keys)
        await self.engine.start()  # the custom servers' model lists, read in the background
        # Everything allocated so far lives as long as the process: keep it out of GC passes.
        gc.collect()
        gc.freeze()

    async def _share_limits(self) -> None:
        """Rate limits kept in Redis (`redis.url`), for every router process and instance at once (and,
        with a store, credits and budgets: `startup`)."""
        from hubroute.store import shared_health, shared_money
        from hubroute.store.redislink import RedisLink, RedisUnavailable, redacted
        from hubroute.store.shared_limits import SCRIPTS, SharedLimits

        conf = self.settings.redis
        assert conf.url is not None
        self.redis = link = RedisLink(conf.url, timeout=conf.timeout)
        link.register(*SCRIPTS, *shared_money.SCRIPTS, *shared_health.SCRIPTS)
        self.metrics.watch_redis(link)
        self.limits = SharedLimits(link, prefix=conf.prefix, on_error=conf.on_error, lease=conf.lease)
        self.limits.start()
        if conf.share_health:
            self.shared_health = shared_health.SharedHealth(link, self.health, prefix=conf.prefix)
            self.shared_health.start()
        try:
            await link.call("PING")  # (down at start: said once by the link; requests follow on_error)
            log.info("redis: %s", redacted(conf.url))
        except RedisUnavailable:
            pass

    async def shutdown(self) -> None:
        await self.engine.aclose()  # Hub look-ups still running, then the transport
        await self.fetcher.aclose()
        await self.limits.close()
        if self.shared_health is not None:
            await self.shared_health.close()
        if self.billing is not None:
            await self.billing.close()
        if self.redis is not None:
            await self.redis.close()
        if self.presence is not None:
            await self.presence.close()
        if self.responses is not None:
            await self.responses.close()
        if self.store is not None:
            await self.store.close()

    def _to_ledger(self, rec: RequestRecord) -> None:
        """The sink of the usage ledger: a row for each request on a metered route."""
        if rec.route is not None and rec.route.metered and self.store is not None:
            self.store.ledger.record(rec)

    def forget_keys(self, key_id: str | None = None) -> None:
        """A key (or, None, any key's owner) changed: what this router knows of it is read anew."""
        if isinstance(self.auth, StoredKeyAuth):
            self.auth.forget(key_id)

    async def plan(self, ctx: RequestRecord, model: str, task: str, body: dict[str, Any] | None = None,
                   seconds: float | None = None) -> Plan:
        """The providers to try for a request, as far as its key may reach them (`admission`), its worst
        case reserved on its credits and budgets (`billing`; `body`, the JSON request, prices it, and
        `seconds`, the length of the audio it sends)."""
        if not ctx.principal.stored:
            plan = await self.router.plan(model, task)
            ctx.planned(plan)
        else:
            keys = await self.bill(ctx)  # (its own provider keys reach providers this deployment cannot)
            plan = await self.router.plan(model, task, frozenset(keys) if keys else _NO_KEYS)
            ctx.planned(plan)
            admit(ctx.principal, plan)
            byok = None
            if keys:
                byok = use_own_keys(plan.targets, keys, self.upstreams.direct_base)
                ctx.byok_providers = frozenset(t.name for t, own in zip(plan.targets, byok, strict=True) if own)
            await self.hold(ctx, [t.pricing for t in plan.targets], body, byok, seconds)
        return plan

    async def bill(self, ctx: RequestRecord) -> dict[str, str]:
        """Who a stored key's request bills (X-HF-Bill-To, the key's organisation, its user), and the
        provider keys of its own it may use."""
        if self.billing is None:
            return {}
        asked = ctx.headers.get(b"x-hf-bill-to")
        principal = ctx.principal
        if asked:
            ctx.billed_org, limits = await self.billing.billed_org(principal, asked.decode(errors="replace"))
            if limits is not None and ctx.billed_org != (principal.org or principal.bill_to):
                await self.admit(ctx, (ctx.billed_org, limits))  # under the limits of the organisation it bills instead
        else:
            ctx.billed_org = default_org(principal)
        if self.own_keys is None:
            return {}
        found = self.own_keys.known(principal, ctx.billed_org)
        return found if found is not None else await self.own_keys.for_request(principal, ctx.billed_org)

    async def admit(self, ctx: RequestRecord, org: tuple[str | None, Mapping[str, int]] | None = None) -> None:
        """Count a stored key's request under its rate limits, and those of its user and of the
        organisation it bills (`org`, when not the key's own: the request counted under the key's
        own before is taken back from them first); 429 if one is reached. Limits kept in Redis are
        only prepared here (`ctx.asking`): the request is admitted with its credit and budget holds,
        in one round trip (`hold`), or alone before it is answered otherwise (`admitted`)."""
        if self.redis is not None and ctx.admission is None:
            ctx.asking = self.limits.prepare(ctx.principal, org)  # (one prepared before, never sent, replaced)
            return
        before, ctx.admission = ctx.admission, None
        if before is not None:
            await self.limits.cancel(before)
        ctx.admission = await self.limits.admit(ctx.principal, org)
        ctx.extra_headers = ctx.admission.headers if ctx.admission is not None else ()

    async def admitted(self, ctx: RequestRecord) -> None:
        """The request's admission under limits kept in Redis, if only prepared so far (429 or 503 here)."""
        asking = ctx.asking
        if asking is not None:
            ctx.asking = None
            self._admission(ctx, await self.limits.send(asking))

    @staticmethod
    def _admission(ctx: RequestRecord, admission: Any) -> None:
        ctx.admission = admission
        ctx.extra_headers = admission.headers if admission is not None else ()

    async def hold(self, ctx: RequestRecord, prices: list[Pricing | None], body: dict[str, Any] | None,
                   byok: list[bool] | None = None, seconds: float | None = None) -> None:
        """A stored key's request's worst case, reserved on its credits and budgets, and the request
        admitted under its rate limits (both in one round trip when Redis holds them)."""
        if self.billing is not None:
            principal = ctx.principal
            account = ("org", ctx.billed_org) if ctx.billed_org else \
                ("user", principal.user) if principal.user else None
            try:
                ctx.hold = await self.billing.reserve(principal, account, prices, body, byok, seconds, ctx.asking)
            except QuotaError as exc:
                if exc.status == 429:  # its rate limits refused it, with its holds: told already
                    ctx.asking = None
                raise
            if ctx.hold is not None and ctx.hold.admission is not None:  # (it went with the holds)
                ctx.asking = None
                self._admission(ctx, ctx.hold.admission)
        if ctx.asking is not None:
            await self.admitted(ctx)

    # --- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        headers = dict(scope["headers"])
        route = self.routes.exact.get((method, path)) or self.routes.find(self, method, path)
        rec = RequestRecord(_request_id(headers.get(b"x-request-id")), method, path, route, headers,
                            scope.get("query_string", b""))
        self.inflight += 1
        try:
            if len(headers) < len(scope["headers"]):  # a header given twice (dict() kept the last)
                _one_credential_each(scope["headers"])
            if route is None:
                raise self._no_route(method, path)
            if "\x00" in path or b"%00" in rec.query:
                raise InvalidRequest("the URL holds a NUL character (%00), which names nothing here",
                                     code="invalid_url")
            if route.auth and not self.auth.open:
                rec.principal = principal = await self.auth.authenticate(headers)
                if route.scope not in principal.scopes:
                    raise PermissionDenied(f"{method} {path} needs an administrator's key")
                if route.metered and principal.stored:
                    if principal.surfaces is not None and route.label not in principal.surfaces:
                        raise PermissionDenied(f"this key may not use {route.label} (it may use: "
                                               f"{', '.join(principal.surfaces) or 'nothing'})")
                    await self.admit(rec)
            await route.handler(self, rec, scope, receive, send)
        except HubrouteError as caught:
            exc = await self._admitted_first(rec, caught)
            rec.error = exc.code
            if isinstance(exc, ProviderError):
                rec.provider = exc.provider  # the provider that answered names itself, errors too
            elif isinstance(exc, NoProviderAvailable):
                rec.failed(exc.errors)
            if rec.status == 0:
                extra = [(k.encode(), v.encode()) for k, v in exc.headers(self.health.max_pause).items()]
                body = route.errors(exc) if route is not None else exc.to_openai()
                await send_json(send, rec, route.status(exc) if route is not None else exc.status, body, extra)
        except ConnectionAbortedError:
            rec.status = rec.status or 499
            rec.error = "client_disconnected"
        except asyncio.CancelledError:  # the server cut it short: a shutdown past server.shutdown_timeout
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            rec.error = "server_shutting_down"
            if rec.status == 0:
                await send_json(send, rec, 503, {"error": {
                    "message": "The router is shutting down. Send the request again.", "type": "server_error",
                    "code": "server_shutting_down"}})
            # else an answer already under way is cut (its connection closed): never made to look whole
        except Exception:
            log.exception("unhandled error in %s %s (request %s)", method, path, rec.request_id)
            rec.error = "internal_error"
            if rec.status == 0:
                await send_json(send, rec, 500, {"error": {
                    "message": f"internal error (request id {rec.request_id})", "type": "server_error",
                    "code": "internal_error"}})
        finally:
            self.inflight -= 1
            if rec.asking is not None:  # (ended otherwise before it was planned: counted all the same)
                with contextlib.suppress(Exception):
                    await self.admitted(rec)
            if rec.admission is not None:
                self.limits.release(rec.admission, rec.usage.tokens if rec.usage is not None else 0)
            if rec.provider is not None and rec.provider in rec.byok_providers:
                rec.byok = True
            if rec.hold is not None and self.billing is not None:
                charged = self.billing.settle(rec.hold, rec.cost, rec.byok)
                rec.charged = charged if rec.hold.account is not None else None
            rec.duration = time.perf_counter() - rec.started
            for sink in self.sinks:
                try:
                    sink(rec)
                except Exception:  # a sink's failure costs its own record, never the answer
                    log.exception("request record sink %r failed (request %s)", sink, rec.request_id)

    async def _admitted_first(self, rec: RequestRecord, exc: HubrouteError) -> HubrouteError:
        """The error to answer a request that failed before it was planned: its own, once the request
        is admitted under its rate limits (their headers on it), or the refusal (429, 503)."""
        if rec.asking is not None:
            try:
                await self.admitted(rec)
            except HubrouteError as refusal:
                return refusal
        return exc

    def _no_route(self, method: str, path: str) -> HubrouteError:
        if self.routes.knows_path(path):
            err = InvalidRequest(f"Method {method} is not allowed on {path}", code="method_not_allowed")
            err.status = 405
            return err
        err = InvalidRequest(f"Unknown route {method} {path}", code="not_found")
        err.status = 404
        return err


#: the providers a request without provider keys of its own has keys for
_NO_KEYS: frozenset[str] = frozenset()

_CREDENTIALS = (b"authorization", b"x-api-key")


def _one_credential_each(raw: list[tuple[bytes, bytes]]) -> None:
    """Refuse (400 ambiguous_credentials) a request with two `Authorization` or two `x-api-key`
    headers: which one a hop behind us would use is anyone's guess."""
    names = [name for name, _ in raw if name in _CREDENTIALS]
    for name in _CREDENTIALS:
        if names.count(name) > 1:
            raise InvalidRequest(f"the {name.decode()} header is given more than once: send one",
                                 code="ambiguous_credentials")


_ID_PREFIX = uuid.uuid4().hex[:12]
_ids = itertools.count(1)


def _request_id(given: bytes | None) -> str:
    """The client's id when it is sane, else a process-unique one (random prefix + counter: a uuid4
    per request measured ~1.5% of the router's CPU)."""
    if given and 0 < len(given) <= 128 and given.isascii() and given.replace(b"-", b"").replace(b"_", b"").isalnum():
        return given.decode()
    return f"{_ID_PREFIX}{next(_ids):08x}"
