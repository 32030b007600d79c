"""2FA API v1 models: applications, OTP status, OTP events and the outcome of an OTP check."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import Field

from ._base import ReceivedModel, SentModel

__all__ = [
    "OtpCheck",
    "OtpCheckOutcome",
    "OtpEvent",
    "OtpStatus",
    "TwoFactorApplication",
    "TwoFactorApplicationSpec",
]


class TwoFactorApplicationSpec(SentModel):
    """The body of ``POST /application/``; unset fields get tyntec's defaults."""

    name: str | None = None
    alphanumeric: bool | None = None
    attempts: int | None = Field(default=None, ge=1)
    expire: int | None = Field(default=None, ge=1)
    pin_length: int | None = Field(default=None, ge=4, le=11)
    sender: str | None = None
    caller: str | None = None


class TwoFactorApplication(ReceivedModel):
    """A 2FA application: how OTPs are generated and delivered.

    The reference's entity has no id field; tyntec (and the sandbox) add ``applicationId``,
    which is kept when present.
    """

    application_id: str | None = None
    name: str | None = None
    alphanumeric: bool | None = None
    attempts: int | None = None
    expire: int | None = None
    pin_length: int | None = None
    sender: str | None = None
    caller: str | None = None


class OtpStatus(ReceivedModel):
    """The state of one OTP delivery (``OtpStatusEntity``)."""

    otp_id: str | None = None
    account_id: str | None = None
    application_id: str | None = None
    attempt_count: int | None = None
    created: int | None = None
    expire: int | None = None
    number: str | None = None
    otp_status: str | None = None
    reference_id: str | None = None
    timestamp_created: str | None = None
    timestamp_expire: str | None = None


class OtpEvent(ReceivedModel):
    """One delivery event of an OTP (``StatusEvent``)."""

    created: int | None = None
    status: str | None = None
    status_text: str | None = None
    timestamp_created: str | None = None
    type: str | None = None


class OtpCheckOutcome(enum.Enum):
    """What ``POST /otp/{id}/check`` said, one member per documented answer."""

    VALID = 202
    """The code is right: the user is verified."""
    WRONG_CODE = 401
    """The code is wrong; the user may try again while attempts remain."""
    EXHAUSTED = 403
    """The OTP expired, or too many attempts were made."""
    NOT_FOUND = 404
    """No such OTP."""
    GONE = 410
    """The OTP is no longer active (already verified, or deleted)."""

    @property
    def is_final(self) -> bool:
        """True when checking this OTP again cannot succeed."""
        return self is not OtpCheckOutcome.WRONG_CODE


@dataclass(frozen=True, slots=True)
class OtpCheck:
    """The outcome of an OTP check and, where tyntec sent it, the OTP's status."""

    outcome: OtpCheckOutcome
    status: OtpStatus | None = None

    @property
    def valid(self) -> bool:
        return self.outcome is OtpCheckOutcome.VALID
