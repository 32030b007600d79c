"""JSON for the hot path: orjson when it is installed (``pip install botkit[speed]``), else
the standard library. Both give the same compact text."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

try:
    import orjson

    def dumps(value: Any) -> str:
        """Compact JSON text (UTF-8 characters kept as they are)."""
        return str(orjson.dumps(value).decode())

    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)

except ImportError:  # pragma: no cover - depends on what is installed

    def dumps(value: Any) -> str:
        """Compact JSON text (UTF-8 characters kept as they are)."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def loads(text: str | bytes) -> Any:
        return json.loads(text)
