"""Unit tests' event loops: asyncio's, and uvloop too for the modules that do network I/O at the
lowest level (the router runs on uvloop; the client library runs on either)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import pytest

BOTH_LOOPS = {"test_h1.py", "test_http_server.py"}


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    factories: dict[str, Callable[[], Any]] = {"asyncio": asyncio.new_event_loop}
    if item.path.name in BOTH_LOOPS:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is not installed on Windows
            return factories
        factories["uvloop"] = uvloop.new_event_loop
    return factories
