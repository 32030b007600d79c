"""The cyclic garbage collector, set for a long-running process that makes many short-lived
objects per event and keeps them out of reference cycles."""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_collector"]

#: Allocations between two collections of the youngest generation (Python's default: 700).
YOUNG_THRESHOLD = 10_000


def settle_collector() -> None:
    """Call once startup has loaded what lives as long as the process.

    - ``gc.freeze()``: modules, schemas, flows and the app leave the collector's sight, so a
      full collection no longer walks them (under load it took the slowest replies from
      about 50 ms to 25 ms; benchmarks/README.md).
    - A young generation of 10,000 rather than 700: an event's objects (its request, turn,
      write and messages) form no reference cycles, so reference counting frees them, and a
      young collection only walks what is still alive: the events in flight, again every
      700 allocations. At 64 events in flight that was 7 to 8% of the server's CPU (perf);
      what cyclic garbage there is (an exception's traceback, say) waits a little longer.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
