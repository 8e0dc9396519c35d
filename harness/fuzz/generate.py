"""Hypothesis strategies of FuzzCases: smith modules, i32 programs, long loops; edge-biased arguments.

Every strategy draws a module and then, for each exported function, one
to a few argument vectors biased towards edge values (0, 1, -1, MIN, MAX;
NaN, +-inf, -0 for floats).  Shrinking works on hypothesis's choice
sequence, so a failing case shrinks towards fewer calls, earlier (edge)
argument values and, through the module's own draws, a smaller module.
"""
from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import wasmtime
from hypothesis import strategies as st

from reference_model.values import MASK, Value

from .case import Call, FuzzCase

# wasm-smith restricted to the core the reference interpreter runs: no SIMD,
# GC, exceptions, tail calls, memory64, threads, multi-memory; NaNs
# canonicalised, termination ensured, memories and tables bounded.
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

# edge values first: hypothesis's sampled_from shrinks towards the first element
EDGE_INTS = {
    "i32": (0, 1, 0xFFFFFFFF, 0x80000000, 0x7FFFFFFF, 2, 0xFFFFFFFE, 31, 32, 65536),
    "i64": (0, 1, 0xFFFFFFFFFFFFFFFF, 1 << 63, (1 << 63) - 1, 2, 63, 64, 0xFFFFFFFF),
}
EDGE_FLOATS = (0.0, -0.0, 1.0, -1.0, math.nan, math.inf, -math.inf, 0.5, -1.5, 2.0 ** 31, 1e30, 3.0)
CANONICAL_NAN = {"f32": 0x7FC00000, "f64": 0x7FF8000000000000}

# the i32 instructions the transformer executor runs (reference_model/compiler/opcodes.py)
I32_UNARY = ("i32.eqz", "i32.clz", "i32.ctz", "i32.popcnt", "i32.extend8_s", "i32.extend16_s")
I32_BINARY = (
    "i32.add", "i32.sub", "i32.mul", "i32.and", "i32.or", "i32.xor", "i32.shl", "i32.shr_s", "i32.shr_u",
    "i32.rotl", "i32.rotr", "i32.eq", "i32.ne", "i32.lt_s", "i32.lt_u", "i32.gt_s", "i32.gt_u",
    "i32.le_s", "i32.le_u", "i32.ge_s", "i32.ge_u", "i32.div_s", "i32.div_u", "i32.rem_s", "i32.rem_u",
)
LOOP_BINARY = tuple(op for op in I32_BINARY if "div" not in op and "rem" not in op)  # loops should not trap early


def wasm_tools() -> str:
    """Path of the wasm-tools binary next to this Python, else on PATH."""
    exe = Path(sys.executable).with_name("wasm-tools")
    return str(exe) if exe.exists() else (shutil.which("wasm-tools") or "wasm-tools")


def smith(data: bytes, extra_flags: tuple[str, ...] = ()) -> bytes | None:
    """The module wasm-smith builds from ``data`` with SMITH_FLAGS, or None when smith declines the bytes."""
    proc = subprocess.run([wasm_tools(), "smith", *SMITH_FLAGS, *extra_flags], input=data, capture_output=True)
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


def _check(name: str, value: int, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bound}, got {value!r}")


# --- arguments -----------------------------------------------------------------


def _float_bits(t: str, x: float) -> int:
    if math.isnan(x):
        return CANONICAL_NAN[t]
    return struct.unpack("<I", struct.pack("<f", x))[0] if t == "f32" else struct.unpack("<Q", struct.pack("<d", x))[0]


def edge_values(type_: str) -> st.SearchStrategy[Value]:
    """Values of ``type_``: an edge value 4 times in 5, else any bit pattern; shrinks towards 0.

    References are always null (a fuzzed call cannot make a non-null one).
    """
    if type_ in EDGE_INTS:
        edges = st.sampled_from(EDGE_INTS[type_])
        bits = st.one_of(edges, edges, edges, edges, st.integers(0, MASK[type_]))
    elif type_ in ("f32", "f64"):
        edges = st.sampled_from([_float_bits(type_, x) for x in EDGE_FLOATS])
        bits = st.one_of(edges, edges, edges, edges, st.integers(0, MASK[type_]))
    elif type_ == "v128":
        bits = st.one_of(st.just(0), st.integers(0, MASK["v128"]))
    else:
        return st.just(Value(type_, None))
    return bits.map(lambda b: Value(type_, b))


def argument_vectors(params: tuple[str, ...]) -> st.SearchStrategy[tuple[Value, ...]]:
    """One edge-biased argument per parameter type; each argument shrinks on its own (towards 0)."""
    return st.tuples(*(edge_values(t) for t in params))


def function_exports(wasm: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """(name, parameter types) of the module's exported functions, in export order."""
    from harness.executors.signatures import export_signatures

    return [(name, sig[0]) for name, sig in export_signatures(wasm).items()]


@st.composite
def _calls(draw, wasm: bytes, calls_per_export: int) -> tuple[Call, ...]:
    calls: list[Call] = []
    for name, params in function_exports(wasm):
        n = draw(st.integers(1, calls_per_export))
        calls += [Call(name, draw(argument_vectors(params))) for _ in range(n)]
    return tuple(calls)


# --- (a) wasm-smith modules ---------------------------------------------------------


def smith_cases(*, min_bytes: int = 32, max_bytes: int = 2048, calls_per_export: int = 3,
                extra_flags: tuple[str, ...] = ()) -> st.SearchStrategy[FuzzCase]:
    """Cases over modules wasm-smith builds (SMITH_FLAGS + ``extra_flags``) from drawn bytes.

    Shrinks the bytes (shorter, then smaller), which makes smith build a
    smaller module, then the calls: fewer per export, edge arguments.
    """
    _check("min_bytes", min_bytes, 1)
    _check("max_bytes", max_bytes, min_bytes)
    _check("calls_per_export", calls_per_export, 1)
    if not all(isinstance(f, str) for f in extra_flags):
        raise ValueError("extra_flags must be a tuple of str")
    modules = st.binary(min_size=min_bytes, max_size=max_bytes).map(lambda d: smith(d, tuple(extra_flags)))
    return modules.filter(lambda w: w is not None).flatmap(
        lambda wasm: _calls(wasm, calls_per_export).map(lambda calls: FuzzCase("smith", wasm, calls)))


# --- (b) i32-only structured programs ------------------------------------------------


class _Program:
    """Drawing context of one module: what an expression or statement may refer to."""

    def __init__(self, n_globals: int):
        self.n_globals = n_globals
        self.labels = 0

    def label(self) -> str:
        self.labels += 1
        return f"$l{self.labels}"


class _Func:
    def __init__(self, n_params: int, n_locals: int, counters: int, callees: list[tuple[int, int]]):
        self.n_values = n_params + n_locals  # locals statements may write
        self.counters = list(range(self.n_values, self.n_values + counters))  # loop counters, never written by bodies
        self.callees = callees  # (function index, parameter count) of earlier functions


def _const(draw) -> str:
    edges = (0, 1, -1, -(1 << 31), (1 << 31) - 1, 2, 31, 32, 7, 255, 65536)
    v = draw(st.one_of(st.sampled_from(edges), st.sampled_from(edges), st.integers(-(1 << 31), (1 << 31) - 1)))
    return f"(i32.const {v})"


def _expr(draw, p: _Program, f: _Func, depth: int) -> str:
    """One i32 expression, folded; choice 0 (a constant) is where shrinking leads."""
    kinds = ["const", "local"] + (["global"] if p.n_globals else [])
    if depth > 0:
        kinds += ["unary", "binary", "binary", "select", "tee", "if", "br_if", "br_table"]
        kinds += ["call"] if f.callees else []
    kind = kinds[draw(st.integers(0, len(kinds) - 1))]
    sub = lambda: _expr(draw, p, f, depth - 1)  # noqa: E731
    if kind == "const" or (kind == "local" and f.n_values == 0):
        return _const(draw)
    if kind == "local":
        return f"(local.get {draw(st.integers(0, f.n_values - 1))})"
    if kind == "global":
        return f"(global.get {draw(st.integers(0, p.n_globals - 1))})"
    if kind == "unary":
        return f"({draw(st.sampled_from(I32_UNARY))} {sub()})"
    if kind == "binary":
        op = draw(st.sampled_from(I32_BINARY))
        return f"({op} {sub()} {sub()})"
    if kind == "select":
        return f"(select {sub()} {sub()} {sub()})"
    if kind == "tee":
        if f.n_values == 0:
            return sub()
        return f"(local.tee {draw(st.integers(0, f.n_values - 1))} {sub()})"
    if kind == "if":
        return f"(if (result i32) {sub()} (then {sub()}) (else {sub()}))"
    if kind == "br_if":  # leave the block early with a value, or drop it and go on
        lab = p.label()
        return f"(block {lab} (result i32) (drop (br_if {lab} {sub()} {sub()})) {sub()})"
    if kind == "br_table":  # index 0 leaves the outer block, 1 the inner one (then adds), others default
        outer, inner = p.label(), p.label()
        targets = draw(st.lists(st.sampled_from([outer, inner]), min_size=1, max_size=3))
        return (f"(block {outer} (result i32) (i32.add (block {inner} (result i32) "
                f"(br_table {' '.join(targets)} {sub()} {sub()})) {_const(draw)}))")
    index, n_params = draw(st.sampled_from(f.callees))
    return f"(call $f{index} {' '.join(sub() for _ in range(n_params))})"


def _stmts(draw, p: _Program, f: _Func, depth: int, max_stmts: int, loops_left: list[int]) -> list[str]:
    n = draw(st.integers(0, max_stmts))
    return [_stmt(draw, p, f, depth, max_stmts, loops_left) for _ in range(n)]


def _stmt(draw, p: _Program, f: _Func, depth: int, max_stmts: int, loops_left: list[int]) -> str:
    """One statement (leaves the stack as it found it); choice 0 (drop) is where shrinking leads."""
    kinds = ["drop"] + (["set"] if f.n_values else []) + (["global"] if p.n_globals else [])
    if depth > 0:
        kinds += ["if", "block", "br_table", "return"] + (["loop"] if loops_left else [])
    kind = kinds[draw(st.integers(0, len(kinds) - 1))]
    e = lambda: _expr(draw, p, f, depth)  # noqa: E731
    body = lambda: " ".join(_stmts(draw, p, f, depth - 1, max(1, max_stmts // 2), loops_left))  # noqa: E731
    if kind == "drop":
        return f"(drop {e()})"
    if kind == "set":
        return f"(local.set {draw(st.integers(0, f.n_values - 1))} {e()})"
    if kind == "global":
        return f"(global.set {draw(st.integers(0, p.n_globals - 1))} {e()})"
    if kind == "if":
        return f"(if {e()} (then {body()}) (else {body()}))"
    if kind == "block":
        lab = p.label()
        return f"(block {lab} {body()} (br_if {lab} {e()}) {body()})"
    if kind == "br_table":
        outer, inner = p.label(), p.label()
        targets = draw(st.lists(st.sampled_from([outer, inner]), min_size=1, max_size=3))
        return f"(block {outer} (block {inner} (br_table {' '.join(targets)} {e()})) {body()})"
    if kind == "return":
        return f"(if {e()} (then (return {e()})))"
    counter = f.counters[len(f.counters) - loops_left.pop()]
    lab = p.label()
    n = draw(st.integers(1, 4))
    return (f"(local.set {counter} (i32.const {n})) (loop {lab} {body()} "
            f"(br_if {lab} (local.tee {counter} (i32.sub (local.get {counter}) (i32.const 1)))))")


@st.composite
def _i32_module(draw, max_funcs: int, max_params: int, max_locals: int, max_globals: int, max_depth: int,
                max_stmts: int, loops: bool) -> str:
    n_globals = draw(st.integers(0, max_globals))
    p = _Program(n_globals)
    parts = [f"(global (export \"g{k}\") (mut i32) {_const(draw)})" for k in range(n_globals)]
    callees: list[tuple[int, int]] = []
    for i in range(draw(st.integers(1, max_funcs))):
        n_params = draw(st.integers(0, max_params))
        n_locals = draw(st.integers(0, max_locals))
        n_counters = 2 if loops else 0
        f = _Func(n_params, n_locals, n_counters, list(callees))
        loops_left = list(range(n_counters, 0, -1)) if loops else []
        body = _stmts(draw, p, f, max_depth, max_stmts, loops_left) + [_expr(draw, p, f, max_depth)]
        params = f"(param{' i32' * n_params}) " if n_params else ""
        local_decl = f"(local{' i32' * (n_locals + n_counters)}) " if n_locals + n_counters else ""
        parts.append(f"(func $f{i} (export \"f{i}\") {params}(result i32) {local_decl}\n    {' '.join(body)})")
        callees.append((i, n_params))
    return "(module\n  " + "\n  ".join(parts) + ")"


def _case_of_text(generator: str, text: str, calls_per_export: int) -> st.SearchStrategy[FuzzCase]:
    wasm = wasmtime.wat2wasm(text)
    return _calls(wasm, calls_per_export).map(lambda calls: FuzzCase(generator, wasm, calls, text))


def i32_programs(*, max_funcs: int = 3, max_params: int = 3, max_locals: int = 3, max_globals: int = 2,
                 max_depth: int = 3, max_stmts: int = 4, loops: bool = True,
                 calls_per_export: int = 2) -> st.SearchStrategy[FuzzCase]:
    """Cases over i32-only structured programs (the transformer executor's subset), written as WAT.

    Functions take i32 parameters and return one i32; they may call
    earlier functions only (so every program terminates), read and write
    locals and exported mutable globals, and use block/loop/if/br/br_if/
    br_table/return, select, and the i32 arithmetic, comparison and bit
    instructions including div/rem (which trap).  Loops run 1-4 times on a
    counter local no statement writes.  Shrinks towards fewer functions,
    statements and globals, shallower expressions, constants in place of
    sub-expressions and ``i32.add`` in place of other operators.
    """
    for name, value, low in (("max_funcs", max_funcs, 1), ("max_params", max_params, 0),
                             ("max_locals", max_locals, 0), ("max_globals", max_globals, 0),
                             ("max_depth", max_depth, 0), ("max_stmts", max_stmts, 0),
                             ("calls_per_export", calls_per_export, 1)):
        _check(name, value, low)
    if not isinstance(loops, bool):
        raise ValueError(f"loops must be a bool, got {loops!r}")
    return _i32_module(max_funcs, max_params, max_locals, max_globals, max_depth, max_stmts, loops).flatmap(
        lambda text: _case_of_text("i32", text, calls_per_export))


# --- (c) long-running loops ------------------------------------------------------------


@st.composite
def _loop_module(draw, min_iterations: int, max_iterations: int, n_locals: int, max_updates: int,
                 memory: bool) -> str:
    iterations = draw(st.integers(min_iterations, max_iterations))
    names = [f"$v{k}" for k in range(n_locals)]
    operand = st.one_of(st.sampled_from(names), st.sampled_from(["$a", "$b"]),
                        st.integers(-(1 << 31), (1 << 31) - 1).map(lambda c: f"#{c}"))

    def get(x: str) -> str:
        return f"(i32.const {x[1:]})" if x.startswith("#") else f"(local.get {x})"

    # addresses around 4096: float32 parabolic keys are known to fail from index 4097 on
    cells = draw(st.lists(st.sampled_from([0, 4, 4096, 4100, 8192, 65532]), min_size=1, max_size=2,
                          unique=True)) if memory else []
    updates = []
    for _ in range(draw(st.integers(1, max_updates))):
        if cells and draw(st.booleans()):
            addr = draw(st.sampled_from(cells))
            op = draw(st.sampled_from(LOOP_BINARY))
            updates.append(f"(i32.store (i32.const {addr}) ({op} (i32.load (i32.const {addr})) {get(draw(operand))}))")
        else:
            target = draw(st.sampled_from(names))
            op = draw(st.sampled_from(LOOP_BINARY))
            updates.append(f"(local.set {target} ({op} {get(draw(operand))} {get(draw(operand))}))")
    init = " ".join(f"(local.set {v} {get(draw(operand))})" for v in names)
    result = get(names[0]) if n_locals else "(i32.const 0)"
    for v in names[1:]:
        result = f"(i32.xor {result} (local.get {v}))"
    for addr in cells:
        result = f"(i32.add {result} (i32.load (i32.const {addr})))"
    mem = '(memory (export "mem") 1)\n  ' if memory else ""
    locals_ = " ".join(f"(local {v} i32)" for v in names)
    return (f"(module\n  {mem}(func (export \"run\") (param $a i32) (param $b i32) (result i32) {locals_} (local $n i32)\n"
            f"    {init}\n    (local.set $n (i32.const {iterations}))\n"
            f"    (loop $again {' '.join(updates)}\n"
            f"      (br_if $again (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))\n    {result}))")


def long_loops(*, min_iterations: int = 1000, max_iterations: int = 5000, n_locals: int = 3, max_updates: int = 4,
               memory: bool = False, calls_per_export: int = 1) -> st.SearchStrategy[FuzzCase]:
    """Cases over one function running a loop of thousands of iterations over a few locals.

    Each iteration applies 1..``max_updates`` non-trapping i32 updates to
    the locals (and, with ``memory``, to one or two memory cells), which
    makes many writes to the same few slots: the precision and
    "most recent write wins" tie-breaking of attention look-ups.  Shrinks
    towards ``min_iterations``, fewer updates and ``i32.add``.
    """
    _check("min_iterations", min_iterations, 1)
    _check("max_iterations", max_iterations, min_iterations)
    _check("n_locals", n_locals, 1, 16)
    _check("max_updates", max_updates, 1)
    _check("calls_per_export", calls_per_export, 1)
    if not isinstance(memory, bool):
        raise ValueError(f"memory must be a bool, got {memory!r}")
    return _loop_module(min_iterations, max_iterations, n_locals, max_updates, memory).flatmap(
        lambda text: _case_of_text("loops", text, calls_per_export))


GENERATORS = {"smith": smith_cases, "i32": i32_programs, "loops": long_loops}


def cases(generator: str, **options) -> st.SearchStrategy[FuzzCase]:
    """The strategy called ``generator`` (smith, i32, loops) with ``options``; ValueError if unknown."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}: choose one of {', '.join(GENERATORS)}")
    return GENERATORS[generator](**options)
