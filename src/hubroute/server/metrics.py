"""Prometheus metrics of one router process (`GET /metrics`).

Each App gets its own CollectorRegistry, so several apps (tests) never collide. Label values are
bounded, whatever names clients send: `model` is a model this deployment has served (a request
answered by a provider makes its model one, up to `MAX_MODELS`, scrubbed of anything that looks like
a key); every other request (an unknown model, a bad suffix, an id a server refused, before its
model was ever served) is counted under "unknown". `provider` is a registry or config name, `route`
one of the app's routes.

What every request updates (requests, latency, time to first token, tokens) is kept here as plain
counts and turned into Prometheus families when scraped (`_HotPath.collect`): prometheus_client's
own Counter and Histogram take a lock per update and walk the buckets in Python, which measured
~3% of a proxied request. The event loop is the only writer and the scrape runs on it too. What
happens rarely (failovers, circuits) uses prometheus_client's classes as they are.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from hubroute.errors import ProviderError, scrub
from hubroute.providers import Target
from hubroute.routing.health import Health

if TYPE_CHECKING:
    from hubroute.server.record import RequestRecord

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_BUCKET_NAMES: list[str] = [floatToGoString(b) for b in _LATENCY_BUCKETS]  # type: ignore[no-untyped-call]
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: the `model` label of requests for models never served (and of models past `MAX_MODELS`); the
#: name is the one a request that named no known model always had
OTHER = "unknown"
#: distinct models named in labels
MAX_MODELS = 1000
#: failovers and circuit openings of models not (yet) served, held until their request ends
MAX_PENDING = 256


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(_LATENCY_BUCKETS, value)] += 1  # the first bucket with value <= le
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        total = 0
        for name, count in zip([*_BUCKET_NAMES, "+Inf"], self.counts, strict=True):
            total += count
            out.append((name, total))
        return out


class _HotPath(Collector):
    """The per-request metrics, exported as Prometheus families when the registry is scraped."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, int], int] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.ttft: dict[str, _Histogram] = {}
        self.tokens: dict[tuple[str, str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "hubroute_requests", "Requests answered, by route, model, provider and HTTP status",
            labels=("route", "model", "provider", "status"),
        )
        for (route, model, provider, status), count in self.requests.items():
            requests.add_metric((route, model, provider, str(status)), count)
        yield requests
        latency = HistogramMetricFamily(
            "hubroute_request_duration_seconds", "Time from request to the last byte of the answer",
            labels=("route", "provider"),
        )
        for labels, hist in self.latency.items():
            latency.add_metric(labels, hist.buckets(), hist.sum)
        yield latency
        ttft = HistogramMetricFamily(
            "hubroute_time_to_first_token_seconds", "Time from upstream request to its first byte / event",
            labels=("provider",),
        )
        for provider, hist in self.ttft.items():
            ttft.add_metric((provider,), hist.buckets(), hist.sum)
        yield ttft
        tokens = CounterMetricFamily(
            "hubroute_tokens", "Tokens reported by providers", labels=("model", "provider", "kind"),
        )
        for kinds, count in self.tokens.items():
            tokens.add_metric(kinds, count)
        yield tokens


class _Count(Collector):
    """A counter whose value another object keeps."""

    def __init__(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        self.name, self.documentation, self.value = name, documentation, value

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.value())


class Metrics:
    def __init__(self, health: Health) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._hot = _HotPath()
        r.register(self._hot)
        self.failovers = Counter(
            "hubroute_failovers", "Failed upstream attempts that moved a request to another provider or ended it",
            ("model", "provider", "reason"), registry=r,
        )
        self.circuits_opened = Counter(
            "hubroute_circuit_opened", "Times a provider x model circuit opened", ("model", "provider"), registry=r,
        )
        open_circuits = Gauge("hubroute_open_circuits", "Provider x model circuits currently open", registry=r)
        open_circuits.set_function(lambda: len(health.open_circuits()))
        #: served model -> its label (scrubbed)
        self._models: dict[str, str] = {}
        #: model not served yet -> {(metric, provider, reason): count}: what its failed attempts
        #: counted, labelled when its request ends (its model if served in the end, else "unknown")
        self._pending: dict[str, dict[tuple[str, str, str], int]] = {}
        self._pending_size = 0

    def watch_redis(self, link: Any) -> None:
        """`hubroute_redis_up` (1 while Redis answers) and `hubroute_redis_failures_total` (commands
        that failed) of the link to Redis (`store.redislink.RedisLink`)."""
        up = Gauge("hubroute_redis_up", "1 while Redis (redis.url) answers, 0 while it cannot be reached",
                   registry=self.registry)
        up.set_function(lambda: 1.0 if link.up else 0.0)
        self.registry.register(_Count("hubroute_redis_failures", "Redis commands that failed (unreachable, no "
                                      "answer in time)", lambda: link.failures))

    def watch_store(self, store: Any) -> None:
        """The store's (`store.Store`) usage ledger: rows waiting to be written, rows written, rows
        spilled to a local file while the database could not take them, rows it refused for their
        values (set aside); and the writes a request
        makes itself (a stored response): done on the event loop, found another connection writing
        (tried again after a pause), handed to a worker thread."""
        ledger, trips = store.ledger, store.trips
        waiting = Gauge("hubroute_ledger_pending_rows", "Usage ledger rows queued in memory, not written yet",
                        registry=self.registry)
        waiting.set_function(lambda: float(ledger.pending))
        for name, documentation, value in (
            ("hubroute_ledger_rows_written", "Usage ledger rows written to the store", lambda: ledger.written),
            ("hubroute_ledger_rows_spilled", "Usage ledger rows spilled to a local file while the store could "
             "not take them (written back when it can)", lambda: ledger.spilled),
            ("hubroute_ledger_rows_rejected", "Usage ledger rows the store refused for their values, set aside "
             "in a local file (ledger-rejected-*.jsonl), never retried", lambda: ledger.rejected),
            ("hubroute_store_loop_writes", "Writes on a request's path done on the event loop (SQLite)",
             lambda: trips.ran_on_loop),
            ("hubroute_store_loop_busy", "Writes on a request's path that found another connection writing "
             "and were tried again after a pause (SQLite)", lambda: trips.busy),
            ("hubroute_store_handed_over", "Writes on a request's path handed to a worker thread after their "
             "pauses (SQLite)", lambda: trips.handed_over),
        ):
            self.registry.register(_Count(name, documentation, value))

    def model_label(self, model: str | None, served: bool = False) -> str:
        """The `model` label: the model's name once the deployment has served it (`served`: this
        request was), else "unknown"."""
        if model is None:
            return OTHER
        label = self._models.get(model)
        if label is None:
            if not served or len(self._models) >= MAX_MODELS:
                return OTHER
            label = self._models[model] = scrub(model)
        return label

    def record(self, rec: RequestRecord) -> None:
        """The metrics sink: one ended request (its duration only for metered routes: the ones that
        reach a provider)."""
        route = rec.route
        metered = route is not None and route.metered
        surface = route.label if route is not None else "unknown"  # (rec.surface, without the call)
        provider = rec.provider
        name = rec.model
        model = self._models.get(name) if name is not None else OTHER  # (the call only for a new model)
        if model is None:
            model = self.model_label(name, provider is not None and rec.status < 400)
        if self._pending and name is not None:
            self._settle(name, model)
        if provider is None:
            provider = "none"
        self.request_done(surface, model, provider, rec.status, rec.duration if metered else None)
        if metered and rec.ttfb is not None:
            self.first_byte(provider, rec.ttfb)
        usage = rec.usage
        if usage is not None and (usage.input_tokens or usage.output_tokens):
            self.count_tokens(model, provider, usage.input_tokens, usage.output_tokens)

    def request_done(self, route: str, model: str, provider: str, status: int, elapsed: float | None) -> None:
        """Count one answered request (and its duration, for the routes that reach a provider)."""
        requests = self._hot.requests
        key = (route, model, provider, status)
        requests[key] = requests.get(key, 0) + 1
        if elapsed is not None:
            hist = self._hot.latency.get((route, provider))
            if hist is None:
                hist = self._hot.latency[(route, provider)] = _Histogram()
            hist.observe(elapsed)

    def first_byte(self, provider: str, seconds: float) -> None:
        hist = self._hot.ttft.get(provider)
        if hist is None:
            hist = self._hot.ttft[provider] = _Histogram()
        hist.observe(seconds)

    def count_tokens(self, model: str, provider: str, prompt: int | None, completion: int | None) -> None:
        tokens = self._hot.tokens
        if prompt:
            key = (model, provider, "prompt")
            tokens[key] = tokens.get(key, 0) + prompt
        if completion:
            key = (model, provider, "completion")
            tokens[key] = tokens.get(key, 0) + completion

    # Observer protocol (hubroute.routing.router)
    def attempt_failed(self, target: Target, error: ProviderError) -> None:
        self._count("failovers", target.model, target.name, error.code or "error")

    def circuit_opened(self, target: Target) -> None:
        self._count("circuits", target.model, target.name)

    def _count(self, metric: str, model: str, provider: str, reason: str = "") -> None:
        """Count a failed attempt or an opened circuit: under its model's label when it has one, else
        held until the request ends (`_settle`), or under "unknown" when too many are held."""
        label = self._models.get(model)
        if label is None:
            if self._pending_size >= MAX_PENDING:
                for held in list(self._pending):
                    self._settle(held, OTHER)
            counts = self._pending.setdefault(model, {})
            key = (metric, provider, reason)
            if key not in counts:
                self._pending_size += 1
            counts[key] = counts.get(key, 0) + 1
            return
        self._add(metric, label, provider, reason, 1)

    def _settle(self, model: str, label: str) -> None:
        counts = self._pending.pop(model, None)
        if counts:
            self._pending_size -= len(counts)
            for (metric, provider, reason), n in counts.items():
                self._add(metric, label, provider, reason, n)

    def _add(self, metric: str, label: str, provider: str, reason: str, n: int) -> None:
        if metric == "failovers":
            self.failovers.labels(label, provider, reason).inc(n)
        else:
            self.circuits_opened.labels(label, provider).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
