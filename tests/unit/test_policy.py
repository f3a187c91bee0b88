from __future__ import annotations

from hubroute.catalog import Pricing, ProviderMapping
from hubroute.routing.health import Health
from hubroute.routing.policy import order


def m(name: str, out: float | None = None, inp: float | None = None, tps: float | None = None) -> ProviderMapping:
    return ProviderMapping(name, f"{name}-id", pricing=Pricing(inp, out) if out or inp else None, throughput=tps)


MAPPINGS = [m("a", out=0.9, inp=0.1, tps=50), m("b", out=0.3, inp=0.5), m("c", out=0.3, inp=0.2, tps=400), m("d")]


def names(ms: list[ProviderMapping]) -> list[str]:
    return [x.provider for x in ms]


def test_cheapest_by_output_then_input_unpriced_last() -> None:
    assert names(order(MAPPINGS, "cheapest", model="x", health=Health())) == ["c", "b", "a", "d"]


def test_preferred_follows_config_then_catalog_order() -> None:
    assert names(order(MAPPINGS, "preferred", model="x", health=Health(), preferred=["d", "b"])) == ["d", "b", "a", "c"]


def test_fastest_uses_catalog_figures_until_measured() -> None:
    h = Health()
    assert names(order(MAPPINGS, "fastest", model="x", health=h)) == ["c", "a", "b", "d"]
    h.observe(("b", "x"), tokens=1000, seconds=1.0)  # live: b is the fastest now
    assert names(order(MAPPINGS, "fastest", model="x", health=h))[0] == "b"
    h.observe(("c", "y"), tokens=1, seconds=100.0)  # another model's figures do not count
    assert names(order(MAPPINGS, "fastest", model="x", health=h))[:2] == ["b", "c"]
