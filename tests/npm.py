"""npm packages the tests run (the seed's JavaScript examples, real coding agents): `npm ci` into a
folder of tests/ from its pinned lock, once per lock."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def tool(name: str, why: str) -> str:
    """The path of `node` or `npm`: missing, a failure in CI, else a skip saying `why` it is needed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: {why}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def npm_ci(folder: Path, why: str) -> str:
    """`npm ci` into `folder` (skipped when its node_modules came from this very lock); node's path.
    Tests on several xdist workers may ask at once: one installs while the others wait (`npm ci`
    empties node_modules first, under a program another worker may be running)."""
    node, npm = tool("node", why), tool("npm", why)
    lock = (folder / "package-lock.json").read_bytes()
    stamp = folder / "node_modules" / ".hubroute-lock-sha256"
    digest = hashlib.sha256(lock).hexdigest()
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"hubroute-tests-npm-{name}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        _install(npm, folder, stamp, digest)
    return node


def _install(npm: str, folder: Path, stamp: Path, digest: str) -> None:
    if not (stamp.exists() and stamp.read_text() == digest):
        proc = subprocess.run([npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"npm ci failed:\n{proc.stdout}\n{proc.stderr}"
        stamp.write_text(digest)
