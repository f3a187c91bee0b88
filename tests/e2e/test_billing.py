"""Credits and budgets on a real router, with real concurrent clients: a worst case reserved before each
request and settled to its cost after, so that no balance or budget is overdrawn; billing to an
organisation; charges written with the ledger.

Prices here are high ($1,000 / $2,000 per 1M tokens: $0.001 a token in, $0.002 out) so that the sums are
readable: the mock answers with 7 tokens in and 5 out ($0.017); a request for "hi" with max_tokens 10
may cost at most 1 token in and 10 out ($0.021).

Every test runs twice: with the balances in the router's process, and with them in Redis
(`redis.url`: `store.shared_money`), where every router process and instance would share them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from hubroute.store import create_engine
from hubroute.store.schema import usage
from tests.audio_files import m4a, mp3_cbr, ogg_opus, wav, webm
from tests.conftest import Mocks, RouterFactory, RunningRouter, SharedRedis
from tests.e2e.support import CHAT, HI, MODEL, assert_error, chat, config
from tests.mocks import MockProvider, chat_completion, json_reply, sse_reply, stream_events

MASTER = "sk-hubroute-master-key-1"
ADMIN = {"authorization": f"Bearer {MASTER}"}
PRICES = {"a": {"input": 1000.0, "output": 2000.0}}
COST = 0.017
WORST = 0.021

#: the Redis of the test running, when its balances are kept there
_shared: SharedRedis | None = None


@pytest.fixture(autouse=True, params=["in-process", "redis"])
def balances_kept(request: pytest.FixtureRequest) -> Any:
    global _shared
    _shared = request.getfixturevalue("redis") if request.param == "redis" else None
    yield request.param
    _shared = None


def shared() -> dict[str, Any]:
    """The config sections that keep balances in Redis, for the tests that run so."""
    return {"redis": _shared.settings()} if _shared is not None else {}


def gated(mock: MockProvider) -> asyncio.Event:
    """The mock answers once the event is set: the requests it takes in are all in flight together."""
    gate = asyncio.Event()

    async def reply(request: Any, m: MockProvider) -> Any:
        await gate.wait()
        return await json_reply(chat_completion())(request, m)

    mock.default = reply
    return gate


async def at_once(mock: MockProvider, gate: asyncio.Event, n: int, send: Any, served: int) -> list[Any]:
    """`n` requests (`send()`) at once, answered once `served` of them have reached the mock and the
    others have been answered (refused): so that none comes after another is settled, however slowly
    the machine runs them."""
    before = mock.hits
    tasks = [asyncio.create_task(send()) for _ in range(n)]
    deadline = time.monotonic() + 30
    while mock.hits - before < served or sum(t.done() for t in tasks) < n - served:
        assert time.monotonic() < deadline, (mock.hits - before, sum(t.done() for t in tasks))
        await asyncio.sleep(0.01)
    assert mock.hits - before == served  # (none more comes: the rest were answered)
    gate.set()
    return list(await asyncio.gather(*tasks))


async def billed(mocks: Mocks, router: RouterFactory, tmp_path: Any,
                 **billing: Any) -> tuple[RunningRouter, MockProvider]:
    a = await mocks.start("a")
    r = await router.start(config(a, pricing=PRICES, server={"master_key": MASTER},
                                  billing={"credits": True, **billing},
                                  store={"url": f"sqlite:///{tmp_path / 'h.db'}", "flush_interval": 0.05},
                                  **shared()))
    async with r.client(headers=ADMIN) as c:
        for name in ("ada", "bob"):
            assert (await c.post("/admin/v1/users", json={"name": name})).status_code == 201
        assert (await c.post("/admin/v1/orgs", json={"name": "acme"})).status_code == 201
        assert (await c.post("/admin/v1/orgs/acme/members", json={"user": "ada"})).status_code == 201
    return r, a


async def key_of(r: RunningRouter, **body: Any) -> dict[str, str]:
    async with r.client(headers=ADMIN) as c:
        resp = await c.post("/admin/v1/keys", json={"user": "ada", **body})
    assert resp.status_code == 201, resp.text
    return {"authorization": f"Bearer {resp.json()['key']}"}


async def grant(r: RunningRouter, usd: float, **account: str) -> float:
    async with r.client(headers=ADMIN) as c:
        resp = await c.post("/admin/v1/credits", json={"usd": usd, **(account or {"user": "ada"})})
    assert resp.status_code == 201, resp.text
    return float(resp.json()["balance_usd"])


async def balance(r: RunningRouter, **account: str) -> float:
    async with r.client(headers=ADMIN) as c:
        return float((await c.get("/admin/v1/credits", params=account or {"user": "ada"})).json()["balance_usd"])


async def test_concurrent_requests_never_overdraw_the_credits(mocks: Mocks, router: RouterFactory,
                                                             tmp_path: Any) -> None:
    r, a = await billed(mocks, router, tmp_path)
    gate = gated(a)
    auth = await key_of(r)
    await grant(r, 10 * WORST + 0.0001)  # affords ten at their worst
    answers = await at_once(a, gate, 50, lambda: chat(r, headers=auth, max_tokens=10), served=10)
    served = [x for x in answers if x.status_code == 200]
    refused = [x for x in answers if x.status_code == 402]
    assert len(served) == 10 and len(refused) == 40 and a.hits == 10
    err = assert_error(refused[0], 402, "insufficient_credits")
    assert err["message"] == ("Insufficient credits: this request can cost up to $0.021000; $0.000100 left: "
                              "add credits")  # (the ten in flight hold the rest)
    left = await balance(r)
    assert left == pytest.approx(10 * WORST + 0.0001 - 10 * COST)  # each settled at its cost: $0.0401 left
    # what is left affords two more at their worst ($0.0401, then $0.0231), then a smaller max_tokens only
    for _ in range(2):
        assert (await chat(r, headers=auth, max_tokens=10)).status_code == 200
    err = assert_error(await chat(r, headers=auth, max_tokens=10), 402, "insufficient_credits")
    assert err["message"].endswith("$0.006100 left: lower max_tokens to 2 or add credits"), err["message"]
    assert (await chat(r, headers=auth, max_tokens=2)).status_code == 200
    assert (await chat(r, headers=ADMIN)).status_code == 200  # the master key is no account: never charged


async def test_charges_reach_the_database_with_the_ledger(mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    r, _ = await billed(mocks, router, tmp_path)
    auth = await key_of(r)
    await grant(r, 1.0)
    for _ in range(3):
        assert (await chat(r, headers=auth, max_tokens=10)).status_code == 200
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        deadline = time.monotonic() + 5
        while True:
            async with engine.connect() as conn:
                charged = (await conn.execute(sa.select(sa.func.sum(usage.c.charged_nano)))).scalar()
                credits = (await conn.execute(sa.text("SELECT credits_nano FROM users WHERE name = 'ada'"))).scalar()
            if charged == 3 * 17_000_000:
                break
            assert time.monotonic() < deadline, charged
            await asyncio.sleep(0.05)
        assert credits == 1_000_000_000 - 3 * 17_000_000  # exact, in nano-dollars
    finally:
        await engine.dispose()


async def test_a_stream_cut_by_the_client_is_charged_what_was_generated(
        mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    r, a = await billed(mocks, router, tmp_path)
    a.default = sse_reply(stream_events([f" w{i}" for i in range(40)], usage=False), delay=0.05)
    auth = await key_of(r)
    await grant(r, 1.0)
    async with r.client(headers=auth) as c, c.stream(
            "POST", CHAT, json={"model": MODEL, "messages": HI, "stream": True, "max_tokens": 100}) as resp:
        assert resp.status_code == 200
        got = 0
        async for _ in resp.aiter_bytes():
            got += 1
            if got >= 5:
                break  # the client goes away mid-stream
    deadline = time.monotonic() + 5
    while (left := await balance(r)) == 1.0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    spent = 1.0 - left
    assert 0.001 < spent < 40 * 0.002  # counted tokens of what was relayed: some, not all 40


async def test_billing_an_organisation(mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    r, _ = await billed(mocks, router, tmp_path)
    ada, bob = await key_of(r), await key_of(r, user="bob")
    await grant(r, 1.0, org="acme")
    assert_error(await chat(r, headers=ada, max_tokens=10), 402, "insufficient_credits")  # ada's own: none
    assert (await chat(r, headers={**ada, "x-hf-bill-to": "acme"}, max_tokens=10)).status_code == 200
    assert await balance(r, org="acme") == pytest.approx(1.0 - COST)
    not_member = assert_error(await chat(r, headers={**bob, "x-hf-bill-to": "acme"}), 403, "bill_to_denied")
    unknown = assert_error(await chat(r, headers={**bob, "x-hf-bill-to": "nosuch-org"}), 403, "bill_to_denied")
    assert not_member["message"].replace("acme", "X") == unknown["message"].replace("nosuch-org", "X")
    service = await key_of(r, user=None, org="acme")  # an organisation's own key bills it
    assert (await chat(r, headers=service, max_tokens=10)).status_code == 200
    assert await balance(r, org="acme") == pytest.approx(1.0 - 2 * COST)


async def test_a_keys_budget_is_never_overshot(mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    r, a = await billed(mocks, router, tmp_path, credits=False)
    gate = gated(a)
    auth = await key_of(r, budget={"usd": 0.1061, "period": "day"})  # five at their worst ($0.105)
    answers = await at_once(a, gate, 30, lambda: chat(r, headers=auth, max_tokens=10), served=5)
    assert sorted(x.status_code for x in answers) == [200] * 5 + [402] * 25
    err = assert_error(next(x for x in answers if x.status_code == 402), 402, "budget_exceeded")
    assert "the key's budget of $0.1061 a day" in err["message"] and "resets at" in err["message"]
    # settled at their cost ($0.017 each), the five leave room for one more ($0.085 + $0.021 <= $0.1061)
    assert (await chat(r, headers=auth, max_tokens=10)).status_code == 200
    assert_error(await chat(r, headers=auth, max_tokens=10), 402, "budget_exceeded")
    async with r.client(headers=auth) as c:
        mine = (await c.get("/v1/key")).json()
    assert mine["budget"]["spent_usd"] == pytest.approx(6 * COST) and mine["budget"]["period"] == "day"


async def test_a_users_budget_holds_across_its_keys(mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    r, _ = await billed(mocks, router, tmp_path, credits=False)
    async with r.client(headers=ADMIN) as c:
        resp = await c.put("/admin/v1/budgets", json={"user": "ada", "usd": 2 * COST + 0.001, "period": "month"})
        assert resp.status_code == 200, resp.text
    one, two = await key_of(r), await key_of(r)
    assert (await chat(r, headers=one, max_tokens=10)).status_code == 200
    assert (await chat(r, headers=two, max_tokens=10)).status_code == 402  # $0.034+ spent... 0.017 + 0.021 > 0.035
    assert (await chat(r, headers=two, max_tokens=5)).status_code == 200  # a smaller worst case fits
    assert_error(await chat(r, headers=one, max_tokens=1), 402, "budget_exceeded")


async def test_the_python_clients_bill_to_bills_the_organisation(mocks: Mocks, router: RouterFactory,
                                                                tmp_path: Any) -> None:
    from hubroute.client import AsyncInferenceClient

    r, _ = await billed(mocks, router, tmp_path)
    ada = (await key_of(r))["authorization"].removeprefix("Bearer ")
    await grant(r, 1.0, org="acme")
    client = AsyncInferenceClient(base_url=r.url, api_key=ada, bill_to="acme", environ={})
    out = await client.chat_completion(HI, model=MODEL, max_tokens=10)
    assert out.choices[0].message.content == "Hello from the mock"
    assert await balance(r, org="acme") == pytest.approx(1.0 - COST)
    assert await balance(r) == 0.0  # ada's own credits: untouched


async def test_images_are_priced_reserved_and_charged_per_image(mocks: Mocks, router: RouterFactory,
                                                                tmp_path: Any) -> None:
    """Hand-computed: 2 images at $0.04 an image = $0.08, reserved before (2 asked for) and charged after."""
    import base64

    import yaml

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n image").decode()
    nebius = await mocks.start("nebius", default=json_reply({"data": [{"b64_json": png}]}))
    db = f"sqlite:///{tmp_path / 'h.db'}"
    r = await router.start(yaml.safe_dump({
        "server": {"master_key": MASTER}, "huggingface": {"live_catalog": False},
        "providers": {"nebius": {"api_key": "nebius-key-123", "base_url": nebius.url}},
        "models": [{"id": "acme/image-model", "task": "text-to-image", "providers": [
            {"provider": "nebius", "provider_id": "black-forest-labs/flux-dev", "pricing": {"image": 0.04}}]}],
        "billing": {"credits": True}, "store": {"url": db, "flush_interval": 0.05}}))
    async with r.client(headers=ADMIN) as c:
        await c.post("/admin/v1/users", json={"name": "ada"})
        key = (await c.post("/admin/v1/keys", json={"user": "ada"})).json()["key"]
        await c.post("/admin/v1/credits", json={"user": "ada", "usd": 0.1})
    auth = {"authorization": f"Bearer {key}"}
    async with r.client(headers=auth) as c:
        body = {"model": "acme/image-model", "prompt": "a lighthouse", "n": 2}
        assert (await c.post("/v1/images/generations", json=body)).status_code == 200  # $0.08 of $0.10
        refused = await c.post("/v1/images/generations", json=body)  # $0.08 more: $0.02 left
    err = assert_error(refused, 402, "insufficient_credits")
    assert "can cost up to $0.080000; $0.020000 left" in err["message"]
    assert await balance(r) == pytest.approx(0.02)
    engine = create_engine(db)
    try:
        deadline = time.monotonic() + 5
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.select(usage.c.images, usage.c.cost_nano, usage.c.charged_nano)
                                           .where(usage.c.status == 200))).all()
            if rows:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert [tuple(x) for x in rows] == [(2, 80_000_000, 80_000_000)]
    finally:
        await engine.dispose()



async def _priced_router(router: RouterFactory, tmp_path: Any, provider: MockProvider, model: dict[str, Any],
                         **billing: Any) -> tuple[RunningRouter, dict[str, str], str]:
    """A router whose one model is served by `provider` at its price; a key of ada's (no credits yet)."""
    import yaml

    db = f"sqlite:///{tmp_path / 'h.db'}"
    r = await router.start(yaml.safe_dump({
        "server": {"master_key": MASTER}, "huggingface": {"live_catalog": False},
        "providers": {provider.name: {"api_key": f"{provider.name}-key-123", "base_url": provider.url}},
        "models": [model], "billing": {"credits": True, **billing}, "store": {"url": db, "flush_interval": 0.05}}))
    async with r.client(headers=ADMIN) as c:
        await c.post("/admin/v1/users", json={"name": "ada"})
        key = (await c.post("/admin/v1/keys", json={"user": "ada"})).json()["key"]
    return r, {"authorization": f"Bearer {key}"}, db


async def _ledger(db: str, count: int, *columns: str) -> list[tuple[Any, ...]]:
    """The named columns of the ledger's rows of answered requests, once the ledger has written `count`."""
    engine = create_engine(db)
    try:
        deadline = time.monotonic() + 5
        while True:
            async with engine.connect() as conn:
                rows = (await conn.execute(sa.select(*(usage.c[name] for name in columns))
                                           .where(usage.c.status == 200))).all()
            if len(rows) >= count:
                return [tuple(x) for x in rows]
            assert time.monotonic() < deadline, rows
            await asyncio.sleep(0.05)
    finally:
        await engine.dispose()


async def _reserved_exactly(r: RunningRouter, send: Any, nano: int, message: str) -> None:
    """A request whose worst case is `nano` nano-dollars, and whose cost is the same, reserves exactly
    that: with 2 x `nano` - 1 left, the first is served and the second refused (1 short: so it reserved
    more than `nano` - 1); one nano-dollar more and it is served (so it reserved no more than `nano`).
    The balance ends at zero."""
    assert await grant(r, (2 * nano - 1) / 1e9) == pytest.approx((2 * nano - 1) / 1e9)
    first = await send()
    assert first.status_code == 200, first.text
    err = assert_error(await send(), 402, "insufficient_credits")
    assert message in err["message"], err["message"]
    assert await balance(r) == pytest.approx((nano - 1) / 1e9, abs=1e-12)
    await grant(r, 1e-9)
    third = await send()
    assert third.status_code == 200, third.text
    assert await balance(r) == 0.0


WHISPER = "openai/whisper-large-v3"


@pytest.mark.parametrize("provider", ["fal-ai", "deepinfra"])
async def test_speech_recognition_is_priced_reserved_and_charged_per_second_of_audio(
        mocks: Mocks, router: RouterFactory, tmp_path: Any, provider: str) -> None:
    """Hand-computed: 2.5 s of audio (40,000 samples at 16 kHz, read from the WAV's header) at $0.01 a
    second = $0.025 = 25,000,000 nano-dollars, reserved before (the audio's length is known before it is
    sent) and charged after, whatever the answer says. fal-ai is asked in Hugging Face's form (the raw
    audio to POST /models/...), deepinfra in OpenAI's (a multipart upload to /v1/audio/transcriptions);
    neither request asks for timestamps, so neither answer as relayed carries any."""
    audio = wav(2.5)
    if provider == "fal-ai":  # fal's sync API, its recorded answer's shape (the speech ends before the audio)
        answer = {"text": " hello there", "chunks": [{"timestamp": [0, 2.1], "text": " hello there", "speaker": None}],
                  "inferred_languages": ["en"], "diarization_segments": []}
        provider_id = "fal-ai/whisper"
    else:  # deepinfra's OpenAI-compatible transcription (response_format json: the text alone)
        answer = {"text": "hello there"}
        provider_id = "openai/whisper-large-v3"
    mock = await mocks.start(provider, default=json_reply(answer))
    r, auth, db = await _priced_router(router, tmp_path, mock, {
        "id": WHISPER, "task": "automatic-speech-recognition",
        "providers": [{"provider": provider, "provider_id": provider_id, "pricing": {"second": 0.01}}]})

    async def transcribe() -> Any:
        async with r.client(headers=auth) as c:
            if provider == "fal-ai":
                resp = await c.post(f"/models/{WHISPER}", content=audio, headers={"content-type": "audio/wav"})
            else:
                resp = await c.post("/v1/audio/transcriptions", data={"model": WHISPER},
                                    files={"file": ("hello.wav", audio, "audio/wav")})
        if resp.status_code == 200:
            assert resp.json()["text"].strip() == "hello there"
        return resp

    # $0.049999999 left: one served ($0.025), the next refused ($0.024999999 left), one more nano-dollar: served
    await _reserved_exactly(r, transcribe, 25_000_000, "can cost up to $0.025000; $0.025000 left")
    assert mock.hits == 2  # the refused request never reached the provider
    assert await _ledger(db, 2, "seconds", "cost_nano", "charged_nano") == [(2.5, 25_000_000, 25_000_000)] * 2


@pytest.mark.parametrize(("name", "audio", "seconds"), [
    ("speech.mp3", mp3_cbr(384), 384 * 417 * 8 / 128_000),  # 10.008 s at 128 kbit/s
    ("speech.m4a", m4a(7.5), 7.5),
    ("speech.ogg", ogg_opus(3.25), 3.25),
    ("speech.webm", webm(12.0), 12.0),
], ids=["mp3", "m4a", "ogg-opus", "webm"])
async def test_transcriptions_are_charged_by_the_length_their_header_says(
        mocks: Mocks, router: RouterFactory, tmp_path: Any, name: str, audio: bytes, seconds: float) -> None:
    """Each format is charged its length at $0.01 a second, though the answer says nothing of it."""
    mock = await mocks.start("deepinfra", default=json_reply({"text": "hello there"}))
    r, auth, db = await _priced_router(router, tmp_path, mock, {
        "id": WHISPER, "task": "automatic-speech-recognition",
        "providers": [{"provider": "deepinfra", "provider_id": WHISPER, "pricing": {"second": 0.01}}]})
    await grant(r, 1.0)
    async with r.client(headers=auth) as c:
        resp = await c.post("/v1/audio/transcriptions", data={"model": WHISPER}, files={"file": (name, audio)})
    assert resp.status_code == 200, resp.text
    cost = round(seconds * 0.01 * 1e9)
    [(measured, cost_nano, charged)] = await _ledger(db, 1, "seconds", "cost_nano", "charged_nano")
    assert measured == pytest.approx(seconds) and cost_nano == charged == pytest.approx(cost, abs=1)
    assert await balance(r) == pytest.approx(1.0 - charged / 1e9, abs=1e-9)


KOKORO = "hexgrad/Kokoro-82M"


@pytest.mark.parametrize("route", ["hf", "openai"])
async def test_speech_is_priced_reserved_and_charged_per_character_with_the_markup(
        mocks: Mocks, router: RouterFactory, tmp_path: Any, route: str) -> None:
    """Hand-computed: 40 characters at $15 per 1M characters = $0.0006 = 600,000 nano-dollars (the
    provider's price: the ledger's cost); with the operator's 25% markup, $0.00075 = 750,000 nano-dollars,
    reserved before (the text is known) and charged after. Asked in Hugging Face's form (POST /models/...)
    and in OpenAI's (/v1/audio/speech); deepinfra answers the audio itself."""
    text = "The quick brown fox jumps over a lazy do"
    assert len(text) == 40
    mock = await mocks.start("deepinfra", default=json_reply(wav(0.01), content_type="audio/wav"))
    r, auth, db = await _priced_router(router, tmp_path, mock, {
        "id": KOKORO, "task": "text-to-speech",
        "providers": [{"provider": "deepinfra", "provider_id": KOKORO, "pricing": {"characters": 15.0}}]},
        markup=0.25)

    async def speak() -> Any:
        async with r.client(headers=auth) as c:
            if route == "hf":
                resp = await c.post(f"/models/{KOKORO}", json={"inputs": text})
            else:
                resp = await c.post("/v1/audio/speech", json={"model": KOKORO, "input": text})
        if resp.status_code == 200:
            assert resp.headers["content-type"] == "audio/wav"
        return resp

    # $0.001499999 left: one served ($0.00075), the next refused ($0.000749999 left), one more nano-dollar: served
    await _reserved_exactly(r, speak, 750_000, "can cost up to $0.000750; $0.000750 left")
    assert mock.received[0].json == {"input": text, "model": KOKORO}
    assert mock.hits == 2
    assert await _ledger(db, 2, "characters", "cost_nano", "charged_nano") == [(40, 600_000, 750_000)] * 2
