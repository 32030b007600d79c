"""The Messaging API (SMS) and NIS API clients against the sandbox, and inbound SMS."""

from __future__ import annotations

import pytest

from botkit.sandbox import Sandbox
from botkit.testing import WebhookRecorder
from botkit.tyntec import BadRequestError, NotFoundError, TyntecClient
from botkit.tyntec.models import InboundMessage

NUMBER = "+491701234567"


@pytest.mark.parametrize("use_get", [False, True])
async def test_send_sms_and_query_its_status(api: TyntecClient, use_get: bool) -> None:
    sent = await api.messaging.send_sms(
        NUMBER, "Shop", "Your parcel is on its way", use_get=use_get
    )
    assert sent.request_id
    assert (sent.to, sent.from_, sent.size) == (NUMBER, "Shop", 1)
    status = await api.messaging.status(sent.request_id)
    assert status.status == "DELIVERED"
    assert [p.delivery_state for p in status.parts] == ["DELIVERED"]


async def test_long_and_unicode_sms_are_split_into_parts(api: TyntecClient) -> None:
    assert (await api.messaging.send_sms(NUMBER, "Shop", "x" * 161)).size == 2
    assert (await api.messaging.send_sms(NUMBER, "Shop", "ü" * 70)).size == 1
    assert (await api.messaging.send_sms(NUMBER, "Shop", "😀" * 71)).size == 2


async def test_sms_errors(api: TyntecClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        await api.messaging.send_sms("nonsense", "Shop", "hi")
    assert "to is not a phone number" in str(caught.value)
    with pytest.raises(BadRequestError):
        await api.messaging.send_sms(NUMBER, "A sender that is too long", "hi")
    with pytest.raises(NotFoundError):
        await api.messaging.status("no-such-request")
    with pytest.raises(ValueError, match="message"):
        await api.messaging.send_sms(NUMBER, "Shop", "")


async def test_sms_delivery_report_goes_to_the_callback(
    api: TyntecClient, webhook: WebhookRecorder
) -> None:
    sent = await api.messaging.send_sms(NUMBER, "Shop", "hi", callback_url=webhook.url)
    report = await webhook.wait_for(lambda e: e.get("requestId") == sent.request_id)
    assert report["status"] == "DELIVERED"


async def test_inbound_sms_reaches_the_sms_webhook(
    sandbox: Sandbox, webhook: WebhookRecorder
) -> None:
    delivery = await sandbox.user_says(NUMBER, text="STOP", to="+4930123456", api="messaging")
    assert delivery.status == 200
    assert delivery.url.endswith("/sms")
    inbound = InboundMessage.model_validate(await webhook.wait_for(lambda e: "message" in e))
    assert (inbound.from_, inbound.message, inbound.missing_parts) == (NUMBER, "STOP", False)


async def test_gnp_and_gnv(api: TyntecClient) -> None:
    gnp = await api.nis.gnp("+4915112345678")
    assert gnp.msisdn == "+4915112345678"
    assert gnp.country == "DE"
    assert gnp.synchronous is True
    gnv = await api.nis.gnv("+4915112345678")
    assert (gnv.presence, gnv.roaming, gnv.nrh_mcc) == ("true", "false", "001")
    assert gnv.hlr_time_zone is not None
    assert gnv.hlr_time_zone.startswith("+0")


async def test_number_information_errors_and_callbacks(
    api: TyntecClient, webhook: WebhookRecorder
) -> None:
    with pytest.raises(BadRequestError):
        await api.nis.gnp("123")
    answer = await api.nis.gnv("+4915112345678", callback_url=webhook.url)
    assert answer.synchronous is False
    posted = await webhook.wait_for(lambda e: e.get("requestId") == answer.request_id)
    assert posted["msisdn"] == "+4915112345678"
