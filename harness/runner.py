"""Run one script's commands on one executor: a method per directive, a row per command.

The runner never asks which executor it holds.  A module's trap is the
module's doing and is compared with what the script expects; an exception
from the runner or executor themselves is a ``harness_error`` row, and the
script goes on with its next command.
"""
from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import wasmtime

from reference_model.errors import (
    Exhaustion,
    ExecutorOutcome,
    InstantiationTrap,
    LinkError,
    MalformedOutput,
    ModuleRejected,
    StepLimit,
    Trap,
    UncaughtException,
    Unsupported,
)
from reference_model.trace import first_divergence, trace_hash

from .executors.base import Executor, Invocation, Session, classify_near_tie, min_margin_of
from .expected import Expected, UnsupportedValue, format_values, parse_arg
from .summary import trace_unchecked
from .wast import Command, Script

# The spec's trap text (as assert_trap spells it) -> other wordings that mean the same trap.
# Engines word traps their own way; each alias here was seen from an oracle we trust.
TRAP_ALIASES: dict[str, tuple[str, ...]] = {
    "unreachable": ("wasm `unreachable` instruction executed",),
    "call stack exhausted": ("stack overflow",),
    "undefined element": ("out of bounds table access",),  # wasmtime: call_indirect past the table end
    "uninitialized element": ("uninitialized element",),
    "indirect call type mismatch": ("indirect call type mismatch", "wrong signature"),
    "integer overflow": ("integer overflow",),
    "null function or function signature mismatch": ("uninitialized element", "indirect call type mismatch"),
    "unknown import": ("unknown import",),
    "incompatible import type": ("incompatible import type", "types incompatible"),
    "out of bounds memory access": ("out of bounds memory access", "memory access out of bounds"),
    # wasmtime says "null reference" for every kind of null dereference
    "null function reference": ("null reference",),
    "null array reference": ("null reference",),
    "null structure reference": ("null reference",),
    "null i31 reference": ("null reference",),
    "null exception reference": ("null reference",),
    # the spec scripts append the element index; wasmtime does not
    "uninitialized element 2": ("uninitialized element",),
}


def text_matches(expected: str, actual: str) -> bool:
    """True if the actual message says what the script's text says (substring or alias)."""
    if expected in actual:
        return True
    return any(alias in actual for alias in TRAP_ALIASES.get(expected, ()))


@dataclass
class Outcome:
    """What one command produced, before it becomes a row."""

    status: str
    actual: str = ""
    message: str = ""
    invocation: Invocation | None = None
    divergence: Any = None


class _Unavailable:
    """Stands in for a module that could not be instantiated; actions on it cannot run."""

    def __init__(self, status: str, reason: str):
        self.status, self.reason = status, reason


@dataclass
class ScriptRunner:
    """Runs a Script's commands in order on a fresh session; ``rows()`` yields one dict per command.

    ``oracle``, when given, is a trace executor (the reference interpreter)
    that mirrors every command; invocations whose results pass are then
    compared with its trace record by record.
    """

    script: Script
    executor: Executor
    base_row: dict
    oracle: Executor | None = None
    trace_sink: Callable[[Command, Invocation], None] | None = None
    instances: dict[str | None, Any] = field(default_factory=dict)
    definitions: dict[str, bytes] = field(default_factory=dict)
    # registered names whose module the executor declined: importing from them is unsupported too
    unsupported_names: dict[str, str] = field(default_factory=dict)

    def rows(self) -> Iterator[dict]:
        self.session: Session = self.executor.open_session()
        self.mirror: Session | None = self.oracle.open_session() if self.oracle else None
        self.mirror_instances: dict[str | None, Any] = {}
        try:
            for cmd in self.script.commands:
                start = time.perf_counter()
                self._attention = None  # the command's invocation or outcome, for its attention margins
                handler = getattr(self, cmd.kind, None)
                try:
                    if handler is None:
                        outcome = Outcome("harness_error", message=f"unknown directive {cmd.kind}")
                    else:
                        outcome = handler(cmd)
                except UnsupportedValue as e:
                    outcome = Outcome("unsupported", message=f"unsupported(harness: {e})")
                except Exception as e:  # the runner or executor broke: a row, not a crash
                    tb = traceback.extract_tb(e.__traceback__)
                    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
                    outcome = Outcome("harness_error", message=f"{type(e).__name__}: {e}{where}"[:500])
                yield self._row(cmd, with_near_tie(outcome, self._attention), time.perf_counter() - start)
        finally:
            self.session.close()
            if self.mirror:
                self.mirror.close()

    # --- rows -------------------------------------------------------------------
    def _row(self, cmd: Command, o: Outcome, wall: float) -> dict:
        action = cmd.action or {}
        row = dict(self.base_row)
        inv = o.invocation
        row.update(
            file=self.script.name,
            line=cmd.line,
            kind=cmd.kind,
            export=action.get("field", ""),
            args=_args_text(action.get("args", [])),
            expected=_expected_text(cmd),
            actual=o.actual,
            status=o.status,
            message=o.message,
            steps=inv.steps if inv and inv.steps is not None else -1,
            tokens=inv.tokens if inv and inv.tokens is not None else -1,
            wall_s=wall,
            trace_hash=(inv.trace_hash or "") if inv else "",
            min_margin=min_margin_of(inv, self._attention),
            div_step=o.divergence.step if o.divergence else -1,
            div_field=o.divergence.field if o.divergence else "",
            div_expected=o.divergence.expected[:200] if o.divergence else "",
            div_actual=o.divergence.actual[:200] if o.divergence else "",
        )
        return row

    # --- modules ------------------------------------------------------------------
    def _binary(self, cmd: Command) -> bytes:
        data = cmd.module_bytes()
        if cmd.raw.get("module_type") == "text":
            data = wasmtime.wat2wasm(data.decode("utf-8"))
        return data

    def _instantiate(self, wasm: bytes, name: str | None) -> Outcome:
        try:
            inst = self.session.instantiate(wasm)
            outcome = Outcome("pass", actual="instantiated")
        except LinkError as e:
            declined = self._imports_declined(wasm)
            if declined:
                inst, outcome = _Unavailable("unsupported", declined), Outcome("unsupported", message=declined)
            else:
                reason = f"valid module not instantiated: LinkError: {e.message}"
                inst, outcome = _Unavailable("wrong_result", reason), Outcome("wrong_result", actual="LinkError", message=reason)
        except Unsupported as e:
            inst, outcome = _Unavailable("unsupported", e.message), Outcome("unsupported", message=e.message)
        except ExecutorOutcome as e:
            reason = f"valid module not instantiated: {type(e).__name__}: {e.message}"
            inst, outcome = _Unavailable("wrong_result", reason), Outcome("wrong_result", actual=type(e).__name__, message=reason)
        self.instances[None] = inst
        if name:
            self.instances[name] = inst
        if self.mirror:
            try:
                m = self.mirror.instantiate(wasm)
            except ExecutorOutcome as e:
                m = _Unavailable("unsupported", e.message)
            self.mirror_instances[None] = m
            if name:
                self.mirror_instances[name] = m
        return outcome

    def module(self, cmd: Command) -> Outcome:
        return self._instantiate(self._binary(cmd), cmd.raw.get("name"))

    def module_definition(self, cmd: Command) -> Outcome:
        wasm = self._binary(cmd)
        self.session.validate(wasm)
        if cmd.raw.get("name"):
            self.definitions[cmd.raw["name"]] = wasm
        return Outcome("pass", actual="valid")

    def module_instance(self, cmd: Command) -> Outcome:
        wasm = self.definitions[cmd.raw["module"]]
        return self._instantiate(wasm, cmd.raw.get("instance"))

    def _imports_declined(self, wasm: bytes) -> str:
        """The unsupported(...) reason if the module imports from a registered module the executor declined."""
        from .executors.signatures import import_modules

        for name in sorted(import_modules(wasm) & set(self.unsupported_names)):
            return self.unsupported_names[name]
        return ""

    def register(self, cmd: Command) -> Outcome:
        inst = self.instances.get(cmd.raw.get("name"))
        if isinstance(inst, _Unavailable) and inst.status == "unsupported":
            self.unsupported_names[cmd.raw["as"]] = inst.reason
        else:
            self.unsupported_names.pop(cmd.raw["as"], None)
        if isinstance(inst, _Unavailable):
            return Outcome(inst.status, message=inst.reason)
        self.session.register(cmd.raw["as"], inst)
        if self.mirror:
            m = self.mirror_instances.get(cmd.raw.get("name"))
            if not isinstance(m, _Unavailable):
                self.mirror.register(cmd.raw["as"], m)
        return Outcome("pass")

    def _expect_rejected(self, cmd: Command, stage: str) -> Outcome:
        """assert_invalid / assert_malformed: the module must not decode or validate."""
        data = cmd.module_bytes()
        if cmd.raw.get("module_type") == "text":
            try:
                data = wasmtime.wat2wasm(data.decode("utf-8", "replace"))
            except wasmtime.WasmtimeError as e:
                return Outcome("pass", actual="malformed text", message=str(e).splitlines()[0][:200])
        try:
            self.session.validate(data)
        except ModuleRejected as e:
            return Outcome("pass", actual="rejected", message=e.message[:200])
        except Unsupported as e:
            return Outcome("unsupported", message=e.message)
        return Outcome("wrong_result", actual="module accepted", message=f"expected {stage}: {cmd.raw.get('text')}")

    def assert_invalid(self, cmd: Command) -> Outcome:
        return self._expect_rejected(cmd, "invalid")

    def assert_malformed(self, cmd: Command) -> Outcome:
        return self._expect_rejected(cmd, "malformed")

    def _expect_failed_instantiation(self, cmd: Command, wanted: type) -> Outcome:
        wasm = self._binary(cmd)
        if self.mirror:  # a module that traps at instantiation keeps the segments it wrote before: so must the mirror
            try:
                self.mirror.instantiate(wasm)
            except ExecutorOutcome:
                pass
        text = cmd.raw.get("text", "")
        try:
            self.session.instantiate(wasm)
        except Unsupported as e:
            return Outcome("unsupported", message=e.message)
        except LinkError as e:
            declined = self._imports_declined(wasm)
            if declined:
                return Outcome("unsupported", message=declined)
            if wanted is LinkError and text_matches(text, e.message):
                return Outcome("pass", actual=e.message[:200])
            return Outcome("wrong_trap", actual=f"LinkError: {e.message}"[:200], message=f"expected {text!r}")
        except wanted as e:
            if text_matches(text, e.message):
                return Outcome("pass", actual=e.message[:200])
            return Outcome("wrong_trap", actual=e.message[:200], message=f"expected {text!r}")
        except ExecutorOutcome as e:
            return Outcome("wrong_trap", actual=f"{type(e).__name__}: {e.message}"[:200], message=f"expected {text!r}")
        return Outcome("wrong_result", actual="instantiated", message=f"expected failure: {text}")

    def assert_unlinkable(self, cmd: Command) -> Outcome:
        return self._expect_failed_instantiation(cmd, LinkError)

    def assert_uninstantiable(self, cmd: Command) -> Outcome:
        return self._expect_failed_instantiation(cmd, InstantiationTrap)

    # --- actions --------------------------------------------------------------------
    def _perform(self, action: dict) -> Invocation:
        inst = self.instances.get(action.get("module"))
        if isinstance(inst, _Unavailable):
            if inst.status == "unsupported":
                raise Unsupported(inst.reason.removeprefix("unsupported(").removesuffix(")"))
            raise _ModuleUnavailable(inst.reason)
        if inst is None:
            raise LookupError(f"no module {action.get('module') or '(current)'} instantiated")
        if action["type"] == "get":
            return Invocation(values=[self.session.get(inst, action["field"])])
        args = [parse_arg(a) for a in action.get("args", [])]
        return self.session.invoke(inst, action["field"], args)

    def _run_action(self, cmd: Command) -> tuple[Invocation | None, ExecutorOutcome | None]:
        try:
            inv = self._perform(cmd.action)
            self._attention = inv
            return inv, None
        except _ModuleUnavailable as e:
            raise e
        except ExecutorOutcome as e:
            self._attention = e
            return None, e

    def _traced(self, cmd: Command, inv: Invocation, outcome: Outcome) -> Outcome:
        """Compare a passing invocation's trace with the oracle's; keep the trace if asked."""
        if self.trace_sink and inv.trace is not None:
            self.trace_sink(cmd, inv)
        if outcome.status != "pass" or not self.mirror or inv.trace is None:
            return outcome
        action = cmd.action
        m = self.mirror_instances.get(action.get("module"))

        def unchecked(why: str) -> Outcome:  # the values passed; say that nothing vouches for the trace
            return dataclasses.replace(outcome, message=trace_unchecked(outcome.message, why, 200))

        if isinstance(m, _Unavailable):
            return unchecked(f"could not instantiate the module ({m.reason})")
        if m is None or action["type"] != "invoke":
            return unchecked("has no instance of the module")
        args = [parse_arg(a) for a in action.get("args", [])]
        try:  # on the executor's call stack, when it tells its size: the spec leaves that to the implementation
            ref = self.mirror.invoke(m, action["field"], args, **({"cells": inv.cells} if inv.cells else {}))
        except ExecutorOutcome as e:
            ref = invocation_of(e)
            if ref is None:
                return unchecked(f"gave no trace ({type(e).__name__}: {e.message})")
        if ref.trace is None:
            return unchecked("gave no trace")
        div = first_divergence(ref.trace, inv.trace)
        if div is not None:
            return Outcome("trace_divergence", actual=outcome.actual, invocation=inv, divergence=div,
                           message=f"first divergence at step {div.step} ({div.field})")
        return outcome

    def action(self, cmd: Command) -> Outcome:
        return self._returning(cmd, None, "action trapped")

    def assert_return(self, cmd: Command) -> Outcome:
        return self._returning(cmd, [Expected(e) for e in cmd.raw.get("expected", [])], "expected a return")

    def _returning(self, cmd: Command, expected: list[Expected] | None, trap_note: str) -> Outcome:
        """A command that must return: with ``expected`` None any results pass (a bare action)."""
        try:
            inv, err = self._run_action(cmd)
        except _ModuleUnavailable as e:
            return Outcome("wrong_result", message=str(e))
        if err is not None:
            out = _outcome_of_error(err)
            if out.status == "trapped":
                return Outcome("wrong_trap", actual=out.actual, message=trap_note)
            return out
        if expected is None:
            return self._traced(cmd, inv, Outcome("pass", actual=format_values(inv.values), invocation=inv))
        actual = format_values(inv.values)
        ok = len(inv.values) == len(expected) and all(e.matches(v) for e, v in zip(expected, inv.values))
        if not ok:
            return Outcome("wrong_result", actual=actual, invocation=inv)
        return self._traced(cmd, inv, Outcome("pass", actual=actual, invocation=inv))

    def _assert_failure(self, cmd: Command, wanted: type, what: str) -> Outcome:
        text = cmd.raw.get("text", "")
        try:
            inv, err = self._run_action(cmd)
        except _ModuleUnavailable as e:
            return Outcome("wrong_result", message=str(e))
        if err is None:
            return Outcome("wrong_trap", actual=format_values(inv.values), invocation=inv, message=f"expected {what} {text!r}")
        if isinstance(err, (Unsupported, StepLimit, MalformedOutput)):
            return _outcome_of_error(err)
        if isinstance(err, wanted) and (not text or text_matches(text, err.message)):
            inv = invocation_of(err)
            out = Outcome("pass", actual=err.message[:200], invocation=inv)
            return self._traced(cmd, inv, out) if inv is not None else out
        return Outcome("wrong_trap", actual=f"{type(err).__name__}: {err.message}"[:200], message=f"expected {what} {text!r}")

    def assert_trap(self, cmd: Command) -> Outcome:
        if "action" not in cmd.raw:  # old-style assert_trap on a module
            return self._expect_failed_instantiation(cmd, InstantiationTrap)
        return self._assert_failure(cmd, Trap, "trap")

    def assert_exhaustion(self, cmd: Command) -> Outcome:
        return self._assert_failure(cmd, Exhaustion, "exhaustion")

    def assert_exception(self, cmd: Command) -> Outcome:
        return self._assert_failure(cmd, UncaughtException, "exception")


class _ModuleUnavailable(Exception):
    pass


def invocation_of(err: ExecutorOutcome) -> Invocation | None:
    """The partial trace a trace executor attached to a trap or exhaustion, as an Invocation."""
    if err.trace is None:
        return None
    return Invocation(values=[], steps=err.steps if err.steps is not None else len(err.trace),
                      trace=err.trace, trace_hash=trace_hash(err.trace), min_margin=err.min_margin,
                      near_tie=err.near_tie, cells=err.cells)


def with_near_tie(outcome: Outcome, attention) -> Outcome:
    """``outcome`` as tie_break when a look-up head won by a near tie in the run that went wrong.

    A failing transformer row whose run had a near tie (harness.executors.base.NearTie)
    at or before the first divergence (if known) is a tie_break: the head's
    choice was decided by rounding.  A passing row with a near tie stays
    pass, with the tie in its message: a latent risk the report lists.
    """
    tie = getattr(attention, "near_tie", None)
    div = outcome.divergence
    status, message = classify_near_tie(outcome.status, outcome.message, tie, div.step if div is not None else None)
    if (status, message) == (outcome.status, outcome.message):
        return outcome
    return dataclasses.replace(outcome, status=status, message=message)


def _outcome_of_error(err: ExecutorOutcome) -> Outcome:
    if isinstance(err, Unsupported):
        return Outcome("unsupported", message=err.message)
    if isinstance(err, StepLimit):
        return Outcome("step_limit", message=err.message)
    if isinstance(err, MalformedOutput):  # the model's output stopped being a trace: it left the reference
        return Outcome("trace_divergence", actual="no trace", message=err.message)
    return Outcome("trapped", actual=f"{type(err).__name__}: {err.message}"[:200])


def _args_text(args: list[dict]) -> str:
    out = []
    for a in args:
        try:
            out.append(str(parse_arg(a)))
        except UnsupportedValue:
            out.append(f"{a.get('type')}:{a.get('value')}")
    return ", ".join(out)


def _expected_text(cmd: Command) -> str:
    if "expected" in cmd.raw:
        try:
            return format_values(Expected(e) for e in cmd.raw["expected"])
        except (KeyError, ValueError, UnsupportedValue):
            return str(cmd.raw["expected"])[:200]
    return cmd.raw.get("text", "")
