"""The models: lenient with what tyntec sends, strict with what botkit sends."""

from __future__ import annotations

import pydantic
import pytest

from botkit.tyntec import messages
from botkit.tyntec.models import (
    InboundMessage,
    Language,
    Location,
    MessageRequest,
    MessageStatus,
    MessageStatusChannelFailed,
    MessageStatusDeleted,
    MoMessage,
    Problem,
    SMSRequest,
    Template,
    TyntecEchoRequest,
    UnknownEvent,
    WhatsAppGroupEvent,
    WhatsAppMessageRequest,
    parse_event,
)


@pytest.mark.parametrize(
    ("channel", "part_type", "limit"),
    [("whatsapp", WhatsAppMessageRequest, 4096), ("sms", SMSRequest, 3000),
     ("tyntecEcho", TyntecEchoRequest, 100)],
)  # fmt: skip
def test_text_limits_are_checked_before_sending(
    channel: str, part_type: type[WhatsAppMessageRequest], limit: int
) -> None:
    part_type(from_="1", content_type="text", text="x" * limit)
    with pytest.raises(pydantic.ValidationError, match=f"{channel} takes at most {limit}"):
        part_type(from_="1", content_type="text", text="x" * (limit + 1))


def test_a_user_context_is_at_most_255_characters() -> None:
    # tyntec's MessageRequestContext.userContext has maxLength 255: refused before sending.
    messages.text("+4917", "hi", from_="4930", user_context="x" * 255)
    with pytest.raises(pydantic.ValidationError, match="at most 255 characters"):
        messages.text("+4917", "hi", from_="4930", user_context="x" * 256)


def test_content_type_needs_its_field() -> None:
    with pytest.raises(pydantic.ValidationError, match="contentType 'template' needs 'template'"):
        WhatsAppMessageRequest(from_="1", content_type="template")
    with pytest.raises(pydantic.ValidationError, match="text must not be empty"):
        WhatsAppMessageRequest(from_="1", content_type="text", text="  ")


def test_template_needs_a_language() -> None:
    with pytest.raises(pydantic.ValidationError, match="language"):
        Template.model_validate({"templateId": "welcome"})
    template = Template(template_id="welcome", language=Language(code="en"))
    assert template.language.policy == "deterministic"


def test_unknown_content_type_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="contentType"):
        SMSRequest.model_validate({"contentType": "media", "media": {"url": "https://x"}})


def test_sent_models_refuse_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        MessageRequest.model_validate({"to": "+49", "channels": ["sms"], "sms": {
            "contentType": "text", "text": "hi", "textt": "typo"}})  # fmt: skip


def test_every_channel_needs_content() -> None:
    with pytest.raises(pydantic.ValidationError, match="no content for channel"):
        MessageRequest(to="+49", channels=["whatsapp", "sms"],
                       sms=SMSRequest(content_type="text", text="hi"))  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match="must not repeat"):
        MessageRequest(to="+49", channels=["sms", "sms"],
                       sms=SMSRequest(content_type="text", text="hi"))  # fmt: skip


def test_location_latitude_is_a_decimal_number() -> None:
    assert Location(latitude=51.5005765, longitude=7.4954884).latitude == 51.5005765
    with pytest.raises(pydantic.ValidationError):
        Location(latitude=91, longitude=0)


def test_template_parameters_obey_whatsapp_rules() -> None:
    with pytest.raises(pydantic.ValidationError, match="newline"):
        messages.template("+49", "t", params=["two\nlines"], from_="1")


def test_builders_chain_channels_with_their_senders() -> None:
    request = messages.media(
        "+49170",
        "https://example.com/map.png",
        channels=["whatsapp", "sms"],
        from_={"whatsapp": "4930", "sms": "Shop"},
        sms_text="See https://example.com/map.png",
    )
    payload = request.to_payload()
    assert payload["channels"] == ["whatsapp", "sms"]
    assert payload["whatsapp"]["media"] == {"type": "image", "url": "https://example.com/map.png"}
    assert payload["sms"] == {"contentType": "text", "text": "See https://example.com/map.png",
                              "from": "Shop"}  # fmt: skip


def test_builders_explain_what_is_missing() -> None:
    with pytest.raises(ValueError, match="sms_text"):
        messages.location("+49", 1.0, 2.0, channels=["whatsapp", "sms"], from_="1")
    with pytest.raises(ValueError, match="needs from_"):
        messages.text("+49", "hi")
    sms_only = messages.text("+49", "hi", channels="sms")  # SMS may use the account default
    assert "from" not in sms_only.to_payload()["sms"]


def test_mo_message_without_to_and_timestamp_is_accepted() -> None:
    event = parse_event({
        "event": "MoMessage", "messageId": "m1", "channel": "whatsapp", "from": 491701234567,
        "content": {"contentType": "location", "location": {"latitude": 51.5, "longitude": 7.49}},
        "whatsapp": {"senderName": "Ana"}, "somethingNew": {"x": 1},
    })  # fmt: skip
    assert isinstance(event, MoMessage)
    assert event.from_ == "491701234567"  # a number where the spec says string
    assert event.to is None
    assert event.timestamp is None
    assert event.content.location is not None
    assert event.content.location.latitude == 51.5
    assert event.whatsapp is not None
    assert event.whatsapp.sender_name == "Ana"
    assert event.model_extra == {"somethingNew": {"x": 1}}  # kept, not an error


def test_mo_message_without_from_or_content_is_invalid() -> None:
    with pytest.raises(pydantic.ValidationError, match="from"):
        parse_event({"event": "MoMessage", "messageId": "m", "channel": "sms",
                     "content": {"contentType": "text", "text": "x"}})  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match="content"):
        parse_event({"event": "MoMessage", "messageId": "m", "channel": "sms", "from": "1"})


def test_a_notification_needs_its_event_and_its_ids() -> None:
    text = {"contentType": "text", "text": "x"}
    with pytest.raises(pydantic.ValidationError, match="event"):
        parse_event({"messageId": "m", "from": "1", "content": text})
    with pytest.raises(pydantic.ValidationError, match="from"):
        parse_event({"event": "MoMessage", "messageId": "m", "channel": "sms", "from": "",
                     "content": text})  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match="messageId"):
        parse_event({"event": "MoMessage", "messageId": "", "channel": "sms", "from": "1",
                     "content": text})  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match="from"):
        parse_event({"event": "MoMessage", "messageId": "m", "channel": "sms", "from": "1" * 65,
                     "content": text})  # fmt: skip
    with pytest.raises(pydantic.ValidationError, match="requestId"):
        InboundMessage.model_validate({"from": "49170", "to": "4930", "message": "hi",
                                       "requestId": ""})  # fmt: skip


def test_message_status_variants() -> None:
    seen = parse_event({"event": "MessageStatus::seen", "messageId": "m"})
    assert type(seen) is MessageStatus
    assert seen.kind == "seen"
    failed = parse_event({
        "event": "MessageStatus::channelFailed", "messageId": "m", "channel": "whatsapp",
        "details": {"code": "c", "message": "m"},
    })  # fmt: skip
    assert isinstance(failed, MessageStatusChannelFailed)
    assert failed.details is not None
    assert failed.details.code == "c"
    deleted = parse_event({"event": "MessageStatus::deleted", "messageId": "m", "to": 4930})
    assert isinstance(deleted, MessageStatusDeleted)
    assert deleted.to == "4930"


def test_group_and_unknown_events() -> None:
    joined = parse_event({"event": "WhatsAppGroupEvent::userJoined", "groupId": "g",
                          "users": [491672634672], "operator": 491672634652})  # fmt: skip
    assert isinstance(joined, WhatsAppGroupEvent)
    assert joined.users == ["491672634672"]
    future = parse_event({"event": "SomethingNew::happened", "x": 1})
    assert isinstance(future, UnknownEvent)
    assert future.event == "SomethingNew::happened"


def test_inbound_sms_message() -> None:
    inbound = InboundMessage.model_validate({
        "from": "+49123456789", "to": "+1987654321", "message": "hi", "originMCC": 260,
        "originMNC": "09", "originTtId": 77292, "requestId": "r", "missingParts": False,
        "contentList": [{"msgId": "m", "sentDate": "2019-07-02T16:47:39+0200",
                         "sequenceNumber": 1}],
    })  # fmt: skip
    assert (inbound.origin_mcc, inbound.origin_tt_id) == ("260", "77292")


def test_problem_shapes() -> None:
    violation = {"field": "validate.request.whatsapp.contentType", "message": "must not be empty"}
    chat = Problem.model_validate(
        {"status": 400, "title": "Constraint Violation", "violations": [violation]}
    )
    assert chat.status == "400"
    assert "whatsapp.contentType: must not be empty" in chat.summary()
    twofa = Problem.model_validate({"code": "E1", "id": "x", "message": "bad", "timestamp": 1})
    assert twofa.summary() == "bad: E1"
    assert Problem().summary() == "no details given"
