"""Real coding agents on hubroute, each pinned in tests/agents/package.json and installed by `npm ci`:
Claude Code (`@anthropic-ai/claude-code`) in print mode, `ANTHROPIC_BASE_URL` at a real router
(/v1/messages), and Codex CLI (`@openai/codex`) in exec mode, a `model_providers` entry of its config at
the router's /v1 (/v1/responses). The router's chat provider is a mock that plays a model doing a task
with one tool call: the agent runs the tool for real, sends its result back, and the mock ends the task
with text. Their telemetry, updates and other traffic are switched off (only the package registries are
reachable here: a call elsewhere would hang, not fail)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import MODEL, config
from tests.mocks import MockProvider, Received, Reply, sse_reply, stream_events
from tests.npm import npm_ci

AGENTS = Path(__file__).resolve().parents[1] / "agents"
MASTER = "sk-hubroute-master-key-1"


def installed(name: str, why: str) -> Path:
    """An agent's executable, `npm ci` first when tests/agents' lock changed."""
    npm_ci(AGENTS, why)
    return AGENTS / "node_modules" / ".bin" / name


@pytest.fixture(scope="session")
def claude() -> Path:
    return installed("claude", "the agent tests run Claude Code, an npm package")


@pytest.fixture(scope="session")
def codex() -> Path:
    return installed("codex", "the agent tests run Codex CLI, an npm package")


def tool_call_events(call_id: str, name: str, arguments: dict[str, Any]) -> list[bytes]:
    """Raw SSE frames of a provider streaming one tool call, its arguments in two pieces, as OpenAI does."""
    raw = orjson.dumps(arguments).decode()

    def frame(choices: list[dict[str, Any]], **more: Any) -> bytes:
        return b"data: " + orjson.dumps({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
                                         "created": 1700000000, "model": "mock-model", "choices": choices, **more})

    def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
        return frame([{"index": 0, "delta": d, "finish_reason": finish}])

    head = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return [delta({"role": "assistant", "content": None, "tool_calls": [head]}),
            *(delta({"tool_calls": [{"index": 0, "function": {"arguments": part}}]})
              for part in (raw[: len(raw) // 2], raw[len(raw) // 2:])),
            delta({}, finish="tool_calls"),
            frame([], usage={"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}),
            b"data: [DONE]"]


def agent_turns(task: str, call: list[bytes], final: list[bytes]) -> Reply:
    """A provider playing a model that does `task` with one tool call: a request carrying a tool's result
    is answered with `final`; one with tools and the user's `task` with `call`; anything else (an agent's
    side requests: a title, a summary) with a short text."""

    async def reply(request: web.Request, mock: MockProvider) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        messages = body.get("messages", [])
        if any(m.get("role") == "tool" for m in messages):
            frames = final
        elif body.get("tools") and any(m.get("role") == "user" and task in str(m.get("content")) for m in messages):
            frames = call
        else:
            frames = stream_events(["side", " answer"])
        answer: web.StreamResponse = await sse_reply(frames)(request, mock)
        return answer

    return reply


def chat_requests(received: list[Received]) -> list[dict[str, Any]]:
    return [orjson.loads(x.body) for x in received if x.path.endswith("/chat/completions")]


def tool_round(asked: list[dict[str, Any]], call_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The assistant message with the tool calls and the tool's result message that follows it, in the one
    request that carries a result."""
    with_results = [b for b in asked if any(m["role"] == "tool" for m in b["messages"])]
    assert len(with_results) == 1, [[m["role"] for m in b["messages"]] for b in asked]
    messages = with_results[0]["messages"]
    at = next(i for i, m in enumerate(messages) if m["role"] == "tool")
    assert messages[at - 1]["role"] == "assistant", [m["role"] for m in messages]
    assert [m.get("tool_call_id") for m in messages[at:]] == [call_id], messages[at:]
    return messages[at - 1], messages[at]


def calls_of(message: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
            for c in message.get("tool_calls") or []]


def claude_env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    env.update(HOME=str(home), ANTHROPIC_BASE_URL=url, ANTHROPIC_AUTH_TOKEN=MASTER, ANTHROPIC_MODEL="coder",
               ANTHROPIC_SMALL_FAST_MODEL="coder", DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1",
               DISABLE_ERROR_REPORTING="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    return env


async def run(*command: str | Path, cwd: Path, env: dict[str, str]) -> str:
    """Run an agent to its end; its stdout (it must succeed)."""
    proc = await asyncio.create_subprocess_exec(*map(str, command), cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out.decode(errors='replace')[-2000:]}\n" \
                                 f"{err.decode(errors='replace')[-4000:]}"
    return out.decode()


@pytest.mark.timeout(180)
async def test_claude_code_answers_through_the_messages_api(claude: Path, mocks: Mocks, router: RouterFactory,
                                                          tmp_path: Path) -> None:
    a = await mocks.start("a", default=sse_reply(stream_events(["Hi", " from", " hubroute's", " provider"])))
    r = await router.start(config(a, server={"master_key": MASTER}, aliases={"coder": MODEL}))
    out = await run(claude, "-p", "say hi", cwd=tmp_path, env=claude_env(tmp_path, r.url))
    assert out.strip() == "Hi from hubroute's provider"
    asked = chat_requests(a.received)
    assert asked and all(body["model"] == "a-model" and body["stream"] for body in asked)
    first = asked[0]
    assert first["messages"][0]["role"] == "system" and len(first.get("tools", [])) > 5  # its prompt and tools
    assert any(m["role"] == "user" and "say hi" in str(m["content"]) for m in first["messages"])


@pytest.mark.timeout(180)
async def test_claude_code_runs_a_tool_through_the_messages_api(claude: Path, mocks: Mocks, router: RouterFactory,
                                                               tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    task = "Create hello.txt saying hi from hubroute"
    write = {"file_path": str(work / "hello.txt"), "content": "hi from hubroute\n"}  # its Write tool's arguments
    a = await mocks.start("a", default=agent_turns(task, tool_call_events("call_write_1", "Write", write),
                                                   stream_events(["Created", " hello.txt"])))
    r = await router.start(config(a, server={"master_key": MASTER}, aliases={"coder": MODEL}))
    # print mode runs no tool that needs a permission; acceptEdits grants file edits in the working directory
    out = await run(claude, "-p", task, "--permission-mode", "acceptEdits", cwd=work, env=claude_env(home, r.url))
    assert (work / "hello.txt").read_text() == "hi from hubroute\n"
    assert out.strip() == "Created hello.txt"
    asked = chat_requests(a.received)
    assert all(body["model"] == "a-model" and body["stream"] for body in asked)
    first = next(b for b in asked if any(task in str(m["content"]) for m in b["messages"]))
    write_tool = next(t["function"] for t in first["tools"] if t["function"]["name"] == "Write")
    assert write_tool["parameters"]["required"] == ["file_path", "content"]
    called, result = tool_round(asked, "call_write_1")
    assert calls_of(called) == [("call_write_1", "Write", write)]
    assert result["content"].startswith("File created successfully at: ") and "hello.txt" in result["content"]


def codex_home(home: Path, url: str) -> Path:
    """A CODEX_HOME whose config.toml sends Codex to `url` (/v1/responses under it), with the master key
    from HUBROUTE_API_KEY, and nothing else: no analytics, telemetry, plugins, update check, nor retries (a
    failed turn fails at once; by default a refused connection is retried "waiting for network" for ever)."""
    home.mkdir()
    (home / "config.toml").write_text(f"""\
model = "coder"
model_provider = "hubroute"
check_for_update_on_startup = false

[model_providers.hubroute]
name = "hubroute"
base_url = "{url}/v1"
env_key = "HUBROUTE_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 60000

[analytics]
enabled = false

[features]
plugins = false
unbounded_connection_retries = false

[otel]
exporter = "none"
""")
    return home


@pytest.mark.timeout(180)
async def test_codex_runs_a_command_through_the_responses_api(codex: Path, mocks: Mocks, router: RouterFactory,
                                                              tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    task = "Create hello.txt saying hi from codex"
    # its shell tool (unified exec, for a model it has no metadata of: "coder"; for OpenAI's own model names
    # it offers code mode instead, a freeform `exec` tool of JavaScript)
    command = {"cmd": "printf 'hi from codex\\n' > hello.txt && cat hello.txt", "workdir": str(work)}
    a = await mocks.start("a", default=agent_turns(task, tool_call_events("call_exec_1", "exec_command", command),
                                                   stream_events(["Wrote", " hello.txt"])))
    r = await router.start(config(a, server={"master_key": MASTER}, aliases={"coder": MODEL}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_", "OTEL_", "RUST_LOG"))}
    env.update(HOME=str(home), CODEX_HOME=str(codex_home(home / ".codex", r.url)), HUBROUTE_API_KEY=MASTER,
               NO_COLOR="1")
    # exec mode: no approvals asked; the sandbox (bubblewrap, seccomp) is off, as in a container it may not run
    out = await run(codex, "exec", "--skip-git-repo-check", "--strict-config", "--color", "never",
                    "--dangerously-bypass-approvals-and-sandbox", task, cwd=work, env=env)
    assert (work / "hello.txt").read_text() == "hi from codex\n"
    assert out.strip() == "Wrote hello.txt"  # stdout has the last message only (the rest goes to stderr)
    asked = chat_requests(a.received)
    assert len(asked) == 2 and all(body["model"] == "a-model" and body["stream"] for body in asked)
    first = asked[0]
    assert any(m["role"] == "user" and task in str(m["content"]) for m in first["messages"])
    assert "exec_command" in [t["function"]["name"] for t in first["tools"] if t["type"] == "function"]
    called, result = tool_round(asked, "call_exec_1")
    assert calls_of(called) == [("call_exec_1", "exec_command", command)]
    # what Codex makes of a command's end: "Chunk ID: ...\nWall time: ...\nProcess exited with code 0\n...Output:\n"
    assert "Process exited with code 0" in result["content"] and "hi from codex" in result["content"]
