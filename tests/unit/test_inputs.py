"""Binary inputs: inline forms, magic-byte sniffing, and URL fetching against real local servers.

No test here reaches beyond this machine: every socket connect of the test's event loop goes through
`connects`, which records it and refuses (and fails the test for) anything outside 127.0.0.0/8 and
::1. Refusal tests also assert that no connection was even attempted.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from hubroute.errors import InvalidRequest
from hubroute.inputs import Binary, Fetcher, InputSettings, is_public, load_binary, sniff
from tests.ports import free_port

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
SECRET = "hf_abcdefghijklmnopqrstuvwxyz123456"


# -- the network guard and the local server --------------------------------------------------------


@dataclass
class Connects:
    attempts: list[tuple[str, int]] = field(default_factory=list)
    outside: list[Any] = field(default_factory=list)
    #: ports whose connect never completes (a black-holed host, without targeting one)
    stall_ports: set[int] = field(default_factory=set)


@pytest.fixture(autouse=True)
async def connects(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Connects]:
    loop = asyncio.get_running_loop()
    real = loop.sock_connect
    log = Connects()

    async def guarded(sock: socket.socket, address: Any) -> None:
        host, port = str(address[0]), int(address[1])
        log.attempts.append((host, port))
        if not ipaddress.ip_address(host.partition("%")[0]).is_loopback:
            log.outside.append(address)
            raise OSError(f"test guard: refused to connect to {host}")
        if port in log.stall_ports:
            await asyncio.sleep(30)
        await real(sock, address)

    monkeypatch.setattr(loop, "sock_connect", guarded)
    yield log
    assert not log.outside, f"a test tried to connect outside this machine: {log.outside}"


@dataclass
class Files:
    url: str
    port: int
    seen: list[str]


async def _stream(request: web.Request, size: int, declared: int | None = None, stall: float = 0) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"content-type": "application/octet-stream"})
    if declared is not None:
        resp.content_length = declared
    else:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    sent = 0
    while sent < size:
        n = min(10_000, size - sent)
        await resp.write(b"x" * n)
        sent += n
        await asyncio.sleep(0)
    if stall:
        await asyncio.sleep(stall)
    await resp.write_eof()
    return resp


@pytest.fixture
async def files() -> AsyncIterator[Files]:
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        seen.append(request.path_qs)
        return await handler(request)  # type: ignore[no-any-return]

    async def redirect(request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"location": request.query["to"]})

    async def chain(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n == 0:
            return web.Response(body=PNG, content_type="image/png")
        return web.Response(status=301, headers={"location": f"/chain/{n - 1}"})

    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.Response(body=PNG)

    async def agent(request: web.Request) -> web.Response:
        return web.Response(body=PNG, headers={"x-ua": request.headers.get("user-agent", ""),
                                               "x-cookie": request.headers.get("cookie", "")})

    def route(path: str, make: Any) -> None:
        async def handle(request: web.Request) -> web.StreamResponse:
            out = make(request)
            return await out if inspect.isawaitable(out) else out  # type: ignore[no-any-return]

        app.router.add_get(path, handle)

    app = web.Application(middlewares=[record])
    route("/png", lambda r: web.Response(body=PNG, content_type="image/png"))
    route("/typed", lambda r: web.Response(body=b"RIFF", headers={"content-type": "audio/x-custom; x=1"}))
    route("/untyped", lambda r: web.Response(body=JPEG, content_type="application/octet-stream"))
    route("/cookie", lambda r: web.Response(body=PNG, headers={"set-cookie": "session=abc; Path=/"}))
    route("/agent", agent)
    route("/empty", lambda r: web.Response(body=b""))
    route("/status/{n}", lambda r: web.Response(status=int(r.match_info["n"]), text="nope"))
    route("/redirect", redirect)
    route("/chain/{n}", chain)
    route("/stall", stall)
    route("/sized/{n}", lambda r: _stream(r, int(r.match_info["n"]), int(r.match_info["n"])))
    route("/chunked/{n}", lambda r: _stream(r, int(r.match_info["n"])))
    # declares a huge body, sends a little, then stalls: only refusing on the header is fast
    route("/declared-huge", lambda r: _stream(r, 100, declared=50_000_000, stall=10))
    route("/slow-body", lambda r: _stream(r, 100, declared=200, stall=10))
    route("/secret", lambda r: web.Response(text="internal"))
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", free_port())
    await site.start()
    port = int(runner.addresses[0][1])
    yield Files(f"http://127.0.0.1:{port}", port, seen)
    await runner.cleanup()


class FakeResolver(AbstractResolver):
    """A DNS that answers from a table (addresses only, never looked up for real)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        #: host -> successive answers (the last one repeats)
        self.table = table
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET,
                      ) -> list[ResolveResult]:
        self.calls.append(host)
        answers = self.table.get(host)
        if not answers:
            raise OSError(socket.EAI_NONAME, "Name or service not known")
        addrs = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ResolveResult(hostname=host, host=a, port=port, proto=0, flags=socket.AI_NUMERICHOST,
                              family=socket.AF_INET6 if ":" in a else socket.AF_INET) for a in addrs]

    async def close(self) -> None:
        pass


@pytest.fixture
async def fetchers() -> AsyncIterator[Any]:
    made: list[Fetcher] = []

    def make(resolver: AbstractResolver | None = None, **settings: Any) -> Fetcher:
        fetcher = Fetcher(InputSettings(**settings), resolver=resolver)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.aclose()


async def refused(fetcher: Fetcher, value: Any, match: str, field: str = "image") -> InvalidRequest:
    with pytest.raises(InvalidRequest, match=match) as info:
        await load_binary(value, field=field, fetcher=fetcher)
    err = info.value
    assert (err.status, err.param, err.to_openai()["error"]["param"]) == (400, field, field)
    assert err.message.startswith(f"'{field}': ")
    return err


# -- inline forms ------------------------------------------------------------------------------------


async def test_bytes_pass_through_unchanged(fetchers: Any) -> None:
    fetcher = fetchers(max_bytes=1000)
    got = await load_binary(PNG, field="inputs", fetcher=fetcher)
    assert got == Binary(PNG, "image/png") and got.data is PNG
    assert await load_binary(bytearray(JPEG), field="inputs", fetcher=fetcher) == Binary(JPEG, "image/jpeg")
    assert await load_binary(memoryview(b"abc"), field="inputs", fetcher=fetcher) == Binary(b"abc", None)
    await refused(fetcher, b"", "is empty", field="inputs")
    await refused(fetcher, b"x" * 1001, "too large", field="inputs")
    await refused(fetcher, 12, "expected bytes, base64, a data: URI or a URL, got int")
    await refused(fetcher, {"url": "x"}, "got dict")


@pytest.mark.parametrize("encode", [
    lambda b: base64.b64encode(b).decode(),
    lambda b: base64.b64encode(b).decode().rstrip("="),  # padding left out
    lambda b: base64.encodebytes(b).decode(),  # wrapped at 76 columns with newlines
    lambda b: "  " + base64.urlsafe_b64encode(b).decode() + "\n",
], ids=["standard", "unpadded", "wrapped", "urlsafe"])
async def test_base64_decodes(fetchers: Any, encode: Any) -> None:
    data = JPEG + bytes(range(256)) * 3  # every byte value, so '+' and '/' (or '-' and '_') occur
    assert await load_binary(encode(data), field="image", fetcher=fetchers()) == Binary(data, "image/jpeg")


@pytest.mark.parametrize("text", ["not base64!", "abcde", "héllo==", "YWJj$ZGVm", "", "   "])
async def test_invalid_base64_is_a_400_naming_the_field(fetchers: Any, text: str) -> None:
    await refused(fetchers(), text, "is not valid base64|is empty", field="audio")


async def test_base64_size_limit(fetchers: Any) -> None:
    fetcher = fetchers(max_bytes=300)
    assert (await load_binary(base64.b64encode(b"a" * 300).decode(), field="f", fetcher=fetcher)).data == b"a" * 300
    await refused(fetcher, base64.b64encode(b"a" * 301).decode(), "too large", field="f")
    await refused(fetcher, "A" * 10_000, "too large", field="f")  # refused before decoding


async def test_data_uris(fetchers: Any) -> None:
    fetcher = fetchers(max_bytes=1000)
    png64 = base64.b64encode(PNG).decode()

    async def load(uri: str) -> Binary:
        return await load_binary(uri, field="image", fetcher=fetcher)

    assert await load(f"data:image/png;base64,{png64}") == Binary(PNG, "image/png")
    # the declared type wins unless generic or absent; then the bytes tell
    assert (await load(f"DATA:Image/X-Odd;base64,{png64}")).content_type == "image/x-odd"
    assert (await load(f"data:;base64,{png64}")).content_type == "image/png"
    assert (await load(f"data:application/octet-stream;base64,{png64}")).content_type == "image/png"
    assert (await load(f"data:image/png;name=a.png;base64,{png64}")).data == PNG
    assert await load("data:text/plain,hello%20world") == Binary(b"hello world", "text/plain")
    await refused(fetcher, "data:image/png;base64", "not a valid data: URI")
    await refused(fetcher, "data:image/png;base64,***", "not valid base64")
    await refused(fetcher, "data:image/png;base64,", "is empty")
    await refused(fetcher, "data:image/png;base64," + base64.b64encode(b"x" * 1001).decode(), "too large")


@pytest.mark.parametrize(("data", "expected"), [
    (PNG, "image/png"),
    (JPEG, "image/jpeg"),
    (b"GIF87a\x01\x00", "image/gif"),
    (b"GIF89a\x01\x00", "image/gif"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
    (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),  # MPEG-1 layer III frame, no ID3 tag
    (b"\xff\xf3\x84\x64\x00", "audio/mpeg"),  # MPEG-2 layer III
    (b"\xff\xf1\x50\x80\x00", "audio/aac"),  # ADTS
    (b"fLaC\x00\x00\x00\x22", "audio/flac"),
    (b"OggS\x00\x02\x00\x00", "audio/ogg"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4"),
    (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "video/mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video/webm"),
    (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
    (b"%PDF-1.7\n", "application/pdf"),
    (b"II*\x00\x08\x00", "image/tiff"),
    (b"RIFF\x24\x00\x00\x00ABCD", None),
    (b"hello world", None),
    (b"\xff", None),
    (b"", None),
])
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


def test_settings_validate_and_load_from_config() -> None:
    assert InputSettings().max_bytes == 20 * 1024 * 1024
    loaded = msgspec.convert({"max_bytes": 5, "allowed_hosts": ["minio.internal", "10.1.0.0/16"]}, InputSettings)
    assert loaded.allowed_hosts == ("minio.internal", "10.1.0.0/16") and loaded.timeout == 15.0
    with pytest.raises(msgspec.ValidationError, match="schemes"):
        msgspec.convert({"schemes": ["http", "file"]}, InputSettings)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"max_size": 5}, InputSettings)
    with pytest.raises(ValueError, match="positive"):
        InputSettings(max_bytes=0)


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("::ffff:8.8.8.8", True), ("64:ff9b::808:808", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.31.0.1", False), ("192.168.0.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("100.127.255.254", False), ("0.0.0.0", False),
    ("224.0.1.1", False), ("240.0.0.1", False), ("255.255.255.255", False), ("192.0.2.1", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False), ("fd12:3456::1", False),
    ("ff02::1", False), ("fec0::1", False), ("::ffff:10.0.0.1", False), ("::ffff:169.254.169.254", False),
    ("64:ff9b::a9fe:a9fe", False), ("2002:7f00:1::1", False), ("2002:a00:1::1", False), ("::127.0.0.1", False),
])
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


# -- fetching ----------------------------------------------------------------------------------------


async def test_fetch_when_private_addresses_are_allowed(files: Files, fetchers: Any, connects: Connects) -> None:
    fetcher = fetchers(allow_private=True)
    assert await load_binary(f"{files.url}/png", field="image", fetcher=fetcher) == Binary(PNG, "image/png")
    assert await load_binary(f"{files.url}/untyped", field="image", fetcher=fetcher) == Binary(JPEG, "image/jpeg")
    assert (await load_binary(f"{files.url}/typed", field="image", fetcher=fetcher)).content_type == "audio/x-custom"
    assert {port for _, port in connects.attempts} == {files.port}


async def test_no_cookies_no_proxy_from_the_environment(files: Files, fetchers: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:

    closed = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, closed)  # were it used, every fetch would fail
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    # by host name: aiohttp's default jar would ignore cookies of an IP address anyway
    fetcher = fetchers(resolver=FakeResolver({"files.test": [["127.0.0.1"]]}), allowed_hosts=("files.test",))
    await load_binary(f"http://files.test:{files.port}/cookie", field="image", fetcher=fetcher)
    reply = await fetcher._client().get(f"http://files.test:{files.port}/agent")  # what the fetcher sends
    assert (reply.headers["x-ua"], reply.headers["x-cookie"]) == ("hubroute", "")
    reply.release()


async def test_allowed_hosts_by_network_and_by_name(files: Files, fetchers: Any, connects: Connects) -> None:
    by_net = fetchers(allowed_hosts=("127.0.0.0/8",))
    assert (await load_binary(f"{files.url}/png", field="image", fetcher=by_net)).data == PNG
    await refused(by_net, f"http://[::1]:{files.port}/png", "address ::1 is a loopback")
    dns = FakeResolver({"files.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    by_name = fetchers(resolver=dns, allowed_hosts=("Files.Test.",))
    assert (await load_binary(f"http://files.test:{files.port}/png", field="image", fetcher=by_name)).data == PNG
    await refused(by_name, f"http://other.test:{files.port}/png", "host other.test resolves to a loopback")
    await refused(by_name, f"{files.url}/png", "address 127.0.0.1 is a loopback")
    assert dns.calls == ["files.test", "other.test"]
    assert connects.attempts == [("127.0.0.1", files.port)] * 2


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:{port}/png", "http://127.8.9.10:{port}/", "http://localhost:{port}/png",
    "http://LOCALHOST/", "http://[::1]:{port}/png", "http://0.0.0.0:{port}/png", "http://[::]:{port}/",
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[fd00::1]/",
    "http://224.0.0.1/", "http://255.255.255.255/", "http://240.0.0.1/",
    "http://[::ffff:127.0.0.1]:{port}/", "http://[::ffff:169.254.169.254]/", "http://[::ffff:a00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[2002:7f00:1::1]/", "http://[fe80::1%25eth0]/",
    "http://2130706433:{port}/", "http://0x7f000001/", "http://0x7f.1/", "http://017700000001/",
    "http://0177.0.0.1/", "http://127.1/", "http://127.0.1/", "http://0/", "http://2852039166/",
    "https://127.0.0.1:{port}/",
])
async def test_default_settings_refuse_internal_addresses(files: Files, fetchers: Any, connects: Connects,
                                                           url: str) -> None:
    fetcher = fetchers()
    err = await refused(fetcher, url.format(port=files.port), "not allowed|not a canonical IP address")
    assert "is not allowed" in err.message or "not a canonical" in err.message
    assert connects.attempts == [] and files.seen == []


async def test_names_resolving_to_internal_addresses_are_refused(files: Files, fetchers: Any,
                                                                  connects: Connects) -> None:
    dns = FakeResolver({
        "evil.test": [["127.0.0.1"]],
        "metadata.test": [["169.254.169.254"]],
        "mapped.test": [["::ffff:127.0.0.1"]],
        # one good address does not launder a bad one (the connector could pick either)
        "mixed.test": [["93.184.216.34", "10.0.0.7"]],
        "rebind.test": [["127.0.0.1"], ["93.184.216.34"]],
    })
    fetcher = fetchers(resolver=dns)
    for host in ("evil.test", "metadata.test", "mapped.test", "mixed.test"):
        err = await refused(fetcher, f"http://{host}:{files.port}/png", f"host {host} resolves to a loopback")
        assert "10.0.0.7" not in err.message and "169.254" not in err.message  # internal layout not echoed
    # DNS rebinding: the answer checked is the answer connected to; there is no second look-up
    await refused(fetcher, f"http://rebind.test:{files.port}/png", "resolves to a loopback")
    assert dns.calls == ["evil.test", "metadata.test", "mapped.test", "mixed.test", "rebind.test"]
    assert connects.attempts == [] and files.seen == []


async def test_a_checked_answer_is_the_one_connected_to(files: Files, fetchers: Any, connects: Connects) -> None:
    # first answer allowed (loopback is allowed by network here), later answers would not be
    dns = FakeResolver({"files.test": [["127.0.0.1"], ["10.9.9.9"]]})
    fetcher = fetchers(resolver=dns, allowed_hosts=("127.0.0.1/32",))
    assert (await load_binary(f"http://files.test:{files.port}/png", field="image", fetcher=fetcher)).data == PNG
    assert dns.calls == ["files.test"] and connects.attempts == [("127.0.0.1", files.port)]


async def test_redirects_are_checked_like_the_first_url(files: Files, fetchers: Any, connects: Connects) -> None:
    dns = FakeResolver({"files.test": [["127.0.0.1"]], "localhost": [["::1", "127.0.0.1"]]})
    fetcher = fetchers(resolver=dns, allowed_hosts=("files.test",))
    base = f"http://files.test:{files.port}"
    assert (await load_binary(f"{base}/redirect?to=/png", field="image", fetcher=fetcher)).data == PNG
    assert (await load_binary(f"{base}/redirect?to={base}/png&status=307", field="image", fetcher=fetcher)).data == PNG
    for target, why in [
        (f"http://127.0.0.1:{files.port}/secret", "address 127.0.0.1 is a loopback"),
        (f"http://localhost:{files.port}/secret", "host localhost resolves to a loopback"),
        (f"http://[::1]:{files.port}/secret", "address ::1 is a loopback"),
        (f"http://2130706433:{files.port}/secret", "not a canonical IP address"),
        ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is a loopback"),
        ("file:///etc/passwd", "URL scheme 'file' is not allowed"),
        ("gopher://files.test/", "URL scheme 'gopher' is not allowed"),
        (f"http://user:pw@files.test:{files.port}/secret", "credentials"),
    ]:
        await refused(fetcher, f"{base}/redirect?to={target}", why)
    await refused(fetcher, f"{base}/status/302", "HTTP status 302 with no Location")
    assert not any(path.startswith("/secret") for path in files.seen)
    assert {port for _, port in connects.attempts} == {files.port}


async def test_redirect_limit(files: Files, fetchers: Any) -> None:
    fetcher = fetchers(allow_private=True, max_redirects=2)
    assert (await load_binary(f"{files.url}/chain/2", field="image", fetcher=fetcher)).data == PNG
    await refused(fetcher, f"{files.url}/chain/3", "redirected more than 2 times")
    assert "/chain/0" not in files.seen[files.seen.index("/chain/3"):]
    no_redirects = fetchers(allow_private=True, max_redirects=0)
    await refused(no_redirects, f"{files.url}/chain/1", "redirected more than 0 times")


async def test_size_limit_with_content_length(files: Files, fetchers: Any) -> None:
    fetcher = fetchers(allow_private=True, max_bytes=5000, timeout=5)
    assert len((await load_binary(f"{files.url}/sized/5000", field="image", fetcher=fetcher)).data) == 5000
    await refused(fetcher, f"{files.url}/sized/5001", "the URL's body has 5001 bytes, more than 5000")
    started = time.monotonic()  # the server stalls after its headers: only a refusal on the header is quick
    await refused(fetcher, f"{files.url}/declared-huge", "has 50000000 bytes")
    assert time.monotonic() - started < 2


async def test_size_limit_while_streaming(files: Files, fetchers: Any) -> None:
    fetcher = fetchers(allow_private=True, max_bytes=50_000)
    assert len((await load_binary(f"{files.url}/chunked/50000", field="image", fetcher=fetcher)).data) == 50_000
    await refused(fetcher, f"{files.url}/chunked/50001", "has more than 50000 bytes")
    await refused(fetcher, f"{files.url}/chunked/5000000", "has more than 50000 bytes")


async def test_total_timeout(files: Files, fetchers: Any) -> None:
    fetcher = fetchers(allow_private=True, timeout=0.4)
    for path in ("/stall", "/slow-body"):  # no headers at all; headers then a stalled body
        started = time.monotonic()
        await refused(fetcher, files.url + path, r"timed out after 0\.4s")
        assert time.monotonic() - started < 2


async def test_connect_timeout(files: Files, fetchers: Any, connects: Connects) -> None:
    connects.stall_ports.add(files.port)
    fetcher = fetchers(allow_private=True, connect_timeout=0.3, timeout=10)
    started = time.monotonic()
    await refused(fetcher, f"{files.url}/png", r"connecting to the URL's host timed out after 0\.3s")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("status", [404, 403, 500, 204])
async def test_error_status_from_the_url(files: Files, fetchers: Any, status: int) -> None:
    await refused(fetchers(allow_private=True), f"{files.url}/status/{status}", f"HTTP status {status}")


async def test_other_failures_are_400s_too(files: Files, fetchers: Any) -> None:

    fetcher = fetchers(allow_private=True, resolver=FakeResolver({}))
    await refused(fetcher, f"http://127.0.0.1:{free_port()}/", "could not connect to the URL's host")
    await refused(fetcher, "http://nowhere.test/", "could not be resolved")
    await refused(fetcher, f"{files.url}/empty", "empty body")
    await refused(fetcher, "http://[::1/", "not a valid URL")
    await refused(fetcher, "http:///path", "no host")
    await refused(fetcher, "ftp://files.test/a.png", "URL scheme 'ftp' is not allowed")
    await refused(fetcher, "javascript:alert(1)", "URL scheme 'javascript' is not allowed")


async def test_messages_do_not_echo_secrets(files: Files, fetchers: Any) -> None:
    fetcher = fetchers(allow_private=True)
    for url in (f"{files.url}/status/404?token={SECRET}", f"http://user:{SECRET}@files.test/a.png",
                f"http://{SECRET}:pw@files.test/", f"{files.url}/stall?sig={SECRET}"):
        err = await refused(fetchers(allow_private=True, timeout=0.3) if "stall" in url else fetcher, url, ".")
        assert SECRET not in err.message and SECRET not in str(err.to_openai())


async def test_https_only_scheme_setting_and_session_lifecycle(files: Files, fetchers: Any) -> None:
    https_only = fetchers(allow_private=True, schemes=("https",))
    await refused(https_only, f"{files.url}/png", r"URL scheme 'http' is not allowed \(allowed: https\)")
    fetcher = fetchers(allow_private=True)
    await load_binary(f"{files.url}/png", field="image", fetcher=fetcher)
    session = fetcher._client()
    await fetcher.aclose()
    assert session.closed
    await fetcher.aclose()  # twice is fine
    assert (await load_binary(f"{files.url}/png", field="image", fetcher=fetcher)).data == PNG  # made anew
