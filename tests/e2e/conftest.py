"""Fixtures of the end-to-end tests (the router and mock providers are in tests/conftest.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest


@pytest.fixture
def access_log() -> Iterator[list[dict[str, Any]]]:
    """The access-log lines the router writes, as the JSON objects `hubroute serve` prints."""
    from hubroute.server.logs import JSONFormatter

    lines: list[dict[str, Any]] = []
    formatter = JSONFormatter()

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(orjson.loads(formatter.format(record)))

    logger = logging.getLogger("hubroute.access")
    handler, level = Capture(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    """The SDK clients a test makes (Anthropic's, OpenAI's), closed after it."""
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()
