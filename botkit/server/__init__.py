"""The webhook server: tyntec's notifications in, conversations run, replies out."""

from .app import DEFAULT_MAX_BODY, BotServer, Sending
from .routing import Router, RoutingError

__all__ = ["DEFAULT_MAX_BODY", "BotServer", "Router", "RoutingError", "Sending"]
