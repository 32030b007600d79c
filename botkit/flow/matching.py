"""Does an event match a rule's condition, and is a reply a valid answer to an ``ask``?"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

import phonenumbers
import regex

from .events import UserMessage
from .spec import ConditionSpec, ExpectSpec

__all__ = ["REGEX_TIMEOUT", "SlowRegex", "check_answer", "condition_matches"]

#: The longest a flow's regex may take on one message, in seconds. Python's ``re`` has no
#: limit: ``^(\w+\s?)+$`` took 1.4 s on 24 letters and a "!", minutes on 30, and the
#: event loop, every user's, waited. The ``regex`` module stops at a timeout.
REGEX_TIMEOUT = 0.1

# A pragmatic check: one @, something on both sides, a dot in the domain. Deliverability is
# the email provider's business, not the chat's.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)$")


class SlowRegex(Exception):
    """A flow's regex took longer than :data:`REGEX_TIMEOUT` on a message."""

    def __init__(self, pattern: str, length: int) -> None:
        super().__init__(pattern)
        self.pattern = pattern
        self.length = length


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern)


def _search(pattern: str, text: str) -> bool:
    # ``concurrent=False``: by default the regex module lets go of the GIL around every
    # search of a str, and getting it back means waiting for whichever thread took it (the
    # store's writer, for up to the 5 ms switch interval): a search of a microsecond took
    # hundreds, and the wait counted against the timeout, which could fail a six-digit
    # answer. The timeout still bounds a runaway search.
    try:
        found = _compiled(pattern).search(text, timeout=REGEX_TIMEOUT, concurrent=False)
        return found is not None
    except TimeoutError:
        raise SlowRegex(pattern, len(text)) from None


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def condition_matches(
    condition: ConditionSpec,
    *,
    event: str | None,
    message: UserMessage | None,
    evaluate: Callable[[str], Any],
    in_branch: bool = False,
) -> bool:
    """True when every key of ``condition`` holds for the event.

    ``event`` is the name of a named event (``timeout``, ``verified`` ...), None for a user's
    message; ``evaluate`` computes a ``when`` expression in the conversation's context. In a
    rule, a condition of only ``when`` is about user messages; in a ``goto`` branch
    (``in_branch``) it holds whenever its expression does.
    """
    if condition.event is not None:
        if condition.event != event:
            return False
    elif _about_the_message(condition):
        if message is None or event is not None or not _message_matches(condition, message):
            return False
    elif not in_branch and (event is not None or message is None):
        return False
    return condition.when is None or bool(evaluate(condition.when))


def _about_the_message(condition: ConditionSpec) -> bool:
    keys = (condition.text, condition.contains, condition.regex, condition.media)
    return any(key is not None for key in keys) or condition.location is not None


def _message_matches(condition: ConditionSpec, message: UserMessage) -> bool:
    text = _normal(message.text or "")
    if condition.text is not None and text not in {_normal(t) for t in condition.text}:
        return False
    if condition.contains is not None and not any(
        _normal(part) in text for part in condition.contains
    ):
        return False
    if condition.regex is not None and not _search(condition.regex, message.text or ""):
        return False
    if condition.media is not None:
        # A media message without its media object (tyntec's spec leaves it optional) is
        # no media to a flow: `message.media.type` would fail in the rule's own templates.
        if message.content_type != "media" or message.media is None:
            return False
        if condition.media != "any" and message.media.get("type") != condition.media:
            return False
    return condition.location is None or (
        (message.content_type == "location") is condition.location
    )


def check_answer(
    expect: ExpectSpec | None, message: UserMessage, *, user_number: str
) -> tuple[bool, Any]:
    """``(valid, value to save)`` for a reply to an ``ask``.

    The value is the useful one: a choice as the flow wrote it, a number as int or float,
    a phone number in E.164, media and locations as their objects.
    """
    text = (message.text or "").strip()
    kind = expect.kind if expect else "text"
    if kind == "media":
        assert expect is not None
        media = message.media
        wanted = expect.media
        valid = (
            message.content_type == "media"
            and media is not None
            and (wanted == "any" or media.get("type") == wanted)
        )
        return valid, media if valid else None
    if kind == "location":
        valid = message.content_type == "location" and message.location is not None
        return valid, message.location if valid else None
    if not text:
        return False, None
    if kind == "text":
        return True, text
    assert expect is not None
    if kind == "regex":
        assert expect.regex is not None
        return (True, text) if _search(expect.regex, text) else (False, None)
    if kind == "choice":
        for choice in expect.choice or []:
            if _normal(choice) == _normal(text):
                return True, choice
        return False, None
    if kind == "number":
        return _number(text, expect)
    if kind == "email":
        return (True, text) if _EMAIL.match(text) else (False, None)
    if kind == "phone":
        return _phone(text, user_number)
    raise AssertionError(f"unknown expect kind {kind}")


def _number(text: str, expect: ExpectSpec) -> tuple[bool, Any]:
    compact = text.replace(" ", "")
    if not _NUMBER.match(compact):
        return False, None
    number = float(compact.replace(",", "."))
    if not math.isfinite(number):  # 400 digits: too large for a float, read as inf
        return False, None
    if expect.whole and not number.is_integer():
        return False, None
    if expect.min is not None and number < expect.min:
        return False, None
    if expect.max is not None and number > expect.max:
        return False, None
    # An int only where the float held every digit: int(1e26) would make up its last ones.
    return True, int(number) if number.is_integer() and abs(number) < 2**53 else number


def _phone(text: str, user_number: str) -> tuple[bool, Any]:
    # A number without a country code is read in the user's own country.
    region = None
    try:
        own = phonenumbers.parse(user_number if user_number.startswith("+") else f"+{user_number}")
        region = phonenumbers.region_code_for_number(own)
    except phonenumbers.NumberParseException:
        pass
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False, None
    if not phonenumbers.is_valid_number(parsed):
        return False, None
    return True, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
