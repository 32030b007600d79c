"""Live reload of flows: ``botkit serve --reload`` watches the flow files and swaps in the new
version of a changed flow between two events, without a restart.

A changed file that has problems is not loaded; its problems are logged and the running
version stays. Python actions are not reloaded (restart for those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from ..flow import Flow, FlowError, load_flow
from .routing import Router, RoutingError

__all__ = ["FlowReloader", "flow_files"]

log = logging.getLogger("botkit.server")


def flow_files(paths: list[Path], *, recursive: bool = False) -> list[Path]:
    """The flow files named, and every ``*.yaml`` (not ``*.test.yaml``) in folders named
    (and, with ``recursive``, in the folders below them)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = path.rglob("*.yaml") if recursive else path.glob("*.yaml")
            files.extend(p for p in sorted(found) if not p.name.endswith(".test.yaml"))
        else:
            files.append(path)
    return files


class FlowReloader:
    """Polls the flow files' modification times and reloads what changed.

    Polling (once a second by default) needs no file-system notification support and costs
    one ``stat`` per flow file.
    """

    def __init__(
        self,
        paths: list[Path],
        apply: Callable[[list[Flow]], None],
        current: Callable[[], list[Flow]],
        *,
        interval: float = 1.0,
    ) -> None:
        self.paths = paths
        self.apply = apply
        self.current = current
        self.interval = interval
        self._stamps = self._scan()
        self._task: asyncio.Task[None] | None = None

    def _scan(self) -> dict[Path, tuple[float, int]]:
        stamps = {}
        for file in flow_files(self.paths):
            try:
                stat = file.stat()
            except OSError:
                continue
            stamps[file] = (stat.st_mtime, stat.st_size)
        return stamps

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.check()
            except Exception:
                log.exception("reloading flows failed")

    def check(self) -> list[str]:
        """Reload the flows whose files changed since the last look; their names."""
        stamps = self._scan()
        changed = [f for f, stamp in stamps.items() if self._stamps.get(f) != stamp]
        self._stamps = stamps
        loaded: list[Flow] = []
        for file in changed:
            try:
                loaded.append(load_flow(file))
            except FlowError as exc:
                log.error("reload: %s has problems; keeping the running version:\n%s", file, exc)
        if not loaded:
            return []
        by_name = {flow.name: flow for flow in self.current()}
        by_name.update({flow.name: flow for flow in loaded})
        try:
            Router(by_name.values())  # the new set must still route unambiguously
        except RoutingError as exc:
            log.error("reload: %s; keeping the running flows", exc)
            return []
        self.apply(loaded)
        for flow in loaded:
            log.info("reload: flow %s is now version %s (%s)", flow.name, flow.version, flow.file)
        return [flow.name for flow in loaded]
