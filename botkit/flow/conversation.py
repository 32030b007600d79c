"""A conversation's snapshot: everything the engine needs to carry on where it left off.

The engine never keeps conversations in memory between events; it takes a snapshot and
returns the next one, which the store persists with the messages to send.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Conversation", "unstorable"]

#: The integers the store's JSON takes (orjson's range).
_LOWEST, _HIGHEST = -(2**63), 2**64 - 1


@dataclass
class Conversation:
    """One user's conversation with one flow.

    ``state`` is None before the first message; ``ended`` is set by a ``final`` state.
    ``entry`` counts state entries: each sent message carries it, so delivery reports can be
    matched to the state that sent them. ``timeout_at`` is the deadline of the current wait
    (seconds since the epoch), None when no timeout is pending.
    """

    flow: str
    user: str
    state: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    ended: bool = False
    channel: str = "whatsapp"
    account: str | None = None
    name: str | None = None
    entry: int = 0
    retries: int = 0
    otp_id: str | None = None
    timeout_at: float | None = None
    version: int = 0
    flow_version: str | None = None
    """The version (file hash) of the flow that last handled this conversation."""
    last_inbound: dict[str, float] = field(default_factory=dict)
    """When the user last wrote, per bot account: WhatsApp's 24-hour window opens there."""

    def copy(self) -> Conversation:
        # Only the containers are mutable; variables may nest lists and mappings. (Copying
        # the fields directly: dataclasses.replace runs __init__, and this runs per event.)
        twin = object.__new__(Conversation)
        twin.__dict__.update(self.__dict__)
        twin.vars = _copy_vars(self.vars)
        twin.last_inbound = dict(self.last_inbound)
        return twin

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, for storage."""
        data = dict(self.__dict__)
        data["vars"] = _copy_vars(self.vars)
        data["last_inbound"] = dict(self.last_inbound)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    @property
    def waiting(self) -> bool:
        return self.state is not None and not self.ended


_SCALARS = (str, int, float, bool, type(None))


def _copy_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """A copy that shares nothing mutable; a shallow copy when every value is a scalar (the
    usual case, and a copy on every event)."""
    if all(isinstance(value, _SCALARS) for value in variables.values()):
        return dict(variables)
    return copy.deepcopy(variables)


def unstorable(variables: dict[str, Any]) -> str | None:
    """What in ``variables`` the store cannot keep as it is, said for the flow's author
    (``"a set in vars['tags']"``); None when all of it can be kept.

    Variables are stored as JSON and read back after a restart: a value that JSON cannot
    hold would stop the turn from being stored, and one that JSON holds differently (a
    date, read back as text) would change under the flow.
    """
    for name, value in variables.items():
        found = _unstorable_value(value, f"vars[{name!r}]", MAX_DEPTH)
        if found is not None:
            return found
    return None


#: How deep variables may nest: the store's JSON encoder stops at 254 levels, and the
#: conversation around them takes a few.
MAX_DEPTH = 200


def _unstorable_value(value: Any, path: str, depth: int) -> str | None:
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None if _LOWEST <= value <= _HIGHEST else f"an integer too large to keep in {path}"
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value} (not a number JSON holds) in {path}"
    if isinstance(value, list | tuple | dict) and depth == 0:
        where = path if len(path) <= 80 else f"{path[:80]}..."
        return f"lists and mappings nested deeper than {MAX_DEPTH} levels in {where}"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _unstorable_value(item, f"{path}[{index}]", depth - 1)
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"the key {key!r} (not text) in {path}"
            found = _unstorable_value(item, f"{path}[{key!r}]", depth - 1)
            if found is not None:
                return found
        return None
    return f"a {type(value).__name__} in {path}"
