"""The sandbox as tyntec's stand-in, spoken to over raw HTTP (no botkit client in between)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from botkit.sandbox import Sandbox
from botkit.testing import WebhookRecorder

HEADERS = {"apikey": "sandbox"}
TEXT = {
    "to": "+491701234567",
    "channels": ["whatsapp"],
    "whatsapp": {"from": "4930123456", "contentType": "text", "text": "Hello"},
}


async def post(url: str, body: Any, headers: dict[str, str] = HEADERS) -> tuple[int, str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=body, headers=headers) as response,
    ):
        return response.status, response.content_type, await response.json(content_type=None)


async def test_valid_message_is_accepted_and_reported_delivered(
    sandbox_url: str, webhook: WebhookRecorder
) -> None:
    status, _, body = await post(f"{sandbox_url}/chat-api/v2/messages", TEXT)
    assert status == 202
    assert body["acceptedAt"].endswith("Z")
    dlr = await webhook.wait_for(lambda e: e.get("messageId") == body["messageId"])
    assert dlr["event"] == "MessageStatus::delivered"
    assert dlr["channel"] == "whatsapp"
    assert dlr["status"] == "delivered"


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"from": "49301", "contentType": "text"}, "validate.request.whatsapp.text"),
        (
            {"from": "49301", "contentType": "template", "template": {"templateId": "t"}},
            "validate.request.whatsapp.template.language",
        ),
        ({"from": "49301", "contentType": "sticker"}, "validate.request.whatsapp.contentType"),
        ({"contentType": "text", "text": "hi"}, "validate.request.whatsapp.from"),
        (
            {"from": "49301", "contentType": "media", "media": {"type": "gif", "url": "ftp://x"}},
            "validate.request.whatsapp.media.url",
        ),
        (
            {"from": "49301", "contentType": "location", "location": {"latitude": "north"}},
            "validate.request.whatsapp.location.latitude",
        ),
    ],
)
async def test_invalid_message_gets_400_naming_the_field(
    sandbox_url: str, sandbox: Sandbox, part: dict[str, Any], field: str
) -> None:
    body = {"to": "+491701234567", "channels": ["whatsapp"], "whatsapp": part}
    status, content_type, problem = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    assert status == 400
    assert content_type == "application/problem+json"
    assert problem["title"] == "Constraint Violation"
    assert field in [v["field"] for v in problem["violations"]]
    assert sandbox.chat.messages == {}


TEMPLATE = {"templateId": "t", "language": {"policy": "deterministic", "code": "en"}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # Each was a 500 (a list or an object looked up in a set of names), or a 202 whose
        # delivery then failed inside the sandbox, with no notification ever sent.
        ({"channels": [{}]}, "validate.request.channels[0]"),
        (
            {"whatsapp": {"from": "4930", "contentType": ["text"], "text": "Hello"}},
            "validate.request.whatsapp.contentType",
        ),
        (
            {"whatsapp": {"from": "4930", "contentType": "template",
                          "template": {**TEMPLATE, "language": {"policy": {}, "code": "en"}}}},
            "validate.request.whatsapp.template.language.policy",
        ),
        (
            {"whatsapp": {"from": "4930", "contentType": "template",
                          "template": {**TEMPLATE, "parameters": "Ana"}}},
            "validate.request.whatsapp.template.parameters",
        ),
        (
            {"whatsapp": {"from": "4930", "contentType": "media",
                          "media": {"type": ["image"], "url": "https://x.example/a.png"}}},
            "validate.request.whatsapp.media.type",
        ),
        ({"context": ["botkit"]}, "validate.request.context"),
        ({"context": {"userContext": 7}}, "validate.request.context.userContext"),
        ({"context": {"userContext": "x" * 256}}, "validate.request.context.userContext"),
        ({"overrides": "https://x.example"}, "validate.request.overrides"),
        (
            {"overrides": {"notificationCallbackUrl": ["https://x.example"]}},
            "validate.request.overrides.notificationCallbackUrl",
        ),
    ],
)  # fmt: skip
async def test_a_field_of_the_wrong_json_type_gets_400_naming_it(
    sandbox_url: str, sandbox: Sandbox, change: dict[str, Any], field: str
) -> None:
    status, content_type, problem = await post(
        f"{sandbox_url}/chat-api/v2/messages", {**TEXT, **change}
    )
    assert status == 400
    assert content_type == "application/problem+json"
    assert field in [v["field"] for v in problem["violations"]]
    assert sandbox.chat.messages == {}


async def test_a_user_context_of_255_characters_is_taken(
    sandbox_url: str, webhook: WebhookRecorder
) -> None:
    body = {**TEXT, "context": {"userContext": "x" * 255}}
    status, _, accepted = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    assert status == 202
    dlr = await webhook.wait_for(lambda e: e.get("messageId") == accepted["messageId"])
    assert dlr["userContext"] == "x" * 255


@pytest.mark.parametrize(
    "profile", [{"vertical": {}}, {"about": 7}, {"websites": [{"url": "https://x.example"}]}]
)
async def test_a_profile_field_of_the_wrong_json_type_gets_400(
    sandbox_url: str, profile: dict[str, Any]
) -> None:
    url = f"{sandbox_url}/chat-api/v2/channels/whatsapp/phone-numbers/4930123456/settings/profile"
    async with (
        aiohttp.ClientSession() as session,
        session.patch(url, json=profile, headers=HEADERS) as response,
    ):
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        async with session.get(url, headers=HEADERS) as after:
            ((name, value),) = profile.items()
            assert (await after.json()).get(name) != value  # not taken


@pytest.mark.parametrize(("channel", "limit"), [("whatsapp", 4096), ("tyntecEcho", 100)])
async def test_text_over_the_channel_limit_is_refused(
    sandbox_url: str, channel: str, limit: int
) -> None:
    part = {"from": "49301", "contentType": "text", "text": "x" * limit}
    body = {"to": "+491701234567", "channels": [channel], channel: part}
    status, _, _ = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    assert status == 202
    part["text"] += "x"
    status, _, problem = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    assert status == 400
    assert problem["violations"][0]["field"] == f"validate.request.{channel}.text"


async def test_sms_text_limit_is_3000(sandbox_url: str) -> None:
    body = {
        "to": "+4917012",
        "channels": ["sms"],
        "sms": {"contentType": "text", "text": "x" * 3001},
    }
    status, _, problem = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    assert status == 400
    assert problem["violations"][0]["field"] == "validate.request.sms.text"


async def test_selected_channel_without_content_is_refused(sandbox_url: str) -> None:
    body = {**TEXT, "channels": ["whatsapp", "sms"]}
    status, _, problem = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    assert status == 400
    assert [v["field"] for v in problem["violations"]] == ["validate.request.sms"]


async def test_unparseable_json_is_a_problem(sandbox_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{sandbox_url}/chat-api/v2/messages", data=b"{not json", headers=HEADERS
        ) as response,
    ):
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        assert (await response.json(content_type=None))["title"] == "Data given was not parseable"


async def test_missing_or_wrong_api_key_is_401(sandbox_url: str) -> None:
    for headers in ({}, {"apikey": "wrong"}):
        status, content_type, problem = await post(
            f"{sandbox_url}/chat-api/v2/messages", TEXT, headers
        )
        assert (status, content_type, problem["status"]) == (401, "application/problem+json", 401)


async def test_unknown_endpoint_is_a_404_problem(sandbox_url: str) -> None:
    status, content_type, problem = await post(f"{sandbox_url}/chat-api/v2/nothing", {})
    assert (status, content_type) == (404, "application/problem+json")
    assert "no such endpoint" in problem["detail"]
    assert "did you mean" not in problem["detail"]  # nothing is close to /nothing


async def test_a_mistyped_endpoint_is_named_in_the_404(sandbox_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sandbox_url}/sandbox/otp") as answer,
    ):
        problem = await answer.json(content_type=None)
    assert answer.status == 404
    assert problem["detail"].startswith(
        "no such endpoint: GET /sandbox/otp; did you mean /sandbox/otps?"
    )


async def test_user_context_comes_back_on_the_notification(
    sandbox_url: str, webhook: WebhookRecorder
) -> None:
    body = {**TEXT, "context": {"userContext": "order-42"}}
    _, _, accepted = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    dlr = await webhook.wait_for(lambda e: e.get("messageId") == accepted["messageId"])
    assert dlr["userContext"] == "order-42"


async def test_notification_callback_url_overrides_the_webhook(
    sandbox_url: str, webhook: WebhookRecorder, aiohttp_server: Any
) -> None:
    other = WebhookRecorder()
    server = await aiohttp_server(other.app())
    body = {**TEXT, "overrides": {"notificationCallbackUrl": str(server.make_url("/dlr"))}}
    _, _, accepted = await post(f"{sandbox_url}/chat-api/v2/messages", body)
    dlr = await other.wait_for(lambda e: e.get("messageId") == accepted["messageId"])
    assert dlr["event"] == "MessageStatus::delivered"
    assert webhook.events == []


async def test_webhook_failures_are_retried(sandbox_url: str, webhook: WebhookRecorder) -> None:
    webhook.answers = [500, 503]
    _, _, accepted = await post(f"{sandbox_url}/chat-api/v2/messages", TEXT)
    dlr = await webhook.wait_for(lambda e: e.get("messageId") == accepted["messageId"])
    assert dlr["status"] == "delivered"


async def test_inbound_control_endpoint_plays_a_user(
    sandbox_url: str, webhook: WebhookRecorder
) -> None:
    status, _, body = await post(
        f"{sandbox_url}/sandbox/inbound", {"from": "+491701234567", "text": "hi", "name": "Ana"}
    )
    assert status == 200
    assert body["webhookStatus"] == 200
    (message,) = webhook.of_kind("MoMessage")
    assert message["from"] == "491701234567"
    assert message["content"] == {"contentType": "text", "text": "hi"}
    assert message["whatsapp"] == {"senderName": "Ana"}
    assert message["messageId"] == body["messageId"]


async def test_inbound_control_endpoint_rejects_nonsense(sandbox_url: str) -> None:
    status, _, problem = await post(f"{sandbox_url}/sandbox/inbound", {"from": "+4917", "x": 1})
    assert status == 400
    assert "unknown field" in problem["detail"]
    status, _, problem = await post(
        f"{sandbox_url}/sandbox/inbound", {"from": "+4917", "text": "a", "url": "https://b"}
    )
    assert status == 400
    assert "exactly one" in problem["detail"]


async def test_a_later_status_that_is_not_a_name_gets_400(sandbox_url: str) -> None:
    _, _, accepted = await post(f"{sandbox_url}/chat-api/v2/messages", TEXT)
    status, _, problem = await post(
        f"{sandbox_url}/sandbox/messages/{accepted['messageId']}/status", {"status": ["seen"]}
    )
    assert status == 400
    assert "status must be one of" in problem["detail"]


async def test_later_status_can_be_reported(sandbox_url: str, webhook: WebhookRecorder) -> None:
    _, _, accepted = await post(f"{sandbox_url}/chat-api/v2/messages", TEXT)
    message_id = accepted["messageId"]
    await webhook.wait_for(lambda e: e.get("event") == "MessageStatus::delivered")
    status, _, body = await post(
        f"{sandbox_url}/sandbox/messages/{message_id}/status", {"status": "seen"}
    )
    assert status == 200
    seen = await webhook.wait_for(lambda e: e.get("event") == "MessageStatus::seen")
    assert seen["messageId"] == message_id
    assert body["status"] == "seen"


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"pinLength": {"value": 6}}, "pinLength must be a whole number"),  # was a 500
        ({"pinLength": 5.5}, "pinLength must be a whole number"),
        ({"attempts": True}, "attempts must be a whole number"),
        ({"name": ["shop"]}, "name must be a string"),
        ({"alphanumeric": "maybe"}, "alphanumeric must be true or false"),
        ({"expire": 2**63}, "expire must be between 1 and 9223372036854775807"),  # int64
        ({"attempts": 0}, "attempts must be between 1 and 2147483647"),
    ],
)
async def test_a_2fa_application_setting_of_the_wrong_type_gets_400(
    sandbox_url: str, settings: dict[str, Any], error: str
) -> None:
    status, _, body = await post(f"{sandbox_url}/2fa/v1/application", settings)
    assert status == 400
    assert error in str(body)


async def test_a_2fa_application_update_is_all_or_nothing(sandbox_url: str) -> None:
    status, _, created = await post(f"{sandbox_url}/2fa/v1/application", {"name": "shop"})
    assert status == 200
    url = f"{sandbox_url}/2fa/v1/application/{created['applicationId']}"
    status, _, _ = await post(f"{url}?name=renamed&pinLength=99", None)
    assert status == 400
    async with aiohttp.ClientSession() as session, session.get(url, headers=HEADERS) as got:
        assert (await got.json())["name"] == "shop"  # the valid half was not applied
