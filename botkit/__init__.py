"""botkit: chatbots on tyntec's APIs, written as YAML flows, run on WhatsApp, SMS and tyntecEcho."""

from .tyntec import (
    APIError,
    RetryPolicy,
    TyntecClient,
    TyntecError,
    messages,
)

__all__ = ["APIError", "RetryPolicy", "TyntecClient", "TyntecError", "__version__", "messages"]

__version__ = "0.1.0"
