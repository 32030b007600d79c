"""YAML with positions: the parsed document plus the line and column of every key and value.

PyYAML's node tree knows where each value starts; this keeps that knowledge next to the plain
Python data, so that any later check can say ``file:line:column``. Duplicate keys, which PyYAML
silently lets the last one win, are reported here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Located", "Path_", "Position", "SourceError", "load_yaml"]

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """Where something is in a file; line and column count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class SourceError(Exception):
    """A file that is not valid YAML, or that repeats a key."""

    def __init__(self, position: Position, message: str) -> None:
        super().__init__(f"{position}: {message}")
        self.position = position
        self.message = message


@dataclass
class Located:
    """A parsed YAML document and the positions of its parts, by path from the root."""

    data: Any
    file: str
    digest: str = ""
    """A short hash of the file's text: the version of what was loaded."""
    values: dict[Path_, Position] = field(default_factory=dict)
    keys: dict[Path_, Position] = field(default_factory=dict)

    def position(self, path: Path_, *, key: bool = False) -> Position:
        """The position of ``path``'s value (or key), else of its nearest ancestor."""
        table = self.keys if key else self.values
        path = self._as_written(path)
        for length in range(len(path), -1, -1):
            prefix = path[:length]
            found = table.get(prefix) or self.values.get(prefix)
            if found is not None:
                return found
        return Position(self.file, 1, 1)

    def _as_written(self, path: Path_) -> Path_:
        """``path`` without the index a shorthand leaves out: the flow reads ``say: {text:
        ..}`` as a list of one message, so ``(say, 0, text)`` is written ``(say, text)``."""
        written: Path_ = ()
        for part in path:
            if part == 0 and (*written, 0) not in self.values and written in self.values:
                continue
            written = (*written, part)
        return written


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false.

    YAML 1.1 reads ``yes``, ``no``, ``on`` and ``off`` as booleans, which would turn the flow
    key ``on:`` and answers like ``text: [yes, no]`` into True and False.
    """


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: str | Path, text: str | None = None) -> Located:
    """Parse one YAML file, keeping positions. Raises :class:`SourceError`."""
    file = str(path)
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(file, mark.line + 1, mark.column + 1) if mark else Position(file, 1, 1)
        raise SourceError(where, f"not valid YAML: {exc.problem or exc}") from None
    located = Located(None, file, hashlib.sha256(text.encode()).hexdigest()[:12])
    located.data = None if node is None else _convert(node, (), located)
    return located


def _convert(node: yaml.Node, path: Path_, located: Located) -> Any:
    located.values[path] = _position(located.file, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in result:
                raise SourceError(_position(located.file, key_node), f"key {key!r} is repeated")
            child = (*path, key if isinstance(key, str | int) else str(key))
            located.keys[child] = _position(located.file, key_node)
            result[key] = _convert(value_node, child, located)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), located) for index, item in enumerate(node.value)]
    return _scalar(node)


_CONSTRUCTOR = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    value = _CONSTRUCTOR.construct_object(node, deep=True)
    # A mapping or list used as a key is not hashable; flows never need one.
    return value if isinstance(value, str | int | float | bool | None) else str(value)


def _position(file: str, node: yaml.Node) -> Position:
    mark = node.start_mark
    if isinstance(node, yaml.ScalarNode) and node.style == "|" and mark.buffer is not None:
        # A literal block's text starts on the line after its `|`, and keeps its lines:
        # pointing at the text makes "line n of the text" line n of the file.
        first = mark.buffer.find("\n", mark.pointer) + 1
        if first and first < len(mark.buffer):
            indent = len(mark.buffer[first:]) - len(mark.buffer[first:].lstrip(" "))
            return Position(file, mark.line + 2, indent + 1)
    return Position(file, mark.line + 1, mark.column + 1)
