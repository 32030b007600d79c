"""``botkit new``: start a bot project."""

from __future__ import annotations

from pathlib import Path

import click

from ..scaffold import create_project, module_name

__all__ = ["new"]


@click.command()
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Where to create it (default: a folder named after the bot).")  # fmt: skip
def new(name: str, directory: Path | None) -> None:
    """Create a bot project: a flow, an action, a flow test and a README."""
    try:
        target = directory or Path(module_name(name).replace("_", "-"))
        written = create_project(target, name)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"  created {path}")
    flow = next(p for p in written if p.parent.name == "flows")
    click.echo(f"\nNext:\n  cd {target}\n  botkit chat flows/{flow.name}\n  pytest")
