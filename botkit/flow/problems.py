"""Flow problems: each one ``file:line:column: what is wrong`` with a hint on what to do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ._source import Position

__all__ = [
    "FlowError",
    "FlowProblem",
    "FlowRuntimeError",
    "FlowWarning",
    "ReachesOutside",
    "TemporaryFailure",
]


@dataclass(frozen=True)
class _Finding:
    position: Position
    message: str
    hint: str | None = None

    #: What kind of finding it is, said after the position ("" for a problem).
    label: ClassVar[str] = ""

    def __str__(self) -> str:
        text = f"{self.position}: {self.label}{self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


@dataclass(frozen=True)
class FlowProblem(_Finding):
    """One mistake in a flow file."""


@dataclass(frozen=True)
class FlowWarning(_Finding):
    """Something in a valid flow that can fail at run time (see :mod:`.advice`)."""

    label: ClassVar[str] = "warning: "


class FlowError(Exception):
    """A flow (or flow test) that cannot be loaded; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class TemporaryFailure(Exception):
    """Raise it from an action when the event should be processed again later (a backend is
    down): the conversation stays as it was and the server retries the event."""


class ReachesOutside(Exception):
    """A turn run with ``reach_outside=False`` came to a step that acts outside the
    conversation (an action, an OTP call). Nothing outside was done; the turn's changes are
    dropped, and it is to be run again where acting outside is allowed."""


class FlowRuntimeError(Exception):
    """Something failed while a conversation was processed: a template, an action, a send.

    The text names the flow file and line, the flow and the state. The conversation is left as
    it was before the event.
    """

    def __init__(
        self,
        position: Position,
        flow: str,
        state: str | None,
        message: str,
        *,
        transient: bool = False,
        refused: bool = False,
    ) -> None:
        self.position = position
        self.flow = flow
        self.state = state
        self.message = message
        self.transient = transient
        """True when trying the same event again later may succeed (a network failure)."""
        self.refused = refused
        """True when the flow turned the event down as it is meant to (a start while the
        conversation is in progress): the caller's to mend, not the bot's."""
        where = f"flow {flow!r}" + (f", state {state!r}" if state else "")
        super().__init__(f"{position}: {where}: {message}")
