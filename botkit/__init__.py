"""botkit: chatbots on tyntec's APIs, written as YAML flows, run on WhatsApp, SMS and tyntecEcho."""

# Set before the imports below: the tyntec client names itself with it (its User-Agent).
__version__ = "0.1.0"

from .tyntec import (
    APIError,
    RetryPolicy,
    TyntecClient,
    TyntecError,
    messages,
)

__all__ = ["APIError", "RetryPolicy", "TyntecClient", "TyntecError", "__version__", "messages"]
