"""The job driver against a real local server: steps, polling bounds and backoff, media answers,
result size limits; and the spooled bodies large uploads are held in."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from hubroute.config import JobSettings
from hubroute.errors import ProviderHTTPError, ProviderResponseError, ProviderTimeout
from hubroute.inputs import Binary
from hubroute.inputs.spool import SpooledBody
from hubroute.providers import HttpRequest
from hubroute.providers.steps import Done, Media, Next, TaskCall, dig, download
from hubroute.routing.jobs import MediaStream, is_media, read_outcome, run_job
from hubroute.transport import Timeouts, Transport
from tests.conftest import Mocks
from tests.mocks import json_reply

FAST = Timeouts(connect=2, first_byte=2, idle=2)
QUICK = JobSettings(poll_interval=0.01, max_poll_interval=0.04, max_wait=5, max_polls=50)


@pytest.fixture
async def transport():
    t = Transport(connect_timeout=2, idle_timeout=2)
    yield t
    await t.close()


def get(url: str) -> HttpRequest:
    return HttpRequest("GET", url, {})


def status_job(url: str, seen: list[Any]) -> Next:
    """A job as providers run them: submit, poll `status` until done, then download `result`."""

    def poll(answer: Any) -> Next | Done:
        seen.append(answer)
        if answer["status"] == "FAILED":
            raise ProviderResponseError(f"job failed: {answer['error']}", provider="p", status_code=200)
        if answer["status"] != "DONE":
            return Next(get(url + "/status"), poll, poll=True)
        return download(answer["result"], "p") if "result" in answer else Done(answer["output"])

    return Next(HttpRequest("POST", url + "/submit", {}, b"{}"), poll)


async def test_a_job_polls_until_done_then_downloads_the_media(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(json_reply({"status": "QUEUED"}), json_reply({"status": "RUNNING"}), json_reply({"status": "RUNNING"}),
                 json_reply({"status": "DONE", "result": f"{mock.url}/files/out.png"}),
                 json_reply(b"\x89PNG-bytes", content_type="image/png"))
    seen: list[Any] = []
    started = time.monotonic()
    outcome = await run_job(transport, status_job(mock.url, seen), "p", FAST, QUICK)
    assert isinstance(outcome, MediaStream) and outcome.content_type == "image/png"
    assert await read_outcome(outcome) == Media(b"\x89PNG-bytes", "image/png")
    assert [r.path for r in mock.received] == ["/submit", "/status", "/status", "/status", "/files/out.png"]
    # three waits that grow: 0.01 + 0.015 + 0.0225 s at least
    assert time.monotonic() - started >= 0.045
    assert "Authorization" not in mock.received[-1].headers  # no credential follows a result URL


async def test_a_job_that_never_finishes_is_a_timeout_within_its_bounds(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.default = json_reply({"status": "RUNNING"})
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="max_polls=5"):
        await run_job(transport, status_job(mock.url, []), "p", FAST, JobSettings(
            poll_interval=0.01, max_poll_interval=0.01, max_wait=60, max_polls=5))
    assert mock.hits == 6  # the submission and five polls
    with pytest.raises(ProviderTimeout, match=r"max_wait=0\.3s"):
        await run_job(transport, status_job(mock.url, []), "p", FAST, JobSettings(
            poll_interval=0.05, max_poll_interval=0.05, max_wait=0.3, max_polls=1000))
    assert time.monotonic() - started < 2


async def test_polls_do_not_block_the_event_loop(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.default = json_reply({"status": "RUNNING"})
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    jobs = [run_job(transport, status_job(mock.url, []), "p", FAST, JobSettings(
        poll_interval=0.05, max_poll_interval=0.05, max_wait=0.4, max_polls=1000)) for _ in range(20)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    task.cancel()
    assert all(isinstance(r, ProviderTimeout) for r in results)
    assert ticks >= 40  # the loop kept turning every ~5 ms while 20 jobs polled


async def test_failed_jobs_and_http_errors_raise(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(json_reply({"status": "FAILED", "error": "NSFW"}), json_reply({"detail": "bad key"}, status=401),
                 json_reply(b"<html>oops</html>", content_type="text/html"))
    with pytest.raises(ProviderResponseError, match="NSFW"):
        await run_job(transport, status_job(mock.url, []), "p", FAST, QUICK)
    with pytest.raises(ProviderHTTPError) as err:
        await run_job(transport, status_job(mock.url, []), "p", FAST, QUICK)
    assert err.value.status_code == 401
    with pytest.raises(ProviderResponseError, match="neither JSON nor media"):
        await run_job(transport, status_job(mock.url, []), "p", FAST, QUICK)


async def test_results_over_the_size_limit_are_refused(mocks: Mocks, transport: Transport) -> None:
    mock = await mocks.start()
    mock.enqueue(json_reply(b"v" * 5000, content_type="video/mp4"), json_reply(b"v" * 5000, content_type="video/mp4"))
    small = JobSettings(poll_interval=0.01, max_result_bytes=1000)
    with pytest.raises(ProviderResponseError, match=r"more than jobs\.max_result_bytes"):
        await run_job(transport, download(mock.url + "/v.mp4", "p"), "p", FAST, small)
    outcome = await run_job(transport, download(mock.url + "/v.mp4", "p"), "p", FAST, QUICK)
    assert isinstance(outcome, MediaStream) and len(await outcome.read()) == 5000


def test_download_and_dig_refuse_what_is_missing() -> None:
    with pytest.raises(ProviderResponseError, match="usable result URL"):
        download(None, "p")
    with pytest.raises(ProviderResponseError, match="usable result URL"):
        download("file:///etc/passwd", "p")
    assert dig("p", {"a": [{"b": 1}]}, "a", 0, "b") == 1
    with pytest.raises(ProviderResponseError, match=r"'a\.1\.b'"):
        dig("p", {"a": [{"b": 1}]}, "a", 1, "b")


def test_media_content_types() -> None:
    assert is_media("image/png") and is_media("application/octet-stream") and is_media("video/mp4")
    assert not is_media("application/json") and not is_media("text/plain")
    assert not is_media("application/problem+json") and not is_media("")


def test_media_from_base64() -> None:
    assert Media.from_b64("p", "iVBORw0KGgo=") == Media(b"\x89PNG\r\n\x1a\n", "image/png")
    assert Media.from_b64("p", "data:image/webp;base64,AAAA").content_type == "image/webp"
    with pytest.raises(ProviderResponseError):
        Media.from_b64("p", None)


def test_hf_wire_form_of_a_task_call() -> None:
    png = Binary(b"\x89PNG\r\n\x1a\nxx", "image/png")
    assert TaskCall("image-classification", png).hf_body() == (png, "image/png")
    body, ctype = TaskCall("image-classification", png, {"top_k": 2}).hf_body()
    assert ctype == "application/json" and body == b'{"inputs":"iVBORw0KGgp4eA==","parameters":{"top_k":2}}'
    vqa, _ = TaskCall("visual-question-answering", {"image": png, "question": "?"}).hf_body()
    assert vqa == b'{"inputs":{"image":"iVBORw0KGgp4eA==","question":"?"}}'


async def test_spooled_bodies_spill_to_disk_and_read_back_whole() -> None:
    small = SpooledBody("audio/wav", memory_limit=100)
    small.write(b"a" * 60)
    assert not small.finish().on_disk and small.read() == b"a" * 60
    big = SpooledBody(None, memory_limit=100)
    for _ in range(50):
        big.write(b"\x89PNG\r\n\x1a\n" + b"z" * 1000)
    big.finish()
    assert big.on_disk and big.size == 50 * 1008 and big.content_type == "image/png"
    chunks = [c async for c in big.chunks()]
    assert b"".join(chunks) == big.read() and len(b"".join(chunks)) == big.size
    again = b"".join([c async for c in big.chunks()])  # a failover sends it again
    assert again == big.read()
    big.close()
    assert not big.on_disk


def test_job_bounds_in_config_must_be_positive() -> None:
    from hubroute.config import Settings
    from hubroute.errors import ConfigError

    assert Settings.parse("jobs: {max_wait: 30, poll_interval: 0.5}").jobs.max_wait == 30
    with pytest.raises(ConfigError, match=r"jobs\.max_polls"):
        Settings.parse("jobs: {max_polls: 0}")
    with pytest.raises(ConfigError, match=r"jobs"):
        Settings.parse("jobs: {poll_every: 1}")


async def test_a_raw_step_hands_the_file_to_parse_whatever_its_type(mocks: Mocks, transport: Transport) -> None:
    from hubroute.providers.steps import fetch_file

    mock = await mocks.start()
    mock.enqueue(json_reply(b"hello there", content_type="text/plain"),
                 json_reply(b"\x89PNG-mask", content_type="image/png"))
    text = await run_job(transport, fetch_file(mock.url + "/t.txt", "p", lambda f: Done(f.data.decode())),
                         "p", FAST, QUICK)
    mask = await run_job(transport, fetch_file(mock.url + "/m.png", "p", lambda f: Done(f.content_type)),
                         "p", FAST, QUICK)
    assert (text, mask) == (Done("hello there"), Done("image/png"))
