"""One FuzzCase through the oracle and the executors under test, via the Session interface.

wasmtime is the oracle for results, traps, exported globals and exported
memories; the reference interpreter is the oracle for traces (what a trace
executor emits is compared with its trace, record by record, and the
smallest attention margin is kept).  Every executor arrives configured
(``make_executor``); nothing here asks which one it holds, except to skip
comparing the reference interpreter's trace with itself.

Each call on each executor under test becomes a result row of
``reports.schema`` (suite "fuzz", file the case's name, line the call's
1-based index, line 0 the instantiation).  Statuses:

- pass; wrong_result (values, or a global or memory afterwards, differ);
  wrong_trap (one side trapped and the other did not, or the trap kinds
  differ); trace_divergence; harness_error (an executor raised something
  that is not an outcome);
- unsupported: the executor (or the oracle) declined the module or call;
- step_limit: *inconclusive* -- stack or resource exhaustion or a step
  limit on either side; implementation limits differ, so it is not a
  mismatch (the message says ``inconclusive(...)``).

An executor's call-stack exhaustion that comes with a trace and the
executor's call stack (a ``CellStack``, as the transformer gives) is
checked all the same: the trace oracle replays the case in a session of
its own and makes the call with that stack, so it exhausts where the
executor's limit says (the spec runner's mirror does the same).  Its
trace differs: trace_divergence; it does not exhaust: wrong_trap; equal
traces: pass when wasmtime exhausted too, else still inconclusive, with
"trace checked" in the message.  The states may differ after an
exhaustion (each engine stopped at its own depth), so the executor's later
calls are not compared.

After an executor's first non-pass call its later calls are not compared
(its state may differ from then on only as a consequence).
"""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

from harness.runner import invocation_of, text_matches
from harness.summary import trace_unchecked
from reference_model.errors import Exhaustion, ExecutorOutcome, MalformedOutput, StepLimit, Trap, Unsupported
from reference_model.trace import first_divergence
from reference_model.values import Value, is_nan

from ..executors.base import Executor, Invocation, Session, classify_near_tie, min_margin_of
from .case import Call, FuzzCase

# Trap kinds in the spec's wording, most specific first; a message belongs
# to the first kind it matches (harness.runner.text_matches: substring or alias).
TRAP_KINDS = (
    "unreachable", "integer divide by zero", "integer overflow", "invalid conversion to integer",
    "out of bounds memory access", "undefined element", "out of bounds table access", "uninitialized element",
    "indirect call type mismatch", "null function reference", "call stack exhausted",
)
# kinds that engines do not tell apart: wasmtime says "out of bounds table access"
# where the spec says "undefined element" (call_indirect past the table's end)
SAME_KIND = {"out of bounds table access": "undefined element"}
# wasmtime's own words that text_matches does not know
EXTRA_WORDS = {
    "indirect call to null": "uninitialized element",
    "misaligned memory access": "out of bounds memory access",
    "integer division by zero": "integer divide by zero",
}

FAILURES = ("wrong_result", "wrong_trap", "trace_divergence", "tie_break", "harness_error")


def trap_kind(message: str) -> str:
    """The spec wording of the trap a message reports (the message itself if no kind matches)."""
    for words, kind in EXTRA_WORDS.items():
        if words in message:
            return SAME_KIND.get(kind, kind)
    for kind in TRAP_KINDS:
        if text_matches(kind, message):
            return SAME_KIND.get(kind, kind)
    return message.strip()


@dataclass
class Observed:
    """What one executor did with one call (or with instantiation)."""

    kind: str  # "return", "trap", "inconclusive", "unsupported", "malformed" (no trace came out), "error"
    values: list[Value] = field(default_factory=list)
    message: str = ""
    invocation: Invocation | None = None
    trace: list | None = None  # the trace, for returns and for traps and exhaustions that carry one
    exhausted: bool = False  # an Exhaustion (call stack), not a step limit
    wall: float = 0.0  # seconds the executor took
    attention: Any = None  # what carries min_margin / near_tie (an Invocation or the executor's outcome)

    def text(self) -> str:
        if self.kind == "return":
            return " ".join(_show(v) for v in self.values) or "(none)"
        if self.kind == "trap":
            return f"trap: {trap_kind(self.message)}"
        return f"{self.kind}: {self.message}"


def _show(v: Value) -> str:
    if v.type in ("f32", "f64"):
        return f"{v.type}:nan" if is_nan(v) else f"{v.type}:{v.bits:#x}"
    return str(v)


def same_value(a: Value, b: Value) -> bool:
    """Bits equal; any NaN equals any NaN (smith canonicalises NaNs); references: null-ness equal."""
    if a.type != b.type:
        return False
    if a.type in ("f32", "f64"):
        return (is_nan(a) and is_nan(b)) or a.bits == b.bits
    if a.type in ("funcref", "externref"):
        return (a.bits is None) == (b.bits is None)
    return a.bits == b.bits


def _observe(action) -> tuple[Observed, Any]:
    """Run ``action()`` (an invoke or an instantiate); what happened, and what it returned."""
    t0 = time.perf_counter()
    try:
        result = action()
    except Unsupported as e:
        return Observed("unsupported", message=e.message, wall=time.perf_counter() - t0), None
    except Exhaustion as e:
        return Observed("inconclusive", message=f"Exhaustion: {e.message}", invocation=invocation_of(e), trace=e.trace,
                        exhausted=True, wall=time.perf_counter() - t0, attention=e), None
    except StepLimit as e:
        return Observed("inconclusive", message=f"StepLimit: {e.message}", wall=time.perf_counter() - t0), None
    except Trap as e:
        return Observed("trap", message=e.message, trace=e.trace, wall=time.perf_counter() - t0, attention=e), None
    except MalformedOutput as e:  # the model's output stopped being a trace: it left the reference
        return Observed("malformed", message=e.message, wall=time.perf_counter() - t0, attention=e), None
    except ExecutorOutcome as e:
        return Observed("error", message=f"{type(e).__name__}: {e.message}", wall=time.perf_counter() - t0,
                        attention=e), None
    except Exception as e:  # noqa: BLE001 - the executor broke: a harness_error row
        tb = traceback.extract_tb(e.__traceback__)
        where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
        return Observed("error", message=f"{type(e).__name__}: {e}{where}"[:500], wall=time.perf_counter() - t0), None
    wall = time.perf_counter() - t0
    if isinstance(result, Invocation):
        return Observed("return", values=list(result.values), invocation=result, trace=result.trace, wall=wall,
                        attention=result), result
    return Observed("return", message="instantiated", wall=wall), result


def verdict(oracle: Observed, actual: Observed) -> tuple[str, str]:
    """(status, message) of an executor's outcome against the oracle's, before state and traces."""
    if actual.kind == "unsupported":
        return "unsupported", actual.message
    if oracle.kind == "unsupported":
        return "unsupported", f"unsupported(oracle: {oracle.message})"
    if oracle.kind == "inconclusive" or actual.kind == "inconclusive":
        side = "wasmtime" if oracle.kind == "inconclusive" else "executor"
        message = oracle.message if oracle.kind == "inconclusive" else actual.message
        return "step_limit", f"inconclusive({side}: {message})"
    if actual.kind == "malformed":
        return "trace_divergence", actual.message
    if actual.kind == "error":
        return "harness_error", actual.message
    if oracle.kind == "error":
        return "harness_error", f"oracle: {oracle.message}"
    if oracle.kind == "return" and actual.kind == "return":
        ok = len(oracle.values) == len(actual.values) and all(map(same_value, oracle.values, actual.values))
        return ("pass", "") if ok else ("wrong_result", "")
    if oracle.kind == "trap" and actual.kind == "trap":
        if trap_kind(oracle.message) == trap_kind(actual.message):
            return "pass", ""
        return "wrong_trap", f"expected trap {trap_kind(oracle.message)!r}"
    return "wrong_trap", "expected a return" if oracle.kind == "return" else f"expected trap {trap_kind(oracle.message)!r}"


@dataclass
class Exports:
    """What a module exports, by kind (read with wasmtime)."""

    globals: list[str]
    memories: list[str]

    @classmethod
    def of(cls, engine: wasmtime.Engine, wasm: bytes) -> "Exports":
        module = wasmtime.Module(engine, wasm)
        g = [e.name for e in module.exports if isinstance(e.type, wasmtime.GlobalType)]
        m = [e.name for e in module.exports if isinstance(e.type, wasmtime.MemoryType)]
        return cls(g, m)


@dataclass
class CaseResult:
    """The rows of one case, with the seconds each executor spent on it."""

    case: FuzzCase
    rows: list[dict]
    seconds: dict[str, float]  # executor label -> seconds (instantiate + calls)

    @property
    def failures(self) -> list[dict]:
        return [r for r in self.rows if r["status"] in FAILURES]


def label(executor: Executor) -> str:
    """``name`` or ``name:config`` of a configured executor."""
    return executor.name if executor.config in ("default", "", None) else f"{executor.name}:{executor.config}"


def label_of_row(row: dict) -> str:
    """The executor label (as ``label``) of a result row."""
    config = row["config"]
    return row["executor"] if config in ("default", "", None) else f"{row['executor']}:{config}"


class Differential:
    """Runs cases on the oracle, the trace oracle and the targets; opens fresh sessions per case."""

    def __init__(self, targets: list[Executor], *, oracle: Executor | None = None,
                 trace_oracle: Executor | None = None, run_id: str = "", seed: int | None = None):
        from ..executors import make_executor
        from ..executors.wasmtime_exec import make_engine
        from ..run import RunSpec, base_row

        if not targets:
            raise ValueError("no executors to compare")
        self.targets = targets
        self.oracle = oracle or make_executor("wasmtime")
        needs_traces = any(t.traces and t.name != "reference" for t in targets)
        ref = next((t for t in targets if t.name == "reference" and t.traces), None)
        self.trace_oracle = trace_oracle or ref or (make_executor("reference") if needs_traces else None)
        self.base = [base_row(RunSpec(executor=t.name, config=t.config, suite="fuzz", run_id=run_id), t)
                     for t in targets]
        self.engine = make_engine()
        self.seed = seed

    def check(self, case: FuzzCase) -> CaseResult:
        """Run ``case`` everywhere; the rows for the targets and the time each executor spent."""
        exports = Exports.of(self.engine, case.wasm)
        runners = [self.oracle] + ([self.trace_oracle] if self.trace_oracle not in self.targets and
                                   self.trace_oracle is not None else []) + self.targets
        labels = [label(e) for e in runners]
        seconds = dict.fromkeys(labels, 0.0)
        sessions: list[Session] = [e.open_session() for e in runners]
        instances: list[Any] = [None] * len(runners)
        rows: list[dict] = []
        done = [False] * len(self.targets)  # a target's later calls are not compared after a non-pass
        try:
            inst: list[Observed] = []
            for k, s in enumerate(sessions):
                observed, instances[k] = _observe(lambda s=s: s.instantiate(case.wasm))
                inst.append(observed)
                seconds[labels[k]] += observed.wall
            first = len(runners) - len(self.targets)
            for j in range(len(self.targets)):
                status, message = verdict(inst[0], inst[first + j])
                if status == "pass" and instances[0] is not None:
                    status, message = self._state(case, exports, sessions, instances, 0, first + j, "instantiation")
                rows.append(self._row(j, case, 0, "module", "", inst[0], inst[first + j], status, message, None))
                done[j] = status != "pass"
            if instances[0] is None:
                return CaseResult(case, rows, seconds)
            trace_k = runners.index(self.trace_oracle) if self.trace_oracle is not None else None
            for n, call in enumerate(case.calls, start=1):
                if all(done):
                    break
                obs: list[Observed | None] = [None] * len(runners)
                for k, s in enumerate(sessions):
                    if k >= first and done[k - first] or instances[k] is None:
                        continue
                    obs[k], _ = _observe(lambda s=s, k=k: s.invoke(instances[k], call.export, list(call.args)))
                    seconds[labels[k]] += obs[k].wall
                for j in range(len(self.targets)):
                    k = first + j
                    if done[j] or obs[k] is None:
                        continue
                    status, message = verdict(obs[0], obs[k])
                    div = None
                    exhausted = status == "step_limit" and obs[k].exhausted and obs[k].trace is not None \
                        and getattr(obs[k].attention, "cells", None) is not None and self.trace_oracle is not None
                    if exhausted:
                        status, message, div = self._exhaustion(case, n, obs[0], obs[k], message)
                    elif status == "pass":
                        status, message = self._state(case, exports, sessions, instances, 0, k, f"call {n}")
                    if status == "pass" and not exhausted and trace_k is not None and k != trace_k and obs[k].trace is not None:
                        ref = obs[trace_k]
                        if ref is not None and ref.trace is not None:
                            div = first_divergence(ref.trace, obs[k].trace)
                            if div is not None:
                                status, message = "trace_divergence", f"first divergence at step {div.step} ({div.field})"
                        else:  # the values passed; say that nothing vouches for the trace
                            why = ("could not instantiate the module" if instances[trace_k] is None else
                                   f"gave no trace ({ref.kind}: {ref.message})" if ref is not None else "stopped earlier")
                            message = trace_unchecked(message, why, 300)
                    status, message = classify_near_tie(status, message, getattr(obs[k].attention, "near_tie", None),
                                                        div.step if div is not None else None)
                    kind = {"trap": "assert_trap", "inconclusive": "assert_exhaustion"}.get(obs[0].kind, "assert_return")
                    rows.append(self._row(j, case, n, kind, call, obs[0], obs[k], status, message, div))
                    done[j] = status != "pass" or exhausted
        except Exception as e:  # noqa: BLE001 - the harness broke on this case: rows, not a crash
            tb = traceback.extract_tb(e.__traceback__)
            where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
            broken = Observed("error", message=f"{type(e).__name__}: {e}{where}"[:500])
            for j in range(len(self.targets)):
                if not done[j]:
                    rows.append(self._row(j, case, 0, "module", "", broken, broken, "harness_error", broken.message, None))
        finally:
            for s in sessions:
                try:
                    s.close()
                except Exception:  # noqa: BLE001 - closing must not hide the result
                    pass
        return CaseResult(case, rows, seconds)

    def _exhaustion(self, case: FuzzCase, n: int, oracle: Observed, actual: Observed, message: str):
        """(status, message, divergence) of an executor's exhaustion at call n, against the trace oracle run with
        the executor's call stack (in a session of its own: the shared one already made the call its own way)."""
        session = self.trace_oracle.open_session()
        try:
            instance = session.instantiate(case.wasm)
            for call in case.calls[: n - 1]:  # every earlier call passed: the same state as the executor's
                try:
                    session.invoke(instance, call.export, list(call.args))
                except ExecutorOutcome:
                    pass
            call = case.calls[n - 1]
            try:
                session.invoke(instance, call.export, list(call.args), cells=actual.attention.cells)
            except Exhaustion as e:
                want = e.trace
            except ExecutorOutcome as e:
                return "wrong_trap", (f"exhaustion, where the trace oracle with the executor's call stack ended "
                                      f"in {type(e).__name__}: {e.message}")[:300], None
            else:
                return "wrong_trap", "exhaustion, where the trace oracle with the executor's call stack returned", None
        finally:
            session.close()
        if want is None:
            return "step_limit", message, None
        div = first_divergence(want, actual.trace)
        if div is not None:
            return "trace_divergence", f"first divergence at step {div.step} ({div.field}) of the exhaustion", div
        if oracle.exhausted:
            return "pass", "", None
        return "step_limit", f"{message}; trace checked: the reference's at the executor's call depth", None

    def _state(self, case, exports: Exports, sessions, instances, o: int, k: int, after: str) -> tuple[str, str]:
        """Compare exported globals and memories of executor k with the oracle's after a passing step."""
        for name in exports.globals:
            try:
                want = sessions[o].get(instances[o], name)
                got = sessions[k].get(instances[k], name)
            except Unsupported:
                continue
            except Exception as e:  # noqa: BLE001
                return "harness_error", f"reading global {name}: {type(e).__name__}: {e}"[:300]
            if not same_value(want, got):
                return "wrong_result", f"global {name} after {after}: expected {_show(want)}, got {_show(got)}"
        for name in exports.memories:
            try:
                want_m = sessions[o].memory(instances[o], name)
                got_m = sessions[k].memory(instances[k], name)
            except (NotImplementedError, Unsupported):
                continue
            if want_m != got_m:
                at = next((i for i, (a, b) in enumerate(zip(want_m, got_m)) if a != b), min(len(want_m), len(got_m)))
                return "wrong_result", (f"memory {name} after {after}: {len(want_m)} vs {len(got_m)} bytes, "
                                        f"first difference at byte {at}")
        return "pass", ""

    def _row(self, j: int, case: FuzzCase, line: int, kind: str, call: Call | str, oracle: Observed,
             actual: Observed, status: str, message: str, div) -> dict:
        inv = actual.invocation
        row = dict(self.base[j])
        row.update(
            file=case.name, line=line, kind=kind,
            export=call.export if isinstance(call, Call) else "",
            args=", ".join(str(a) for a in call.args) if isinstance(call, Call) else "",
            expected=oracle.text() if kind != "module" else oracle.kind,
            actual=actual.text() if kind != "module" else (actual.kind if actual.kind != "trap" else actual.text()),
            status=status, message=message,
            steps=inv.steps if inv is not None and inv.steps is not None else -1,
            tokens=inv.tokens if inv is not None and inv.tokens is not None else -1,
            wall_s=actual.wall,
            trace_hash=(inv.trace_hash or "") if inv is not None else "",
            min_margin=min_margin_of(actual.attention),
            div_step=div.step if div else -1, div_field=div.field if div else "",
            div_expected=div.expected[:200] if div else "", div_actual=div.actual[:200] if div else "",
        )
        versions = json.loads(row["versions"] or "{}")
        versions["fuzz"] = json.dumps({"generator": case.generator, "seed": self.seed})
        row["versions"] = json.dumps(versions, sort_keys=True)
        return row
