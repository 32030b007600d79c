"""Drawing a flow: Mermaid state diagrams (text), and Graphviz DOT rendered to SVG or PNG."""

from __future__ import annotations

import shutil
import subprocess

from .checks import edges
from .loader import Flow

__all__ = ["GraphvizMissing", "dot", "mermaid", "render_graphviz"]

_ANY = "__any_state__"


class GraphvizMissing(RuntimeError):
    """SVG and PNG need Graphviz's ``dot`` program."""


def _label(text: str) -> str:
    return text.replace('"', "'").replace(":", " ").replace("\n", " ")


def mermaid(flow: Flow) -> str:
    """A Mermaid ``stateDiagram-v2`` of the flow; globals leave from "any state"."""
    lines = ["stateDiagram-v2", f"    [*] --> {flow.spec.start}"]
    if flow.spec.globals:
        lines.append(f'    state "any state" as {_ANY}')
    for source, target, why in edges(flow):
        start = _ANY if source == "*" else source
        lines.append(f"    {start} --> {target}" + (f": {_label(why)}" if why else ""))
    for name, state in flow.spec.states.items():
        if state.final:
            lines.append(f"    {name} --> [*]")
        if state.ask:
            lines.append(f"    note right of {name}: asks, saves {state.save}")
        elif state.otp:
            lines.append(f"    note right of {name}: verifies by OTP")
    return "\n".join(lines) + "\n"


def dot(flow: Flow) -> str:
    """The flow in Graphviz's DOT language."""
    lines = [
        f'digraph "{_label(flow.name)}" {{',
        "  rankdir=LR;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  __start__ [shape=point, label=""];',
        f'  __start__ -> "{flow.spec.start}";',
    ]
    if flow.spec.globals:
        lines.append(f'  {_ANY} [label="any state", style="dashed,rounded"];')
    for name, state in flow.spec.states.items():
        shape = ", peripheries=2" if state.final else ""
        lines.append(f'  "{name}" [label="{_label(name)}"{shape}];')
    for source, target, why in edges(flow):
        start = _ANY if source == "*" else f'"{source}"'
        label = f' [label="{_label(why)}"]' if why else ""
        lines.append(f'  {start} -> "{target}"{label};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_graphviz(source: str, output_format: str) -> bytes:
    """``source`` (DOT) rendered by Graphviz to ``svg`` or ``png``."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(
            "SVG and PNG need Graphviz's `dot` (apt-get install graphviz, brew install graphviz); "
            "without it, `botkit graph` prints Mermaid text"
        )
    result = subprocess.run(
        [program, f"-T{output_format}"], input=source.encode(), capture_output=True, timeout=60
    )
    if result.returncode != 0:
        raise RuntimeError(f"dot failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout
