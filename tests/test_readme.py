"""README says what is true: its first lines are the two commands, its provider table is the code's."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_first_lines_are_install_and_test_commands() -> None:
    lines = README.splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```", lines.index("```bash") + 1)]
    assert "hubroute serve" in block[0] and "pip install -e ." in block[0]
    assert block[1].split("#")[0].strip().endswith(".venv/bin/pytest")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    install, _, run = block[1].split("#")[0].strip().rpartition(" && ")
    assert install in ci, ".ci/run must install exactly as README says"
    assert run in ci, ".ci/run must run exactly README's test command"


def test_provider_table_matches_registry() -> None:
    table = runpy.run_path(str(ROOT / "scripts" / "provider_table.py"))["table"]()
    start = README.index("<!-- providers:start -->\n") + len("<!-- providers:start -->\n")
    end = README.index("\n<!-- providers:end -->")
    assert README[start:end] == table, "README's provider table is stale: run python scripts/provider_table.py"
