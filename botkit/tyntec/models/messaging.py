"""Messaging API v1 models: the answer to an SMS send and the status of a sent SMS."""

from __future__ import annotations

from pydantic import Field

from ._base import ReceivedModel

__all__ = ["RestMessagePart", "RestMessageResponse"]


class RestMessagePart(ReceivedModel):
    """One part of a (possibly concatenated) SMS."""

    part_id: str | None = None
    delivery_state: str | None = None
    status_text: str | None = None
    error_code: str | None = None
    done_date: str | None = None
    sent_date: str | None = None
    price: float | None = None
    currency: str | None = None
    price_effective: str | None = None


class RestMessageResponse(ReceivedModel):
    """An SMS request as tyntec tracks it; ``request_id`` is what status queries take."""

    request_id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    status: str | None = None
    reference: str | None = None
    href: str | None = None
    mccmnc: str | None = None
    ttid: str | None = None
    size: int | None = None
    submit_date: str | None = None
    sent_date: str | None = None
    done_date: str | None = None
    price_effective: str | None = None
    error_code: str | None = None
    error_reason: str | None = None
    parts: list[RestMessagePart] = Field(default_factory=list)
