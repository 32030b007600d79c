"""``botkit new``: a new bot project that runs and passes its own tests out of the box."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["create_project", "module_name"]


def module_name(name: str) -> str:
    """A Python module name for a project name: ``Pizza Bot`` -> ``pizza_bot``."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    if not words:
        raise ValueError(f"{name!r} has no letters or digits to name a bot after")
    module = "_".join(words).lower()
    return module if module[0].isalpha() else f"bot_{module}"


def create_project(target: Path, name: str) -> list[Path]:
    """Write the project into ``target`` (which must not exist yet); the files written."""
    if target.exists():
        raise FileExistsError(f"{target} already exists; choose another name or folder")
    module = module_name(name)
    files = {
        "README.md": README,
        "pyproject.toml": PYPROJECT,
        ".gitignore": GITIGNORE,
        f"flows/{module}.yaml": FLOW,
        "bots/__init__.py": '"""Python actions of the flows in flows/."""\n',
        f"bots/{module}.py": ACTIONS,
        f"tests/flows/{module}.test.yaml": FLOW_TEST,
        "tests/test_flows.py": PYTEST,
    }
    written = []
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.replace("{{name}}", name).replace("{{module}}", module))
        written.append(path)
    return written


README = """\
# {{name}}

A chatbot on tyntec's APIs, built with [botkit](https://pypi.org/project/botkit/).

Talk to it in the terminal (no tyntec account needed):

```sh
botkit chat flows/{{module}}.yaml
```

Run its tests:

```sh
pytest
```

The conversation is in `flows/{{module}}.yaml`, its Python actions in `bots/{{module}}.py`,
its conversation tests in `tests/flows/`. Check a flow with `botkit validate flows`, draw it
with `botkit graph flows/{{module}}.yaml`, and serve it on tyntec's webhooks with
`botkit serve flows` (see botkit's docs/deploy.md).
"""

PYPROJECT = """\
[project]
name = "{{module}}"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["botkit"]

[tool.pytest.ini_options]
testpaths = ["tests"]
# Read by pytest-asyncio when it is installed (botkit's test extra has it).
asyncio_default_fixture_loop_scope = "function"
"""

GITIGNORE = """\
__pycache__/
.venv/
*.db
*.db-wal
*.db-shm
*.db.lock
"""

FLOW = """\
flow: {{module}}
description: A first bot - greets, asks a name, and offers a small menu
start: welcome
timeout: 10m
# What the user hears when handling their message fails (an action raises, say).
on_error: "Sorry, something went wrong on my side. Please try again in a minute."

globals:
  - if: {text: [menu, start]}
    goto: menu

states:
  welcome:
    ask: "Hi! I'm {{name}}. What's your name?"
    save: name
    goto: menu
    on:
      - if: timeout
        say: "Still there? Just tell me your name."

  menu:
    call: bots.{{module}}:greeting
    say: "{{ vars.greeting }}, {{ vars.name }}! Reply 1 for opening hours, 2 to say goodbye."
    on:
      - if: {text: ["1", hours]}
        say: "We're open Monday to Friday, 9 to 17."
      - if: {text: ["2", bye]}
        say: "Goodbye, {{ vars.name }}!"
        goto: done
      - else:
        say: "Reply 1 or 2, please."

  done:
    final: true
"""

ACTIONS = '''\
"""Python actions of flows/{{module}}.yaml."""

from __future__ import annotations

from datetime import datetime

from botkit.flow import ActionContext


async def greeting(ctx: ActionContext) -> str | None:
    """Set ``vars.greeting`` by the time of day."""
    hour = datetime.now().hour
    ctx.vars["greeting"] = "Good morning" if hour < 12 else "Hello"
    return None
'''

FLOW_TEST = """\
flow: ../../flows/{{module}}.yaml
user: {number: "+491701234567", name: Ana}

tests:
  - name: a name, the opening hours, and goodbye
    steps:
      - user: hi
      - bot: "Hi! I'm {{name}}. What's your name?"
      - user: Ana
      - bot: {regex: "^(Good morning|Hello), Ana! Reply 1"}
      - user: "1"
      - bot: "We're open Monday to Friday, 9 to 17."
      - user: bye
      - bot: "Goodbye, Ana!"
      - state: done

  - name: a reminder when nobody answers
    steps:
      - user: hi
      - bot: {regex: "What's your name"}
      - wait: 10m
      - bot: "Still there? Just tell me your name."
"""

PYTEST = '''\
"""Every flow is valid, and every flow test passes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from botkit.flow import check_flow
from botkit.testing.flowtests import FlowTest, collect_flow_tests

TESTS = Path(__file__).parent
FLOWS = sorted((TESTS.parent / "flows").glob("*.yaml"))


@pytest.mark.parametrize("path", FLOWS, ids=lambda path: path.name)
def test_flow_is_valid(path: Path) -> None:
    assert [str(problem) for problem in check_flow(path)] == []


@pytest.mark.parametrize("flow_test", collect_flow_tests([TESTS / "flows"]), ids=str)
def test_flow(flow_test: FlowTest) -> None:
    result = asyncio.run(flow_test.run())
    assert result.passed, result.failure
'''
