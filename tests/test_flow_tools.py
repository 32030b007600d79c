"""``botkit graph`` and ``botkit test`` from the command line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from botkit.flow import FlowError, load_flow
from botkit.flow.graph import dot, mermaid
from botkit.testing.flowtests import collect_flow_tests

ROOT = Path(__file__).resolve().parents[1]


def botkit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args], capture_output=True, text=True, timeout=120,
        cwd=cwd,
    )  # fmt: skip


def test_mermaid_draws_every_move_of_the_support_flow() -> None:
    text = mermaid(load_flow(ROOT / "flows" / "support.yaml"))
    lines = text.splitlines()
    assert lines[:2] == ["stateDiagram-v2", "    [*] --> welcome"]
    for edge in (
        "welcome --> ask_order: 1 / order",
        "welcome --> verify: 2 / human / agent",
        "ask_order --> order_status: answer",
        "order_status --> welcome",
        "verify --> end: verified",
        "verify --> welcome: failed",
        "__any_state__ --> end: stop / unsubscribe",
        "end --> [*]",
    ):
        assert f"    {edge}" in lines


def test_graph_command_prints_mermaid_and_dot() -> None:
    result = botkit("graph", "flows/booking.yaml")
    assert result.returncode == 0, result.stderr
    assert "confirm --> booked: answer, when vars.confirmed == 'yes'" in result.stdout
    assert "confirm --> ask_day: answer, else" in result.stdout
    result = botkit("graph", "flows/booking.yaml", "--format", "dot")
    assert result.stdout.startswith('digraph "booking" {')
    assert result.stdout == dot(load_flow(ROOT / "flows" / "booking.yaml"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_renders_svg_and_png_through_graphviz(tmp_path: Path) -> None:
    svg = tmp_path / "support.svg"
    assert botkit("graph", "flows/support.yaml", "--format", "svg", "-o", str(svg)).returncode == 0
    assert "<svg" in svg.read_text()
    assert "ask_order" in svg.read_text()
    png = tmp_path / "support.png"
    assert botkit("graph", "flows/support.yaml", "--format", "png", "-o", str(png)).returncode == 0
    assert png.read_bytes().startswith(b"\x89PNG")


def test_graph_without_graphviz_says_what_to_install(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "botkit", "graph", "flows/support.yaml", "--format", "svg"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env={"PATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "install graphviz" in result.stderr


def test_botkit_test_runs_the_example_flow_tests() -> None:
    result = botkit("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS support.test.yaml::verification with a wrong code, then the right one" in (
        result.stdout
    )
    assert result.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_botkit_test_reports_the_first_difference(tmp_path: Path) -> None:
    test_file = tmp_path / "wrong.test.yaml"
    test_file.write_text(
        f"flow: {ROOT / 'flows' / 'support.yaml'}\n"
        "tests:\n"
        "  - name: expects the wrong greeting\n"
        "    steps:\n"
        "      - user: hi\n"
        "      - bot: Hello\n"
    )
    result = botkit("test", str(test_file))
    assert result.returncode == 1
    assert f"{test_file}:6:9: expected the bot to say 'Hello', but it said 'Hi there!" in (
        result.stdout
    )
    assert "(sent by " in result.stdout
    assert "support.yaml:18:10)" in result.stdout
    assert "0 passed, 1 failed" in result.stdout


def test_a_test_file_with_a_misplaced_key_is_told_so_plainly(tmp_path: Path) -> None:
    test_file = tmp_path / "misplaced.test.yaml"
    test_file.write_text(
        f"flow: {ROOT / 'flows' / 'support.yaml'}\n"
        "tests:\n"
        "  - name: a flow's key in a test\n"
        "    channels: [sms]\n"
        "    steps:\n"
        "      - user: hi\n"
    )
    with pytest.raises(FlowError) as caught:
        collect_flow_tests([test_file])
    [problem] = caught.value.problems
    assert problem.position.line == 4
    assert problem.message.startswith("unknown key 'channels'")
    assert "did you mean 'channels'" not in problem.message  # the word it already is
    assert "goes in" not in (problem.hint or "")  # a flow's places mean nothing in a test file


def test_a_flow_path_that_cannot_be_a_file_is_a_problem_at_its_line(tmp_path: Path) -> None:
    test_file = tmp_path / "nul.test.yaml"
    test_file.write_text(
        'flow: "sup\\0port.yaml"\ntests:\n  - name: x\n    steps:\n      - user: hi\n'
    )
    with pytest.raises(FlowError) as caught:  # was a ValueError out of pathlib
        collect_flow_tests([test_file])
    [problem] = caught.value.problems
    assert problem.position.line == 1
    assert "no flow at 'sup\\x00port.yaml'" in problem.message


def test_botkit_test_reports_an_unexpected_failure_at_the_step_that_failed(
    tmp_path: Path,
) -> None:
    test_file = tmp_path / "outage.test.yaml"
    test_file.write_text(
        f"flow: {ROOT / 'flows' / 'support.yaml'}\n"
        "tests:\n"
        "  - name: the order system is down\n"
        "    steps:\n"
        "      - user: '1'\n"
        "      - bot: {regex: '^Hi there'}\n"
        "      - user: '1'\n"
        "      - bot: {regex: 'order number'}\n"
        "      - user: '999999'\n"
        "      - bot: {regex: 'Sorry'}\n"
    )
    result = botkit("test", str(test_file))
    assert result.returncode == 1
    assert f"{test_file}:9:9: the flow failed: " in result.stdout
    assert "the order system did not answer (add an error: step if expected)" in result.stdout
