"""botkit's async client of tyntec's APIs (Chat v2, 2FA v1, Messaging v1, NIS v1).

>>> from botkit.tyntec import TyntecClient, messages
"""

from . import messages, models
from ._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConnectError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    TransportError,
    TyntecError,
)
from ._paths import DownloadedMedia
from ._retry import RetryPolicy
from .client import DEFAULT_BASE_URL, TyntecClient

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConnectError",
    "DownloadedMedia",
    "ForbiddenError",
    "GoneError",
    "NotFoundError",
    "RateLimitError",
    "RequestTimeout",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "TyntecClient",
    "TyntecError",
    "messages",
    "models",
]
