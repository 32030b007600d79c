"""A conversation's history told as lines, one per event, for people to read."""

from __future__ import annotations

from datetime import UTC, datetime

from .store import HistoryEntry

__all__ = ["story_lines"]


def story_lines(story: list[HistoryEntry]) -> list[str]:
    """History entries as lines, one per event: what arrived, the moves, what was sent."""
    lines: list[str] = []
    day = ""
    for entry in story:
        moment = datetime.fromtimestamp(entry.at, UTC)
        if entry.kind == "event" or not lines:
            if moment.strftime("%Y-%m-%d") != day:
                day = moment.strftime("%Y-%m-%d")
                lines.append(f"{day} (UTC)")
            lines.append(
                f"{moment:%H:%M:%S} {entry.text if entry.kind == 'event' else ''}".rstrip()
            )
            if entry.kind == "event":
                continue
        if entry.kind == "move":
            lines[-1] += f" -> {entry.text.split(' -> ')[-1]}"
        elif entry.kind == "sent":
            lines[-1] += f"; bot: {entry.text} ({entry.status})"
        elif entry.kind == "error":
            lines[-1] += f"; ERROR {entry.text}"
        else:
            lines[-1] += f"; {entry.text}"
    return lines
