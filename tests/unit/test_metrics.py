"""The per-request metrics kept by hand render as Prometheus would have them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hubroute.routing.health import Health
from hubroute.server.metrics import Metrics


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
