"""Phone numbers and account ids as botkit compares them: by their digits."""

from __future__ import annotations

import re

import phonenumbers

__all__ = ["digits", "is_phone_number"]

_NOT_DIGITS = re.compile(r"\D+")


def digits(number: str | None) -> str:
    """A phone number or account id reduced to its digits (``+49 30 123`` -> ``4930123``);
    anything with no digits (an alphanumeric sender) stays as it is."""
    if number is None:
        return ""
    if number.isdigit():
        return number  # what tyntec sends: the common case, at no cost
    return _NOT_DIGITS.sub("", number) or number


def is_phone_number(number: str) -> bool:
    """True when ``number`` can be a phone number in international form, with or without
    its ``+`` (``+491701234567``, ``491701234567``): what WhatsApp and SMS send to."""
    try:
        parsed = phonenumbers.parse(number if number.startswith("+") else f"+{number}")
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(parsed)
