"""Small helpers shared by the API modules: path segments and media bodies."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from ._transport import Response

__all__ = ["DownloadedMedia", "phone_segment", "segment"]


@dataclass(frozen=True, slots=True)
class DownloadedMedia:
    """Bytes fetched from tyntec (a user's media, a group icon, the account's logo)."""

    content: bytes
    content_type: str

    @classmethod
    def from_response(cls, response: Response) -> DownloadedMedia:
        return cls(response.body, response.content_type or "application/octet-stream")


def segment(value: str) -> str:
    """One path segment, escaped so an id can never change the path."""
    if not value:
        raise ValueError("an id in the path must not be empty")
    return quote(value, safe="")


def phone_segment(number: str | int) -> str:
    """A WhatsApp account number as the API's path wants it: digits only, no ``+``.

    >>> phone_segment("+49 30 1234567")
    '49301234567'
    """
    digits = "".join(ch for ch in str(number) if ch.isdigit())
    if not digits:
        raise ValueError(f"not a phone number: {number!r}")
    return digits
