"""The example flows' YAML tests (tests/flows/*.test.yaml), run through pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from botkit.testing.flowtests import FlowTest, collect_flow_tests

FLOW_TESTS = Path(__file__).parent / "flows"
EXAMPLES = sorted(p.stem for p in (Path(__file__).parents[1] / "flows").glob("*.yaml"))


@pytest.mark.parametrize("flow_test", collect_flow_tests([FLOW_TESTS]), ids=str)
async def test_example_flow(flow_test: FlowTest) -> None:
    result = await flow_test.run()
    assert result.passed, f"{result.failure}\n" + "\n".join(result.transcript)


def test_every_example_flow_has_tests() -> None:
    tested = sorted(p.name.removesuffix(".test.yaml") for p in FLOW_TESTS.glob("*.test.yaml"))
    assert tested == EXAMPLES
