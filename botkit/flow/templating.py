"""``{{ }}`` in flows: Jinja2 in a sandboxed environment, compiled once per distinct string.

Messages render to text. ``set`` values and other places that want a value use
:meth:`Templates.value`: a string that is one ``{{ expression }}`` keeps the expression's type
(a number stays a number), anything else renders to text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["CONTEXT_NAMES", "TemplateError", "Templates", "has_template"]

# What a template sees (the engine's turn builds it; a test keeps the two in step).
CONTEXT_NAMES = frozenset({"user", "vars", "message", "flow", "state"})

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.DOTALL)


#: The longest text or list a template's ``*`` may make, and the largest exponent of a
#: whole number's ``**``: beyond them the result is megabytes, or takes minutes to compute,
#: and rendering holds up every user of the bot (Jinja's sandbox already bounds `range`).
MAX_REPEATED = 1_000_000
MAX_EXPONENT = 10_000


class _BoundedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with ``*`` and ``**`` bounded: ``{{ 'x' * 10**9 }}`` and
    ``{{ 10 ** (10**10) }}`` fail the render at once, instead of stalling the server."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(count, int)
                    and len(sequence) * count > MAX_REPEATED
                ):
                    raise SecurityError(
                        f"'*' would make {len(sequence) * count:,} items; at most "
                        f"{MAX_REPEATED:,} in a template"
                    )
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right > MAX_EXPONENT
        ):
            raise SecurityError(f"'**' with an exponent of {right:,}; at most {MAX_EXPONENT:,}")
        return super().call_binop(context, operator, left, right)


class TemplateError(Exception):
    """A template failed to compile or to render; ``line`` is within the template."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def has_template(text: str) -> bool:
    """True when ``text`` contains Jinja syntax (and so needs rendering)."""
    return "{{" in text or "{%" in text or "{#" in text


class Templates:
    """Compiles and renders flow templates; one per engine, shared by all conversations."""

    def __init__(self) -> None:
        # StrictUndefined: a typo like `vars.ordr` is an error naming the line, not an empty
        # string silently sent to a user.
        self._env = _BoundedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self._templates: dict[str, jinja2.Template] = {}
        self._globals: dict[str, dict[str, Any]] = {}
        self._expressions: dict[str, Any] = {}

    def check(self, source: str) -> None:
        """Raise :class:`TemplateError` if ``source`` does not compile."""
        if has_template(source):
            self._template(source)

    def check_expression(self, source: str) -> None:
        """Raise :class:`TemplateError` if ``source`` is not a valid expression."""
        self._expression(source)

    def unknown_names(self, source: str, *, expression: bool = False) -> list[tuple[str, int]]:
        """The names ``source`` reads that no template has, each with the line (within
        ``source``) of its first use, in order: ``name`` written for ``vars.name``, say, or
        ``usr`` for ``user``. Such a template compiles, and fails on every render. A source
        that does not compile has none (:meth:`check` reports it)."""
        tree = self._tree(source, expression)
        if tree is None:
            return []
        try:
            unknown = meta.find_undeclared_variables(tree) - CONTEXT_NAMES
        except jinja2.TemplateError:
            return []
        unknown -= self._env.globals.keys()  # range, dict, namespace, ...
        unknown -= _allowed_missing(tree)
        first_use: dict[str, int] = {}
        for name in tree.find_all(nodes.Name):
            if name.ctx == "load" and name.name in unknown:
                first_use.setdefault(name.name, name.lineno)
        return sorted(first_use.items(), key=lambda item: (item[1], item[0]))

    def unguarded_read(self, source: str, name: str, *, expression: bool = False) -> int | None:
        """The line (within ``source``) where an attribute or item of ``name`` is first read,
        when ``source`` never looks at ``name`` itself: ``message.text`` alone fails when
        there is no message, ``message.text if message`` does not. None otherwise."""
        tree = self._tree(source, expression)
        if tree is None:
            return None
        read_from: set[int] = set()  # the Name nodes an attribute or item is read from
        for read in tree.find_all((nodes.Getattr, nodes.Getitem)):
            if isinstance(read, nodes.Getattr | nodes.Getitem):  # for mypy: find_all's type
                read_from.add(id(read.node))
        # `message.text | default('')` renders when message is None (its attribute is
        # undefined, and defaulted); `message.media.type | default('')` does not.
        guarded = {
            id(node.node)
            for node in _defaulted(tree)
            if isinstance(node, nodes.Getattr | nodes.Getitem)
        }
        first: int | None = None
        for node in tree.find_all(nodes.Name):
            if node.name != name or node.ctx != "load":
                continue
            if id(node) not in read_from:
                return None  # looked at itself: a guard, say
            if id(node) in guarded:
                continue
            first = node.lineno if first is None else min(first, node.lineno)
        return first

    def _tree(self, source: str, expression: bool) -> nodes.Template | None:
        """``source`` parsed, for the analyses above; None when it has no Jinja or does not
        compile (:meth:`check` reports that)."""
        if not (source.strip() if expression else has_template(source)):
            return None
        try:
            if not expression:
                return self._env.parse(source)
            # As Environment.compile_expression parses one; meta wants it in a template.
            parser = Parser(self._env, source, state="variable")
            tree = nodes.Template([nodes.Output([parser.parse_expression()])], lineno=1)
        except jinja2.TemplateError:
            return None
        tree.set_environment(self._env)
        return tree

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """``source`` rendered to text."""
        if not has_template(source):
            return source
        template = self._template(source)
        try:
            # Template.render merges the environment's globals (a ChainMap) into a new dict
            # on every call, half the cost of a short template; they are merged once here.
            merged = {**self._globals[source], **context}
            rendered: str = self._env.concat(
                template.root_render_func(template.new_context(merged, shared=True))
            )
            return rendered
        except Exception:  # render again the usual way below, for its error
            pass
        try:
            return template.render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc), _error_line(exc)) from None
        except Exception as exc:  # an error inside an expression, e.g. 1/0
            raise TemplateError(f"{type(exc).__name__}: {exc}") from None

    def value(self, source: Any, context: Mapping[str, Any]) -> Any:
        """The value of a ``set`` entry: templates inside lists and mappings are rendered,
        and a string that is exactly one ``{{ expression }}`` keeps the expression's type."""
        if isinstance(source, str):
            single = _SINGLE_EXPRESSION.match(source)
            if single:
                return self.evaluate(single.group("expr"), context)
            return self.render(source, context)
        if isinstance(source, list):
            return [self.value(item, context) for item in source]
        if isinstance(source, dict):
            return {key: self.value(item, context) for key, item in source.items()}
        return source

    def evaluate(self, expression: str, context: Mapping[str, Any]) -> Any:
        """A Jinja expression's value, e.g. ``vars.age >= 18``."""
        compiled = self._expression(expression)
        try:
            result = compiled(**context)
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc)) from None
        except Exception as exc:
            raise TemplateError(f"{type(exc).__name__}: {exc}") from None
        if isinstance(result, jinja2.Undefined):
            raise TemplateError(f"{expression.strip()!r} is undefined")
        return result

    def _template(self, source: str) -> jinja2.Template:
        template = self._templates.get(source)
        if template is None:
            try:
                template = self._env.from_string(source)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(exc.message or str(exc), exc.lineno) from None
            self._templates[source] = template
            self._globals[source] = dict(template.globals)
        return template

    def _expression(self, source: str) -> Any:
        compiled = self._expressions.get(source)
        if compiled is None:
            try:
                compiled = self._env.compile_expression(source, undefined_to_none=False)
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(exc.message or str(exc), exc.lineno) from None
            self._expressions[source] = compiled
        return compiled


def _allowed_missing(tree: nodes.Template) -> set[str]:
    """Names the template itself allows to be missing: ``x | default('')``, ``x is defined``
    (both render with StrictUndefined; ``x.y | default('')`` does not)."""
    return {node.name for node in _defaulted(tree) if isinstance(node, nodes.Name)}


def _defaulted(tree: nodes.Template) -> list[nodes.Node]:
    """What a ``default`` filter or a ``defined`` test is applied to."""
    found: list[nodes.Node] = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        if not isinstance(node, nodes.Filter | nodes.Test):  # for mypy: find_all's type
            continue
        if node.name in ("default", "d", "defined", "undefined") and node.node is not None:
            found.append(node.node)
    return found


def _error_line(exc: jinja2.TemplateError) -> int | None:
    line = getattr(exc, "lineno", None)
    return line if isinstance(line, int) else None
