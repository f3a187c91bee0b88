"""Result URLs a provider answers with obey the address rules of client-given URLs (issue 11, item 7).

The rule: a URL on the provider's own host and port (where the job was submitted: its configured
endpoint, a mock on loopback here, a local vLLM in a deployment) is trusted like the provider's API;
any other URL, and every redirect, must pass `inputs:`'s rules: no loopback, private, link-local or
metadata address, literal or resolved, unless `inputs.allow_private` / `inputs.allowed_hosts` say so.
A refused URL is a 502 naming the provider, and nothing is fetched from it.

A real router, fal-ai's mock on 127.0.0.1 in its wire format, and an "internal service" on another
loopback address or port that counts the connections it gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Mocks, RouterFactory
from tests.e2e.test_tasks_jobs import CASES, PNG, config, file, post
from tests.mocks import MockProvider, json_reply

CASE = next(c for c in CASES if c.id == "fal-ai-text-to-image")


class Internal:
    """A service the router can reach and its clients must not: counts every connection made to it."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> Internal:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
                     % (len(PNG), PNG))
        await writer.drain()
        writer.close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture
async def internal() -> AsyncIterator[Internal]:
    service = await Internal("127.0.0.2").start()
    yield service
    assert service.server is not None
    service.server.close()


@pytest.fixture
async def internal_here() -> AsyncIterator[Internal]:
    """The same, on 127.0.0.1 itself: the provider's host, another port."""
    service = await Internal("127.0.0.1").start()
    yield service
    assert service.server is not None
    service.server.close()


def result(url: str) -> Any:
    """fal's synchronous text-to-image answer, its image at `url`."""
    return json_reply({"images": [{"url": url, "width": 4, "height": 3}], "seed": 1})


async def refused(r: Any, fal: MockProvider) -> dict[str, Any]:
    resp = await post(r, CASE)
    assert resp.status_code == 502, resp.text
    err = resp.json()["error"]
    assert "fal-ai" in err["message"] and "may not fetch" in err["message"]
    assert [p["provider"] for p in err["providers"]] == ["fal-ai"]
    return dict(err)


@pytest.mark.parametrize("where", ["other-loopback", "metadata", "same-host-other-port", "name-to-loopback",
                                   "ipv6-loopback", "mapped-v4"])
async def test_a_result_url_at_an_internal_address_is_refused_and_not_fetched(
        where: str, mocks: Mocks, router: RouterFactory, internal: Internal, internal_here: Internal) -> None:
    url = {
        "other-loopback": f"{internal.url}/secret.png",
        "metadata": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "same-host-other-port": f"{internal_here.url}/secret.png",
        "name-to-loopback": f"http://localhost:{internal_here.port}/secret.png",
        "ipv6-loopback": f"http://[::1]:{internal_here.port}/secret.png",
        "mapped-v4": f"http://[::ffff:127.0.0.2]:{internal.port}/secret.png",
    }[where]
    fal = await mocks.start("fal-ai")
    fal.enqueue(result(url))
    r = await router.start(config(CASE, mocks={"fal-ai": fal}))
    err = await refused(r, fal)
    assert "internal address" in err["message"] or "resolves to" in err["message"]
    assert internal.connections == 0 and internal_here.connections == 0
    assert fal.hits == 1  # the submission only


async def test_a_redirect_from_the_providers_own_host_is_checked_too(mocks: Mocks, router: RouterFactory,
                                                                     internal: Internal) -> None:
    fal = await mocks.start("fal-ai")

    async def moved(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        return web.Response(status=302, headers={"location": f"{internal.url}/secret.png"})

    fal.enqueue(result(f"{fal.url}/files/out.png"), moved)
    r = await router.start(config(CASE, mocks={"fal-ai": fal}))
    await refused(r, fal)
    assert internal.connections == 0
    assert [m.path for m in fal.received] == ["/fal-ai/flux/dev", "/files/out.png"]


async def test_results_on_the_providers_own_host_and_its_redirects_there_are_fetched(
        mocks: Mocks, router: RouterFactory) -> None:
    fal = await mocks.start("fal-ai")

    async def moved(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        return web.Response(status=307, headers={"location": "/files/final.png"})

    fal.enqueue(result(f"{fal.url}/files/out.png"), moved, file(PNG, "image/png"))
    r = await router.start(config(CASE, mocks={"fal-ai": fal}))
    resp = await post(r, CASE)
    assert resp.status_code == 200, resp.text
    assert resp.content == PNG and resp.headers["x-inference-provider"] == "fal-ai"
    assert [m.path for m in fal.received] == ["/fal-ai/flux/dev", "/files/out.png", "/files/final.png"]


@pytest.mark.parametrize("inputs", [{"allowed_hosts": ["127.0.0.2"]}, {"allowed_hosts": ["127.0.0.0/8"]},
                                    {"allow_private": True}])
async def test_the_inputs_settings_let_an_internal_result_host_through(
        inputs: dict[str, Any], mocks: Mocks, router: RouterFactory, internal: Internal) -> None:
    fal = await mocks.start("fal-ai")
    fal.enqueue(result(f"{internal.url}/out.png"))
    r = await router.start(config(CASE, mocks={"fal-ai": fal}, inputs=inputs))
    resp = await post(r, CASE)
    assert resp.status_code == 200, resp.text
    assert resp.content == PNG and internal.connections == 1



async def test_a_polling_url_off_the_providers_host_is_checked_too(mocks: Mocks, internal: Internal) -> None:
    """Not only downloads: any step a provider's answer sends elsewhere (BFL's `polling_url`)."""
    from hubroute.config import JobSettings
    from hubroute.errors import ProviderResponseError
    from hubroute.providers import HttpRequest
    from hubroute.providers.steps import Done, Next
    from hubroute.routing.jobs import run_job
    from hubroute.transport import Timeouts, Transport

    api = await mocks.start("bfl")
    api.enqueue(json_reply({"id": "j", "polling_url": f"{internal.url}/v1/get_result?id=j"}))

    def submitted(answer: Any) -> Next:
        return Next(HttpRequest("GET", answer["polling_url"], {}), lambda a: Done(a), poll=True)

    first = Next(HttpRequest("POST", f"{api.url}/v1/flux-dev", {}, b"{}"), submitted)
    for stack in ("fast", "stock"):
        transport = Transport(stack=stack)  # type: ignore[arg-type]
        try:
            with pytest.raises(ProviderResponseError, match=r"^bfl answered a URL the router may not fetch"):
                await run_job(transport, first, "bfl", Timeouts(2, 2, 2), JobSettings(poll_interval=0.01))
        finally:
            await transport.close()
        api.enqueue(json_reply({"id": "j", "polling_url": f"{internal.url}/v1/get_result?id=j"}))
    assert internal.connections == 0
