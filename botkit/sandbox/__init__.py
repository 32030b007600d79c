"""botkit's embedded tyntec sandbox: run and test bots with no tyntec account."""

from ._chat import echo_content
from ._clock import Clock
from ._faults import Fault
from ._notifier import Delivery, Notifier
from .app import DEFAULT_API_KEY, DEFAULT_BOT_NUMBER, Sandbox

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_BOT_NUMBER",
    "Clock",
    "Delivery",
    "Fault",
    "Notifier",
    "Sandbox",
    "echo_content",
]
