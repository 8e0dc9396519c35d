"""Differential fuzzing of the reference interpreter against wasmtime on wasm-smith modules.

``smith(data)`` turns arbitrary bytes into a module with ``wasm-tools
smith``, restricted to what the interpreter runs (no SIMD, GC,
exceptions, tail calls, memory64, threads, multi-memory; NaNs
canonicalised, termination ensured, small memories).  ``diff_module``
instantiates it in both engines, calls every exported function with
edge-biased arguments, and after each call compares the results (or the
trap), every exported global and every exported memory's bytes.

Floats cross wasmtime's Python API as Python floats, which cannot carry
signalling-NaN payloads: arguments are therefore drawn from values that
round-trip exactly, and float results compare by bits except that any NaN
equals any NaN (smith's NaN canonicalisation makes payloads moot anyway).
Modules whose signatures use v128 are never generated (calling such a
function through wasmtime-py aborts the process).
"""
from __future__ import annotations

import math
import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

from reference_model.errors import ExecutorOutcome, Exhaustion, Trap
from reference_model.interpreter import Func, Global, Memory, Store, invoke, load
from reference_model.values import Value

SMITH_FLAGS = (
    "--simd-enabled", "false", "--relaxed-simd-enabled", "false", "--gc-enabled", "false",
    "--exceptions-enabled", "false", "--tail-call-enabled", "false", "--memory64-enabled", "false",
    "--threads-enabled", "false", "--max-memories", "1", "--wide-arithmetic-enabled", "false",
    "--custom-page-sizes-enabled", "false", "--shared-everything-threads-enabled", "false",
    "--custom-descriptors-enabled", "false",
    "--canonicalize-nans", "true", "--ensure-termination", "--max-imports", "0",
    "--export-everything", "true", "--max-memory32-bytes", "655360", "--max-table-elements", "1000",
    "--max-instructions", "200", "--min-funcs", "2",
)

EDGE_INTS = {
    "i32": [0, 1, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 2, 0xFFFFFFFE, 31, 32, 65536],
    "i64": [0, 1, 0xFFFFFFFFFFFFFFFF, 1 << 63, (1 << 63) - 1, 2, 63, 64, 0xFFFFFFFF],
}
EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 0.5, -1.5, 2.0 ** 31, 1e30, 3.0]

# wasmtime trap codes -> the spec's trap messages; "undefined element" and
# "out of bounds table access" are one class (wasmtime names both the latter)
_TRAP_CODES = {
    "MEMORY_OUT_OF_BOUNDS": "out of bounds memory access",
    "HEAP_MISALIGNED": "out of bounds memory access",
    "TABLE_OUT_OF_BOUNDS": "out of bounds table access",
    "INDIRECT_CALL_TO_NULL": "uninitialized element",
    "BAD_SIGNATURE": "indirect call type mismatch",
    "INTEGER_OVERFLOW": "integer overflow",
    "INTEGER_DIVISION_BY_ZERO": "integer divide by zero",
    "BAD_CONVERSION_TO_INTEGER": "invalid conversion to integer",
    "UNREACHABLE": "unreachable",
    "STACK_OVERFLOW": "call stack exhausted",
}
_SAME_TRAP = {"undefined element": "out of bounds table access"}


def wasm_tools() -> str:
    """Path of the wasm-tools binary next to this Python, else on PATH."""
    exe = Path(sys.executable).with_name("wasm-tools")
    return str(exe) if exe.exists() else (shutil.which("wasm-tools") or "wasm-tools")


def smith(data: bytes, extra_flags: tuple[str, ...] = ()) -> bytes | None:
    """A module wasm-smith builds from ``data``, or None when smith declines the bytes."""
    proc = subprocess.run([wasm_tools(), "smith", *SMITH_FLAGS, *extra_flags], input=data,
                          capture_output=True)
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


@dataclass
class Mismatch:
    """One difference between the engines."""

    where: str  # "instantiate", "call <export>", "global <name>", "memory <name>"
    args: list
    reference: str
    wasmtime: str


@dataclass
class DiffReport:
    calls: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    skipped: str | None = None  # why the module was not compared, if it was not


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _arg(t: str, rng: random.Random):
    """(python value for wasmtime, Value for the interpreter) of one edge-biased argument."""
    if t in EDGE_INTS:
        bits = rng.choice(EDGE_INTS[t]) if rng.random() < 0.8 else rng.getrandbits(32 if t == "i32" else 64)
        width = 32 if t == "i32" else 64
        signed = bits - (1 << width) if bits >> (width - 1) else bits
        return signed, Value(t, bits)
    if t in ("f32", "f64"):
        x = rng.choice(EDGE_FLOATS)
        if math.isnan(x):
            bits = 0x7FC00000 if t == "f32" else 0x7FF8000000000000
        else:
            bits = _f32_bits(x) if t == "f32" else _f64_bits(x)
        return x, Value(t, bits)
    return None, Value(t, None)  # references: null


def _norm_trap(message: str) -> str:
    return _SAME_TRAP.get(message, message)


def _show_wasmtime(t: str, v) -> str:
    if t in ("i32", "i64"):
        return f"{t}:{v & ((1 << (32 if t == 'i32' else 64)) - 1)}"
    if t in ("f32", "f64"):
        if isinstance(v, float) and math.isnan(v):
            return f"{t}:nan"
        return f"{t}:{_f32_bits(v) if t == 'f32' else _f64_bits(v):#x}"
    if isinstance(v, wasmtime.Val):  # wasmtime-py wraps null references read from globals
        v = v.value
    return f"{t}:{'null' if v is None else 'ref'}"


def _show_reference(v: Value) -> str:
    t = v.type
    if t in ("i32", "i64"):
        return f"{t}:{v.bits}"
    if t in ("f32", "f64"):
        exp = 0x7F800000 if t == "f32" else 0x7FF0000000000000
        frac = 0x7FFFFF if t == "f32" else 0xFFFFFFFFFFFFF
        if v.bits & exp == exp and v.bits & frac:
            return f"{t}:nan"
        return f"{t}:{v.bits:#x}"
    return f"{t}:{'null' if v.bits is None else 'ref'}"


def _wasmtime_trap(e: Exception) -> str:
    code = getattr(e, "trap_code", None)
    name = getattr(code, "name", None)
    if name in _TRAP_CODES:
        return "trap " + _TRAP_CODES[name]
    return "trap " + (str(e).strip().splitlines() or ["?"])[0]


def _engine_config() -> wasmtime.Config:
    cfg = wasmtime.Config()
    cfg.wasm_bulk_memory = True
    cfg.wasm_reference_types = True
    cfg.wasm_multi_value = True
    return cfg


_ENGINE: wasmtime.Engine | None = None


def diff_module(wasm: bytes, *, seed: int = 0, calls_per_export: int = 3, max_depth: int = 10000) -> DiffReport:
    """Run ``wasm`` on wasmtime and on the reference interpreter; the differences found."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = wasmtime.Engine(_engine_config())
    report = DiffReport()
    try:
        module = load(wasm)
    except ExecutorOutcome as e:
        report.skipped = f"reference declined: {e.message}"
        return report
    rng = random.Random(seed)

    # --- instantiate both
    wt_store = wasmtime.Store(_ENGINE)
    try:
        wt_module = wasmtime.Module(_ENGINE, wasm)
    except Exception as e:  # noqa: BLE001 - wasmtime rejected what the reference accepted
        report.mismatches.append(Mismatch("compile", [], "accepted", f"rejected: {e}"))
        return report
    store = Store(max_depth=max_depth)
    try:
        wt_inst = wasmtime.Instance(wt_store, wt_module, [])
        wt_out = "ok"
    except wasmtime.Trap as e:
        wt_inst, wt_out = None, _wasmtime_trap(e)
    except Exception as e:  # noqa: BLE001
        wt_inst, wt_out = None, f"error {type(e).__name__}"
    try:
        inst = store.instantiate(module, lambda m, n: None)
        ref_out = "ok"
    except Exhaustion as e:
        inst, ref_out = None, f"trap {e.message}"
    except Trap as e:
        inst, ref_out = None, f"trap {_norm_trap(e.message)}"
    except ExecutorOutcome as e:
        inst, ref_out = None, f"error {type(e).__name__}"
    if wt_out != ref_out:
        report.mismatches.append(Mismatch("instantiate", [], ref_out, wt_out))
    if inst is None or wt_inst is None:
        return report
    wt_exports = wt_inst.exports(wt_store)

    def compare_state(after: str) -> None:
        for name, ext in inst.exports.items():
            other = wt_exports[name]
            if isinstance(ext, Global):
                ref = _show_reference(Value(ext.type.type, ext.value))
                wt = _show_wasmtime(ext.type.type, other.value(wt_store))
                if ref != wt:
                    report.mismatches.append(Mismatch(f"global {name} after {after}", [], ref, wt))
            elif isinstance(ext, Memory):
                wt_bytes = bytes(other.read(wt_store, 0, other.data_len(wt_store)))
                if wt_bytes != bytes(ext.data):
                    report.mismatches.append(Mismatch(f"memory {name} after {after}", [],
                                                      f"{len(ext.data)} bytes", f"{len(wt_bytes)} bytes, differ"))

    compare_state("instantiation")
    for name, ext in list(inst.exports.items()):
        if not isinstance(ext, Func):
            continue
        for _ in range(calls_per_export):
            pairs = [_arg(t, rng) for t in ext.type.params]
            wt_args = [p[0] for p in pairs]
            ref_args = [p[1] for p in pairs]
            shown = [str(v) for v in ref_args]
            report.calls += 1
            try:
                raw = wt_exports[name](wt_store, *wt_args)
                nres = len(ext.type.results)
                values = [] if nres == 0 else [raw] if nres == 1 else list(raw)
                wt = " ".join(_show_wasmtime(t, v) for t, v in zip(ext.type.results, values))
            except wasmtime.Trap as e:
                wt = _wasmtime_trap(e)
            try:
                result = invoke(store, ext, ref_args)
                ref = " ".join(_show_reference(v) for v in result.values)
            except Exhaustion as e:
                ref = f"trap {e.message}"
            except Trap as e:
                ref = f"trap {_norm_trap(e.message)}"
            if ref != wt:
                if ref == "trap call stack exhausted" or wt == "trap call stack exhausted":
                    report.skipped = "stack depths differ (implementation limits)"
                    return report
                report.mismatches.append(Mismatch(f"call {name}", shown, ref, wt))
            compare_state(f"call {name}")
            if report.mismatches:
                return report  # later state would differ only as a consequence
    return report


def diff_bytes(data: bytes, *, seed: int = 0) -> DiffReport:
    """``diff_module`` of the module smith makes from ``data`` (skipped if smith declines)."""
    wasm = smith(data)
    if wasm is None:
        return DiffReport(skipped="smith declined the bytes")
    return diff_module(wasm, seed=seed)
