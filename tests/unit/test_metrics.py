"""The per-request metrics kept by hand render as Prometheus would have them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hubroute.errors import ProviderError
from hubroute.providers import REGISTRY, Endpoint, Target
from hubroute.routing.health import Health
from hubroute.server import metrics as metrics_module
from hubroute.server.metrics import Metrics
from hubroute.server.record import RequestRecord


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counters_and_histograms_render_in_prometheus_form() -> None:
    m = Metrics(Health(failures=3, cooldown=30))
    for elapsed in (0.004, 0.005, 0.2, 7.0, 1000.0):  # 0.005 is on a bucket's bound: counted in it
        m.request_done("chat", "org/model", "groq", 200, elapsed)
    m.request_done("chat", "org/model", "groq", 502, None)  # no duration: not a provider route
    m.first_byte("groq", 0.03)
    m.count_tokens("org/model", "groq", 12, 20)
    m.count_tokens("org/model", "groq", 3, None)
    got = samples(m)
    ok = (("model", "org/model"), ("provider", "groq"), ("route", "chat"), ("status", "200"))
    assert got[("hubroute_requests_total", ok)] == 5
    assert got[("hubroute_requests_total", (*ok[:3], ("status", "502")))] == 1
    lat = (("provider", "groq"), ("route", "chat"))
    le = {k[1][0][1]: v for k, v in got.items() if k[0] == "hubroute_request_duration_seconds_bucket"}
    assert (le["0.005"], le["0.25"], le["10.0"], le["300.0"], le["+Inf"]) == (2, 3, 4, 4, 5)
    assert got[("hubroute_request_duration_seconds_count", lat)] == 5
    assert abs(got[("hubroute_request_duration_seconds_sum", lat)] - 1007.209) < 1e-9
    assert got[("hubroute_time_to_first_token_seconds_count", (("provider", "groq"),))] == 1
    tokens = (("model", "org/model"), ("provider", "groq"))
    assert got[("hubroute_tokens_total", (("kind", "prompt"), *tokens))] == 15
    assert got[("hubroute_tokens_total", (("kind", "completion"), *tokens))] == 20


# --- labels bounded by what the deployment serves (issue 11, item 6) -------------------------------
ENDPOINT = Endpoint("http://127.0.0.1:1/v1", None)


def test_only_served_models_become_labels() -> None:
    m = Metrics(Health())
    assert m.model_label("org/never-served") == "unknown"
    assert m.model_label("org/served", served=True) == "org/served"
    assert m.model_label("org/served") == "org/served"  # from then on, its failures too
    assert m.model_label(None, served=True) == "unknown"
    assert m.model_label("hf_abcdefghijklmnopqrstuvwxyz:x", served=True) == "***:x"  # a key, scrubbed


def test_model_labels_are_capped(monkeypatch) -> None:
    monkeypatch.setattr(metrics_module, "MAX_MODELS", 3)
    m = Metrics(Health())
    assert [m.model_label(f"m{i}", served=True) for i in range(5)] == ["m0", "m1", "m2", "unknown", "unknown"]


def test_failovers_are_labelled_by_how_their_request_ended() -> None:
    """A failed attempt counts under its model if its request is served in the end (however late
    the model's first success), else under "unknown"; whatever is held waiting is bounded."""
    m = Metrics(Health())
    error = ProviderError("down", provider="a")
    m.attempt_failed(Target(REGISTRY["together"], "org/real", "p", "conversational", ENDPOINT), error)
    m.attempt_failed(Target(REGISTRY["together"], "org/junk", "p", "conversational", ENDPOINT), error)
    m.circuit_opened(Target(REGISTRY["together"], "org/junk", "p", "conversational", ENDPOINT))
    assert not [k for k in samples(m) if k[0] == "hubroute_failovers_total"]  # held until the requests end
    m.record(_record("org/real", "together", 200))
    m.record(_record("org/junk", None, 502))
    got = samples(m)
    fail = "hubroute_failovers_total"
    assert got[(fail, (("model", "org/real"), ("provider", "together"), ("reason", "provider_error")))] == 1
    assert got[(fail, (("model", "unknown"), ("provider", "together"), ("reason", "provider_error")))] == 1
    assert got[("hubroute_circuit_opened_total", (("model", "unknown"), ("provider", "together")))] == 1
    for i in range(2 * metrics_module.MAX_PENDING):  # attempts whose requests never end: bounded
        m.attempt_failed(Target(REGISTRY["together"], f"org/x{i}", "p", "conversational", ENDPOINT), error)
    assert len(m._pending) <= metrics_module.MAX_PENDING
    total = sum(v for k, v in samples(m).items() if k[0] == fail)
    assert total + sum(sum(c.values()) for c in m._pending.values()) == 2 + 2 * metrics_module.MAX_PENDING


def _record(model: str, provider: str | None, status: int) -> RequestRecord:
    rec = RequestRecord("r", "POST", "/v1/chat/completions", None)
    rec.model, rec.provider, rec.status = model, provider, status
    return rec
