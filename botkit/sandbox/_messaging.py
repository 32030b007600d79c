"""The sandbox's Messaging API v1 (plain SMS) and NIS API v1 (number information)."""

from __future__ import annotations

import logging
import math
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from aiohttp import web
from phonenumbers import carrier, timezone

from ._clock import Clock, iso
from ._notifier import Notifier
from ._problems import problem

__all__ = ["MessagingSandbox", "NumberInformationSandbox", "sms_parts"]

log = logging.getLogger("botkit.sandbox")

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€"
)
_ENCODINGS = {"AUTO", "GSM7", "UNICODE"}


def sms_parts(message: str, encoding: str = "AUTO") -> int:
    """How many SMS parts a message takes: 160/153 characters in GSM-7, 70/67 in UCS-2.

    >>> sms_parts("hello"), sms_parts("x" * 161), sms_parts("ü" * 71, "UNICODE")
    (1, 2, 2)
    """
    gsm = encoding == "GSM7" or (encoding == "AUTO" and set(message) <= _GSM7)
    single, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(message) <= single else math.ceil(len(message) / multi)


class MessagingSandbox:
    """Accepts SMS on ``/messaging/v1/sms`` (POST or GET, query parameters as the spec has
    them) and reports each as delivered."""

    def __init__(self, clock: Clock, notifier: Notifier) -> None:
        self.clock = clock
        self.notifier = notifier
        self.sms: dict[str, dict[str, Any]] = {}

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/messaging/v1/sms", self.send),
            web.get("/messaging/v1/sms", self.send),
            web.get("/messaging/v1/messages/{request_id}", self.status),
        ]

    async def send(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        error = _sms_error(params)
        if error:
            return problem(400, "Invalid request", error)
        now = self.clock.now()
        encoding = params.get("encoding", "AUTO").upper()
        parts = sms_parts(params["message"], encoding)
        request_id = str(uuid.uuid4())
        record: dict[str, Any] = {
            "requestId": request_id,
            "from": params["from"],
            "to": params["to"],
            "status": "DELIVERED",
            "reference": params.get("reference"),
            "href": f"/messaging/v1/messages/{request_id}",
            "mccmnc": "00101",
            "ttid": "0",
            "size": parts,
            "submitDate": iso(now),
            "sentDate": iso(now),
            "doneDate": iso(now),
            "priceEffective": iso(now),
            "parts": [
                {
                    "partId": f"{request_id}:{index}",
                    "deliveryState": "DELIVERED",
                    "statusText": params["message"][:20],
                    "sentDate": iso(now),
                    "doneDate": iso(now),
                    "price": 0.0,
                    "currency": "EUR",
                }
                for index in range(parts)
            ],
        }
        self.sms[request_id] = record
        log.info("sandbox: SMS %s to %s (%d part(s))", request_id, params["to"], parts)
        callback = params.get("callbackUrl")
        if callback:
            self.notifier.spawn(_post_quietly(self.notifier, callback, record))
        return web.json_response(record)

    async def status(self, request: web.Request) -> web.StreamResponse:
        record = self.sms.get(request.match_info["request_id"])
        if record is None:
            return problem(404, "Not Found", "No message with this requestId")
        return web.json_response(record)


async def _post_quietly(notifier: Notifier, url: str, payload: dict[str, Any]) -> None:
    await notifier.post(url, payload)


def _sms_error(params: dict[str, str]) -> str | None:
    for name in ("to", "from", "message"):
        if not params.get(name):
            return f"{name} is required"
    if _parse(params["to"]) is None:
        return f"to is not a phone number in international format: {params['to']!r}"
    sender = params["from"]
    if _parse(sender) is None and not (sender.isalnum() and len(sender) <= 11):
        return "from must be a phone number or an alphanumeric sender of at most 11 characters"
    if params.get("encoding", "AUTO").upper() not in _ENCODINGS:
        return f"encoding must be one of {sorted(_ENCODINGS)}"
    return None


def _parse(number: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else f"+{number}")
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


class NumberInformationSandbox:
    """GNP and GNV answers made up from the number itself (country, operator and time zone
    from libphonenumber's data); every number is on the ITU test network 001-01."""

    def __init__(self, clock: Clock, notifier: Notifier) -> None:
        self.clock = clock
        self.notifier = notifier

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/nis/v1/gnp", self.gnp), web.get("/nis/v1/gnv", self.gnv)]

    async def gnp(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, verify=False)

    async def gnv(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, verify=True)

    async def _answer(self, request: web.Request, *, verify: bool) -> web.StreamResponse:
        msisdn = request.query.get("msisdn", "")
        parsed = _parse(msisdn)
        if parsed is None:
            return problem(400, "Bad Request", f"msisdn is not a valid phone number: {msisdn!r}")
        info = self._lookup(parsed, verify=verify)
        callback = request.query.get("callbackUrl")
        if callback:
            self.notifier.spawn(_post_quietly(self.notifier, callback, info))
            return web.json_response({"requestId": info["requestId"], "synchronous": False})
        return web.json_response(info)

    def _lookup(self, number: phonenumbers.PhoneNumber, *, verify: bool) -> dict[str, Any]:
        country = phonenumbers.region_code_for_number(number) or "ZZ"
        operator = carrier.name_for_number(number, "en") or "Sandbox Mobile"
        zones = timezone.time_zones_for_number(number)
        offset = _utc_offset(zones[0] if zones else "Etc/UTC")
        network = {
            "mcc": "001", "mnc": "01", "ttid": "0", "operator": operator,
            "country": country, "timezone": offset, "technology": "GSM",
        }  # fmt: skip
        info: dict[str, Any] = {
            "requestId": str(uuid.uuid4()),
            "msisdn": phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            "ported": "false",
            "price": 0.0,
            "currency": "EUR",
            "priceEffective": iso(self.clock.now()),
            "errorCode": "0",
            "synchronous": True,
        }
        if not verify:
            return info | network
        info |= {"roaming": "false", "presence": "true"}
        for prefix in ("nrh", "imsi", "hlr", "msc"):
            info |= {
                f"{prefix}MCC": "001",
                f"{prefix}MNC": "01",
                f"{prefix}TtId": "0",
                f"{prefix}Operator": operator,
                f"{prefix}Country": country,
                f"{prefix}TimeZone": offset,
                f"{prefix}Technology": "GSM",
            }
        return info


def _utc_offset(zone: str) -> str:
    try:
        moment = datetime.now(ZoneInfo(zone))
    except (KeyError, ValueError):
        return "+0000"
    return moment.strftime("%z") or "+0000"
