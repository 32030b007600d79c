"""The flow language: YAML conversations, checked, compiled onto transitions, and run."""

from .advice import advise
from .context import ActionContext, User
from .conversation import Conversation
from .engine import Engine, Outcome
from .events import DeliveryUpdate, Event, Start, Timeout, UserMessage
from .loader import Flow, check_flow, load_flow
from .outgoing import delivery_update, parse_user_context, user_context
from .problems import (
    FlowError,
    FlowProblem,
    FlowRuntimeError,
    FlowWarning,
    ReachesOutside,
    TemporaryFailure,
)

__all__ = [
    "ActionContext",
    "Conversation",
    "DeliveryUpdate",
    "Engine",
    "Event",
    "Flow",
    "FlowError",
    "FlowProblem",
    "FlowRuntimeError",
    "FlowWarning",
    "Outcome",
    "ReachesOutside",
    "Start",
    "TemporaryFailure",
    "Timeout",
    "User",
    "UserMessage",
    "advise",
    "check_flow",
    "delivery_update",
    "load_flow",
    "parse_user_context",
    "user_context",
]
