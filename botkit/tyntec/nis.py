"""NIS API v1: number portability (GNP) and live number verification (GNV)."""

from __future__ import annotations

from ._transport import Transport
from .models.nis import GnpResponse, GnvResponse

__all__ = ["NumberInformationAPI"]

PREFIX = "/nis/v1"


class NumberInformationAPI:
    """``api.nis``: what network a number is on, and whether it is live."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def gnp(self, msisdn: str, *, callback_url: str | None = None) -> GnpResponse:
        """Global Number Portability; with ``callback_url`` tyntec answers later, there."""
        params = {"msisdn": msisdn, "callbackUrl": callback_url}
        response = await self._transport.request("GET", f"{PREFIX}/gnp", params=params)
        return GnpResponse.model_validate(response.json())

    async def gnv(self, msisdn: str, *, callback_url: str | None = None) -> GnvResponse:
        """Global Number Verification: subscriber status, roaming, serving network."""
        params = {"msisdn": msisdn, "callbackUrl": callback_url}
        response = await self._transport.request("GET", f"{PREFIX}/gnv", params=params)
        return GnvResponse.model_validate(response.json())
