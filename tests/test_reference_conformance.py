"""botkit against tyntec's own OpenAPI specs (shared/reference/openapi): every operation has a
client method and a sandbox route, and every schema's properties are fields of our models."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from pydantic import BaseModel

from botkit.tyntec import models

from .conftest import REFERENCE

OPENAPI = REFERENCE / "openapi"
pytestmark = pytest.mark.skipif(
    not OPENAPI.is_dir(), reason="tyntec's OpenAPI specs (shared/reference/openapi) not beside"
)

# Server prefix of each spec whose paths are relative to it.
SPECS = {
    "chat-api-v2.6_openapi.yaml": "/chat-api/v2",
    "2fa-v1.0_openapi_2019-12.yaml": "",
    "messaging-sms-v1.0_openapi_2019-10.yaml": "",
    "nis-v1.0_openapi_2019-09.yaml": "/nis/v1",
}
WEBHOOK_PATHS = {"/incoming"}  # tyntec calls us there; not an operation of the client

# Every operation of the specs and the client method that performs it.
CLIENT_METHODS = {
    ("POST", "/chat-api/v2/messages"): "chat.send",
    ("GET", "/chat-api/v2/messages/{message-id}"): "chat.get_message",
    ("GET", "/chat-api/v2/messages/{message-id}/history"): "chat.history",
    ("GET", "/chat-api/v2/messages/{message-id}/status"): "chat.status",
    ("GET", "/chat-api/v2/media/{media-id}"): "chat.download_media",
    ("GET", "{groups}"): "chat.groups.list",
    ("POST", "{groups}"): "chat.groups.create",
    ("GET", "{group}"): "chat.groups.get",
    ("GET", "{group}/participants"): "chat.groups.participants",
    ("DELETE", "{group}/participants"): "chat.groups.remove_participants",
    ("DELETE", "{group}/participants/self"): "chat.groups.leave",
    ("GET", "{group}/settings/icon"): "chat.groups.get_icon",
    ("PUT", "{group}/settings/icon"): "chat.groups.set_icon",
    ("GET", "{group}/settings/profile"): "chat.groups.get_profile",
    ("PUT", "{group}/settings/profile"): "chat.groups.set_profile",
    ("PUT", "{group}/invites/link"): "chat.groups.create_invite_link",
    ("GET", "{group}/invites/link"): "chat.groups.get_invite_link",
    ("DELETE", "{group}/invites/link"): "chat.groups.delete_invite_link",
    ("GET", "{phone}/settings/profile"): "chat.whatsapp.get_profile",
    ("PATCH", "{phone}/settings/profile"): "chat.whatsapp.update_profile",
    ("GET", "{phone}/settings/logo"): "chat.whatsapp.get_logo",
    ("PUT", "{phone}/settings/logo"): "chat.whatsapp.set_logo",
    ("GET", "/2fa/v1/application"): "two_factor.applications.list",
    ("POST", "/2fa/v1/application"): "two_factor.applications.create",
    ("GET", "/2fa/v1/application/{applicationId}"): "two_factor.applications.get",
    ("POST", "/2fa/v1/application/{applicationId}"): "two_factor.applications.update",
    ("DELETE", "/2fa/v1/application/{applicationId}"): "two_factor.applications.delete",
    (
        "POST",
        "/2fa/v1/application/{applicationId}/language",
    ): "two_factor.applications.set_language",
    ("DELETE", "/2fa/v1/application/{applicationId}/language"): (
        "two_factor.applications.delete_language"
    ),
    ("GET", "/2fa/v1/otp"): "two_factor.otp.list",
    ("POST", "/2fa/v1/otp"): "two_factor.otp.send",
    ("GET", "/2fa/v1/otp/{otpId}"): "two_factor.otp.status",
    ("POST", "/2fa/v1/otp/{otpId}"): "two_factor.otp.resend",
    ("DELETE", "/2fa/v1/otp/{otpId}"): "two_factor.otp.delete",
    ("GET", "/2fa/v1/otp/{otpId}/events"): "two_factor.otp.events",
    ("POST", "/2fa/v1/otp/{otpId}/check"): "two_factor.otp.check",
    ("POST", "/messaging/v1/sms"): "messaging.send_sms",
    ("GET", "/messaging/v1/sms"): "messaging.send_sms",  # use_get=True
    ("GET", "/messaging/v1/messages/{requestId}"): "messaging.status",
    ("GET", "/nis/v1/gnp"): "nis.gnp",
    ("GET", "/nis/v1/gnv"): "nis.gnv",
}
_SHORTHANDS = {
    "{group}": "/chat-api/v2/channels/whatsapp/phone-numbers/{phone-number}/groups/{group-id}",
    "{groups}": "/chat-api/v2/channels/whatsapp/phone-numbers/{phone-number}/groups",
    "{phone}": "/chat-api/v2/channels/whatsapp/phone-numbers/{phone-number}",
}


def _expand(path: str) -> str:
    for short, full in _SHORTHANDS.items():
        path = path.replace(short, full)
    return path


class _JsonLikeLoader(yaml.SafeLoader):
    """YAML as the JSON tyntec sends: timestamps stay strings, as they are on the wire."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@functools.cache
def _load(name: str) -> dict[str, Any]:
    return yaml.load((OPENAPI / name).read_text(), Loader=_JsonLikeLoader)  # type: ignore[no-any-return]


def spec_operations() -> set[tuple[str, str]]:
    found = set()
    for name, prefix in SPECS.items():
        for path, item in _load(name)["paths"].items():
            if path in WEBHOOK_PATHS:
                continue
            for method in item:
                if method in {"get", "post", "put", "patch", "delete"}:
                    found.add((method.upper(), prefix + path.rstrip("/")))
    return found


def test_every_operation_has_a_client_method() -> None:
    from botkit.tyntec import TyntecClient

    mapped = {(method, _expand(path)) for method, path in CLIENT_METHODS}
    assert mapped == spec_operations()
    api = TyntecClient(api_key="k", base_url="http://127.0.0.1:9")
    for dotted in CLIENT_METHODS.values():
        target: Any = api
        for part in dotted.split("."):
            target = getattr(target, part)
        assert callable(target), dotted


async def test_every_operation_is_routed_by_the_sandbox(sandbox_url: str) -> None:
    async with aiohttp.ClientSession(headers={"apikey": "sandbox"}) as session:
        for method, path in sorted(spec_operations()):
            concrete = re.sub(r"\{phone-number\}", "4930123456", path)
            concrete = re.sub(r"\{[^}]+\}", "x", concrete)
            async with session.request(method, sandbox_url + concrete) as response:
                body = await response.text()
            assert response.status != 405, (method, path)
            assert "no such endpoint" not in body, (method, path)


# Spec schema -> our model. Each property the spec names must be a field of the model.
SCHEMA_MODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("chat-api-v2.6_openapi.yaml", "MessageRequest"): models.MessageRequest,
    ("chat-api-v2.6_openapi.yaml", "StoredMessage"): models.StoredMessage,
    ("chat-api-v2.6_openapi.yaml", "DefaultContent"): models.DefaultContent,
    ("chat-api-v2.6_openapi.yaml", "SMSRequest"): models.SMSRequest,
    ("chat-api-v2.6_openapi.yaml", "WhatsappMessageRequest"): models.WhatsAppMessageRequest,
    ("chat-api-v2.6_openapi.yaml", "TyntecEchoRequest"): models.TyntecEchoRequest,
    ("chat-api-v2.6_openapi.yaml", "Media"): models.Media,
    ("chat-api-v2.6_openapi.yaml", "Template"): models.Template,
    ("chat-api-v2.6_openapi.yaml", "Language"): models.Language,
    ("chat-api-v2.6_openapi.yaml", "TemplateParameter"): models.TemplateParameter,
    ("chat-api-v2.6_openapi.yaml", "Location"): models.Location,
    ("chat-api-v2.6_openapi.yaml", "MessageResponse"): models.MessageResponse,
    ("chat-api-v2.6_openapi.yaml", "MessageStatus"): models.MessageStatus,
    ("chat-api-v2.6_openapi.yaml", "MessageStatusChannelFailed"): models.MessageStatusChannelFailed,
    ("chat-api-v2.6_openapi.yaml", "MessageStatusDeletedEvent"): models.MessageStatusDeleted,
    ("chat-api-v2.6_openapi.yaml", "MessageHistory"): models.MessageHistory,
    ("chat-api-v2.6_openapi.yaml", "HistoryItem"): models.HistoryItem,
    ("chat-api-v2.6_openapi.yaml", "HistoryDetails"): models.HistoryDetails,
    ("chat-api-v2.6_openapi.yaml", "Problem"): models.Problem,
    ("chat-api-v2.6_openapi.yaml", "MoMessage"): models.MoMessage,
    ("chat-api-v2.6_openapi.yaml", "MoContent"): models.MoContent,
    ("chat-api-v2.6_openapi.yaml", "MoContext"): models.MoContext,
    ("chat-api-v2.6_openapi.yaml", "MoMedia"): models.MoMedia,
    ("chat-api-v2.6_openapi.yaml", "SMS"): models.MoSMS,
    ("chat-api-v2.6_openapi.yaml", "SMSOrigin"): models.SMSOrigin,
    ("chat-api-v2.6_openapi.yaml", "SMSContent"): models.SMSContent,
    ("chat-api-v2.6_openapi.yaml", "Whatsapp"): models.MoWhatsApp,
    ("chat-api-v2.6_openapi.yaml", "MessageRequestContext"): models.MessageRequestContext,
    ("chat-api-v2.6_openapi.yaml", "MessageRequestOverrides"): models.MessageRequestOverrides,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroupCreationResponse"): models.WhatsAppGroup,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroup"): models.WhatsAppGroup,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroupDetails"): models.WhatsAppGroupDetails,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroupParticipants"): models.WhatsAppGroupParticipants,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroupProfile"): models.WhatsAppGroupProfile,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroupInviteLink"): models.WhatsAppGroupInviteLink,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppGroupEvent"): models.WhatsAppGroupEvent,
    ("chat-api-v2.6_openapi.yaml", "WhatsAppProfile"): models.WhatsAppProfile,
    ("2fa-v1.0_openapi_2019-12.yaml", "OtpStatusEntity"): models.OtpStatus,
    ("2fa-v1.0_openapi_2019-12.yaml", "StatusEvent"): models.OtpEvent,
    ("2fa-v1.0_openapi_2019-12.yaml", "TwoFactorAuthApplicationEntity"): (
        models.TwoFactorApplication
    ),
    ("2fa-v1.0_openapi_2019-12.yaml", "ErrorResponse"): models.Problem,
    ("messaging-sms-v1.0_openapi_2019-10.yaml", "RestMessageResponse"): models.RestMessageResponse,
    ("messaging-sms-v1.0_openapi_2019-10.yaml", "RestMessagePart"): models.RestMessagePart,
    ("mobile-inbound-sms-v1.0_openapi.yaml", "InboundMessage"): models.InboundMessage,
    ("messaging-sms-v1.0_openapi_2019-10.yaml", "InboundContent"): models.InboundContent,
    ("messaging-sms-v1.0_openapi_2019-10.yaml", "InboundMessage"): models.InboundMessage,
    ("messaging-sms-v1.0_openapi_2019-10.yaml", "Problem"): models.Problem,
    ("nis-v1.0_openapi_2019-09.yaml", "GnpResponse"): models.GnpResponse,
    ("nis-v1.0_openapi_2019-09.yaml", "GnvResponse"): models.GnvResponse,
    ("common-problem.yaml", "Problem"): models.Problem,
}


def _schema(spec: str, name: str) -> dict[str, Any]:
    return _load(spec)["components"]["schemas"][name]  # type: ignore[no-any-return]


def _properties(schema: dict[str, Any], spec: str) -> set[str]:
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        if "$ref" in part:
            names |= _properties(_schema(spec, part["$ref"].rsplit("/", 1)[1]), spec)
        else:
            names |= _properties(part, spec)
    return names


@pytest.mark.parametrize(("spec", "schema"), sorted(SCHEMA_MODELS))
def test_model_fields_cover_the_spec(spec: str, schema: str) -> None:
    model = SCHEMA_MODELS[(spec, schema)]
    aliases = {field.alias or name for name, field in model.model_fields.items()}
    missing = _properties(_schema(spec, schema), spec) - aliases
    assert not missing, f"{model.__name__} lacks {sorted(missing)} of {schema}"


def _received_examples() -> list[tuple[str, str]]:
    # Sent schemas are checked strictly and their examples carry typos (Template's language
    # has "example" where "code" belongs), so only what tyntec sends is parsed here.
    if not OPENAPI.is_dir():
        return []
    return [
        (spec, name)
        for (spec, name), model in sorted(SCHEMA_MODELS.items())
        if issubclass(model, models.ReceivedModel)
        and isinstance(_schema(spec, name).get("example"), dict)
    ]


@pytest.mark.parametrize(("spec", "schema"), _received_examples())
def test_spec_examples_parse(spec: str, schema: str) -> None:
    example = _schema(spec, schema)["example"]
    SCHEMA_MODELS[(spec, schema)].model_validate(example)


def test_request_example_is_accepted_as_sent() -> None:
    example = _schema("chat-api-v2.6_openapi.yaml", "MessageRequest")["example"]
    assert models.MessageRequest.model_validate(example).to_payload() == example


def test_reference_copy_is_where_ci_expects_it() -> None:
    assert (REFERENCE / "tyntec-api-reference.md").is_file()
    assert isinstance(REFERENCE, Path)
