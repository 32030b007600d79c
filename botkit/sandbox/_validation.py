"""Checks of a Chat API message request, written from the reference independently of the
client's models, so that a mistake in one is caught by the other."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from ._problems import Violation

__all__ = ["TEXT_LIMITS", "USER_CONTEXT_LIMIT", "validate_message_request"]

TEXT_LIMITS = {"whatsapp": 4096, "sms": 3000, "tyntecEcho": 100}
USER_CONTEXT_LIMIT = 255  # MessageRequestContext.userContext's maxLength
_CONTENT_TYPES = {
    "whatsapp": {"text", "url", "media", "template", "location"},
    "sms": {"text", "url"},
    "tyntecEcho": {"text", "url", "media", "template"},
}
_MEDIA_TYPES = {"image", "document", "audio", "video"}
_POLICIES = {"deterministic", "fallback"}
_HTTP_URL = re.compile(r"^https?://\S+$")
_PREFIX = "validate.request"


def validate_message_request(body: Any) -> list[Violation]:
    """Every constraint the request breaks; empty when tyntec would accept it."""
    if not isinstance(body, dict):
        return [_v("", "must be a JSON object")]
    found: list[Violation] = []
    to = body.get("to")
    if not isinstance(to, str) or not to.strip():
        found.append(_v("to", "must not be empty"))
    channels = body.get("channels")
    if not isinstance(channels, list) or not channels:
        found.append(_v("channels", "must not be empty"))
        channels = []
    found += _check_context(body.get("context")) + _check_overrides(body.get("overrides"))
    default = body.get("defaultContent")
    if default is not None:
        found += _check_part("defaultContent", default, "default", needs_from=True)
    for index, channel in enumerate(channels):
        if not _one_of(channel, _CONTENT_TYPES):
            found.append(_v(f"channels[{index}]", f"unknown channel {channel!r}"))
            continue
        part = body.get(channel)
        if part is None:
            if default is None:
                found.append(_v(channel, "must not be null when the channel is selected"))
            continue
        found += _check_part(channel, part, channel, needs_from=channel != "sms")
    return found


def _check_context(context: Any) -> list[Violation]:
    if context is None:
        return []
    if not isinstance(context, dict):
        return [_v("context", "must be an object")]
    user_context = context.get("userContext")
    if user_context is None:
        return []
    if not isinstance(user_context, str):
        return [_v("context.userContext", "must be a string")]
    if len(user_context) > USER_CONTEXT_LIMIT:
        return [_v("context.userContext", f"size must be between 0 and {USER_CONTEXT_LIMIT}")]
    return []


def _check_overrides(overrides: Any) -> list[Violation]:
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        return [_v("overrides", "must be an object")]
    url = overrides.get("notificationCallbackUrl")
    if url is not None and (not isinstance(url, str) or not _HTTP_URL.match(url)):
        # tyntec asks for https; the sandbox also takes http, for a bot on this machine.
        return [_v("overrides.notificationCallbackUrl", "must be a valid http(s) URL")]
    return []


def _check_part(name: str, part: Any, channel: str, *, needs_from: bool) -> list[Violation]:
    if not isinstance(part, dict):
        return [_v(name, "must be an object")]
    found: list[Violation] = []
    sender = part.get("from")
    if needs_from and (not isinstance(sender, str) or not sender.strip()):
        found.append(_v(f"{name}.from", "must not be empty"))
    content_type = part.get("contentType")
    allowed = _CONTENT_TYPES.get(channel, {"text", "url", "media", "template"})
    if not content_type:
        return [*found, _v(f"{name}.contentType", "must not be empty")]
    if not _one_of(content_type, allowed):
        return [*found, _v(f"{name}.contentType", f"must be one of {sorted(allowed)}")]
    if content_type == "text":
        found += _check_text(name, part.get("text"), channel)
    elif content_type == "url":
        if not isinstance(part.get("url"), str) or not _HTTP_URL.match(part["url"]):
            found.append(_v(f"{name}.url", "must be a valid http(s) URL"))
    elif content_type == "media":
        found += _check_media(f"{name}.media", part.get("media"))
    elif content_type == "template":
        found += _check_template(f"{name}.template", part.get("template"))
    elif content_type == "location":
        found += _check_location(f"{name}.location", part.get("location"))
    return found


def _check_text(name: str, text: Any, channel: str) -> list[Violation]:
    if not isinstance(text, str) or not text.strip():
        return [_v(f"{name}.text", "must not be empty")]
    limit = TEXT_LIMITS.get(channel)
    if limit is not None and len(text) > limit:
        return [_v(f"{name}.text", f"size must be between 1 and {limit}")]
    return []


def _check_media(name: str, media: Any) -> list[Violation]:
    if not isinstance(media, dict):
        return [_v(name, "must not be null")]
    found = []
    if not isinstance(media.get("url"), str) or not _HTTP_URL.match(media["url"]):
        found.append(_v(f"{name}.url", "must be a valid http(s) URL"))
    if media.get("type") is not None and not _one_of(media["type"], _MEDIA_TYPES):
        found.append(_v(f"{name}.type", f"must be one of {sorted(_MEDIA_TYPES)}"))
    return found


def _check_template(name: str, template: Any) -> list[Violation]:
    if not isinstance(template, dict):
        return [_v(name, "must not be null")]
    found = []
    if not isinstance(template.get("templateId"), str) or not template["templateId"]:
        found.append(_v(f"{name}.templateId", "must not be empty"))
    language = template.get("language")
    if not isinstance(language, dict) or not language.get("code"):
        found.append(_v(f"{name}.language", "must not be null"))
    elif language.get("policy") is not None and not _one_of(language["policy"], _POLICIES):
        found.append(_v(f"{name}.language.policy", f"must be one of {sorted(_POLICIES)}"))
    parameters = template.get("parameters")
    if parameters is not None and not isinstance(parameters, list):
        return [*found, _v(f"{name}.parameters", "must be an array")]
    for index, parameter in enumerate(parameters or []):
        value = parameter.get("default") if isinstance(parameter, dict) else None
        if not isinstance(value, str):
            found.append(_v(f"{name}.parameters[{index}].default", "must be a string"))
        elif re.search(r"[\n\t]| {5,}", value):
            found.append(
                _v(
                    f"{name}.parameters[{index}].default",
                    "must not contain newlines, tabs or more than 4 consecutive spaces",
                )
            )
    return found


def _check_location(name: str, location: Any) -> list[Violation]:
    if not isinstance(location, dict):
        return [_v(name, "must not be null")]
    found = []
    for axis, bound in (("latitude", 90), ("longitude", 180)):
        value = location.get(axis)
        if isinstance(value, bool) or not isinstance(value, int | float):
            found.append(_v(f"{name}.{axis}", "must be a number"))
        elif not -bound <= value <= bound:
            found.append(_v(f"{name}.{axis}", f"must be between -{bound} and {bound}"))
    return found


def _one_of(value: Any, allowed: Collection[str]) -> bool:
    """``value in allowed`` for any JSON value (a list or an object is not hashable)."""
    return isinstance(value, str) and value in allowed


def _v(field: str, message: str) -> Violation:
    return {"field": f"{_PREFIX}.{field}" if field else _PREFIX, "message": message}
