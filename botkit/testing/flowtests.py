"""Flow tests: conversation scripts in YAML, run against the engine with the sandbox as tyntec.

```yaml
flow: ../../flows/support.yaml          # relative to this file
user: {number: "+491701234567", name: Ana}
tests:
  - name: order status
    steps:
      - user: "1"
      - bot: "What's your order number? (6 digits)"
      - user: "123456"
      - bot: {template: order_status, params: ["123456", shipped]}
```

Steps: ``user`` (text), ``user_media``, ``user_location``, ``otp: correct|wrong``,
``wait: 10m``, ``bot`` (exact text, or ``{regex}``, ``{template, params}``, ``{media}``,
``{location}``, ``{url}``, each optionally with ``channel``), ``state``, ``vars``,
``undeliverable: <channel>`` and ``status: seen|delivered|failed``. Every bot message must be
matched by a ``bot`` step before the user acts again. The first difference is reported with
the test file's line and the flow line that sent the message.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import pydantic
from pydantic import Field, model_validator

from ..flow import Flow, FlowError, FlowRuntimeError, load_flow
from ..flow._durations import parse_duration
from ..flow._source import Located, Position, SourceError, load_yaml
from ..flow.loader import structure_problems
from ..flow.problems import FlowProblem
from ..flow.spec import FlowModel
from .harness import BotMessage, FlowHarness
from .remote_harness import RemoteHarness, RemoteSkip, RemoteTarget

__all__ = [
    "FlowTest",
    "FlowTestResult",
    "RemoteTarget",
    "collect_flow_tests",
    "discover_flow_tests",
    "run_flow_tests",
]

_USER_ACTIONS = ("user", "user_media", "user_location", "otp", "wait", "status", "start")


class TestUser(FlowModel):
    number: str = "+491701234567"
    name: str | None = None
    channel: Literal["whatsapp", "sms", "tyntecEcho"] = "whatsapp"


class BotExpectation(FlowModel):
    text: str | None = None
    regex: str | None = None
    template: str | None = None
    params: list[str] | None = None
    media: str | None = None
    location: str | None = None
    url: str | None = None
    channel: Literal["whatsapp", "sms", "tyntecEcho"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _text_shorthand(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [
            k
            for k in ("text", "regex", "template", "media", "location", "url")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError("bot: expects one of text, regex, template, media, location, url")
        if self.regex is not None:
            re.compile(self.regex)
        if self.params is not None and self.template is None:
            raise ValueError("params go with template")
        return self


class Step(FlowModel):
    user: str | None = None
    user_media: dict[str, Any] | None = None
    user_location: dict[str, Any] | None = None
    bot: BotExpectation | None = None
    otp: Literal["correct", "wrong", "resend"] | None = None
    wait: float | None = None
    state: str | None = None
    vars: dict[str, Any] | None = None
    undeliverable: Literal["whatsapp", "sms", "tyntecEcho"] | None = None
    status: Literal["delivered", "seen", "failed"] | None = None
    start: dict[str, Any] | None = None
    error: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _wait_duration(cls, value: Any) -> Any:
        if isinstance(value, dict) and "wait" in value:
            return {**value, "wait": parse_duration(value["wait"])}
        if isinstance(value, dict) and isinstance(value.get("user"), int | float):
            return {**value, "user": str(value["user"])}
        return value

    @model_validator(mode="after")
    def _one_step(self) -> Self:
        if len(self.model_fields_set) != 1:
            raise ValueError("each step has exactly one of " + ", ".join(type(self).model_fields))
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set))


class TestCase(FlowModel):
    name: str
    user: TestUser | None = None
    steps: list[Step] = Field(min_length=1)


class TestFile(FlowModel):
    flow: str
    user: TestUser = Field(default_factory=TestUser)
    tests: list[TestCase] = Field(min_length=1)


@dataclass
class FlowTestResult:
    """How one flow test went; ``failure`` is ``file:line:column: what differed``."""

    file: str
    name: str
    passed: bool
    failure: str | None = None
    skipped: str | None = None
    """Remote runs: why the test stopped early (a step tyntecEcho cannot do)."""
    transcript: list[str] = field(default_factory=list)


@dataclass
class FlowTest:
    """One test of a flow test file, ready to run (and to be a pytest parameter)."""

    file: Path
    index: int
    name: str
    _suite: _Suite = field(repr=False)

    def __str__(self) -> str:
        return f"{self.file.name}::{self.name}"

    async def run(self, remote: RemoteTarget | None = None) -> FlowTestResult:
        """Run against the sandbox, or through tyntec against a deployed bot (``remote``)."""
        return await self._suite.run(self.index, remote)


class _Suite:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.source: Located = load_yaml(path)
        except SourceError as exc:
            raise FlowError([FlowProblem(exc.position, exc.message)]) from None
        try:
            self.spec = TestFile.model_validate(self.source.data)
        except pydantic.ValidationError as exc:
            raise FlowError(structure_problems(exc, self.source)) from None
        try:
            flow_path = (path.parent / self.spec.flow).resolve()
        except (OSError, ValueError) as exc:  # a NUL in the name, a loop of links
            raise FlowError(
                [
                    FlowProblem(
                        self.source.position(("flow",)), f"no flow at {self.spec.flow!r}: {exc}"
                    )
                ]
            ) from None
        try:
            self.flow: Flow = load_flow(flow_path)
        except FlowError as exc:
            raise FlowError(
                [
                    FlowProblem(
                        self.source.position(("flow",)), f"the flow {self.spec.flow} has problems:"
                    ),
                    *exc.problems,
                ]
            ) from None

    def tests(self) -> list[FlowTest]:
        return [FlowTest(self.path, i, t.name, self) for i, t in enumerate(self.spec.tests)]

    async def run(self, index: int, remote: RemoteTarget | None = None) -> FlowTestResult:
        case = self.spec.tests[index]
        user = case.user or self.spec.user
        result = FlowTestResult(str(self.path), case.name, passed=True)
        harness: Any
        if remote is not None:
            if user.name:
                result.skipped = "a WhatsApp profile name does not travel through tyntecEcho"
                return result
            if user.channel == "sms":  # the flow answers SMS users otherwise (sms_text)
                result.skipped = "a user who writes by SMS cannot be played through tyntecEcho"
                return result
            harness = RemoteHarness(self.flow, remote)
        else:
            harness = FlowHarness(self.flow, user=user.number, name=user.name, channel=user.channel)
        async with harness:
            runner = _Runner(self, index, harness, result, remote=remote is not None)
            try:
                await runner.run(case)
            except RemoteSkip as skip:
                result.skipped = f"{runner.where}: {skip}"
            except _Failed as failed:
                result.passed = False
                result.failure = str(failed)
            except FlowRuntimeError as error:
                result.passed = False
                result.failure = f"{runner.where}: the flow failed: {error}"
        return result


class _Failed(Exception):
    pass


class _Runner:
    def __init__(
        self, suite: _Suite, index: int, harness: Any, result: FlowTestResult, *, remote: bool
    ) -> None:
        self.remote = remote
        self.suite = suite
        self.index = index
        self.harness = harness
        self.result = result
        self.pending: deque[BotMessage] = deque()
        self.error: str | None = None
        self.error_at: Position = suite.source.position(("tests", index))
        self.where: Position = suite.source.position(("tests", index))

    def fail(self, message: str) -> _Failed:
        return _Failed(f"{self.where}: {message}")

    def unexpected_error(self) -> _Failed:
        # Reported at the step that failed, not at the one that found it unexpected.
        self.where = self.error_at
        return self.fail(f"the flow failed: {self.error} (add an error: step if expected)")

    async def run(self, case: TestCase) -> None:
        for number, step in enumerate(case.steps):
            self.where = self.suite.source.position(("tests", self.index, "steps", number))
            await self.step(step)
        self.where = self.suite.source.position(("tests", self.index, "steps", len(case.steps) - 1))
        if self.error is not None:
            raise self.unexpected_error()
        self.expect_nothing_pending("at the end of the test")

    def expect_nothing_pending(self, when: str) -> None:
        if self.pending:
            extra = self.pending[0]
            origin = f" (from {extra.origin})" if extra.origin else ""
            raise self.fail(
                f"the bot also said {extra.describe()!r}{origin} {when}; add a bot: step for it"
            )

    def heard(self, messages: list[BotMessage]) -> None:
        self.pending.extend(messages)
        self.result.transcript.extend(f"bot: {m.describe()}" for m in messages)

    async def step(self, step: Step) -> None:
        kind = step.kind
        harness = self.harness
        if self.error is not None and kind != "error":
            raise self.unexpected_error()
        if kind in _USER_ACTIONS:
            self.expect_nothing_pending("before this step")
        if kind == "user":
            assert step.user is not None
            self.result.transcript.append(f"user: {step.user}")
            await self.act(harness.say(step.user))
        elif kind == "user_media":
            media = dict(step.user_media or {})
            media.setdefault("type", "image")
            self.result.transcript.append(f"user: [{media['type']}]")
            await self.act(harness.send(harness.message(media=media)))
        elif kind == "user_location":
            self.result.transcript.append("user: [location]")
            await self.act(harness.send(harness.message(location=step.user_location)))
        elif kind == "otp":
            await self.otp(step.otp or "correct")
        elif kind == "wait":
            assert step.wait is not None
            self.result.transcript.append(f"(wait {step.wait:g}s)")
            await self.act(harness.wait(step.wait))
        elif kind == "status":
            assert step.status is not None
            await self.act(harness.report(step.status))
        elif kind == "start":
            options = dict(step.start or {})
            self.result.transcript.append(f"(started from outside with {options})")
            await self.act(harness.start(options.get("vars"), restart=bool(options.get("restart"))))
        elif kind == "error":
            assert step.error is not None
            if self.remote:
                raise RemoteSkip("a deployed bot's failures are in its log, out of a test's sight")
            if self.error is None or step.error not in self.error:
                raise self.fail(f"expected an error about {step.error!r}, got {self.error!r}")
            self.error = None
        elif kind == "undeliverable":
            assert step.undeliverable is not None
            harness.make_undeliverable(step.undeliverable)
        elif kind == "bot":
            assert step.bot is not None
            self.bot(step.bot)
        elif kind == "state":
            actual, _ = await harness.snapshot()
            if actual != step.state:
                raise self.fail(f"expected state {step.state!r}, the conversation is in {actual!r}")
        elif kind == "vars":
            _, variables = await harness.snapshot()
            for name, expected in (step.vars or {}).items():
                actual = variables.get(name, "<unset>")
                if actual != expected:
                    raise self.fail(f"expected vars.{name} = {expected!r}, it is {actual!r}")

    async def otp(self, how: str) -> None:
        code = self.harness.otp_code()
        if inspect.isawaitable(code):
            code = await code
        if code is None:
            raise self.fail("otp: the conversation is not waiting for an OTP code")
        if how == "resend":
            typed = "resend"
        elif how == "correct":
            typed = code
        else:
            typed = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
        self.result.transcript.append(f"user: {typed} (otp {how})")
        await self.act(self.harness.say(typed))

    async def act(self, action: Awaitable[list[BotMessage]]) -> None:
        """Run a user's (or the clock's) step and hear the bot's answer. A failure of the flow
        is kept for an ``error:`` step, and what the bot said anyway (its ``on_error``) is
        heard, for ``bot:`` steps after it."""
        before = len(self.harness.transcript())
        try:
            self.heard(await action)
        except FlowRuntimeError as error:
            self.error, self.error_at = str(error), self.where
            self.heard(list(self.harness.transcript()[before:]))

    def bot(self, expected: BotExpectation) -> None:
        if not self.pending:
            raise self.fail(f"expected the bot to say {_describe(expected)}, but it said nothing")
        message = self.pending.popleft()
        if self.remote:  # replies come back on tyntecEcho, whatever channel the flow names
            expected = expected.model_copy(update={"channel": None})
        problem = _compare(expected, message)
        if problem:
            origin = f" (sent by {message.origin})" if message.origin else ""
            raise self.fail(f"{problem}{origin}")


def _describe(expected: BotExpectation) -> str:
    for kind in ("text", "regex", "template", "media", "location", "url"):
        value = getattr(expected, kind)
        if value is not None:
            return repr(value) if kind == "text" else f"{kind} {value!r}"
    return "something"


def _compare(expected: BotExpectation, message: BotMessage) -> str | None:
    said = message.describe()
    content = message.content
    kind = content.get("contentType")
    if expected.channel is not None and message.channels[0] != expected.channel:
        return f"expected a message on {expected.channel}, it was sent on {message.channels[0]}"
    if expected.text is not None and (kind != "text" or content.get("text") != expected.text):
        return f"expected the bot to say {expected.text!r}, but it said {said!r}"
    if expected.regex is not None and not re.search(expected.regex, said):
        return (
            f"expected the bot to say something matching {expected.regex!r}, but it said {said!r}"
        )
    if expected.template is not None:
        if kind != "template" or content["template"]["templateId"] != expected.template:
            return f"expected template {expected.template!r}, but the bot said {said!r}"
        params = [p.get("default") for p in content["template"].get("parameters", [])]
        if expected.params is not None and params != expected.params:
            return f"expected template {expected.template!r} with {expected.params}, got {params}"
    if expected.media is not None and (
        kind != "media" or content["media"]["url"] != expected.media
    ):
        return f"expected media {expected.media!r}, but the bot said {said!r}"
    if expected.url is not None and expected.url not in said:
        return f"expected the link {expected.url!r}, but the bot said {said!r}"
    if expected.location is not None and (kind != "location" or expected.location not in said):
        return f"expected a location {expected.location!r}, but the bot said {said!r}"
    return None


def discover_flow_tests(paths: list[str | Path]) -> list[Path]:
    """Flow test files under ``paths`` (files as given, folders searched for ``*.test.yaml``)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.rglob("*.test.yaml")))
        else:
            found.append(path)
    return found


def collect_flow_tests(paths: list[str | Path]) -> list[FlowTest]:
    """Every test of every flow test file, for ``pytest.mark.parametrize``.

    Raises :class:`FlowError` when a file (or its flow) has problems.
    """
    tests: list[FlowTest] = []
    for path in discover_flow_tests(paths):
        tests.extend(_Suite(path).tests())
    return tests


async def run_flow_tests(paths: list[str | Path]) -> list[FlowTestResult]:
    """Run every flow test found under ``paths``, one after another."""
    return [await test.run() for test in collect_flow_tests(paths)]


def run_flow_tests_sync(paths: list[str | Path]) -> list[FlowTestResult]:
    return asyncio.run(run_flow_tests(paths))
