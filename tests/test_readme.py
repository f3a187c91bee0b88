"""README says what is true: its first lines are the two commands, its provider table is the code's,
its code map names every module of the package and nothing that is not there, its configuration
example is a config the router takes."""

from __future__ import annotations

import re
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


# --- the code map --------------------------------------------------------------------------------
# The map is the first code block under "## Code map": an indented tree. A line that starts with a
# folder (`routing/`) opens it: names on that line and on the lines indented under it are inside
# it. Any word on a line that ends in `.py`, `.json` or `/` is a name (descriptions may name files
# too: `routes/  chat.py (...), embeddings.py`); a name may hold a path (`data/tasks.json`).
NAME = re.compile(r"(?<![\w/.:{<>-])((?:[\w-]+/)*[\w-]+\.(?:py|json)|(?:[\w-]+/)+)(?=[\s,;:)]|$)")
PACKAGE = ROOT / "src" / "hubroute"


def code_map() -> list[str]:
    section = README[README.index("\n## Code map\n") :]
    start = section.index("```\n") + len("```\n")
    return section[start : section.index("```", start)].splitlines()


def names_in_map(lines: list[str]) -> set[Path]:
    """Every name the map gives, as a path from the repository's root."""
    names: set[Path] = set()
    folders: list[tuple[int, Path]] = [(-1, Path())]  # (indent, folder) of the folders open
    for line in lines:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while folders[-1][0] >= indent:
            folders.pop()
        here = folders[-1][1]
        first = line.split()[0]
        if first.endswith("/") and NAME.fullmatch(first):
            here = here / first
            folders.append((indent, here))
            names.add(here)
            line = line.replace(first, "", 1)
        names.update(here / name for name in NAME.findall(line))
    return names


def modules_in_tree() -> set[Path]:
    """What the map must name: every module (but `__init__.py`) and every subpackage of hubroute."""
    found = set()
    for path in PACKAGE.rglob("*"):
        if "__pycache__" in path.parts or path.name == "__init__.py":
            continue
        if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists()):
            found.add(path.relative_to(ROOT))
    return found


def test_code_map_parser_reads_folders_and_descriptions() -> None:
    lines = [
        "src/pkg/",
        "  a.py               one module; its data in data/x.json",
        "  sub/               b.py, c.py (and more)",
        "                     d.py: the description's second line, still in the folder sub",
        "    e.py             indented under sub",
        "  f.py               back in pkg; org/model and os.environ/ are not names",
        "tests/               unit/, e2e/",
    ]
    assert names_in_map(lines) == {
        Path(p)
        for p in (
            "src/pkg",
            "src/pkg/a.py",
            "src/pkg/data/x.json",
            "src/pkg/sub",
            "src/pkg/sub/b.py",
            "src/pkg/sub/c.py",
            "src/pkg/sub/d.py",
            "src/pkg/sub/e.py",
            "src/pkg/f.py",
            "tests",
            "tests/unit",
            "tests/e2e",
        )
    }


def test_code_map_names_every_module() -> None:
    missing = sorted(str(p.relative_to("src/hubroute")) for p in modules_in_tree() - names_in_map(code_map()))
    assert not missing, f"README's code map does not name: {', '.join(missing)}"


def test_code_map_names_only_what_exists() -> None:
    stale = sorted(str(p) for p in names_in_map(code_map()) if not (ROOT / p).exists())
    assert not stale, f"README's code map names what is not in the tree: {', '.join(stale)}"


def test_the_configuration_example_is_a_valid_config() -> None:
    """README's commented configuration (every section, with its defaults) parses as the router reads a
    config, its `os.environ/...` references given values."""
    from hubroute.config import Settings

    section = README[README.index("\n## Configuration\n"):]
    text = section[section.index("```yaml\n") + len("```yaml\n"):section.index("```", section.index("```yaml\n") + 8)]
    env = {name: "x" * 32 for name in set(re.findall(r"os\.environ/(\w+)", text))}
    settings = Settings.parse(text, env)
    assert settings.responses.retention_days == 30 and settings.redis.on_error == "open"
    assert settings.store.ledger_retention_days is None  # (the default: the ledger keeps everything)
