"""A mock OpenAI-compatible upstream that fails on request, for the soak (`bench/soak.py`).

    .venv/bin/python bench/fault_upstream.py --port 0

It serves `POST /{name}/v1/chat/completions` for any provider name, so one process stands in for
several providers (`/a/v1`, `/b/v1`, ...), and `GET /{name}/v1/models`. What it does with a request
is read from the body's `user` field, which OpenAI's API passes through untouched: `fault:<kind>@<name>`
makes provider `<name>` misbehave in that way, every other provider answers normally.

    500           a 500 with a JSON error
    429           a 429 with Retry-After: 1 (`429big`: 99999999999, `429inf`: 1e309, `429date`: an HTTP date)
    garbage       a 200 whose body is not JSON
    slow          the head after 3 s (past the soak's first-byte timeout)
    reset         a stream cut after 3 events (the connection closed)
    badusage      a stream whose usage event is not valid JSON
    hugeevent     a stream whose second event is 4 MiB with no end
    drop          the connection closed before any answer

When it listens it prints `READY <port>` on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import json
import time

from aiohttp import web

WORDS = [f"w{i} " for i in range(20)]


def _completion() -> dict[str, object]:
    return {"id": "chatcmpl-soak", "object": "chat.completion", "created": int(time.time()), "model": "soak",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29}}


def _chunk(content: str | None, usage: bool = False) -> bytes:
    obj: dict[str, object] = {"id": "chatcmpl-soak", "object": "chat.completion.chunk", "created": 0, "model": "soak",
                              "choices": [] if usage else [{"index": 0, "delta": {"content": content},
                                                            "finish_reason": None if content else "stop"}]}
    if usage:
        obj["usage"] = {"prompt_tokens": 9, "completion_tokens": 20, "total_tokens": 29}
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    body = await request.json()
    user = str(body.get("user") or "")
    kind = ""
    if user.startswith("fault:"):
        fault, _, target = user[6:].partition("@")
        if target == name:
            kind = fault
    if kind == "drop":
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)
    if kind == "500":
        return web.json_response({"error": {"message": "upstream exploded", "code": 500}}, status=500)
    if kind.startswith("429"):
        after = {"429": "1", "429big": "99999999999", "429inf": "1e309",
                 "429date": email.utils.formatdate(time.time() + 2, usegmt=True)}[kind]
        return web.json_response({"error": {"message": "slow down"}}, status=429, headers={"retry-after": after})
    if kind == "garbage":
        return web.Response(body=b"<html>oops</html>", content_type="application/json")
    if kind == "slow":
        await asyncio.sleep(3)
    if not body.get("stream"):
        return web.json_response(_completion())
    resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await resp.prepare(request)
    for i, word in enumerate(WORDS):
        if kind == "reset" and i == 3:
            assert request.transport is not None
            request.transport.close()
            return resp
        if kind == "hugeevent" and i == 1:
            await resp.write(b"data: {\"x\": \"" + b"y" * (4 << 20))
            assert request.transport is not None
            request.transport.close()
            return resp
        await resp.write(_chunk(word))
    await resp.write(_chunk(None))
    await resp.write(b'data: {"choices": [], "usage": {"prompt_tokens": 9,\n\n' if kind == "badusage"
                     else _chunk(None, usage=True))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def models(request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "soak-model", "object": "model"}]})


async def main(port: int) -> None:
    app = web.Application(client_max_size=64 << 20)
    app.router.add_post("/{name}/v1/chat/completions", chat)
    app.router.add_get("/{name}/v1/models", models)
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server = site._server
    assert server is not None and server.sockets  # type: ignore[attr-defined]
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[attr-defined]
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(main(parser.parse_args().port))
