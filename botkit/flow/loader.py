"""Loading a flow: YAML with positions, then the structure (pass one), then the
cross-references (pass two). Every problem is reported at once, as ``file:line:column``."""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from ._source import Located, Path_, Position, SourceError, load_yaml
from .problems import FlowError, FlowProblem
from .spec import FlowModel, FlowSpec, RuleSpec, StateSpec, suggest

__all__ = ["Action", "Flow", "check_flow", "load_flow", "resolve_action"]

Action = Callable[[Any], Awaitable[str | None] | str | None]


@dataclass
class Flow:
    """A loaded, checked flow: its structure and where each part of it is written."""

    spec: FlowSpec
    source: Located
    actions: dict[str, Action] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.flow

    @property
    def version(self) -> str:
        """A short hash of the flow file: conversations record the version they ran."""
        return self.source.digest

    @property
    def file(self) -> str:
        return self.source.file

    def state(self, name: str) -> StateSpec:
        return self.spec.states[name]

    def position(self, *path: str | int) -> Position:
        """Where ``path`` (e.g. ``"states", "welcome", "say"``) is written."""
        return self.source.position(path)

    def action(self, target: str) -> Action:
        """The Python function a ``call: module:function`` names (imported once)."""
        found = self.actions.get(target)
        if found is None:
            # A project keeps flows/ and bots/ side by side: the flow's folder's parent is
            # where its actions are found, wherever the command runs from.
            project = Path(self.file).resolve().parent.parent
            found = self.actions[target] = resolve_action(target, project)
        return found


def resolve_action(target: str, project: Path | None = None) -> Action:
    """Import ``module:function``. The working directory (and ``project``, if given) is
    importable, so a project's ``bots/`` package is found. Raises ``ValueError`` saying what
    is wrong."""
    module_name, _, function_name = target.partition(":")
    if not module_name or not function_name:
        raise ValueError(
            f"call {target!r} must be written module:function, like bots.support:lookup"
        )
    for folder in (Path.cwd(), project):
        if folder is not None and str(folder) not in sys.path:
            sys.path.append(str(folder))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of user code is a problem to report
        raise ValueError(f"call {target!r}: cannot import {module_name}: {exc}") from None
    function = getattr(module, function_name, None)
    if function is None:
        names = [n for n in vars(module) if not n.startswith("_") and callable(vars(module)[n])]
        raise ValueError(
            f"call {target!r}: {module_name} has no {function_name!r}"
            + suggest(function_name, names)
        )
    if not callable(function):
        raise ValueError(f"call {target!r}: {function_name} is not a function")
    if len(inspect.signature(function).parameters) != 1:
        raise ValueError(f"call {target!r}: the function must take one argument, the context")
    return function  # type: ignore[no-any-return]


def load_flow(path: str | Path, *, text: str | None = None, import_actions: bool = True) -> Flow:
    """Load and check a flow file. Raises :class:`FlowError` listing every problem."""
    flow, problems = _load(path, text, import_actions)
    if problems or flow is None:
        raise FlowError(problems)
    return flow


def check_flow(path: str | Path, *, import_actions: bool = True) -> list[FlowProblem]:
    """Every problem of a flow file; empty when it is fine."""
    return _load(path, None, import_actions)[1]


def _load(
    path: str | Path, text: str | None, import_actions: bool
) -> tuple[Flow | None, list[FlowProblem]]:
    try:
        source = load_yaml(path, text)
    except SourceError as exc:
        return None, [FlowProblem(exc.position, exc.message, "fix the YAML syntax first")]
    except OSError as exc:
        return None, [FlowProblem(Position(str(path), 1, 1), f"cannot read: {exc.strerror}")]
    if not isinstance(source.data, dict):
        return None, [
            FlowProblem(
                source.position(()),
                "a flow is a mapping with flow, start and states",
                "start from an example in flows/",
            )
        ]
    from .checks import cross_check  # the second pass needs the loaded flow

    try:
        spec = FlowSpec.model_validate(source.data)
    except pydantic.ValidationError as exc:
        problems = structure_problems(exc, source)
        # Report the second pass's problems too, on the parts that are well-formed: a
        # developer fixes everything in one round instead of one pass after the other.
        salvaged = _partial_spec(source.data)
        if salvaged is not None:
            partial, lost_parts = salvaged
            known = set(source.data.get("states") or {})
            problems += cross_check(
                Flow(partial, source),
                import_actions=import_actions,
                known_states=known,
                lost_parts=lost_parts,
            )
        problems.sort(key=lambda p: (p.position.line, p.position.column))
        return None, problems
    flow = Flow(spec, source)
    return flow, cross_check(flow, import_actions=import_actions)


# Stands in for a malformed rule, so that the rules after it keep their places (problems are
# positioned by a rule's index) and the rules around it are still checked. No event has
# this name; the partial check does not check event names.
_BROKEN_RULE = {"if": {"event": "botkit_malformed_rule"}}


def _partial_spec(data: dict[str, Any]) -> tuple[FlowSpec, dict[str, set[str]]] | None:
    """The flow without its malformed parts (keys that fail, rules that fail, states that
    cannot be saved), if enough is left to check; and by state, the keys it lost."""
    states = data.get("states")
    if not isinstance(states, dict):
        return None
    good_states = {}
    lost_parts: dict[str, set[str]] = {}
    for name, body in states.items():
        with_rules, replaced = _with_rules_salvaged(body)
        salvaged = _without_broken_keys(StateSpec, with_rules, required=set())
        if salvaged is not None:
            good_states[name] = salvaged
            lost = set(body) - set(salvaged)
            if replaced:
                lost.add("on")
            if lost:
                lost_parts[name] = lost
    if not good_states:
        return None
    required = {"flow", "start", "states"}
    cleaned = _without_broken_keys(
        FlowSpec,
        {**_with_rules_salvaged(data, "globals")[0], "states": good_states},
        required=required,
    )
    return None if cleaned is None else (FlowSpec.model_validate(cleaned), lost_parts)


def _with_rules_salvaged(body: Any, key: str = "on") -> tuple[Any, bool]:
    """``body`` with each malformed rule of its ``key`` list replaced by a stand-in, and
    whether one was."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        return body, False
    rules = []
    replaced = False
    for rule in body[key]:
        try:
            RuleSpec.model_validate(rule)
        except pydantic.ValidationError:
            rule, replaced = _BROKEN_RULE, True
        rules.append(rule)
    return {**body, key: rules}, replaced


def _without_broken_keys(
    model: type[FlowModel], body: Any, *, required: set[str]
) -> dict[str, Any] | None:
    """``body`` less the keys that ``model``'s errors are in, once it validates."""
    if not isinstance(body, dict):
        return None
    candidate = dict(body)
    for _ in range(len(candidate) + 1):
        try:
            model.model_validate(candidate)
        except pydantic.ValidationError as exc:
            broken = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if not broken or broken & required:
                return None
            candidate = {k: v for k, v in candidate.items() if k not in broken}
            continue
        return candidate
    return None


def _is_flow_part(model_name: str) -> bool:
    """Whether the model validated is a part of a flow (not of a flow test file, say)."""
    return any(m.__name__ == model_name and m.PART for m in FlowModel.__subclasses__())


def _parts_taking(key: str) -> list[str]:
    """Where in a flow ``key`` is written ("a message", "the top level")."""
    return [
        model.PART
        for model in FlowModel.__subclasses__()
        if model.PART is not None
        and any((field.alias or name) == key for name, field in model.model_fields.items())
    ]


def _known_keys() -> list[str]:
    # Computed when needed: flow test models subclass FlowModel too, in another module.
    return sorted(
        {
            (field.alias or name)
            for model in FlowModel.__subclasses__()
            for name, field in model.model_fields.items()
        }
    )


def structure_problems(error: pydantic.ValidationError, source: Located) -> list[FlowProblem]:
    """pydantic's errors as positioned flow problems, one per mistake."""
    problems: list[FlowProblem] = []
    seen: set[tuple[Position, str]] = set()
    for item in error.errors():
        path = _data_path(source.data, item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            key = str(item["loc"][-1])
            position = source.position(path, key=True)
            parts = _parts_taking(key) if _is_flow_part(error.title) else []
            if parts:  # a real key, in the wrong place (a state's `channels`, say)
                message = f"{key!r} does not belong here"
                hint = f"{key} goes in {' or '.join(parts)}; see docs/flows.md"
            else:
                others = [known for known in _known_keys() if known != key]
                message = f"unknown key {key!r}" + suggest(key, others)
                hint = "check the spelling, or see docs/flows.md for the keys each part takes"
        elif kind == "missing":
            position = source.position(path)
            message = f"missing {item['loc'][-1]!r}"
            hint = None
        else:
            position = source.position(path)
            message = _describe(item)
            hint = None
        if (position, message) not in seen:
            seen.add((position, message))
            problems.append(FlowProblem(position, message, hint))
    return problems


def _describe(item: Any) -> str:
    message = str(item["msg"])
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    where = ".".join(str(p) for p in item["loc"] if not str(p).startswith(("function-", "list[")))
    if item["type"] == "literal_error":
        return f"{where}: {message} (got {item['input']!r})"
    return f"{where}: {message}" if where and item["type"] != "value_error" else message


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """The part of pydantic's ``loc`` that exists in the YAML data (shorthands and union
    tags add steps that have no position of their own)."""
    path: list[str | int] = []
    node = data
    for step in loc:
        in_mapping = isinstance(node, dict) and step in node
        in_list = isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)
        if in_mapping or in_list:
            node = node[step]
        else:
            if isinstance(node, dict) and isinstance(step, str) and step not in node:
                path.append(step)  # a missing or unknown key: point at the mapping's key
            break
        path.append(step)
    return tuple(path)
