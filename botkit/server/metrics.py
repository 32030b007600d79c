"""Prometheus metrics in the text exposition format, kept per server (no global registry)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable

__all__ = ["Metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HELP = {
    "botkit_events_received_total": "Webhook notifications accepted, by kind.",
    "botkit_events_duplicate_total": "Notifications recognised as retries or duplicates.",
    "botkit_events_rejected_total": "Webhook requests refused (bad input, auth, size).",
    "botkit_events_processed_total": "Inbox events processed, by outcome.",
    "botkit_processing_seconds": "Time from accepting an event to committing its turn.",
    "botkit_sends_total": "Messages accepted by tyntec.",
    "botkit_send_failures_total": "Messages tyntec refused for good.",
    "botkit_send_retries_total": "Send attempts that failed and will be retried.",
    "botkit_active_conversations": "Conversations started and not ended.",
    "botkit_inbox_pending": "Accepted events not processed yet.",
    "botkit_outbox_pending": "Messages not sent yet.",
}


class Metrics:
    """Counters, one latency histogram, and gauges read at scrape time."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self._bucket_counts = [0] * (len(_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0

    def count(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._counters[(name, tuple(sorted(labels.items())))] += value

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def observe_latency(self, seconds: float) -> None:
        self._bucket_counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self._latency_sum += seconds
        self._latency_count += 1

    def render(self, gauges: Iterable[tuple[str, float]]) -> str:
        lines: list[str] = []
        seen: set[str] = set()

        def header(name: str, kind: str) -> None:
            if name not in seen:
                seen.add(name)
                lines.append(f"# HELP {name} {_HELP.get(name, name)}")
                lines.append(f"# TYPE {name} {kind}")

        for (name, labels), value in sorted(self._counters.items()):
            header(name, "counter")
            lines.append(f"{name}{_labels(labels)} {value:g}")
        header("botkit_processing_seconds", "histogram")
        cumulative = 0
        for bound, count in zip((*_BUCKETS, float("inf")), self._bucket_counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'botkit_processing_seconds_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"botkit_processing_seconds_sum {self._latency_sum:g}")
        lines.append(f"botkit_processing_seconds_count {self._latency_count}")
        for name, value in gauges:
            header(name, "gauge")
            lines.append(f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return "{" + inner + "}"
