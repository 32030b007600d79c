"""Every code block of the README and docs/ is run: Python executed, YAML flows and flow tests
checked and run, shell commands run in order (servers in the background, on free ports), in
a fresh copy of the project, one page at a time.

``text`` blocks are illustrations (a folder tree, an HTTP request, nginx and systemd files
whose botkit command lines are checked), listed in TEXT_BLOCKS so none slips in unnoticed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from botkit.flow.spec import FlowSpec, RuleSpec, StateSpec

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
# Illustrations, not programs: how many each page may have.
TEXT_BLOCKS = {"tutorial.md": 1, "deploy.md": 3, "client.md": 1, "flows.md": 1}
CI_ONLY = ("pip install", "-m pytest")  # run by .ci/run itself
FLOW_KEYS = {field.alias or name for name, field in FlowSpec.model_fields.items()}


@dataclass
class Block:
    page: Path
    line: int
    language: str
    text: str

    def __str__(self) -> str:
        return f"{self.page.name}:{self.line} ({self.language or 'no language'})"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(page, text[: m.start()].count("\n") + 1, m.group(1), m.group(2))
        for m in FENCE.finditer(text)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Page:
    """The state a page's blocks share: the folder, the environment, servers running."""

    cwd: Path
    env: dict[str, str]
    ports: dict[str, str] = field(default_factory=dict)
    background: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def port(self, number: str) -> str:
        if number not in self.ports:
            self.ports[number] = str(free_port())
        return self.ports[number]

    def ports_of(self, text: str) -> str:
        """The page's ports (8080, 8081 ...) swapped for free ones."""
        return re.sub(r"\b(80[89]\d)\b", lambda m: self.port(m.group(1)), text)

    def localize(self, text: str) -> str:
        """A shell command with free ports and this environment's binaries."""
        text = self.ports_of(text)
        text = re.sub(r"(?<![\w/])\.venv/bin/", f"{BIN}/", text)
        return re.sub(r"(?<![\w/.-])(botkit|pytest)(?=\s|$)", lambda m: f"{BIN}/{m.group(1)}", text)

    def run(self, command: str, *, stdin: str | None = None, timeout: float = 120) -> str:
        result = subprocess.run(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, input=stdin,
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, command: str, ready_url: str) -> None:
        port = ready_url.split(":")[2].split("/")[0]
        for other in [key for key in self.background if port in key]:
            self.stop(other)
        process = subprocess.Popen(
            ["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.background[f"{port} {command}"] = process
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{command} exited with {process.returncode}"
            try:
                self.run(f"curl -sf -o /dev/null {ready_url}", timeout=5)
                return
            except AssertionError:
                time.sleep(0.1)
        raise AssertionError(f"{command} did not come up at {ready_url}")

    def stop(self, key: str) -> None:
        process = self.background.pop(key)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()

    def close(self) -> None:
        for key in list(self.background):
            self.stop(key)


def commands(script: str) -> Iterator[str]:
    """Shell commands, a quoted argument spanning lines kept whole."""
    pending = ""
    for line in script.replace("\\\n", " ").splitlines():
        if not pending and (not line.strip() or line.strip().startswith("#")):
            continue
        pending = f"{pending}\n{line}" if pending else line.strip()
        try:
            shlex.split(pending, comments=True)
        except ValueError:
            continue  # an open quote: the command goes on on the next line
        yield pending
        pending = ""
    assert not pending, f"unfinished command: {pending}"


def run_shell(page: Page, block: Block) -> None:
    for command in commands(block.text):
        if any(marker in command for marker in CI_ONLY):
            ci = (ROOT / ".ci" / "run").read_text()
            assert all(part in ci for part in ("pip install", "-e '.[test,speed]'", "-m pytest"))
            continue
        words = shlex.split(command, comments=True)
        if words[0] == "cd":
            page.cwd = page.cwd / words[1]
            continue
        if words[0] == "export":
            for pair in words[1:]:
                name, _, value = pair.partition("=")
                page.env[name] = page.localize(value)
            continue
        local = page.localize(command)
        if " serve " in f" {command} " and "botkit" in command:
            if "--port" not in command:
                local += f" --port {page.port('8080')}"
            if "--sandbox" in command and "--sandbox-port" not in command:
                local += f" --sandbox-port {page.port('8081')}"
            if "--api-token" not in command:
                local += " --api-token docs-token"
                page.env["BOTKIT_API_TOKEN"] = "docs-token"
            page.env["BOTKIT_SERVER"] = f"http://127.0.0.1:{page.port('8080')}"
            page.start(local, f"http://127.0.0.1:{page.port('8080')}/healthz")
        elif "botkit sandbox" in command or f"{BIN}/botkit sandbox" in local:
            if "--port" not in command:
                local += f" --port {page.port('8081')}"
            page.start(local, f"http://127.0.0.1:{page.port('8081')}/sandbox")
        elif "examples/echo_bot.py" in command:
            local += f" --bot-port {free_port()} --sandbox-port {free_port()}"
            assert "bot : You said: hi" in page.run(local, stdin="hi\n")
        elif " chat " in f" {command} " and "|" not in command:
            assert "bot" in page.run(local, stdin="hi\n/quit\n")
        elif " start " in f" {command} ":
            ensure_server(page, "flows/reminder.yaml")
            page.run(local.replace('"$BOTKIT_API_TOKEN"', "docs-token"))
        else:
            if "conversations" in command and "--db botkit.db" in command:
                ensure_database(page)
            page.run(local)


def ensure_server(page: Page, flow: str) -> None:
    if not any(" serve " in key for key in page.background):
        command = (f"{BIN}/botkit serve {flow} --sandbox --port {page.port('8080')} "
                   f"--sandbox-port {page.port('8081')} --api-token docs-token "
                   f"--db {page.cwd / 'docs-server.db'}")  # fmt: skip
        page.start(command, f"http://127.0.0.1:{page.port('8080')}/healthz")


def ensure_database(page: Page) -> None:
    if not (page.cwd / "botkit.db").exists():
        page.run(f"{BIN}/botkit chat flows/support.yaml --db botkit.db", stdin="hi\n")


def ensure_sandbox(page: Page) -> None:
    if not any(page.port("8081") in key for key in page.background):
        page.start(
            f"{BIN}/botkit sandbox --port {page.port('8081')}",
            f"http://127.0.0.1:{page.port('8081')}/sandbox",
        )


def run_python(page: Page, block: Block) -> None:
    if "127.0.0.1:8081" in block.text:
        ensure_sandbox(page)
    script = page.cwd / f"_doc_block_{block.line}.py"
    script.write_text(page.ports_of(block.text))
    page.run(f"{sys.executable} {script.name}")


def run_yaml(page: Page, block: Block) -> None:
    data = yaml.safe_load(block.text.replace("{{", "{ {").replace("}}", "} }"))
    path = page.cwd / f"_doc_block_{block.line}.yaml"
    if isinstance(data, dict) and "tests" in data:
        flow = (page.cwd / "tests" / "flows" / data["flow"]).resolve()
        assert flow.exists(), f"the test's flow {data['flow']} is not in the project"
        target = page.cwd / "tests" / "flows" / f"{flow.stem}.test.yaml"
        target.write_text(block.text)
        page.run(f"{BIN}/botkit test {target}")
        return
    if isinstance(data, dict) and "flow" in data:
        folder = page.cwd / "flows"
        target = folder / f"{data['flow']}.yaml" if folder.is_dir() else path
        target.write_text(block.text)
        # In its own process: each page's project has its own `bots` package.
        page.run(f"{BIN}/botkit validate {target}")
        return
    parsed = yaml.load(block.text, Loader=_FlowYaml)
    if isinstance(parsed, dict) and set(parsed) <= FLOW_KEYS - set(StateSpec.model_fields):
        # Top-level keys of a flow: checked in a flow of one state.
        FlowSpec.model_validate({"flow": "x", "start": "a", "states": {"a": {}}, **parsed})
    elif isinstance(parsed, dict) and set(parsed) & {"say", "ask", "otp", "on", "goto"}:
        StateSpec.model_validate(parsed)
    elif isinstance(parsed, dict):
        for state in parsed.values():
            StateSpec.model_validate(state)
    else:
        for rule in parsed:
            RuleSpec.model_validate(rule)


class _FlowYaml(yaml.SafeLoader):
    """YAML 1.2 booleans, as botkit reads flows (`on:` stays a key)."""


_FlowYaml.yaml_implicit_resolvers = {
    k: [(t, r) for t, r in v if t != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Page]:
    for folder in ("flows", "bots", "examples"):
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (tmp_path / "tests").mkdir()
    shutil.copytree(ROOT / "tests" / "flows", tmp_path / "tests" / "flows")
    env = {**os.environ, "TYNTEC_API_KEY": "sandbox"}
    env.pop("TYNTEC_API_URL", None)
    page = Page(tmp_path, env)
    yield page
    page.close()


@pytest.mark.parametrize("page_path", PAGES, ids=lambda p: p.name)
def test_every_block_of_the_page_runs(page_path: Path, project: Page) -> None:
    text_blocks = 0
    for block in blocks(page_path):
        try:
            if block.language in ("", "text"):
                text_blocks += 1
                check_illustration(block)
            elif block.language == "python":
                run_python(project, block)
            elif block.language == "yaml":
                run_yaml(project, block)
            elif block.language == "sh":
                run_shell(project, block)
            else:
                raise AssertionError(f"unknown block language {block.language!r}")
        except Exception as error:
            raise AssertionError(f"{block}: {error}") from error
    assert text_blocks == TEXT_BLOCKS.get(page_path.name, 0)


def check_illustration(block: Block) -> None:
    """A text block's botkit command lines use options that exist."""
    for line in block.text.splitlines():
        found = re.search(r"botkit (serve|conversations|start) .*", line)
        if found:
            help_text = subprocess.run(
                [str(BIN / "botkit"), found.group(1), "--help"], capture_output=True, text=True
            ).stdout
            for option in re.findall(r"(--[a-z-]+)", found.group(0)):
                assert option in help_text, f"{option} is not an option of botkit {found.group(1)}"
