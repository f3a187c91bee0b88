"""Request smuggling: a request whose framing two HTTP parsers could read differently (a proxy in front
of the router, and the router) must be refused, never read as two requests. Each form is sent over a
raw socket to the real server with a second request hidden in what could pass for its body; the
router answers 400 and closes the connection, and the hidden request is never answered.

CI runs the end-to-end suite on both HTTP stacks, so this holds for `server.http_stack: stock` too."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

from tests.conftest import RouterFactory

HIDDEN = b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n"

FORMS = {
    # Content-Length and Transfer-Encoding together: one parser reads 4 bytes, the other a chunked body
    "cl-and-te": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n" + HIDDEN),
    "te-and-cl": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n"
                  b"content-length: 5\r\n\r\n0\r\n\r\n" + HIDDEN),
    # two different Content-Lengths
    "two-lengths": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n"
                    b"content-length: " + str(len(HIDDEN)).encode() + b"\r\n\r\n" + HIDDEN),
    # a Transfer-Encoding that is not chunked last: the body's end cannot be known
    "te-not-chunked-last": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n"
                            b"transfer-encoding: chunked, identity\r\n\r\n0\r\n\r\n" + HIDDEN),
    # a space before the colon: some parsers take the header, others ignore it
    "space-before-colon": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length : "
                           + str(len(HIDDEN)).encode() + b"\r\n\r\n" + HIDDEN),
    # a Content-Length that is not a plain decimal number
    "signed-length": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: +"
                      + str(len(HIDDEN)).encode() + b"\r\n\r\n" + HIDDEN),
    # an obsolete line folding of Transfer-Encoding
    "folded-te": (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding:\r\n chunked\r\n\r\n"
                  b"0\r\n\r\n" + HIDDEN),
}


async def answers(data: bytes, port: int) -> list[bytes]:
    """The status of every answer the server sends back for `data` until it closes (or 2 s pass)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        async with asyncio.timeout(2):
            while chunk := await reader.read(65536):
                received += chunk
    writer.close()
    return re.findall(rb"HTTP/1\.[01] (\d{3}) ", received)  # (an answer's body may run into the next head)


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_an_ambiguous_request_is_refused_and_nothing_behind_it_is_answered(form: str,
                                                                                   router: RouterFactory) -> None:
    r = await router.start()
    statuses = await answers(FORMS[form], int(r.url.rsplit(":", 1)[1]))
    assert statuses == [b"400"]  # one answer: the hidden request was never read as a request


async def test_a_well_framed_pair_is_still_answered_twice(router: RouterFactory) -> None:
    """The same bytes with unambiguous framing: two requests, two answers (pipelining works)."""
    r = await router.start()
    statuses = await answers(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n" + HIDDEN, int(r.url.rsplit(":", 1)[1]))
    assert statuses == [b"200", b"200"]
