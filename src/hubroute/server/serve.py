"""Running the app under uvicorn (its server, uvloop, our HTTP/1.1 protocol on httptools: see README).

SIGTERM and SIGINT stop accepting connections, let in-flight requests (streams included) finish
for up to `server.shutdown_timeout` seconds, then close the upstream pool and exit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Generator
from typing import Any

import uvicorn

from hubroute.config import Settings
from hubroute.server import logs
from hubroute.server.app import App
from hubroute.server.http import HttpProtocol


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            yield
            # uvicorn re-raises the captured SIGTERM after the graceful shutdown, so the process would
            # die by the signal (143); a completed graceful stop is a clean exit.
            self._captured_signals.clear()


def uvicorn_config(app: App, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How the router runs under uvicorn (the tests start it the same way)."""
    options: dict[str, Any] = dict(
        host=settings.server.host,
        port=settings.server.port,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http=HttpProtocol,  # HTTP/1.1 on httptools, a leaner request cycle than uvicorn's (server/http.py)
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,  # the router reads no client address; saves a middleware per request
        timeout_graceful_shutdown=math.ceil(settings.server.shutdown_timeout),
        timeout_keep_alive=30,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def run(settings: Settings) -> None:
    logs.configure(settings.server.log_level)
    _Server(uvicorn_config(App(settings), settings)).run()
