"""`hubroute serve` as a subprocess, as a user runs it (the `serve` fixture is in conftest.py)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import httpx2 as httpx

from tests.ports import free_port

_SCRIPT = Path(sys.executable).with_name("hubroute")
HUBROUTE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "hubroute.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without credentials that would change what the router does."""
    drop = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUBROUTE_MASTER_KEY", "HF_ENDPOINT")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_API_KEY")}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


class Serve:
    """One `hubroute serve` subprocess; stderr goes to a file (a pipe could fill up and stall it)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc: asyncio.subprocess.Process | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr_path = tmp / f"stderr-{self.port}.log"

    async def start(self, conf: str, *args: str, env: dict[str, str] | None = None) -> Serve:
        path = self.tmp / f"config-{self.port}.yaml"
        path.write_text(conf)
        with self.stderr_path.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *HUBROUTE, "serve", "--config", str(path), "--port", str(self.port), *args,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=err,
                env=env or clean_env(),
            )
        return self

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    async def wait(self, timeout: float = 10) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def healthy(self, timeout: float = 10) -> float:
        """Seconds until GET /health answers 200."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=1) as c:
            while time.monotonic() - started < timeout:
                assert self.proc is not None and self.proc.returncode is None, self.stderr
                try:
                    if (await c.get(f"{self.url}/health")).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.02)
        raise AssertionError(f"router not healthy in {timeout}s: {self.stderr}")

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
