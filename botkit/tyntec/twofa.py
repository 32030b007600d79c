"""2FA API v1: 2FA applications and the OTP lifecycle (send, resend, check, status, events)."""

from __future__ import annotations

import builtins
from typing import Literal

from ._errors import AuthenticationError
from ._paths import segment
from ._transport import Response, Transport, problem_from_body
from .models.twofa import (
    OtpCheck,
    OtpCheckOutcome,
    OtpEvent,
    OtpStatus,
    TwoFactorApplication,
    TwoFactorApplicationSpec,
)

__all__ = ["ApplicationsAPI", "OtpAPI", "TwoFactorAPI"]

PREFIX = "/2fa/v1"
Via = Literal["sms", "voice", "auto", "SMS", "VOICE", "AUTO"]


def _via(via: Via | None) -> str | None:
    return via.upper() if via else None


def _list_of(response: Response) -> builtins.list[object]:
    # 204 "empty list" comes without a body.
    data = response.json()
    return data if isinstance(data, builtins.list) else []


class ApplicationsAPI:
    """``api.two_factor.applications``: how OTPs are generated and worded.

    ``"default"`` names the account's default application wherever an id is taken.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self) -> builtins.list[TwoFactorApplication]:
        response = await self._transport.request("GET", f"{PREFIX}/application/")
        return [TwoFactorApplication.model_validate(a) for a in _list_of(response)]

    async def create(self, spec: TwoFactorApplicationSpec) -> TwoFactorApplication:
        response = await self._transport.request(
            "POST", f"{PREFIX}/application/", json_body=spec.to_payload()
        )
        return TwoFactorApplication.model_validate(response.json())

    async def get(self, application_id: str) -> TwoFactorApplication:
        path = f"{PREFIX}/application/{segment(application_id)}"
        response = await self._transport.request("GET", path)
        return TwoFactorApplication.model_validate(response.json())

    async def update(
        self,
        application_id: str,
        *,
        name: str | None = None,
        pin_length: int | None = None,
        alphanumeric: bool | None = None,
        attempts: int | None = None,
        expire: int | None = None,
        sender: str | None = None,
        caller: str | None = None,
        delete_caller: bool | None = None,
    ) -> TwoFactorApplication:
        """Change the given settings; the rest stay."""
        if name == "default":
            raise ValueError('"default" is reserved for the default application')
        params = {
            "name": name,
            "pinLength": pin_length,
            "alphaNumeric": alphanumeric,
            "attempts": attempts,
            "expire": expire,
            "sender": sender,
            "caller": caller,
            "deleteCaller": delete_caller,
        }
        path = f"{PREFIX}/application/{segment(application_id)}"
        response = await self._transport.request("POST", path, params=params, idempotent=True)
        return TwoFactorApplication.model_validate(response.json() or {})

    async def delete(self, application_id: str) -> None:
        """Delete an application (not ``default``); its OTPs can no longer be checked."""
        await self._transport.request("DELETE", f"{PREFIX}/application/{segment(application_id)}")

    async def set_language(
        self,
        application_id: str,
        language: str,
        text: str,
        *,
        channel: Literal["SMS", "VOICE"] | None = None,
    ) -> TwoFactorApplication:
        """Add or replace the OTP wording in ``language`` (ISO 639-1).

        ``text`` must contain ``{{OTP}}``; ``{{SEC}}`` is replaced by the expiry in seconds.
        """
        if "{{OTP}}" not in text:
            raise ValueError("the template text must contain the placeholder {{OTP}}")
        path = f"{PREFIX}/application/{segment(application_id)}/language"
        params = {"language": language, "text": text, "channel": channel}
        response = await self._transport.request("POST", path, params=params, idempotent=True)
        return TwoFactorApplication.model_validate(response.json() or {})

    async def delete_language(
        self,
        application_id: str,
        language: str,
        *,
        channel: Literal["SMS", "VOICE"] | None = None,
    ) -> None:
        path = f"{PREFIX}/application/{segment(application_id)}/language"
        params = {"language": language, "channel": channel}
        await self._transport.request("DELETE", path, params=params)


class OtpAPI:
    """``api.two_factor.otp``: one-time passwords to verify a phone number."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self, number: str) -> builtins.list[OtpStatus]:
        """Every OTP sent to ``number``."""
        response = await self._transport.request("GET", f"{PREFIX}/otp", params={"number": number})
        return [OtpStatus.model_validate(o) for o in _list_of(response)]

    async def send(
        self,
        number: str,
        *,
        application_id: str | None = None,
        via: Via | None = None,
        country: str | None = None,
        language: str | None = None,
        text: str | None = None,
        reference_id: str | None = None,
        otp_code: str | None = None,
        sender: str | None = None,
        caller: str | None = None,
        pin_length: int | None = None,
    ) -> OtpStatus:
        """Send an OTP to ``number`` (E.164). Not retried after it may have reached tyntec:
        a second code would confuse the user."""
        params = {
            "number": number,
            "applicationId": application_id,
            "via": _via(via),
            "country": country,
            "language": language,
            "text": text,
            "referenceId": reference_id,
            "otpCode": otp_code,
            "sender": sender,
            "caller": caller,
            "pinLength": pin_length,
        }
        response = await self._transport.request("POST", f"{PREFIX}/otp", params=params)
        return OtpStatus.model_validate(response.json())

    async def status(self, otp_id: str) -> OtpStatus:
        response = await self._transport.request("GET", f"{PREFIX}/otp/{segment(otp_id)}")
        return OtpStatus.model_validate(response.json())

    async def resend(
        self,
        otp_id: str,
        *,
        via: Via | None = None,
        sender: str | None = None,
        caller: str | None = None,
    ) -> OtpStatus:
        """Deliver the same code again, optionally on another channel."""
        params = {"via": _via(via), "sender": sender, "caller": caller}
        response = await self._transport.request(
            "POST", f"{PREFIX}/otp/{segment(otp_id)}", params=params
        )
        return OtpStatus.model_validate(response.json())

    async def delete(self, otp_id: str) -> None:
        await self._transport.request("DELETE", f"{PREFIX}/otp/{segment(otp_id)}")

    async def events(self, otp_id: str) -> builtins.list[OtpEvent]:
        """The delivery events of an OTP."""
        path = f"{PREFIX}/otp/{segment(otp_id)}/events"
        response = await self._transport.request("GET", path)
        return [OtpEvent.model_validate(e) for e in _list_of(response)]

    async def check(self, otp_id: str, code: str) -> OtpCheck:
        """Check the code a user typed.

        The answers that are outcomes (202 valid, 401 wrong code, 403 expired or too many
        attempts, 404 unknown, 410 no longer active) come back as :class:`OtpCheck`, not as
        exceptions. A 401 without an OTP status in its body is a bad API key and raises
        :class:`AuthenticationError`. Each check uses an attempt, so it is never retried
        after it may have reached tyntec.
        """
        path = f"{PREFIX}/otp/{segment(otp_id)}/check"
        outcomes = frozenset(o.value for o in OtpCheckOutcome)
        response = await self._transport.request(
            "POST", path, params={"otpCode": code}, ok_statuses=outcomes - {202}
        )
        outcome = OtpCheckOutcome(response.status) if response.status in outcomes else None
        if outcome is None:  # a 2xx tyntec does not document: trust the status entity
            outcome = OtpCheckOutcome.VALID
        body = _json_object(response)
        status = OtpStatus.model_validate(body) if body and "otpId" in body else None
        if outcome is OtpCheckOutcome.WRONG_CODE and status is None:
            raise AuthenticationError(
                401,
                problem_from_body(response.body),
                method="POST",
                path=path,
                body=response.body[:2000].decode("utf-8", "replace"),
                headers=response.headers,
            )
        return OtpCheck(outcome, status)


def _json_object(response: Response) -> dict[str, object] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class TwoFactorAPI:
    """``api.two_factor``: the 2FA API's applications and OTPs."""

    def __init__(self, transport: Transport) -> None:
        self.applications = ApplicationsAPI(transport)
        self.otp = OtpAPI(transport)
