"""A connection to Redis for what router processes share (`redis.url`): counters and reservations.

    link = RedisLink("redis://127.0.0.1:6379/0")
    reply = await link.run(SCRIPT, keys, args)     # one server-side script, one round trip
    link.send(SCRIPT, keys, args)                  # the same, its answer not awaited
    await link.close()

Commands given in one turn of the event loop leave in one write and their answers come back in one
read (Redis answers in order): 32 requests admitted at once cost one system call each way, not 32.
Commands are framed and replies parsed by hiredis (Redis's own C parser and its Python binding's
encoder); this module only batches commands and matches answers to callers. redis-py's asyncio
client was measured at about 90 µs of CPU a command on the project's machine, more than the whole
router spends on a request: hence a link of our own.

Failures are `RedisUnavailable`, never a hang: a command waits at most `timeout` seconds; a
connection that failed is not tried again for `retry_after` seconds (commands fail at once
meanwhile, so a Redis that is down costs requests nothing but the answer their policy gives).
The first failure is logged once, as is the return; `up` says which it is now, `failures` counts.

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://` (TLS), `unix:///path/to/socket[?db=N]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

log = logging.getLogger("hubroute.redis")

Arg = str | bytes | int | float


class RedisUnavailable(Exception):
    """Redis could not be reached or did not answer in time (the message says which, one line)."""


#: hiredis's encoder (its type stubs say a tuple of one argument: any number is meant)
_pack: Callable[[tuple[Arg, ...]], bytes] = hiredis.pack_command  # type: ignore[assignment]


class RedisError(Exception):
    """Redis answered with an error (a script's bug or a misconfigured server, not an outage)."""


class Script:
    """A Lua script, loaded once per connection, then called by its digest."""

    __slots__ = ("_call", "name", "sha", "source")

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()  # (Redis names scripts so)
        self._call = (b"EVALSHA", self.sha.encode())

    def command(self, keys: Sequence[Arg], args: Sequence[Arg]) -> bytes:
        """EVALSHA of this script with `keys` and `args`, in the wire format."""
        return _pack((*self._call, len(keys), *keys, *args))


@dataclass(frozen=True, slots=True)
class Address:
    host: str | None
    port: int
    path: str | None
    db: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Address:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL (redis://, rediss:// or unix://): {redacted(url)}")
        query = parse_qs(parts.query)
        db_text = query.get("db", [""])[0] or (parts.path.strip("/") if parts.scheme != "unix" else "") or "0"
        if not db_text.isdigit():
            raise ValueError(f"the database of a Redis URL is a number: {redacted(url)}")
        return cls(
            host=None if parts.scheme == "unix" else (parts.hostname or "127.0.0.1"),
            port=parts.port or 6379,
            path=parts.path if parts.scheme == "unix" else None,
            db=int(db_text),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )


def redacted(url: str) -> str:
    """A Redis URL as logs show it: its password left out."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


def encode(args: Sequence[Arg]) -> bytes:
    """A command in Redis's wire format (an array of bulk strings: str, bytes, int or float arguments),
    made by hiredis (C: twice as fast as formatting it here)."""
    return _pack(tuple(args))


#: what makes Redis answer nothing to the command that follows (a script whose answer nobody awaits)
_SKIP_REPLY = encode(("CLIENT", "REPLY", "SKIP"))


class _Connection(asyncio.Protocol):
    """One connection to Redis: commands written together, answers matched to their waiters in
    order. A command unanswered after `timeout` seconds fails the connection, and every command
    waiting on it (one timer for the connection, rearmed at the oldest command's deadline, not one
    per command)."""

    def __init__(self, on_lost: Any, timeout: float) -> None:
        self.transport: Any = None  # (uvloop's transports are not asyncio.Transport subclasses)
        self.reader = hiredis.Reader(replyError=RedisError)
        self.timeout = timeout
        #: the commands sent and not answered yet, oldest first: their waiter, and their deadline
        self.waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self.watchdog: asyncio.TimerHandle | None = None
        self.outgoing: list[bytes] = []
        self.flush_scheduled = False
        self.closed = False
        self.on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                waiter = self.waiting.popleft()[0]
                if waiter.done():  # (its caller gave up waiting)
                    continue
                if isinstance(reply, RedisError):
                    waiter.set_exception(reply)
                else:
                    waiter.set_result(reply)
        except hiredis.ProtocolError as exc:
            self.fail(RedisUnavailable(f"unreadable answer from Redis: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisUnavailable("Redis closed the connection" if exc is None else f"connection lost: {exc}"))

    def submit(self, command: bytes, waiter: asyncio.Future[Any] | None) -> None:
        """Send a command (with the next write); `waiter` gets its answer. None: it is sent with
        CLIENT REPLY SKIP, so that Redis answers nothing (and wakes nobody)."""
        loop = asyncio.get_running_loop()
        if waiter is None:
            self.outgoing.append(_SKIP_REPLY)
        else:
            self.waiting.append((waiter, loop.time() + self.timeout))
            if self.watchdog is None:
                self.watchdog = loop.call_later(self.timeout, self._watch)
        self.outgoing.append(command)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            loop.call_soon(self.flush)

    def _watch(self) -> None:
        """Fail the connection if its oldest command is past its deadline; else look again then."""
        self.watchdog = None
        if self.closed or not self.waiting:
            return
        deadline = self.waiting[0][1]
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            self.fail(RedisUnavailable(f"no answer from Redis within {self.timeout:g}s"))
        else:
            self.watchdog = loop.call_at(deadline, self._watch)

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.outgoing and self.transport is not None and not self.closed:
            data = b"".join(self.outgoing)
            self.outgoing.clear()
            self.transport.write(data)

    def fail(self, exc: Exception) -> None:
        if self.closed:
            return
        self.closed = True
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None
        while self.waiting:
            waiter = self.waiting.popleft()[0]
            if not waiter.done():
                waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()
        self.on_lost(self, exc)


class RedisLink:
    #: seconds a connection attempt and a command may take
    timeout = 1.0
    #: seconds between two connection attempts while Redis cannot be reached
    retry_after = 0.5

    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        self.url = url
        self.address = Address.parse(url)
        if timeout is not None:
            self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None
        self._retry_at = 0.0
        self._last_error = ""
        self._loaded: set[str] = set()  # the scripts the current connection knows
        self._scripts: dict[str, Script] = {}  # loaded on every connection as it opens
        #: whether the last attempt reached Redis; failed commands since start
        self.up = True
        self.failures = 0
        self._closing = False

    def register(self, *scripts: Script) -> None:
        """Scripts each new connection loads as it opens (so that `send` can use them at once)."""
        for script in scripts:
            self._scripts[script.sha] = script

    # --- commands -----------------------------------------------------------------------------------
    async def call(self, *args: Arg) -> Any:
        """One command's answer."""
        conn = self._conn if self._conn is not None and not self._conn.closed else await self._connect()
        waiter = asyncio.get_running_loop().create_future()
        conn.submit(encode(args), waiter)
        return await self._wait(waiter)

    async def run(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """A script's answer (loaded first on a connection that does not know it)."""
        conn = self._conn if self._conn is not None and not self._conn.closed else await self._connect()
        if script.sha not in self._loaded:
            await self._load(conn, script)
        waiter = asyncio.get_running_loop().create_future()
        conn.submit(script.command(keys, args), waiter)
        try:
            return await self._wait(waiter)
        except RedisError as exc:
            if not str(exc).startswith("NOSCRIPT"):  # (a server whose scripts were flushed)
                raise
            self._loaded.discard(script.sha)
            return await self.run(script, keys, args)

    def send(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> bool:
        """Run a script without its answer (Redis sends none: an error in it is not seen); False when
        there is no connection to send it on (Redis is down or not reached yet: the caller decides
        what that means)."""
        conn = self._conn
        if conn is None or conn.closed or script.sha not in self._loaded:
            return False
        conn.submit(script.command(keys, args), None)
        return True

    async def _wait(self, waiter: asyncio.Future[Any]) -> Any:
        """The answer `waiter` gets (in `timeout` seconds at most: the connection's watchdog)."""
        try:
            return await waiter
        except RedisUnavailable:
            self.failures += 1
            raise

    async def _load(self, conn: _Connection, script: Script) -> None:
        waiter = asyncio.get_running_loop().create_future()
        conn.submit(encode(("SCRIPT", "LOAD", script.source)), waiter)
        sha = await self._wait(waiter)
        if sha.decode() != script.sha:
            raise RedisError(f"Redis gave script {script.name} the digest {sha!r}, not {script.sha}")
        self._loaded.add(script.sha)

    # --- the connection ------------------------------------------------------------------------------
    async def _connect(self) -> _Connection:
        if self._closing:
            raise RedisUnavailable("the router is shutting down")
        if time.monotonic() < self._retry_at:
            self.failures += 1
            raise RedisUnavailable(self._last_error)
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._open())
        task = self._connecting
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._connecting = None

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        a = self.address
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeout):
                if a.path is not None:
                    _, conn = await loop.create_unix_connection(self._connection, a.path)
                else:
                    context = ssl.create_default_context() if a.tls else None
                    _, conn = await loop.create_connection(self._connection, a.host or "127.0.0.1", a.port,
                                                           ssl=context)
                waiters = []
                for command in [*self._handshake(), *(("SCRIPT", "LOAD", s.source) for s in self._scripts.values())]:
                    waiters.append(waiter := loop.create_future())
                    conn.submit(encode(command), waiter)
                for outcome in await asyncio.gather(*waiters, return_exceptions=True):
                    if isinstance(outcome, BaseException):
                        raise outcome
        except (OSError, TimeoutError, RedisUnavailable, RedisError) as exc:
            if conn is not None:
                conn.closed = True  # (not a loss to report: this attempt failed, and says so below)
                if conn.transport is not None:
                    conn.transport.abort()
            self._down(exc)
            raise RedisUnavailable(self._last_error) from None
        self._loaded = set(self._scripts)
        self._conn = conn
        if not self.up:
            self.up = True
            log.warning("Redis is reachable again (%s)", redacted(self.url))
        return conn

    def _connection(self) -> _Connection:
        return _Connection(self._lost, self.timeout)

    def _handshake(self) -> list[tuple[Arg, ...]]:
        a = self.address
        commands: list[tuple[Arg, ...]] = []
        if a.password is not None:
            commands.append(("AUTH", a.username, a.password) if a.username else ("AUTH", a.password))
        if a.db:
            commands.append(("SELECT", a.db))
        return commands

    def _down(self, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):
            what = f"no answer within {self.timeout:g}s"
        elif isinstance(exc, OSError):
            from hubroute.h1 import os_reason

            what = os_reason(exc).lower()
        else:
            what = str(exc)
        self._last_error = f"Redis cannot be reached ({redacted(self.url)}: {what})"
        self._retry_at = time.monotonic() + self.retry_after
        self.failures += 1
        if self.up:
            self.up = False
            log.error("%s: counters shared with other routers cannot be used until it is back", self._last_error)

    def _lost(self, conn: _Connection, exc: Exception) -> None:
        if conn is self._conn:
            self._conn = None
            if not self._closing:
                self._down(exc)

    async def close(self) -> None:
        self._closing = True
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            conn.flush()  # what was sent without waiting still leaves
            if conn.transport is not None:
                conn.transport.close()
            with contextlib.suppress(Exception):
                await asyncio.sleep(0)
