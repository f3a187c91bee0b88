"""Shared fixtures: mock providers on real sockets, and the real router served by uvicorn on a real
socket inside the test's event loop (the same ASGI app and server `hubroute serve` runs)."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn

from hubroute.config import Settings
from hubroute.server.app import App
from hubroute.server.serve import uvicorn_config
from tests.mocks import MockProvider
from tests.ports import free_port, listening_socket

# Routers the tests start, in this process or as `hubroute serve`, keep their default store here, never
# in the user's own data directory.
os.environ["HUBROUTE_HOME"] = tempfile.mkdtemp(prefix="hubroute-tests-")
atexit.register(shutil.rmtree, os.environ["HUBROUTE_HOME"], True)


@dataclass
class RunningRouter:
    url: str
    app: App
    server: uvicorn.Server
    task: asyncio.Task[None]

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=kw.pop("timeout", 30), **kw)

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 30)


class Mocks:
    def __init__(self) -> None:
        self.started: list[MockProvider] = []

    async def start(self, name: str = "mock", **kw: Any) -> MockProvider:
        mock = MockProvider(name=name, **kw)
        await mock.start()
        self.started.append(mock)
        return mock


@pytest.fixture
async def mocks() -> AsyncIterator[Mocks]:
    m = Mocks()
    yield m
    for mock in m.started:
        await mock.stop()


#: the HTTP stack test routers run on unless their config names one (CI runs tests/e2e on both)
TEST_HTTP_STACK = os.environ.get("HUBROUTE_TEST_HTTP_STACK", "")
assert TEST_HTTP_STACK in ("", "fast", "stock"), f"HUBROUTE_TEST_HTTP_STACK={TEST_HTTP_STACK!r}: fast or stock"


class RouterFactory:
    def __init__(self) -> None:
        self.running: list[RunningRouter] = []

    async def start(self, config: str = "", environ: Mapping[str, str] | None = None, **app_kw: Any) -> RunningRouter:
        env = dict(environ or {})
        settings = Settings.parse(config, env)
        settings.server.shutdown_timeout = 5
        if TEST_HTTP_STACK and "http_stack" not in config:
            settings.server.http_stack = TEST_HTTP_STACK  # type: ignore[assignment]
        if "store:" not in config:  # a database of its own, in memory (not the user's default file)
            settings.store.url = "sqlite://"
        app = App(settings, environ=env, **app_kw)
        # the socket bound here and handed over (tests/ports.py: a port of this worker's own)
        sock = listening_socket()
        port = int(sock.getsockname()[1])
        server = uvicorn.Server(uvicorn_config(app, settings, host="127.0.0.1", port=port, loop="none",
                                               timeout_graceful_shutdown=5))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        assert server.started, "router did not start"
        running = RunningRouter(f"http://127.0.0.1:{port}", app, server, task)
        self.running.append(running)
        return running


@pytest.fixture
async def router() -> AsyncIterator[RouterFactory]:
    factory = RouterFactory()
    yield factory
    for running in factory.running:
        await running.stop()


def provider_config(mock: MockProvider, *, name: str | None = None, models: str = "") -> str:
    """YAML for one OpenAI-compatible mock provider."""
    return f"""
providers:
  {name or mock.name}:
    type: openai-compatible
    base_url: {mock.url}/v1
{models}
"""


# --- the database services (CI has both; `.ci/run` sets HUBROUTE_REQUIRE_SERVICES=1: they must be there) ---
POSTGRES = os.environ.get("HUBROUTE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("HUBROUTE_REQUIRE_SERVICES") == "1"


def service_missing(name: str, reason: str) -> None:
    """Fail in CI, skip on a machine without the service."""
    message = f"{name} is not reachable ({reason})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}: CI runs these tests against it")
    pytest.skip(f"{message}: start it (or set HUBROUTE_TEST_POSTGRES / HUBROUTE_TEST_REDIS) to run this test")


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of its own, dropped after the test."""
    import asyncpg

    try:
        admin = await asyncpg.connect(POSTGRES, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        service_missing("PostgreSQL", f"{POSTGRES}: {exc}")
    name = f"hubroute_test_{os.getpid()}_{free_port()}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = POSTGRES.rpartition("/")
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


REDIS = os.environ.get("HUBROUTE_TEST_REDIS", "redis://127.0.0.1:6379/0")


@dataclass
class SharedRedis:
    """Redis as a test's routers share it: its URL, and a key prefix of the test's own."""

    url: str
    prefix: str

    def settings(self, **more: Any) -> dict[str, Any]:
        """The `redis:` section of a router's config."""
        return {"url": self.url, "prefix": self.prefix, **more}


@pytest.fixture
async def redis() -> AsyncIterator[SharedRedis]:
    """Redis (CI has it at 127.0.0.1:6379), under a prefix of this test's own; its keys deleted after."""
    from hubroute.store.redislink import RedisLink, RedisUnavailable

    link = RedisLink(REDIS, timeout=5)
    try:
        await link.call("PING")
    except RedisUnavailable as exc:
        await link.close()
        service_missing("Redis", str(exc))
    prefix = f"hubroute-test-{os.getpid()}-{free_port()}:"
    try:
        yield SharedRedis(REDIS, prefix)
    finally:
        cursor = b"0"
        while True:
            cursor, found = await link.call("SCAN", cursor, "MATCH", f"{prefix}*", "COUNT", 1000)
            if found:
                await link.call("DEL", *found)
            if cursor == b"0":
                break
        await link.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The store's two databases: a SQLite file, and a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hubroute.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def serve(tmp_path: Any) -> AsyncIterator[Any]:
    """A `hubroute serve` subprocess to start (`tests.e2e.serving.Serve`), killed after the test if
    still running."""
    from tests.e2e.serving import Serve

    s = Serve(tmp_path)
    yield s
    await s.stop()
