"""server/recent.py: values read lately, refreshed behind the requests that use them."""

from __future__ import annotations

import asyncio

import pytest

from hubroute.errors import Unavailable
from hubroute.server.recent import Recent


class Store:
    def __init__(self) -> None:
        self.value = 1
        self.reads = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    async def read(self, key: str) -> tuple[str, int]:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise Unavailable("the store is down")
        return key, self.value


async def test_the_first_request_waits_then_a_stale_value_is_served_while_one_read_replaces_it() -> None:
    store = Store()
    recent: Recent[str, tuple[str, int]] = Recent(store.read, ttl=0.05)
    assert await asyncio.gather(*(recent.get("a") for _ in range(20))) == [("a", 1)] * 20
    assert store.reads == 1  # one read for twenty requests
    store.value, store.gate = 2, asyncio.Event()
    await asyncio.sleep(0.06)
    assert [await recent.get("a") for _ in range(5)] == [("a", 1)] * 5  # stale, served at once
    await asyncio.sleep(0)
    assert store.reads == 2  # one read behind them
    store.gate.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await recent.get("a") == ("a", 2)


async def test_while_the_store_is_down_what_was_read_stays_and_the_unknown_fails() -> None:
    store = Store()
    recent: Recent[str, tuple[str, int]] = Recent(store.read, ttl=0.0)
    assert await recent.get("a") == ("a", 1)
    store.down = True
    for _ in range(3):
        assert await recent.get("a") == ("a", 1)
        await asyncio.sleep(0)
    with pytest.raises(Unavailable):
        await recent.get("b")
    store.down, store.value = False, 3
    await recent.get("a")
    await asyncio.sleep(0)
    assert await recent.get("a") == ("a", 3)


async def test_a_bound_on_the_keys_kept_and_clear() -> None:
    store = Store()
    recent: Recent[str, tuple[str, int]] = Recent(store.read, bound=3)
    for key in "abcd":
        await recent.get(key)
    assert list(recent._values) == ["b", "c", "d"]
    recent.clear()
    store.value = 9
    assert await recent.get("b") == ("b", 9)
