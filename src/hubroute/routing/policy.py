"""Ordering candidate providers for one model by policy.

    fastest    live throughput (EWMA of output tokens/s) where measured, else the catalog's
               published figure; unmeasured and unpublished providers keep catalog order, last
    cheapest   lowest output price, then lowest input price; unpriced providers last
    preferred  the configured `routing.preferred` order, then catalog order
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hubroute.catalog import ProviderMapping
from hubroute.routing.health import Health


def order(
    mappings: Sequence[ProviderMapping],
    policy: str,
    *,
    model: str,
    health: Health,
    preferred: Sequence[str] = (),
) -> list[ProviderMapping]:
    if policy == "cheapest":
        return sorted(mappings, key=_price)
    if policy == "preferred":
        rank = {name: i for i, name in enumerate(preferred)}
        return sorted(mappings, key=lambda m: rank.get(m.provider, len(rank)))
    # fastest
    def speed(m: ProviderMapping) -> float:
        live = health.speed((m.provider, model))
        if live is not None and live.throughput is not None:
            return -live.throughput
        if m.throughput:
            return -m.throughput
        return 0.0

    return sorted(mappings, key=speed)


def _price(m: ProviderMapping) -> tuple[float, float]:
    p = m.pricing
    out = p.output if p and p.output is not None else math.inf
    inp = p.input if p and p.input is not None else math.inf
    return (out, inp)
