"""`hubroute serve` as a user runs it: a real subprocess, its exit code and its stderr. Mock providers
run in the test's event loop, so the subprocess is driven with asyncio (never a blocking wait)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import Mocks
from tests.e2e.serving import HUBROUTE, Serve, clean_env
from tests.e2e.support import HI, MODEL, config, content_of
from tests.mocks import sse_reply, stream_events

# --- bad configs ----------------------------------------------------------------------------------
BAD_CONFIGS = [
    ("unknown-key", "server:\n  port: 8080\n  bogus: 1\n", ["server.bogus", "unknown key"]),
    ("wrong-type", "server:\n  port: eighty\n", ["server.port"]),
    ("wrong-nested-type", "routing:\n  timeouts:\n    first_byte: soon\n", ["routing.timeouts.first_byte"]),
    ("bad-value", "routing:\n  max_attempts: 0\n", ["routing.max_attempts"]),
    ("missing-env", "server:\n  master_key: os.environ/HUBROUTE_TEST_UNSET_VAR\n",
     ["server.master_key", "HUBROUTE_TEST_UNSET_VAR"]),
    ("invalid-yaml", "server:\n  port: [8080\n", ["not valid YAML", "line"]),
    ("not-a-mapping", "- just\n- a list\n", ["mapping"]),
    ("unknown-provider", "providers:\n  nosuch:\n    api_key: x\n", ["providers.nosuch", "unknown provider"]),
    ("compat-without-url", "providers:\n  mine:\n    type: openai-compatible\n", ["providers.mine.base_url"]),
    ("bad-litellm-model", "model_list:\n  - model_name: x\n    litellm_params:\n      model: azure/gpt-4o\n",
     ["model_list[0].litellm_params.model"]),
    ("alias-unknown-provider", "aliases:\n  fast: meta-llama/Llama-3.3-70B-Instruct:nosuch\n",
     ["aliases.fast", ":nosuch"]),
    ("alias-unknown-policy", "aliases:\n  fast: meta-llama/Llama-3.3-70B-Instruct:quickest\n",
     ["aliases.fast", ":quickest"]),
    ("model-unknown-provider", "models:\n  - id: a/b\n    providers:\n      - provider: my-vlm\n",
     ["models[0].providers[0].provider", "unknown provider 'my-vlm'"]),
    ("bad-discovery", "discovery:\n  refresh: -1\n", ["discovery.refresh"]),
    ("bad-store-url", "store:\n  url: mysql://db/hubroute\n", ["store.url", "unknown database 'mysql'"]),
    ("store-unreachable", "store:\n  url: postgresql://postgres@127.0.0.1:1/hubroute\n",
     ["cannot open the store postgresql://postgres@127.0.0.1:1/hubroute", "refused"]),
]


@pytest.mark.parametrize(("conf", "words"), [(c, w) for _, c, w in BAD_CONFIGS], ids=[i for i, _, _ in BAD_CONFIGS])
async def test_bad_config_exits_2_with_one_line(serve: Serve, conf: str, words: list[str]) -> None:
    await serve.start(conf)
    assert await serve.wait() == 2, serve.stderr
    lines = serve.stderr.strip().splitlines()
    assert len(lines) == 1, serve.stderr
    assert lines[0].startswith("hubroute: ")
    for word in words:
        assert word in lines[0], lines[0]
    assert "Traceback" not in serve.stderr


async def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        *HUBROUTE, "serve", "--config", str(tmp_path / "nope.yaml"), stderr=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, env=clean_env())
    _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 2
    assert "nope.yaml" in err.decode() and "Traceback" not in err.decode()


# --- listening beyond loopback --------------------------------------------------------------------
async def test_public_address_without_master_key_is_refused(serve: Serve) -> None:
    await serve.start("", "--host", "0.0.0.0")
    assert await serve.wait() == 2
    line = serve.stderr.strip()
    assert "0.0.0.0" in line and "master_key" in line and "--allow-unauthenticated" in line
    assert "Traceback" not in line


async def test_public_address_allowed_when_asked_or_with_a_key(tmp_path: Path) -> None:
    for args, env in ((["--allow-unauthenticated"], None), ([], clean_env(HUBROUTE_MASTER_KEY="master-key-1234"))):
        s = Serve(tmp_path)
        try:
            await s.start("", "--host", "0.0.0.0", *args, env=env)
            await s.healthy()
        finally:
            await s.stop()


# --- running ---------------------------------------------------------------------------------------
async def test_cold_start_answers_health_and_chat(serve: Serve, mocks: Mocks) -> None:
    a = await mocks.start("a")
    await serve.start(config(a))
    assert await serve.healthy() < 5  # from exec to the first answer
    async with httpx.AsyncClient(base_url=serve.url, timeout=5) as c:
        health = (await c.get("/health")).json()
        resp = await c.post("/v1/chat/completions", json={"model": MODEL, "messages": HI})
    assert health["status"] == "ok"
    assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "a"
    serve.signal(signal.SIGTERM)
    await serve.wait()
    assert "Traceback" not in serve.stderr


async def test_sigterm_lets_an_inflight_stream_finish(serve: Serve, mocks: Mocks) -> None:
    a = await mocks.start("a")
    words = ["one", " two", " three", " four", " five", " six"]
    a.enqueue(sse_reply(stream_events(words), delay=0.15))
    await serve.start(config(a))
    await serve.healthy()
    body = b""
    async with httpx.AsyncClient(base_url=serve.url, timeout=10) as c, c.stream(
            "POST", "/v1/chat/completions", json={"model": MODEL, "messages": HI, "stream": True}) as resp:
        chunks = resp.aiter_bytes()
        body += await anext(chunks)  # the stream is under way...
        serve.signal(signal.SIGTERM)  # ...when the router is told to stop
        await asyncio.sleep(0.2)
        with pytest.raises(httpx.TransportError):  # no new connections are taken meanwhile
            async with httpx.AsyncClient(timeout=1) as other:
                await other.get(f"{serve.url}/health")
        async for chunk in chunks:
            body += chunk
    frames = [f for f in body.decode().split("\n\n") if f]
    assert content_of(frames) == "".join(words)
    assert frames[-1] == "data: [DONE]"
    await serve.wait(timeout=5)  # and then it does stop (its exit status: the next test)
    assert "Traceback" not in serve.stderr


async def test_sigterm_exits_0(serve: Serve, mocks: Mocks) -> None:
    a = await mocks.start("a")
    await serve.start(config(a))
    await serve.healthy()
    serve.signal(signal.SIGTERM)
    assert await serve.wait() == 0


# --- listening, and what the start says ------------------------------------------------------------
def log_lines(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


async def test_a_port_in_use_exits_2_with_one_line_and_nothing_ready(serve: Serve) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", serve.port))
        taken.listen()
        await serve.start("")
        assert await serve.wait() == 2, serve.stderr
    assert serve.stderr.splitlines() == [f"hubroute: cannot listen on 127.0.0.1:{serve.port}: address already in use"]


async def test_ready_is_said_once_when_listening(serve: Serve, mocks: Mocks) -> None:
    a = await mocks.start("a")
    await serve.start(config(a))
    await serve.healthy()
    said = [str(line["msg"]) for line in log_lines(serve.stderr)]
    ready = [i for i, msg in enumerate(said) if "ready" in msg]
    assert len(ready) == 1, said
    assert said[ready[0]].startswith(f"hubroute ready on http://127.0.0.1:{serve.port}: "), said
    assert "1 providers reachable" in said[ready[0]] and "http stack" not in said[ready[0]]
    assert ready[0] > said.index("Application startup complete.")  # uvicorn binds after the app's startup
    assert not [line for line in log_lines(serve.stderr) if line["level"] == "warning"]


async def test_no_credentials_at_all_are_said_in_one_warning(serve: Serve) -> None:
    await serve.start("")
    await serve.healthy()
    warnings = [str(line["msg"]) for line in log_lines(serve.stderr) if line["level"] == "warning"]
    assert len(warnings) == 1, serve.stderr
    assert warnings[0].startswith("no provider is reachable")
    for what in ("HF_TOKEN", "GROQ_API_KEY", "providers:"):
        assert what in warnings[0]
    assert "0 providers reachable" in serve.stderr


@pytest.mark.parametrize(("conf", "env"), [
    ("", {"GROQ_API_KEY": "gsk-test-key"}),
    ("huggingface:\n  token: hf_test_token\n  live_catalog: false\n", {}),
    ("model_list:\n  - model_name: mine\n    litellm_params:\n      model: openai/gpt-4o\n"
     "      api_key: sk-test-key\n", {}),
], ids=["provider-key", "hf-token", "model-list-key"])
async def test_any_credential_means_no_such_warning(serve: Serve, conf: str, env: dict[str, str]) -> None:
    await serve.start(conf, env=clean_env(**env))
    await serve.healthy()
    assert "no provider is reachable" not in serve.stderr, serve.stderr


async def test_the_stock_http_stack_serves_chat_end_to_end(serve: Serve, mocks: Mocks) -> None:
    a = await mocks.start("a")
    words = ["one", " two", " three"]
    a.enqueue(sse_reply(stream_events(words), delay=0.05))
    await serve.start(config(a, server={"http_stack": "stock"}))
    await serve.healthy()
    async with httpx.AsyncClient(base_url=serve.url, timeout=5) as c:
        async with c.stream("POST", "/v1/chat/completions",
                            json={"model": MODEL, "messages": HI, "stream": True}) as resp:
            assert resp.status_code == 200 and resp.headers["x-inference-provider"] == "a"
            body = b"".join([chunk async for chunk in resp.aiter_bytes()])
        whole = await c.post("/v1/chat/completions", json={"model": MODEL, "messages": HI})
        missing = await c.post("/v1/chat/completions", json={"model": "nope/nope", "messages": HI})
    frames = [f for f in body.decode().split("\n\n") if f]
    assert content_of(frames) == "".join(words) and frames[-1] == "data: [DONE]"
    assert whole.status_code == 200 and whole.json()["choices"][0]["message"]["content"]
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"
    assert [r.path for r in a.received] == ["/v1/chat/completions"] * 2
    assert "http stack: stock" in serve.stderr
    serve.signal(signal.SIGTERM)
    assert await serve.wait() == 0
    assert "Traceback" not in serve.stderr


# --- hubroute db upgrade ----------------------------------------------------------------------------
async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*HUBROUTE, *args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=env)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_db_upgrade_makes_the_default_store_then_finds_it_up_to_date(tmp_path: Path) -> None:
    from hubroute.store.migrate import HEAD

    env = clean_env(HUBROUTE_HOME=str(tmp_path / "home"))
    code, out, err = await run_cli("db", "upgrade", env=env)
    assert code == 0, err
    assert out.strip() == f"sqlite:///{tmp_path}/home/hubroute.db: schema {HEAD} (upgraded from an empty database)"
    assert (tmp_path / "home" / "hubroute.db").is_file()
    code, out, _ = await run_cli("db", "upgrade", env=env)
    assert code == 0 and out.strip().endswith(f"schema {HEAD} (up to date)")


async def test_db_upgrade_on_postgresql_hides_the_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", "postgres:s3cret-pw@")  # trust auth: the password is not checked
    code, out, err = await run_cli("db", "upgrade", env=clean_env(HUBROUTE_STORE_URL=url))
    assert code == 0, err
    assert "s3cret-pw" not in out and "***" in out
    code, _, err = await run_cli("db", "upgrade", env=clean_env(HUBROUTE_STORE_URL="postgresql://postgres@127.0.0.1:1/x"))
    assert code == 1 and err.startswith("hubroute: cannot open the store") and len(err.strip().splitlines()) == 1


async def test_db_upgrade_on_postgresql_makes_the_ledgers_partitions_of_the_configured_size(
        postgres_url: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from hubroute.store import create_engine

    def week(start: datetime) -> list[str]:  # today's partition and the next 7 days'
        return [f"usage_{start + timedelta(days=n):%Y%m%d}_{start + timedelta(days=n + 1):%Y%m%d}" for n in range(8)]

    (tmp_path / "hubroute.yaml").write_text(f"store: {{url: '{postgres_url}', ledger_partition: day}}\n")
    before = datetime.now(UTC)
    code, _, err = await run_cli("db", "upgrade", "--config", str(tmp_path / "hubroute.yaml"), env=clean_env())
    assert code == 0, err
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            made = (await conn.execute(sa.text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'usage'::regclass ORDER BY 1"))).scalars().all()
    finally:
        await engine.dispose()
    assert made in ([*week(before), "usage_default"], [*week(datetime.now(UTC)), "usage_default"])  # (midnight)
