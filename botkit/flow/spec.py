"""The flow language's structure: pydantic models of a YAML flow, with its shorthands.

Each shorthand is turned into one canonical form before validation (``say: "hi"`` becomes a
list of one text message, ``goto: x`` a list of one branch, ``if: timeout`` an event
condition), so every later step sees a single shape and every error has one clear message.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, ClassVar, Literal, Self

import regex
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..tyntec.models import is_http_url
from ._durations import parse_duration
from .templating import has_template

__all__ = [
    "EVENTS",
    "MEDIA_KINDS",
    "BranchSpec",
    "ConditionSpec",
    "ExpectSpec",
    "FlowSpec",
    "LocationSpec",
    "MediaSpec",
    "MessageSpec",
    "OtpSpec",
    "RuleSpec",
    "StateSpec",
    "suggest",
]

Channel = Literal["whatsapp", "sms", "tyntecEcho"]
MessageKind = Literal["text", "url", "media", "location", "template"]
MESSAGE_KINDS: tuple[MessageKind, ...] = ("text", "url", "media", "location", "template")
MEDIA_KINDS = ("image", "video", "audio", "document", "voice")
#: Events botkit itself raises; a ``call`` may raise any other name.
EVENTS = ("timeout", "verified", "failed", "delivered", "seen", "undelivered")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: What a flow may be called (see FlowSpec's check of it).
FLOW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """``; did you mean 'x'?`` when one of ``choices`` is close to ``word``, else ``""``."""
    close = closest(word, choices)
    return f"; did you mean {close!r}?" if close else ""


def closest(word: str, choices: list[str] | tuple[str, ...]) -> str | None:
    """The one of ``choices`` closest to ``word``, if any is close enough to be a typo."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


class FlowModel(BaseModel):
    """Base of the flow models: unknown keys are errors, keys are written as in YAML."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    #: Where this part is written, as an error names it ("a message"); None for none.
    PART: ClassVar[str | None] = None


_ENV_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any) -> Any:
    """``${NAME}`` in senders is replaced by the environment variable, at load time."""
    if isinstance(value, dict):
        return {key: _expand_env(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_env(item) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set (used as ${{{name}}})")
        return os.environ[name]

    return _ENV_VARIABLE.sub(replace, value)


def _valid_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
            regex.compile(value)  # what runs it, with a timeout (see matching.py)
        except (re.error, regex.error) as exc:
            raise ValueError(f"bad regex '{value}': {exc}") from None
    return value


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _as_strings(value: Any) -> Any:
    # `text: [1, order]` means the strings "1" and "order": YAML reads 1 as a number.
    items = _as_list(value)
    return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in items]


def _written_url(value: str | None) -> str | None:
    """A URL written out in the flow is checked when it loads, not when a user first gets
    it; one rendered from a template is checked when it is built."""
    if value is not None and not has_template(value) and not is_http_url(value):
        raise ValueError(f"url {value!r} is not an http(s) URL, like https://example.com/a.png")
    return value


class MediaSpec(FlowModel):
    PART = "media"

    type: Literal["image", "video", "audio", "document"] = "image"
    url: str
    caption: str | None = None

    _url = field_validator("url")(_written_url)


class LocationSpec(FlowModel):
    PART = "location"

    latitude: float | str
    longitude: float | str
    name: str | None = None
    address: str | None = None

    @field_validator("latitude", "longitude")
    @classmethod
    def _on_earth(cls, value: float | str, info: ValidationInfo) -> float | str:
        bound = 90 if info.field_name == "latitude" else 180
        if isinstance(value, float | int) and not -bound <= value <= bound:
            raise ValueError(f"{info.field_name} {value} is not between -{bound} and {bound}")
        return value


class MessageSpec(FlowModel):
    """One message: exactly one of ``text``, ``url``, ``media``, ``location``, ``template``."""

    PART = "a message"

    text: str | None = None
    url: str | None = None
    media: MediaSpec | None = None
    location: LocationSpec | None = None
    template: str | None = None
    language: str | None = None
    policy: Literal["deterministic", "fallback"] | None = None
    params: list[str] = Field(default_factory=list)
    sms_text: str | None = None
    outside_window: MessageSpec | None = None
    channels: list[Channel] | None = None
    from_: str | dict[str, str] | None = Field(default=None, alias="from")

    @field_validator("params", mode="before")
    @classmethod
    def _params_are_strings(cls, value: Any) -> Any:
        return _as_strings(value)

    @field_validator("channels", mode="before")
    @classmethod
    def _channels_list(cls, value: Any) -> Any:
        return None if value is None else _as_list(value)

    _from = field_validator("from_", mode="before")(_expand_env)
    _url = field_validator("url")(_written_url)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in MESSAGE_KINDS if getattr(self, k)]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            raise ValueError(
                f"a message has exactly one of text, url, media, location, template (found {found})"
            )
        if self.template is None and (self.language or self.params or self.policy):
            raise ValueError("language, params and policy belong to a template message")
        if self.template is not None and not self.language:
            raise ValueError(f"template {self.template!r} needs a language (e.g. language: en)")
        if self.outside_window is not None and self.outside_window.template is None:
            raise ValueError(
                "outside_window must be a template message: WhatsApp delivers only templates "
                "outside the 24-hour window"
            )
        return self

    @field_validator("outside_window", mode="before")
    @classmethod
    def _outside_window_message(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @property
    def kind(self) -> MessageKind:
        """Which of text, url, media, location and template this message is."""
        for kind in MESSAGE_KINDS:
            if getattr(self, kind):
                return kind
        raise AssertionError("validated message has a kind")


def _messages(value: Any) -> Any:
    """A string is one text message, a mapping one message, a list several."""
    if value is None:
        return None
    items = _as_list(value)
    return [{"text": item} if isinstance(item, str) else item for item in items]


class ConditionSpec(FlowModel):
    """What an event must be for a rule to match; every key given must hold."""

    PART = "a rule's if"

    text: list[str] | None = None
    contains: list[str] | None = None
    regex: str | None = None
    media: Literal["image", "video", "audio", "document", "voice", "any"] | None = None
    location: bool | None = None
    when: str | None = None
    event: str | None = None

    @field_validator("text", "contains", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return None if value is None else _as_strings(value)

    _regex = field_validator("regex")(_valid_regex)

    @model_validator(mode="before")
    @classmethod
    def _event_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"event": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError(
                "a condition needs at least one of " + ", ".join(type(self).model_fields)
            )
        if self.event is not None and not _NAME.match(self.event):
            raise ValueError(f"{self.event!r} is not an event name")
        return self

    @property
    def matches_messages(self) -> bool:
        """True when this condition is about a user's message (not a named event)."""
        return self.event is None


class BranchSpec(FlowModel):
    """One branch of a ``goto`` list: ``{if: .., to: state}`` or ``{else: state}``."""

    PART = "a goto branch"

    if_: ConditionSpec | None = Field(default=None, alias="if")
    to: str

    @model_validator(mode="before")
    @classmethod
    def _else_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"to": value}
        if isinstance(value, dict) and "else" in value:
            rest = {k: v for k, v in value.items() if k != "else"}
            if rest:
                raise ValueError("an else branch has nothing but its target: {else: state}")
            return {"to": value["else"]}
        return value


def _goto(value: Any) -> Any:
    return None if value is None else _as_list(value)


class RuleSpec(FlowModel):
    """``if`` (or ``else``) and what to do when it matches: ``set``, ``call``, ``say``, ``goto``."""

    PART = "a rule"

    if_: ConditionSpec | None = Field(default=None, alias="if")
    else_: bool = Field(default=False, alias="else")
    set: dict[str, Any] = Field(default_factory=dict)
    call: str | None = None
    say: list[MessageSpec] | None = None
    goto: list[BranchSpec] | None = None

    _say = field_validator("say", mode="before")(_messages)
    _goto = field_validator("goto", mode="before")(_goto)

    @model_validator(mode="before")
    @classmethod
    def _else_key(cls, value: Any) -> Any:
        # `- else:` parses as {"else": None}: the key is what counts.
        if isinstance(value, dict) and "else" in value:
            if value["else"] not in (None, True):
                raise ValueError("write else on its own: `- else:` followed by say / goto")
            return {**value, "else": True}
        return value

    @model_validator(mode="after")
    def _has_a_test(self) -> Self:
        if (self.if_ is None) == (not self.else_):
            raise ValueError("a rule starts with `if:` or `else:` (exactly one)")
        return self


class ExpectSpec(FlowModel):
    """How an ``ask`` checks its answer."""

    PART = "expect"

    kind: Literal["regex", "choice", "number", "email", "phone", "media", "location", "text"]
    regex: str | None = None
    choice: list[str] | None = None
    min: float | None = None
    max: float | None = None
    whole: bool = False
    media: Literal["image", "video", "audio", "document", "voice", "any"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value and len(value) == 1:
            ((kind, argument),) = value.items()
            if kind == "number":
                bounds = argument or {}
                if not isinstance(bounds, dict):
                    raise ValueError("write number bounds as {number: {min: 1, max: 9}}")
                return {"kind": "number", **bounds}
            if kind == "choice":
                return {"kind": "choice", "choice": _as_strings(argument)}
            return {"kind": kind, kind: argument}
        return value

    _regex = field_validator("regex")(_valid_regex)

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == "regex" and not self.regex:
            raise ValueError("expect regex needs a pattern: {regex: '^\\d{6}$'}")
        if self.kind == "choice" and not self.choice:
            raise ValueError("expect choice needs the choices: {choice: [yes, no]}")
        if self.kind == "media" and self.media is None:
            raise ValueError("expect media needs a kind: {media: image} (or any)")
        if self.kind != "number" and (self.whole or self.min is not None or self.max is not None):
            raise ValueError("min, max and whole belong to a number: {number: {min: 1, max: 9}}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class OtpSpec(FlowModel):
    """Verify a phone number with tyntec's 2FA API."""

    PART = "otp"

    number: str
    via: Literal["sms", "voice", "auto"] = "sms"
    language: str | None = None
    application: str | None = None
    prompt: list[MessageSpec]
    invalid: list[MessageSpec] | None = None
    resent: list[MessageSpec] | None = None

    _messages = field_validator("prompt", "invalid", "resent", mode="before")(_messages)


class StateSpec(FlowModel):
    """One state: what happens on entering it, and what it waits for."""

    PART = "a state"

    set: dict[str, Any] = Field(default_factory=dict)
    call: str | None = None
    say: list[MessageSpec] | None = None
    ask: list[MessageSpec] | None = None
    expect: ExpectSpec | None = None
    retry: list[MessageSpec] | None = None
    max_retries: int | None = Field(default=None, ge=1)
    save: str | None = None
    otp: OtpSpec | None = None
    on: list[RuleSpec] = Field(default_factory=list)
    goto: list[BranchSpec] | None = None
    timeout: float | None = None
    final: bool = False

    _messages = field_validator("say", "ask", "retry", mode="before")(_messages)
    _goto = field_validator("goto", mode="before")(_goto)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @property
    def waits(self) -> bool:
        """True when entering this state waits for the user (or for an event)."""
        return bool(self.ask or self.otp or self.on)


class FlowSpec(FlowModel):
    """A whole flow file."""

    PART = "the top level"

    flow: str = Field(min_length=1)
    description: str | None = None
    start: str
    timeout: float | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    from_: dict[Channel, str] = Field(default_factory=dict, alias="from")
    channels: list[Channel] | None = None
    accounts: dict[Channel, list[str]] | None = None
    globals: list[RuleSpec] = Field(default_factory=list)
    on_error: list[MessageSpec] | None = None
    states: dict[str, StateSpec] = Field(min_length=1)

    _on_error = field_validator("on_error", mode="before")(_messages)

    @field_validator("flow")
    @classmethod
    def _name(cls, value: str) -> str:
        # The name travels in every message's userContext (``botkit|flow|user|entry``), in
        # store keys, metrics labels and the operator API's URLs: one word, so none of them
        # can misread it. "a|b" sent replies whose delivery reports never found the flow.
        if not FLOW_NAME.fullmatch(value):
            raise ValueError(
                f"flow name {value!r}: use letters, digits, '-', '_' and '.' (64 at most), "
                "like order-status"
            )
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    _from = field_validator("from_", mode="before")(_expand_env)

    @field_validator("channels", mode="before")
    @classmethod
    def _channels_list(cls, value: Any) -> Any:
        return None if value is None else _as_list(value)

    @field_validator("accounts", mode="before")
    @classmethod
    def _account_lists(cls, value: Any) -> Any:
        # {whatsapp: "4930123"} or {whatsapp: [..]}; numbers may be written as numbers.
        if not isinstance(value, dict):
            return value
        expanded = _expand_env(
            {k: _as_strings(v) if not isinstance(v, str) else v for k, v in value.items()}
        )
        return {k: _as_list(v) for k, v in expanded.items()}


MessageSpec.model_rebuild()
