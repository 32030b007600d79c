"""Live reload of flows: ``botkit serve --reload`` watches the flow files, and the modules
their ``call:`` actions come from, and swaps in the new version of a changed flow between two
events, without a restart.

A changed file that has problems is not loaded; its problems are logged and the running
version stays. A changed action module is imported anew and the flows that call into it are
loaded again; a module that fails to import is logged, and the running flows keep the
functions they had. Modules an action module imports are not reloaded (restart for those),
nor are installed packages.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

from ..flow import Flow, FlowError, advise, load_flow
from .routing import Router, RoutingError

__all__ = ["FlowReloader", "flow_files", "load_and_warn"]

Stamp = tuple[float, int]  # a file's modification time and size

log = logging.getLogger("botkit.server")


def load_and_warn(file: Path) -> Flow:
    """Load a flow file to serve it, logging what :func:`botkit.flow.advise` warns of: the
    operator reads it when the flow starts serving, not when a user's turn fails on it."""
    flow = load_flow(file)
    for warning in advise(flow):
        log.warning("%s", warning)
    return flow


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
        self._module_stamps: dict[str, Stamp] = {}
        self._note_new_modules()
        self._task: asyncio.Task[None] | None = None

    def _scan(self) -> dict[Path, Stamp]:
        stamps = {}
        for file in flow_files(self.paths):
            stamp = _stamp(file)
            if stamp is not None:
                stamps[file] = stamp
        return stamps

    def _action_modules(self) -> dict[str, Path]:
        """The project's modules the running flows call into, by name, with their files."""
        modules: dict[str, Path] = {}
        for flow in self.current():
            for target in flow.actions:  # every call, imported when the flow was checked
                name = target.partition(":")[0]
                file = getattr(sys.modules.get(name), "__file__", None)
                if file is not None and not _installed(Path(file)):
                    modules[name] = Path(file)
        return modules

    def _note_new_modules(self) -> None:
        """Remember the stamps of modules first imported since the last look (by a newly
        loaded flow): they are as new as can be."""
        for name, file in self._action_modules().items():
            if name not in self._module_stamps:
                stamp = _stamp(file)
                if stamp is not None:
                    self._module_stamps[name] = stamp

    def _reload_changed_modules(self) -> set[str]:
        """Import anew the action modules whose files changed; the names of those that did."""
        reloaded: set[str] = set()
        for name, file in self._action_modules().items():
            stamp = _stamp(file)
            if stamp is None or self._module_stamps.get(name, stamp) == stamp:
                continue
            self._module_stamps[name] = stamp
            # Its compiled copy is checked by the source's time in whole seconds and its
            # size: an edit within the second that keeps the size would go unseen.
            Path(importlib.util.cache_from_source(str(file))).unlink(missing_ok=True)
            try:
                importlib.reload(sys.modules[name])
            except Exception:  # any error of user code: logged, and the flows keep running
                log.exception("reload: %s failed to import; keeping the running flows", file)
                continue
            log.info("reload: %s imported anew", file)
            reloaded.add(name)
        return reloaded

    def _flows_calling(self, modules: set[str]) -> list[Path]:
        """The files of the running flows that call into ``modules``."""
        return [
            Path(flow.file) for flow in self.current()
            if any(target.partition(":")[0] in modules for target in flow.actions)
        ]  # fmt: skip

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
        """Reload the flows whose files, or whose action modules, changed since the last
        look; their names."""
        stamps = self._scan()
        changed = [f for f, stamp in stamps.items() if self._stamps.get(f) != stamp]
        self._stamps = stamps
        seen = {file.resolve() for file in changed}
        changed.extend(
            file for file in self._flows_calling(self._reload_changed_modules())
            if file.resolve() not in seen
        )  # fmt: skip
        loaded: list[Flow] = []
        for file in changed:
            try:
                loaded.append(load_and_warn(file))
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
        self._note_new_modules()
        for flow in loaded:
            log.info("reload: flow %s is now version %s (%s)", flow.name, flow.version, flow.file)
        return [flow.name for flow in loaded]


def _stamp(file: Path) -> Stamp | None:
    try:
        stat = file.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


_INSTALLED = {
    Path(folder).resolve()
    for key in ("stdlib", "platstdlib", "purelib", "platlib")
    if (folder := sysconfig.get_paths().get(key))
}


def _installed(file: Path) -> bool:
    """Whether ``file`` belongs to Python or an installed package, not to the project."""
    return any(file.resolve().is_relative_to(folder) for folder in _INSTALLED)
