"""The Chat API client against the sandbox over HTTP: sending, delivery, echo, media, errors."""

from __future__ import annotations

import aiohttp
import pytest

from botkit.sandbox import Fault, Sandbox
from botkit.testing import WebhookRecorder
from botkit.tyntec import (
    AuthenticationError,
    BadRequestError,
    ConnectError,
    NotFoundError,
    RateLimitError,
    RequestTimeout,
    RetryPolicy,
    ServerError,
    TyntecClient,
    messages,
)
from botkit.tyntec.models import MessageRequest, WhatsAppMessageRequest, parse_event

from .conftest import FAST_RETRY

USER = "+491701234567"
BOT = "4930123456"


async def test_send_text_reports_delivery_and_is_retrievable(
    api: TyntecClient, webhook: WebhookRecorder
) -> None:
    request = messages.text(USER, "Hello Ana", from_=BOT, user_context="conv-1")
    accepted = await api.chat.send(request)
    dlr = await webhook.wait_for(lambda e: e.get("messageId") == accepted.message_id)
    assert dlr["event"] == "MessageStatus::delivered"
    assert dlr["userContext"] == "conv-1"

    stored = await api.chat.get_message(accepted.message_id)
    assert stored.to == USER
    assert stored.whatsapp is not None
    assert stored.whatsapp.text == "Hello Ana"
    assert stored.whatsapp.from_ == BOT

    status = await api.chat.status(accepted.message_id)
    assert status.kind == "delivered"

    history = await api.chat.history(accepted.message_id)
    assert [h.state for h in history.history] == ["accepted", "dispatched", "success"]
    assert history.user_context == "conv-1"


async def test_each_message_kind_is_accepted(api: TyntecClient, sandbox: Sandbox) -> None:
    sent = [
        messages.url(USER, "https://example.com/offer", from_=BOT),
        messages.media(USER, "https://example.com/a.pdf", kind="document", caption="A", from_=BOT),
        messages.location(USER, 51.5005765, 7.4954884, name="tyntec", from_=BOT),
        messages.template(USER, "order_status", params=["123456", "shipped"], from_=BOT),
    ]
    for request in sent:
        await api.chat.send(request)
    stored = [m.request["whatsapp"] for m in sandbox.chat.messages.values()]
    assert [s["contentType"] for s in stored] == ["text", "media", "location", "template"]
    assert stored[0]["urlPreviewDisplayed"] is True
    assert stored[2]["location"]["latitude"] == 51.5005765
    assert stored[3]["template"]["language"] == {"policy": "deterministic", "code": "en"}


async def test_fallback_chain_moves_to_sms_when_whatsapp_fails(
    api: TyntecClient, sandbox: Sandbox, webhook: WebhookRecorder
) -> None:
    sandbox.chat.make_undeliverable(USER, "whatsapp")
    request = messages.template(
        USER,
        "appointment",
        params=["Friday"],
        channels=["whatsapp", "sms"],
        from_={"whatsapp": BOT, "sms": "Clinic"},
        sms_text="Your appointment: Friday",
    )
    accepted = await api.chat.send(request)
    delivered = await webhook.wait_for(lambda e: e.get("event") == "MessageStatus::delivered")
    failed_first = webhook.of_kind("MessageStatus::channelFailed")
    assert [parse_event(e).kind for e in failed_first] == ["channelFailed"]
    assert failed_first[0]["details"]["code"] == "whatsapp::error::noValidContact"
    assert delivered["channel"] == "sms"
    assert delivered["messageId"] == accepted.message_id


async def test_all_channels_failing_ends_in_failed(
    api: TyntecClient, sandbox: Sandbox, webhook: WebhookRecorder
) -> None:
    sandbox.chat.make_undeliverable(USER, "whatsapp")
    await api.chat.send(messages.text(USER, "Hi", from_=BOT))
    failed = await webhook.wait_for(lambda e: e.get("event") == "MessageStatus::failed")
    assert failed["details"]["code"] == "tyntec::error:noFurtherChannelAvailable"


async def test_tyntec_echo_replies_back_with_from_and_to_switched(
    api: TyntecClient, webhook: WebhookRecorder
) -> None:
    request = messages.text(USER, "ping", channels="tyntecEcho", from_="echo-1", reply_back=True)
    accepted = await api.chat.send(request)
    echo = await webhook.wait_for(lambda e: e.get("event") == "MoMessage")
    assert echo["messageId"] == accepted.message_id  # the same id as the request
    assert (echo["from"], echo["to"], echo["channel"]) == (USER, "echo-1", "tyntecEcho")
    assert echo["content"] == {"contentType": "text", "text": "ping"}
    # The DLR comes first, and shares the messageId with the echo.
    kinds = [e["event"] for e in webhook.events]
    assert kinds == ["MessageStatus::delivered", "MoMessage"]


async def test_tyntec_echo_formats_templates(api: TyntecClient, webhook: WebhookRecorder) -> None:
    request = messages.template(
        USER, "order_status", params=["123456", "shipped"], channels="tyntecEcho",
        from_="echo-1", reply_back=True,
    )  # fmt: skip
    await api.chat.send(request)
    echo = parse_event(await webhook.wait_for(lambda e: e.get("event") == "MoMessage"))
    assert echo.content.text == (  # type: ignore[union-attr]
        "TemplateId[order_status] LanguagePolicy[deterministic] LanguageCode[en] "
        "Parameter0[123456] Parameter1[shipped]"
    )


async def test_tyntec_echo_media_and_url_come_back_as_they_are(
    api: TyntecClient, webhook: WebhookRecorder
) -> None:
    await api.chat.send(
        messages.media(USER, "https://example.com/cat.jpg", caption="cat",
                       channels="tyntecEcho", from_="echo-1", reply_back=True)
    )  # fmt: skip
    echo = await webhook.wait_for(lambda e: e.get("event") == "MoMessage")
    assert echo["content"] == {
        "contentType": "media",
        "media": {"type": "image", "url": "https://example.com/cat.jpg", "caption": "cat"},
    }
    await api.chat.send(
        messages.url(USER, "https://tyntec.com", channels="tyntecEcho", from_="e", reply_back=True)
    )
    echo = await webhook.wait_for(
        lambda e: e.get("event") == "MoMessage" and e["content"]["contentType"] == "url"
    )
    assert echo["content"]["url"] == "https://tyntec.com"


async def test_tyntec_echo_without_reply_back_only_reports_delivery(
    api: TyntecClient, sandbox: Sandbox, webhook: WebhookRecorder
) -> None:
    await api.chat.send(messages.text(USER, "quiet", channels="tyntecEcho", from_="echo-1"))
    await sandbox.idle()
    assert [e["event"] for e in webhook.events] == ["MessageStatus::delivered"]


async def test_media_a_user_sent_can_be_downloaded(
    api: TyntecClient, sandbox: Sandbox, webhook: WebhookRecorder
) -> None:
    await sandbox.user_says(USER, media={"type": "image", "url": "https://example.com/cat.jpg"})
    mo = parse_event(await webhook.wait_for(lambda e: e.get("event") == "MoMessage"))
    media_id = mo.content.media.media_id  # type: ignore[union-attr]
    assert media_id
    downloaded = await api.chat.download_media(media_id)
    assert downloaded.content_type == "image/png"
    assert downloaded.content.startswith(b"\x89PNG")
    with pytest.raises(NotFoundError):
        await api.chat.download_media("00000000-0000-0000-0000-000000000000")


async def test_server_violations_reach_the_caller(api: TyntecClient) -> None:
    # model_construct skips the client's own checks, so the sandbox's are what answers.
    unchecked = MessageRequest.model_construct(
        to=USER,
        channels=["whatsapp"],
        whatsapp=WhatsAppMessageRequest.model_construct(from_=BOT, content_type="text"),
    )
    with pytest.raises(BadRequestError) as caught:
        await api.chat.send(unchecked)
    assert caught.value.status == 400
    assert [v.field for v in caught.value.violations] == ["validate.request.whatsapp.text"]
    assert "validate.request.whatsapp.text" in str(caught.value)


async def test_unknown_message_is_not_found(api: TyntecClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await api.chat.get_message("77185196-664a-43ec-b14a-fe97036c697f")
    assert caught.value.status == 404


async def test_wrong_api_key_is_an_authentication_error_without_the_key(sandbox_url: str) -> None:
    secret = "s3cr3t-key-never-shown"
    async with TyntecClient(api_key=secret, base_url=sandbox_url, retry=FAST_RETRY) as api:
        with pytest.raises(AuthenticationError) as caught:
            await api.chat.send(messages.text(USER, "hi", from_=BOT))
        assert secret not in repr(api)
    error = caught.value
    assert secret not in str(error)
    assert secret not in repr(error.__dict__)


async def test_429_is_retried_honouring_retry_after(api: TyntecClient, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("/chat-api/v2/messages", status=429, count=1, retry_after=0.05))
    accepted = await api.chat.send(messages.text(USER, "after the limit", from_=BOT))
    assert sandbox.faults.triggered == 1
    assert list(sandbox.chat.messages) == [accepted.message_id]  # sent exactly once


async def test_429_that_persists_surfaces_with_retry_after(
    api: TyntecClient, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault("/chat-api/v2/messages", status=429, count=5, retry_after=0.01))
    with pytest.raises(RateLimitError) as caught:
        await api.chat.send(messages.text(USER, "hi", from_=BOT))
    assert caught.value.retry_after == 0.01
    assert sandbox.faults.triggered == FAST_RETRY.attempts


async def test_send_is_not_retried_after_a_5xx(api: TyntecClient, sandbox: Sandbox) -> None:
    sandbox.faults.add(Fault("/chat-api/v2/messages", status=503, count=1))
    with pytest.raises(ServerError) as caught:
        await api.chat.send(messages.text(USER, "maybe accepted", from_=BOT))
    assert caught.value.status == 503
    assert sandbox.faults.triggered == 1
    assert sandbox.chat.messages == {}


async def test_send_retries_a_5xx_when_the_caller_opts_in(
    api: TyntecClient, sandbox: Sandbox
) -> None:
    sandbox.faults.add(Fault("/chat-api/v2/messages", status=503, count=1))
    await api.chat.send(messages.text(USER, "retry me", from_=BOT), retry_unsafe=True)
    assert len(sandbox.chat.messages) == 1


async def test_idempotent_reads_are_retried_after_5xx(api: TyntecClient, sandbox: Sandbox) -> None:
    accepted = await api.chat.send(messages.text(USER, "hi", from_=BOT))
    sandbox.faults.add(Fault("/chat-api/v2/messages/", status=502, count=2, method="GET"))
    stored = await api.chat.get_message(accepted.message_id)
    assert stored.to == USER
    assert sandbox.faults.triggered == 2


async def test_timeouts(sandbox_url: str, sandbox: Sandbox) -> None:
    async with TyntecClient(
        api_key="sandbox", base_url=sandbox_url, timeout=0.2, retry=FAST_RETRY
    ) as api:
        accepted = await api.chat.send(messages.text(USER, "fast", from_=BOT))
        # A send that times out is not retried: tyntec may have accepted it.
        sandbox.faults.add(Fault("/chat-api/v2/messages", status=0, delay=0.5, method="POST"))
        with pytest.raises(RequestTimeout):
            await api.chat.send(messages.text(USER, "slow", from_=BOT))
        assert sandbox.faults.triggered == 1
        # A read that times out once is retried and succeeds.
        sandbox.faults.add(Fault("/chat-api/v2/messages/", status=0, delay=0.5, method="GET"))
        stored = await api.chat.get_message(accepted.message_id)
        assert stored.to == USER
        assert sandbox.faults.triggered == 2


async def test_connection_refused_is_a_connect_error(unused_tcp_port: int) -> None:
    attempts = []
    policy = RetryPolicy(attempts=3, base_delay=0.001, jitter=lambda: attempts.append(1) or 1.0)
    url = f"http://127.0.0.1:{unused_tcp_port}"
    async with TyntecClient(api_key="k", base_url=url, retry=policy) as api:
        with pytest.raises(ConnectError) as caught:
            await api.chat.send(messages.text(USER, "hi", from_=BOT))
    # The request never left, so even a send is retried: twice after the first try.
    assert len(attempts) == 2
    assert str(caught.value).startswith(f"POST /chat-api/v2/messages: cannot connect to {url}: ")
    assert str(caught.value).count("cannot connect") == 1


async def test_closed_client_refuses_reuse(sandbox_url: str) -> None:
    api = TyntecClient(api_key="sandbox", base_url=sandbox_url)
    async with api:
        await api.chat.send(messages.text(USER, "hi", from_=BOT))
    with pytest.raises(RuntimeError, match="closed"):
        async with api:
            pass


async def test_client_reads_key_and_url_from_the_environment(
    sandbox_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TYNTEC_API_KEY", "sandbox")
    monkeypatch.setenv("TYNTEC_API_URL", sandbox_url)
    async with TyntecClient() as api:
        assert api.base_url == sandbox_url
        await api.chat.send(messages.text(USER, "from env", from_=BOT))
    monkeypatch.delenv("TYNTEC_API_KEY")
    with pytest.raises(ValueError, match="TYNTEC_API_KEY"):
        TyntecClient()


async def test_a_callers_aiohttp_session_is_used_and_left_open(sandbox_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with TyntecClient(api_key="sandbox", base_url=sandbox_url, session=session) as api:
            accepted = await api.chat.send(messages.text(USER, "through a session", from_=BOT))
            assert (await api.chat.get_message(accepted.message_id)).to == USER
        assert not session.closed  # the caller's to close
    async with (
        aiohttp.ClientSession() as session,
        TyntecClient(api_key="wrong", base_url=sandbox_url, session=session) as api,
    ):
        with pytest.raises(AuthenticationError):  # the key goes with every request
            await api.chat.send(messages.text(USER, "hi", from_=BOT))
