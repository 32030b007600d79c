"""Error bodies of tyntec's APIs: RFC 7807 problems and the 2FA API's ErrorResponse."""

from __future__ import annotations

from pydantic import Field

from ._base import ReceivedModel

__all__ = ["Problem", "Violation"]


class Violation(ReceivedModel):
    """One failed constraint of a 400 answer, e.g. ``validate.request.whatsapp.text``."""

    field: str | None = None
    message: str | None = None


class Problem(ReceivedModel):
    """An error body, whichever of tyntec's two shapes it came in.

    The Chat, Messaging and NIS APIs answer ``application/problem+json`` (``type``, ``title``,
    ``status``, ``detail``, and ``violations`` on constraint errors); the 2FA API answers
    ``{code, id, message, timestamp}``. Both are read into this one model, every field optional.
    """

    type: str | None = None
    title: str | None = None
    status: str | None = None
    detail: str | None = None
    violations: list[Violation] = Field(default_factory=list)
    code: str | None = None
    id: str | None = None
    message: str | None = None
    timestamp: str | None = None

    def summary(self) -> str:
        """One line for logs and exception texts."""
        parts = [p for p in (self.title, self.detail, self.message, self.code) if p]
        text = ": ".join(dict.fromkeys(parts)) or "no details given"
        if self.violations:
            listed = "; ".join(f"{v.field}: {v.message}" for v in self.violations)
            text = f"{text} ({listed})"
        return text
