"""``botkit validate``, ``botkit graph`` and ``botkit test``: working on flow files."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ..flow import FlowError, advise, load_flow
from ..flow.graph import GraphvizMissing, dot, mermaid, render_graphviz
from ..server.reload import flow_files
from ..testing.flowtests import RemoteTarget, collect_flow_tests, discover_flow_tests
from ._options import remote_bot_options

__all__ = ["graph", "test", "validate"]


def _flow_files(paths: tuple[str, ...]) -> list[Path]:
    return flow_files([Path(p) for p in paths], recursive=True)


def _importable_cwd() -> None:
    # Actions are written `bots.module:function`, imported from the project's folder.
    if "" not in sys.path:
        sys.path.insert(0, "")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--no-import", is_flag=True, help="Do not import the Python actions a flow calls.")
@click.option("--strict", is_flag=True, help="Fail on warnings too, not only on problems.")
def validate(paths: tuple[str, ...], no_import: bool, strict: bool) -> None:
    """Check flows without running them; every problem as file:line:column, then what may
    fail at run time as warnings."""
    _importable_cwd()
    problems = warnings = 0
    files = _flow_files(paths)
    for file in files:
        try:
            flow = load_flow(file, import_actions=not no_import)
        except FlowError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            problems += len(exc.problems)
            continue
        advice = advise(flow)
        for warning in advice:
            click.echo(str(warning), err=True)
        warnings += len(advice)
    if problems or (strict and warnings):
        counted = [f"{problems} problem(s)"] + [f"{warnings} warning(s)"] * bool(warnings)
        click.echo(f"{' and '.join(counted)} in {len(files)} file(s)", err=True)
        raise SystemExit(1)
    noted = f", {warnings} warning(s)" if warnings else ""
    click.echo(f"{len(files)} flow(s) OK{noted}")


@click.command()
@click.argument("flow_path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["mermaid", "dot", "svg", "png"]),
    default="mermaid",
    show_default=True,
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file.")
def graph(flow_path: str, output_format: str, output: str | None) -> None:
    """Draw a flow: Mermaid text by default, SVG or PNG through Graphviz."""
    _importable_cwd()
    try:
        flow = load_flow(flow_path, import_actions=False)
    except FlowError as exc:
        raise click.ClickException(str(exc)) from None
    if output_format in ("mermaid", "dot"):
        text = mermaid(flow) if output_format == "mermaid" else dot(flow)
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            click.echo(text, nl=False)
        return
    try:
        image = render_graphviz(dot(flow), output_format)
    except GraphvizMissing as exc:
        raise click.ClickException(str(exc)) from None
    if output:
        Path(output).write_bytes(image)
    else:
        sys.stdout.buffer.write(image)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("-v", "--verbose", is_flag=True, help="Show each test's conversation.")
@click.option("--remote", "bot_url", help="Test a deployed bot at this URL, through tyntec.")
@remote_bot_options(" (remote runs)")
def test(
    paths: tuple[str, ...], verbose: bool, bot_url: str | None, token: str | None,
    api_key: str | None, api_url: str | None, account: str,
) -> None:  # fmt: skip
    """Run flow tests (*.test.yaml) against the sandbox, or with --remote against a deployed
    bot through tyntec's tyntecEcho channel; default folder: tests/flows."""
    _importable_cwd()
    chosen = list(paths) or ["tests/flows"]
    if not discover_flow_tests(list(chosen)):
        raise click.ClickException(f"no flow tests (*.test.yaml) in {', '.join(chosen)}")
    try:
        tests = collect_flow_tests(list(chosen))
    except FlowError as exc:
        click.echo(str(exc), err=True)
        raise SystemExit(1) from None
    remote = None
    if bot_url:
        remote = RemoteTarget(bot_url, api_key, api_url, token, account)
    passed = failed = skipped = 0
    for flow_test in tests:
        result = asyncio.run(flow_test.run(remote))
        if not result.passed:
            failed += 1
            click.echo(f"FAIL {flow_test}\n     {result.failure}")
        elif result.skipped:
            skipped += 1
            click.echo(f"SKIP {flow_test}\n     skipped remotely: {result.skipped}")
        else:
            passed += 1
            click.echo(f"PASS {flow_test}")
        if verbose or not result.passed:
            for line in result.transcript:
                click.echo(f"       {line}")
    click.echo(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    if failed:
        raise SystemExit(1)
