"""Real coding agents on hubroute: Claude Code (`@anthropic-ai/claude-code`, pinned in
tests/agents/package.json, installed by `npm ci`) in print mode, `ANTHROPIC_BASE_URL` at a real
router whose chat provider is a mock; its telemetry, updates and other traffic switched off (only the
package registries are reachable here)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from tests.conftest import Mocks, RouterFactory
from tests.e2e.support import MODEL, config
from tests.mocks import sse_reply, stream_events
from tests.npm import npm_ci

AGENTS = Path(__file__).resolve().parents[1] / "agents"
MASTER = "sk-hubroute-master-key-1"


@pytest.fixture(scope="session")
def claude() -> Path:
    npm_ci(AGENTS, "the agent tests run Claude Code, an npm package")
    return AGENTS / "node_modules" / ".bin" / "claude"


@pytest.mark.timeout(180)
async def test_claude_code_answers_through_the_messages_api(claude: Path, mocks: Mocks, router: RouterFactory,
                                                          tmp_path: Path) -> None:
    a = await mocks.start("a", default=sse_reply(stream_events(["Hi", " from", " hubroute's", " provider"])))
    r = await router.start(config(a, server={"master_key": MASTER}, aliases={"coder": MODEL}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    env.update(HOME=str(tmp_path), ANTHROPIC_BASE_URL=r.url, ANTHROPIC_AUTH_TOKEN=MASTER, ANTHROPIC_MODEL="coder",
               ANTHROPIC_SMALL_FAST_MODEL="coder", DISABLE_TELEMETRY="1", DISABLE_AUTOUPDATER="1",
               DISABLE_ERROR_REPORTING="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1")
    proc = await asyncio.create_subprocess_exec(str(claude), "-p", "say hi", cwd=tmp_path, env=env,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 150)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert out.decode().strip() == "Hi from hubroute's provider"
    asked = [orjson.loads(x.body) for x in a.received if x.path.endswith("/chat/completions")]
    assert asked and all(body["model"] == "a-model" and body["stream"] for body in asked)
    first = asked[0]
    assert first["messages"][0]["role"] == "system" and len(first.get("tools", [])) > 5  # its prompt and tools
    assert any(m["role"] == "user" and "say hi" in str(m["content"]) for m in first["messages"])
