"""Messaging API v1: send an SMS (POST or GET form) and query its status."""

from __future__ import annotations

from typing import Literal

from ._paths import segment
from ._transport import Transport
from .models.messaging import RestMessageResponse

__all__ = ["MessagingAPI"]

PREFIX = "/messaging/v1"
Encoding = Literal["AUTO", "GSM7", "UNICODE"]


class MessagingAPI:
    """``api.messaging``: plain SMS outside the Chat API."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def send_sms(
        self,
        to: str,
        from_: str,
        message: str,
        *,
        encoding: Encoding | None = None,
        gateway: str | None = None,
        conversion: bool | None = None,
        send_date_time: str | None = None,
        validity: int | None = None,
        reference: str | None = None,
        callback_url: str | None = None,
        callback_method: Literal["POST", "GET"] | None = None,
        part_limit: int | None = None,
        trate: float | None = None,
        mrate: float | None = None,
        upper_cased: bool | None = None,
        keep_emojis: bool | None = None,
        flash: bool | None = None,
        use_get: bool = False,
    ) -> RestMessageResponse:
        """Send one SMS; ``use_get=True`` uses the ``GET /sms`` form of the same call.

        Never retried after it may have reached tyntec, whichever form: the GET form sends
        an SMS too, so it is not treated as idempotent.
        """
        if not message:
            raise ValueError("an SMS needs a message")
        params = {
            "to": to,
            "from": from_,
            "message": message,
            "encoding": encoding,
            "gateway": gateway,
            "conversion": conversion,
            "sendDateTime": send_date_time,
            "validity": validity,
            "reference": reference,
            "callbackUrl": callback_url,
            "callbackMethod": callback_method,
            "partLimit": part_limit,
            "trate": trate,
            "mrate": mrate,
            "upperCased": upper_cased,
            "keepEmojis": keep_emojis,
            "flash": flash,
        }
        method = "GET" if use_get else "POST"
        response = await self._transport.request(
            method, f"{PREFIX}/sms", params=params, idempotent=False
        )
        return RestMessageResponse.model_validate(response.json())

    async def status(self, request_id: str) -> RestMessageResponse:
        """The delivery state of an SMS sent earlier (kept three months)."""
        response = await self._transport.request("GET", f"{PREFIX}/messages/{segment(request_id)}")
        return RestMessageResponse.model_validate(response.json())
