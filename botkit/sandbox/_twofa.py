"""The sandbox's 2FA API v1: applications and the whole OTP lifecycle.

OTP rules, as the reference gives them: a code is checked against ``attempts`` (202 valid,
401 wrong); once expired or out of attempts a check answers 403; once verified or deleted,
410 (gone) or 404. The codes sent are logged and listed at ``GET /sandbox/otps`` so that a
person or a test can type them back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from aiohttp import web

from ._clock import Clock, iso
from ._problems import twofa_error

__all__ = ["Otp", "OtpStatusName", "TwoFactorSandbox"]

log = logging.getLogger("botkit.sandbox")
PREFIX = "/2fa/v1"


class OtpStatusName:
    ACTIVE = "ACTIVE"
    VERIFIED = "VERIFIED"
    EXPIRED = "EXPIRED"
    FAILED = "TOO_MANY_ATTEMPTS"


@dataclass
class Application:
    application_id: str
    name: str
    pin_length: int = 4
    alphanumeric: bool = False
    attempts: int = 3
    expire: int = 300
    sender: str = "VERIFY"
    caller: str = "VERIFY"
    languages: dict[tuple[str, str | None], str] = field(
        default_factory=lambda: {("en", None): "Your code is {{OTP}}"}
    )

    def entity(self) -> dict[str, Any]:
        return {
            "applicationId": self.application_id,
            "name": self.name,
            "alphanumeric": self.alphanumeric,
            "attempts": self.attempts,
            "expire": self.expire,
            "pinLength": self.pin_length,
            "sender": self.sender,
            "caller": self.caller,
        }


@dataclass
class Otp:
    """One OTP the sandbox 'sent'; ``code`` is what the user would have received."""

    otp_id: str
    number: str
    code: str
    application: Application
    created: float
    expires: float
    reference_id: str | None = None
    attempt_count: int = 0
    status: str = OtpStatusName.ACTIVE
    events: list[dict[str, Any]] = field(default_factory=list)

    def refresh(self, now: float) -> None:
        if self.status == OtpStatusName.ACTIVE and now >= self.expires:
            self.status = OtpStatusName.EXPIRED

    def entity(self) -> dict[str, Any]:
        return {
            "accountId": "sandbox",
            "applicationId": self.application.application_id,
            "attemptCount": self.attempt_count,
            "created": int(self.created * 1000),
            "expire": int(self.expires * 1000),
            "number": self.number,
            "otpId": self.otp_id,
            "otpStatus": self.status,
            "referenceId": self.reference_id,
            "timestampCreated": iso(self.created),
            "timestampExpire": iso(self.expires),
        }


class TwoFactorSandbox:
    """Applications and OTPs kept in memory; time from the sandbox :class:`Clock`."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        default = Application("default", "default")
        self.applications: dict[str, Application] = {"default": default}
        self.otps: dict[str, Otp] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(PREFIX + "/application", self.list_applications),
            web.get(PREFIX + "/application/", self.list_applications),
            web.post(PREFIX + "/application", self.create_application),
            web.post(PREFIX + "/application/", self.create_application),
            web.get(PREFIX + "/application/{app_id}", self.get_application),
            web.post(PREFIX + "/application/{app_id}", self.update_application),
            web.delete(PREFIX + "/application/{app_id}", self.delete_application),
            web.post(PREFIX + "/application/{app_id}/language", self.set_language),
            web.delete(PREFIX + "/application/{app_id}/language", self.delete_language),
            web.get(PREFIX + "/otp", self.list_otps),
            web.post(PREFIX + "/otp", self.send_otp),
            web.get(PREFIX + "/otp/{otp_id}", self.get_otp),
            web.post(PREFIX + "/otp/{otp_id}", self.resend_otp),
            web.delete(PREFIX + "/otp/{otp_id}", self.delete_otp),
            web.get(PREFIX + "/otp/{otp_id}/events", self.otp_events),
            web.post(PREFIX + "/otp/{otp_id}/check", self.check_otp),
        ]

    # -- applications -------------------------------------------------------------------

    async def list_applications(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([a.entity() for a in self.applications.values()])

    async def create_application(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json(loads=json.loads) if request.can_read_body else {}
        except ValueError:
            return twofa_error(400, "INVALID_BODY", "the body is not valid JSON")
        if not isinstance(body, dict):
            return twofa_error(400, "INVALID_BODY", "the body must be a JSON object")
        application = Application(str(uuid.uuid4()), "")
        error = _apply_settings(application, body)
        if error:
            return twofa_error(400, "INVALID_CONFIGURATION", error)
        self.applications[application.application_id] = application
        return web.json_response(application.entity())

    async def get_application(self, request: web.Request) -> web.StreamResponse:
        application = self.applications.get(request.match_info["app_id"])
        if application is None:
            return twofa_error(
                404, "APPLICATION_NOT_FOUND", "The id for this application is not valid"
            )
        return web.json_response(application.entity())

    async def update_application(self, request: web.Request) -> web.StreamResponse:
        application = self.applications.get(request.match_info["app_id"])
        if application is None:
            return twofa_error(
                404, "APPLICATION_NOT_FOUND", "The id for this application is not valid"
            )
        query = request.query
        settings: dict[str, Any] = {}
        for key, target in (
            ("name", "name"), ("pinLength", "pinLength"), ("alphaNumeric", "alphanumeric"),
            ("attempts", "attempts"), ("expire", "expire"), ("sender", "sender"),
            ("caller", "caller"),
        ):  # fmt: skip
            if key in query:
                settings[target] = query[key]
        error = _apply_settings(application, settings)
        if error:
            return twofa_error(400, "INVALID_CONFIGURATION", error)
        if query.get("deleteCaller") == "true":
            application.caller = ""
        return web.json_response(application.entity())

    async def delete_application(self, request: web.Request) -> web.StreamResponse:
        app_id = request.match_info["app_id"]
        if app_id == "default":
            return twofa_error(
                400, "DEFAULT_APPLICATION", "You cannot delete the default application"
            )
        application = self.applications.pop(app_id, None)
        if application is None:
            return twofa_error(
                404, "APPLICATION_NOT_FOUND", "The id for this application is not valid"
            )
        return web.json_response(application.entity())

    async def set_language(self, request: web.Request) -> web.StreamResponse:
        application = self.applications.get(request.match_info["app_id"])
        if application is None:
            return twofa_error(
                404, "APPLICATION_NOT_FOUND", "The id for this application is not valid"
            )
        language, text = request.query.get("language", ""), request.query.get("text", "")
        channel = request.query.get("channel")
        if len(language) != 2 or not language.isalpha():
            return twofa_error(400, "INVALID_LANGUAGE", "language must be an ISO 639-1 code")
        if "{{OTP}}" not in text:
            return twofa_error(400, "INVALID_TEXT", "the text must contain {{OTP}}")
        if channel is not None and channel.upper() not in ("SMS", "VOICE"):
            return twofa_error(400, "INVALID_CHANNEL", "channel must be SMS or VOICE")
        application.languages[(language.lower(), channel.upper() if channel else None)] = text
        return web.json_response(application.entity())

    async def delete_language(self, request: web.Request) -> web.StreamResponse:
        application = self.applications.get(request.match_info["app_id"])
        if application is None:
            return twofa_error(
                404, "APPLICATION_NOT_FOUND", "The id for this application is not valid"
            )
        channel = request.query.get("channel")
        key = (request.query.get("language", "").lower(), channel.upper() if channel else None)
        if application.languages.pop(key, None) is None:
            return twofa_error(404, "LANGUAGE_NOT_FOUND", "No such language template")
        return web.json_response(application.entity())

    # -- OTPs ---------------------------------------------------------------------------

    async def list_otps(self, request: web.Request) -> web.StreamResponse:
        number = _e164(request.query.get("number", ""))
        if number is None:
            return twofa_error(400, "INVALID_NUMBER", "Invalid number format provided")
        found = [o for o in self.otps.values() if o.number == number]
        if not found:
            return web.Response(status=204)
        for otp in found:
            otp.refresh(self.clock.now())
        return web.json_response([o.entity() for o in found])

    async def send_otp(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        number = _e164(query.get("number", ""), query.get("country"))
        if number is None:
            return twofa_error(400, "INVALID_NUMBER", "number must be a valid E.164 phone number")
        application = self.applications.get(query.get("applicationId") or "default")
        if application is None:
            return twofa_error(
                404, "APPLICATION_NOT_FOUND", "The id for this application is not valid"
            )
        via = (query.get("via") or "AUTO").upper()
        if via not in ("SMS", "VOICE", "AUTO"):
            return twofa_error(400, "INVALID_CHANNEL", "via must be SMS, VOICE or AUTO")
        text, code = query.get("text"), query.get("otpCode")
        if text is not None and "{{OTP}}" not in text and code is None:
            return twofa_error(400, "INVALID_TEXT", "text needs {{OTP}} unless otpCode is given")
        pin_length = query.get("pinLength")
        if pin_length is not None and not (pin_length.isdigit() and 4 <= int(pin_length) <= 11):
            return twofa_error(400, "INVALID_PIN_LENGTH", "pinLength must be between 4 and 11")
        length = int(pin_length) if pin_length else application.pin_length
        now = self.clock.now()
        otp = Otp(
            otp_id=str(uuid.uuid4()),
            number=number,
            code=code or _generate_code(length, application.alphanumeric),
            application=application,
            created=now,
            expires=now + application.expire,
            reference_id=query.get("referenceId"),
        )
        self.otps[otp.otp_id] = otp
        self._deliver(otp, "SMS" if via == "AUTO" else via)
        return web.json_response(otp.entity())

    async def get_otp(self, request: web.Request) -> web.StreamResponse:
        otp = self._otp(request)
        if otp is None:
            return twofa_error(404, "OTP_NOT_FOUND", "OTP code not found")
        return web.json_response(otp.entity())

    async def resend_otp(self, request: web.Request) -> web.StreamResponse:
        otp = self._otp(request)
        if otp is None:
            return twofa_error(404, "OTP_NOT_FOUND", "OTP not found")
        if otp.status != OtpStatusName.ACTIVE:
            return twofa_error(401, "OTP_NOT_VALID", "OTP is not valid anymore")
        via = (request.query.get("via") or "AUTO").upper()
        if via not in ("SMS", "VOICE", "AUTO"):
            return twofa_error(400, "INVALID_CHANNEL", "via must be SMS, VOICE or AUTO")
        self._deliver(otp, "SMS" if via == "AUTO" else via)
        return web.json_response(otp.entity())

    async def delete_otp(self, request: web.Request) -> web.StreamResponse:
        otp = self._otp(request)
        if otp is None:
            return twofa_error(404, "OTP_NOT_FOUND", "OTP not found")
        del self.otps[otp.otp_id]
        return web.json_response(otp.entity())

    async def otp_events(self, request: web.Request) -> web.StreamResponse:
        otp = self._otp(request)
        if otp is None:
            return twofa_error(404, "OTP_NOT_FOUND", "OTP code not found")
        return web.json_response(otp.events)

    async def check_otp(self, request: web.Request) -> web.StreamResponse:
        code = request.query.get("otpCode")
        if not code:
            return twofa_error(400, "MISSING_OTP_CODE", "otpCode is required")
        otp = self._otp(request)
        if otp is None:
            return web.Response(status=404)
        if otp.status == OtpStatusName.VERIFIED:
            return web.json_response(otp.entity(), status=410)
        if otp.status != OtpStatusName.ACTIVE:
            return web.json_response(otp.entity(), status=403)
        if secrets.compare_digest(code.strip().lower().encode(), otp.code.lower().encode()):
            otp.status = OtpStatusName.VERIFIED
            return web.json_response(otp.entity(), status=202)
        otp.attempt_count += 1
        if otp.attempt_count >= otp.application.attempts:
            otp.status = OtpStatusName.FAILED
        return web.json_response(otp.entity(), status=401)

    def _otp(self, request: web.Request) -> Otp | None:
        otp = self.otps.get(request.match_info["otp_id"])
        if otp is not None:
            otp.refresh(self.clock.now())
        return otp

    def _deliver(self, otp: Otp, channel: str) -> None:
        now = self.clock.now()
        otp.events.append(
            {
                "created": int(now * 1000),
                "timestampCreated": iso(now),
                "type": channel,
                "status": "DELIVERED",
                "statusText": f"delivered by the sandbox via {channel}",
            }
        )
        # Shown on purpose: the sandbox's OTPs reach no phone, so this is how one is read.
        log.info(
            "sandbox: OTP for %s is %s (via %s, otpId %s)",
            otp.number,
            otp.code,
            channel,
            otp.otp_id,
        )


def _generate_code(length: int, alphanumeric: bool) -> str:
    alphabet = string.ascii_lowercase + string.digits if alphanumeric else string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _e164(number: str, country: str | None = None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, country.upper() if country else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _apply_settings(application: Application, settings: dict[str, Any]) -> str | None:
    """Apply settings from a body or query, all or none; the first invalid one's message,
    or None."""
    candidate = dataclasses.replace(application)
    error = _set(candidate, settings)
    if error is None:
        application.__dict__.update(candidate.__dict__)
    return error


def _set(application: Application, settings: dict[str, Any]) -> str | None:
    try:
        for name in ("name", "sender", "caller"):
            if name in settings and not isinstance(settings[name], str):
                return f"{name} must be a string"
        if "name" in settings:
            if settings["name"] == "default":
                return '"default" is reserved for the default application'
            application.name = settings["name"]
        if "pinLength" in settings:
            pin_length = _whole(settings["pinLength"], "pinLength")
            if not 4 <= pin_length <= 11:
                return "pinLength must be between 4 and 11"
            application.pin_length = pin_length
        if "attempts" in settings:
            application.attempts = _positive(settings["attempts"], "attempts", _INT32)
        if "expire" in settings:
            application.expire = _positive(settings["expire"], "expire", _INT64)
        if "alphanumeric" in settings:
            alphanumeric = str(settings["alphanumeric"]).lower()
            if alphanumeric not in ("true", "false"):
                return "alphanumeric must be true or false"
            application.alphanumeric = alphanumeric == "true"
        if "sender" in settings:
            application.sender = settings["sender"]
        if "caller" in settings:
            application.caller = settings["caller"]
    except ValueError as exc:
        return str(exc)
    return None


def _whole(value: Any, name: str) -> int:
    """A whole number given as a JSON number (``6``, ``6.0``) or as text (a query's)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a whole number")


#: The largest values of the spec's int32 and int64 formats.
_INT32, _INT64 = 2**31 - 1, 2**63 - 1


def _positive(value: Any, name: str, highest: int) -> int:
    number = _whole(value, name)
    if not 1 <= number <= highest:
        raise ValueError(f"{name} must be between 1 and {highest}")
    return number
