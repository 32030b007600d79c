"""``botkit new``: the project it writes passes its own tests out of the box."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from botkit.scaffold import module_name
from botkit.server._db_lock import DatabaseLock
from botkit.store import SQLiteStore


def botkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args], capture_output=True, text=True, cwd=cwd,
        timeout=120,
    )  # fmt: skip


def test_new_project_passes_its_own_tests(tmp_path: Path) -> None:
    created = botkit("new", "demo", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "demo"
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == [
        ".gitignore", "README.md", "bots/__init__.py", "bots/demo.py", "flows/demo.yaml",
        "pyproject.toml", "tests/flows/demo.test.yaml", "tests/test_flows.py",
    ]  # fmt: skip
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q"], capture_output=True, text=True, cwd=project,
        timeout=120,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout
    readme = (project / "README.md").read_text()
    assert "botkit chat flows/demo.yaml" in readme
    assert "pytest" in readme
    assert botkit("test", cwd=project).returncode == 0
    assert botkit("validate", "--strict", "flows", cwd=project).returncode == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
async def test_what_a_served_database_leaves_beside_it_is_ignored(tmp_path: Path) -> None:
    # `botkit serve` in a new project writes its database, SQLite's WAL and shared-memory
    # files, and the lock that keeps a second server off: none should show up in git.
    async def git(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "git", *args, cwd=project, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await process.communicate()
        assert process.returncode == 0
        return out.decode()

    project = tmp_path / "demo"
    await asyncio.to_thread(botkit, "new", "demo", cwd=tmp_path)
    await git("init", "-q")
    database = project / "botkit.db"
    with DatabaseLock(database):
        store = SQLiteStore(database)
        await store.open()
        try:
            beside = sorted(p.name for p in project.iterdir() if p.name.startswith("botkit.db"))
            status = await git("status", "--porcelain", "--untracked-files=all")
        finally:
            await store.close()
    assert {"botkit.db", "botkit.db-wal", "botkit.db.lock"} <= set(beside)
    assert not [name for name in beside if name in status]
    assert "README.md" in status  # the project's own files do show


def test_new_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    result = botkit("new", "demo", cwd=tmp_path)
    assert result.returncode == 1
    assert "already exists" in result.stderr


@pytest.mark.parametrize(
    ("name", "module"), [("Pizza Bot", "pizza_bot"), ("42-answers", "bot_42_answers")]
)
def test_names_become_module_names(name: str, module: str) -> None:
    assert module_name(name) == module
