"""Differential fuzzing of the reference interpreter against wasmtime on wasm-smith modules.

A thin layer over ``harness.fuzz`` kept for its callers
(tests/test_interpreter_smith.py, benchmarks/bench_smith_diff.py): the smith
flags, edge values and the comparison itself (results, trap kinds,
exported globals and memories after every call, via the Session
interface) live there.  ``diff_module`` draws the arguments with a seeded
``random.Random`` instead of hypothesis and reports the first difference
as a ``Mismatch``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache

from reference_model.values import MASK, Value

from .fuzz.case import Call, FuzzCase
from .fuzz.compare import Differential
from .fuzz.generate import EDGE_FLOATS, EDGE_INTS, SMITH_FLAGS, _float_bits, function_exports, smith, wasm_tools

__all__ = ["SMITH_FLAGS", "Mismatch", "DiffReport", "diff_module", "diff_bytes", "smith", "wasm_tools"]


@dataclass
class Mismatch:
    """One difference between the engines."""

    where: str  # "instantiate", "call <export>"
    args: list
    reference: str
    wasmtime: str
    message: str = ""  # e.g. "global g after call 2: expected ..., got ..."


@dataclass
class DiffReport:
    calls: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    skipped: str | None = None  # why the module was not compared, if it was not


def _arg(t: str, rng: random.Random) -> Value:
    """One edge-biased argument of type ``t`` (references are null)."""
    if t in EDGE_INTS:
        return Value(t, rng.choice(EDGE_INTS[t]) if rng.random() < 0.8 else rng.getrandbits(32 if t == "i32" else 64))
    if t in ("f32", "f64"):
        return Value(t, _float_bits(t, rng.choice(EDGE_FLOATS)))
    if t == "v128":
        return Value(t, 0 if rng.random() < 0.5 else rng.getrandbits(128) & MASK["v128"])
    return Value(t, None)


@lru_cache(maxsize=4)
def _differential(max_depth: int) -> Differential:
    from .executors import make_executor

    return Differential([make_executor("reference", max_depth=max_depth)])


def diff_module(wasm: bytes, *, seed: int = 0, calls_per_export: int = 3, max_depth: int = 10000) -> DiffReport:
    """Run ``wasm`` on wasmtime and on the reference interpreter; the differences found."""
    rng = random.Random(seed)
    calls = tuple(Call(name, tuple(_arg(t, rng) for t in params))
                  for name, params in function_exports(wasm) for _ in range(calls_per_export))
    rows = _differential(max_depth).check(FuzzCase("smith", wasm, calls)).rows
    report = DiffReport(calls=sum(1 for r in rows if r["kind"] != "module"))
    for r in rows:
        if r["status"] == "unsupported":
            report.skipped = f"reference declined: {r['message']}"
        elif r["status"] == "step_limit":
            report.skipped = "stack depths differ (implementation limits)" if "exhaust" in r["message"] \
                else f"inconclusive: {r['message']}"
        elif r["status"] != "pass":
            where = "instantiate" if r["kind"] == "module" else f"call {r['export']}"
            args = [a for a in str(r["args"]).split(", ") if a]
            report.mismatches.append(Mismatch(where, args, r["actual"], r["expected"], r["message"]))
    return report


def diff_bytes(data: bytes, *, seed: int = 0) -> DiffReport:
    """``diff_module`` of the module smith makes from ``data`` (skipped if smith declines)."""
    wasm = smith(data)
    if wasm is None:
        return DiffReport(skipped="smith declined the bytes")
    return diff_module(wasm, seed=seed)


