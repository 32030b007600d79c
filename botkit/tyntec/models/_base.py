"""Base classes of the tyntec models: lenient for what tyntec sends, strict for what we send.

tyntec's reference asks integrators to follow the Robustness Principle: accept unknown
properties when receiving, follow the data definitions strictly when sending. The two bases
encode exactly that, so every model says by its parent which side of the wire it lives on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["ReceivedModel", "SentModel"]


class ReceivedModel(BaseModel):
    """A payload that tyntec produces (responses, webhook events).

    Unknown fields are kept (``model_extra``), never an error; numbers arrive where the spec
    says strings (``"from": 491672634678``), so they are coerced to ``str``.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        coerce_numbers_to_str=True,
        frozen=True,
    )

    def to_payload(self) -> dict[str, Any]:
        """The wire form (camelCase keys, unset fields left out), unknown fields included."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class SentModel(BaseModel):
    """A payload that botkit sends to tyntec: unknown fields are a mistake and rejected."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=True,
    )

    def to_payload(self) -> dict[str, Any]:
        """The wire form: camelCase keys, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
