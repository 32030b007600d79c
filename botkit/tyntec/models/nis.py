"""NIS API v1 models: Global Number Portability (GNP) and Global Number Verification (GNV)."""

from __future__ import annotations

from pydantic import Field

from ._base import ReceivedModel

__all__ = ["GnpResponse", "GnvResponse"]


class _NumberInformation(ReceivedModel):
    request_id: str | None = None
    msisdn: str | None = None
    ported: str | None = None
    price: float | None = None
    currency: str | None = None
    price_effective: str | None = None
    error_code: str | None = None
    synchronous: bool | None = None


class GnpResponse(_NumberInformation):
    """Which network a number belongs to now, porting included."""

    mcc: str | None = None
    mnc: str | None = None
    ttid: str | None = None
    operator: str | None = None
    country: str | None = None
    timezone: str | None = None
    technology: str | None = None


class GnvResponse(_NumberInformation):
    """Live status of a number: its range holder, subscription, HLR and serving MSC."""

    roaming: str | None = None
    presence: str | None = None
    nrh_mcc: str | None = Field(default=None, alias="nrhMCC")
    nrh_mnc: str | None = Field(default=None, alias="nrhMNC")
    nrh_tt_id: str | None = None
    nrh_operator: str | None = None
    nrh_country: str | None = None
    nrh_time_zone: str | None = None
    nrh_technology: str | None = None
    imsi: str | None = None
    imsi_mcc: str | None = Field(default=None, alias="imsiMCC")
    imsi_mnc: str | None = Field(default=None, alias="imsiMNC")
    imsi_tt_id: str | None = None
    imsi_operator: str | None = None
    imsi_country: str | None = None
    imsi_time_zone: str | None = None
    imsi_technology: str | None = None
    hlr: str | None = None
    hlr_cc: str | None = Field(default=None, alias="hlrCC")
    hlr_ndc: str | None = Field(default=None, alias="hlrNDC")
    hlr_mcc: str | None = Field(default=None, alias="hlrMCC")
    hlr_mnc: str | None = Field(default=None, alias="hlrMNC")
    hlr_tt_id: str | None = None
    hlr_operator: str | None = None
    hlr_country: str | None = None
    hlr_time_zone: str | None = None
    hlr_technology: str | None = None
    msc: str | None = None
    msc_cc: str | None = Field(default=None, alias="mscCC")
    msc_ndc: str | None = Field(default=None, alias="mscNDC")
    msc_mcc: str | None = Field(default=None, alias="mscMCC")
    msc_mnc: str | None = Field(default=None, alias="mscMNC")
    msc_tt_id: str | None = None
    msc_operator: str | None = None
    msc_country: str | None = None
    msc_time_zone: str | None = None
    msc_technology: str | None = None
