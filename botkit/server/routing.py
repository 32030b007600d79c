"""Which flow answers a message: by the account (receiving number) and channel it came to."""

from __future__ import annotations

from collections.abc import Iterable

from .._numbers import digits
from ..flow import Flow

__all__ = ["Router", "RoutingError"]


class RoutingError(ValueError):
    """The flows served together do not say unambiguously who answers what."""


class Router:
    """Flows name the accounts they answer (``accounts: {whatsapp: [...], sms: [...]}``);
    one flow without ``accounts`` answers everything else."""

    def __init__(self, flows: Iterable[Flow]) -> None:
        self._table: dict[tuple[str, str], str] = {}
        self.default: str | None = None
        for flow in flows:
            accounts = flow.spec.accounts
            if accounts is None:
                if self.default is not None:
                    raise RoutingError(
                        f"flows {self.default!r} and {flow.name!r} both answer every account; "
                        "give one of them `accounts:` (the numbers it answers)"
                    )
                self.default = flow.name
                continue
            for channel, numbers in accounts.items():
                for number in numbers:
                    key = (channel, digits(number))
                    if key in self._table and self._table[key] != flow.name:
                        raise RoutingError(
                            f"{channel} account {number} is claimed by flows "
                            f"{self._table[key]!r} and {flow.name!r}"
                        )
                    self._table[key] = flow.name

    def flow_for(self, channel: str, account: str | None) -> str | None:
        """The flow that answers a message to ``account`` on ``channel``, if any."""
        return self._table.get((channel, digits(account)), self.default)
