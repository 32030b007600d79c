"""Helpers for testing bots: pytest-friendly, real HTTP on 127.0.0.1."""

from ._webhook import WebhookRecorder

__all__ = ["WebhookRecorder"]
