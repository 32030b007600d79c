"""Log output: one readable line per event by default, JSON lines with ``--log-json``.

Records may carry ``flow``, ``user`` (the conversation), ``state`` and ``event``; both formats
show them. Secrets never reach the output: token and API-key values are masked in every
record, whatever logged them.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "LineFormatter", "RedactSecrets", "setup_logging"]

_CONTEXT = ("flow", "user", "state", "event")
_WORDS = ("token", "apikey", "api_key", "api-key", "authorization")
_SECRET = re.compile(
    r"(?i)((?:token|apikey|api_key|api-key|authorization)[\"']?\s*[=:]\s*[\"']?(?:Bearer )?)"
    r"([^\s&\"',}]+)"
)


class RedactSecrets(logging.Filter):
    """Masks ``token=...``, ``apikey: ...`` and ``Authorization: ...`` values."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        lowered = message.lower()
        if any(word in lowered for word in _WORDS):
            message = _SECRET.sub(r"\1***", message)
        # The formatter asks for the message again: hand it the one made here rather than
        # formatting the arguments a second time (a line is logged per event).
        record.msg, record.args = message, None
        return True


class LineFormatter(logging.Formatter):
    """``logging.Formatter`` with the time's text made once a second, not once a record."""

    # One tuple, replaced whole: a formatter shared by handlers in several threads never
    # pairs one second with another's text.
    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        if self.default_msec_format is None:
            return text
        return self.default_msec_format % (text, record.msecs)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the conversation fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(*, json_lines: bool = False, verbose: bool = False) -> None:
    """Configure the root logger for the command line."""
    # No botkit format shows the thread, the process or the caller's file and line: records
    # are cheaper without them (one line per event is logged; see "Optimization" in the
    # logging HOWTO, which names these switches).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # no sys._getframe() walk per record
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(LineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        # transitions logs every state change at INFO: the engine reports moves itself.
        logging.getLogger("transitions").setLevel(logging.WARNING)
        logging.getLogger("aiosqlite").setLevel(logging.WARNING)
