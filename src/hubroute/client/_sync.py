"""`InferenceClient`: the synchronous client, derived from `AsyncInferenceClient` rather than written
twice. Every public coroutine method of the async class becomes a blocking method here with the same
name, signature and docstring: it runs the coroutine on a private event loop in a background thread
(`_loop.LOOP`) and waits; an async iterator it returns (a stream) comes back as a plain iterator.

Type checkers read `_sync.pyi` instead of this module: the same derivation written out as types by
scripts/sync_stub.py (tests/client/test_sync_stub.py keeps it current and type-checks this module).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import re
import weakref
from collections.abc import Callable, Coroutine, Generator, Iterator
from typing import Any

from hubroute.client._async import AsyncInferenceClient, _Chat
from hubroute.client._loop import LOOP


class SyncStream:
    """A stream read synchronously, a network read's worth of chunks per hop to the loop thread;
    `provider` names who serves it."""

    def __init__(self, stream: Any) -> None:
        self.provider: str | None = getattr(stream, "provider", None)
        self._stream = stream
        self._items = self._iterate()

    def _iterate(self) -> Generator[Any, None, None]:
        try:
            while True:
                try:
                    batch = LOOP.run(self._stream.next_batch())
                except StopAsyncIteration:
                    return
                yield from batch
        finally:
            LOOP.run(self._stream.aclose())

    def __iter__(self) -> Iterator[Any]:
        return self._items

    def __next__(self) -> Any:
        return next(self._items)

    def close(self) -> None:
        self._items.close()


def blocking(result: Any) -> Any:
    """A result of the async client as the sync client returns it."""
    return SyncStream(result) if hasattr(result, "__anext__") else result


#: async iterator types in a return annotation -> what the sync client returns in their place
_SYNC_ITERATOR = re.compile(r"\bAsync(Iterator|Iterable|Generator)\b")


def _blocking_method(name: str, method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(method)  # name, docstring, and the signature (through __wrapped__)
    def call(self: InferenceClient, *args: Any, **kwargs: Any) -> Any:
        return blocking(LOOP.run(method(self._async, *args, **kwargs)))

    call.__qualname__ = f"InferenceClient.{name}"
    returns = method.__annotations__.get("return")
    if isinstance(returns, str) and _SYNC_ITERATOR.search(returns):  # a stream comes back as an iterator
        # (AsyncGenerator[Y, S] reads as Generator[Y, S] here; scripts/sync_stub.py adds the third argument)
        call.__annotations__ = {**method.__annotations__, "return": _SYNC_ITERATOR.sub(r"\1", returns)}
        call.__signature__ = inspect.signature(method).replace(  # type: ignore[attr-defined]
            return_annotation=call.__annotations__["return"])
    return call


def _close_dropped(client: AsyncInferenceClient) -> None:
    """Close a sync client's connections on its loop thread, briefly: it was dropped unclosed."""
    if not LOOP.started or not client.opened:
        return
    future = asyncio.run_coroutine_threadsafe(client.close(), LOOP.loop)
    with contextlib.suppress(Exception):
        future.result(timeout=2)


def _forwarded_property(name: str, prop: property) -> property:
    """A read-only property of the async client, read through (writes go through __setattr__)."""

    def get(self: InferenceClient) -> Any:
        return getattr(self._async, name)

    return property(get, doc=prop.__doc__)


class InferenceClient:
    """The synchronous twin of `AsyncInferenceClient`: same constructor, same methods, blocking."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._async = AsyncInferenceClient(*args, **kwargs)
        self.chat = _Chat(self)
        # huggingface_hub's sync client needs no close(): a client dropped unclosed (as the seed
        # examples do) closes its connections when it is collected, or at exit
        weakref.finalize(self, _close_dropped, self._async)

    __init__.__signature__ = inspect.signature(AsyncInferenceClient.__init__)  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        # `client.model = ...` and the like change the one client underneath
        if name in ("_async", "chat"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._async, name, value)

    def __getattr__(self, name: str) -> Any:
        # the async client's attributes (model, provider, token, timeout, headers, mode...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._async, name)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncInferenceClient", "InferenceClient", 1)

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _derive() -> None:
    """The async client's public coroutine methods as blocking methods, its properties read through.
    scripts/sync_stub.py writes the same derivation out as types, in _sync.pyi."""
    for name, member in vars(AsyncInferenceClient).items():
        if name.startswith("_"):
            continue
        if inspect.iscoroutinefunction(member):
            setattr(InferenceClient, name, _blocking_method(name, member))
        elif isinstance(member, property):
            setattr(InferenceClient, name, _forwarded_property(name, member))


_derive()
