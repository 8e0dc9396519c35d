"""wasmtime as an executor: the oracle every other executor is held to.

Values cross the Python boundary as bits: a function whose signature holds
f32, f64 or v128 is called through a small adapter module that takes and
returns integers (f32/f64 reinterpreted, v128 as two i64 halves), because
wasmtime-py converts floats through Python floats and aborts on v128.
"""
from __future__ import annotations

import struct
from typing import Any

import wasmtime

from reference_model.errors import (
    Exhaustion,
    InstantiationTrap,
    LinkError,
    ModuleRejected,
    Trap,
    UncaughtException,
    Unsupported,
)
from reference_model.interpreter.runtime import LIMIT_MEMORY_PAGES, LIMIT_TABLE_ELEMENTS, PAGE
from reference_model.values import MASK, Value

from .base import Executor, Invocation, Session
from .signatures import export_signatures

ADAPTABLE = {"i32", "i64", "f32", "f64", "v128", "funcref", "externref"}
INT_OF = {"i32": "i32", "i64": "i64", "f32": "i32", "f64": "i64", "funcref": "funcref", "externref": "externref"}


def make_engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    for feature in (
        "wasm_simd", "wasm_relaxed_simd", "wasm_relaxed_simd_deterministic", "wasm_bulk_memory",
        "wasm_reference_types", "wasm_multi_value", "wasm_multi_memory", "wasm_memory64",
        "wasm_tail_call", "wasm_function_references", "wasm_gc", "wasm_exceptions",
        "wasm_wide_arithmetic", "wasm_custom_page_sizes", "wasm_threads",
    ):
        setattr(cfg, feature, True)
    return wasmtime.Engine(cfg)


class _Instance:
    def __init__(self, instance: wasmtime.Instance, wasm: bytes):
        self.instance = instance
        self.signatures = export_signatures(wasm)
        self.adapters: dict[str, Any] = {}


class WasmtimeSession(Session):
    def __init__(self, engine: wasmtime.Engine):
        self.engine = engine
        self.store = wasmtime.Store(engine)
        # the reference interpreter's implementation limits, so both agree on which grows fail
        self.store.set_limits(memory_size=LIMIT_MEMORY_PAGES * PAGE, table_elements=LIMIT_TABLE_ELEMENTS)
        self.linker = wasmtime.Linker(engine)
        self.linker.allow_shadowing = True
        self._define_spectest()

    # --- spectest -------------------------------------------------------------
    def _define_spectest(self) -> None:
        s, link = self.store, self.linker
        i32, i64, f32, f64 = (wasmtime.ValType.i32(), wasmtime.ValType.i64(), wasmtime.ValType.f32(), wasmtime.ValType.f64())
        for name, params in {
            "print": [], "print_i32": [i32], "print_i64": [i64], "print_f32": [f32],
            "print_f64": [f64], "print_i32_f32": [i32, f32], "print_f64_f64": [f64, f64],
        }.items():
            link.define(s, "spectest", name, wasmtime.Func(s, wasmtime.FuncType(params, []), lambda *a: None))
        for name, ty, val in (("global_i32", i32, 666), ("global_i64", i64, 666), ("global_f32", f32, 666.6), ("global_f64", f64, 666.6)):
            link.define(s, "spectest", name, wasmtime.Global(s, wasmtime.GlobalType(ty, False), val))
        table = wasmtime.Table(s, wasmtime.TableType(wasmtime.ValType.funcref(), wasmtime.Limits(10, 20)), None)
        link.define(s, "spectest", "table", table)
        link.define(s, "spectest", "memory", wasmtime.Memory(s, wasmtime.MemoryType(wasmtime.Limits(1, 2))))

    # --- modules --------------------------------------------------------------
    def validate(self, wasm: bytes) -> None:
        try:
            wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as e:
            raise ModuleRejected(_first_line(e)) from None

    def instantiate(self, wasm: bytes) -> _Instance:
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as e:
            raise ModuleRejected(_first_line(e)) from None
        try:
            instance = self.linker.instantiate(self.store, module)
        except wasmtime.Trap as e:
            raise InstantiationTrap(_trap_message(e)) from None
        except wasmtime.WasmtimeError as e:
            raise LinkError(_first_line(e)) from None
        return _Instance(instance, wasm)

    def register(self, name: str, instance: _Instance) -> None:
        self.linker.define_instance(self.store, name, instance.instance)

    # --- actions --------------------------------------------------------------
    def invoke(self, instance: _Instance, field: str, args: list[Value]) -> Invocation:
        export = instance.instance.exports(self.store).get(field)
        if not isinstance(export, wasmtime.Func):
            raise LookupError(f"no exported function {field!r}")
        sig = instance.signatures.get(field)
        if sig is None:
            raise Unsupported("wasmtime-py: export signature unknown to the harness")
        declined = [t for t in sig[0] + sig[1] if t not in ADAPTABLE]
        if declined:  # wasmtime-py aborts the process on these
            raise Unsupported(f"wasmtime-py host values of type {declined[0]}")
        try:
            if any(t in ("f32", "f64", "v128") for t in sig[0] + sig[1]):
                results = self._call_adapted(instance, field, export, sig, args)
            else:
                raw = export(self.store, *[_to_wasmtime(a) for a in args])
                values = _result_list(raw, len(sig[1]))
                results = [_from_wasmtime(v, t) for v, t in zip(values, sig[1])]
        except wasmtime.Trap as e:
            raise _classify_trap(e) from None
        return Invocation(values=results)

    def _call_adapted(self, instance: _Instance, field: str, export, sig, args: list[Value]) -> list[Value]:
        adapter = instance.adapters.get(field)
        if adapter is None:
            module = wasmtime.Module(self.engine, _adapter_wat(*sig))
            try:
                adapter = wasmtime.Instance(self.store, module, [export]).exports(self.store)["w"]
            except wasmtime.WasmtimeError as e:  # e.g. a GC subtype the plain adapter type does not match
                raise Unsupported(f"wasmtime-py: no integer adapter for this export ({_first_line(e)})") from None
            instance.adapters[field] = adapter
        flat: list[Any] = []
        for a in args:
            if a.type == "v128":
                flat += [_signed(a.bits & MASK["i64"], 64), _signed(a.bits >> 64, 64)]
            elif a.type in ("f32", "i32"):
                flat.append(_signed(a.bits, 32))
            elif a.type in ("f64", "i64"):
                flat.append(_signed(a.bits, 64))
            else:
                flat.append(_to_wasmtime(a))
        raw = adapter(self.store, *flat)
        values = _result_list(raw, sum(2 if t == "v128" else 1 for t in sig[1]))
        out, i = [], 0
        for t in sig[1]:
            if t == "v128":
                out.append(Value("v128", (values[i] & MASK["i64"]) | ((values[i + 1] & MASK["i64"]) << 64)))
                i += 2
            else:
                out.append(_from_wasmtime(values[i], t))
                i += 1
        return out

    def get(self, instance: _Instance, field: str) -> Value:
        g = instance.instance.exports(self.store).get(field)
        if not isinstance(g, wasmtime.Global):
            raise LookupError(f"no exported global {field!r}")
        kind = str(g.type(self.store).content)
        return _from_wasmtime(g.value(self.store), kind)

    def memory(self, instance: _Instance, field: str) -> bytes:
        m = instance.instance.exports(self.store).get(field)
        if not isinstance(m, wasmtime.Memory):
            raise LookupError(f"no exported memory {field!r}")
        return bytes(m.read(self.store, 0, m.data_len(self.store)))


def _adapter_wat(params: tuple[str, ...], results: tuple[str, ...]) -> str:
    """An adapter module importing a function of this signature and exporting it as 'w' over integers."""
    out_params, body = [], []
    k = 0
    for t in params:
        if t == "v128":
            out_params += ["i64", "i64"]
            body += [f"v128.const i64x2 0 0 local.get {k} i64x2.replace_lane 0 local.get {k + 1} i64x2.replace_lane 1"]
            k += 2
        else:
            out_params.append(INT_OF[t])
            body.append(f"local.get {k}" + (f" {t}.reinterpret_{INT_OF[t]}" if t in ("f32", "f64") else ""))
            k += 1
    body.append("call $f")
    locals_ = [f"(local {t})" for t in results]
    first_local = k
    for j in reversed(range(len(results))):
        body.append(f"local.set {first_local + j}")
    out_results = []
    for j, t in enumerate(results):
        idx = first_local + j
        if t == "v128":
            out_results += ["i64", "i64"]
            body.append(f"local.get {idx} i64x2.extract_lane 0 local.get {idx} i64x2.extract_lane 1")
        else:
            out_results.append(INT_OF[t])
            body.append(f"local.get {idx}" + (f" {INT_OF[t]}.reinterpret_{t}" if t in ("f32", "f64") else ""))
    sig = f"(param {' '.join(params)}) (result {' '.join(results)})"
    return (
        f'(module (import "" "f" (func $f {sig}))'
        f' (func (export "w") (param {" ".join(out_params)}) (result {" ".join(out_results)}) {" ".join(locals_)}'
        f' {" ".join(body)}))'
    )


def _result_list(raw: Any, n: int) -> list:
    """wasmtime-py returns None, one value or a list; None is also a null reference."""
    if n == 1:
        return [raw]
    return [] if raw is None else list(raw)


def _signed(bits: int, width: int) -> int:
    return bits - (1 << width) if bits >> (width - 1) else bits


def _to_wasmtime(v: Value) -> Any:
    if v.type == "i32":
        return wasmtime.Val.i32(_signed(v.bits, 32))
    if v.type == "i64":
        return wasmtime.Val.i64(_signed(v.bits, 64))
    if v.type == "f32":
        return wasmtime.Val.f32(struct.unpack("<f", struct.pack("<I", v.bits))[0])
    if v.type == "f64":
        return wasmtime.Val.f64(struct.unpack("<d", struct.pack("<Q", v.bits))[0])
    if v.type == "externref":
        return wasmtime.Val.externref(v.bits)
    if v.type == "funcref":
        if v.bits is None:
            return wasmtime.Val.funcref(None)
        if isinstance(v.bits, wasmtime.Func):
            return wasmtime.Val.funcref(v.bits)
        raise Unsupported("non-null funcref argument")
    raise Unsupported(f"argument type {v.type}")


def _from_wasmtime(v: Any, t: str | None) -> Value:
    if isinstance(v, wasmtime.Val):
        v = v.value
    if t in ("i32", "i64"):
        return Value(t, v & MASK[t])
    if t == "f32":
        if isinstance(v, int):
            return Value("f32", v & MASK["i32"])
        return Value("f32", struct.unpack("<I", struct.pack("<f", v))[0])
    if t == "f64":
        if isinstance(v, int):
            return Value("f64", v & MASK["i64"])
        return Value("f64", struct.unpack("<Q", struct.pack("<d", v))[0])
    if t == "externref":
        return Value("externref", v)
    if t == "funcref":
        return Value("funcref", v)
    raise Unsupported(f"wasmtime-py host values of type {t}")


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _trap_message(e: wasmtime.Trap) -> str:
    """The trap's own words: the "wasm trap: ..." cause first, then the other causes."""
    text = str(e.message if hasattr(e, "message") else e)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if "Caused by:" in lines:  # wasmtime lists causes after a backtrace
        lines = lines[lines.index("Caused by:") + 1 :]
    lines = [ln.split(": ", 1)[1] if ln[:1].isdigit() and ": " in ln else ln for ln in lines]
    traps = [ln.removeprefix("wasm trap: ") for ln in lines if ln.startswith("wasm trap: ")]
    rest = [ln for ln in lines if not ln.startswith("wasm trap: ")]
    return "; ".join(traps + rest) or "trap"


def _classify_trap(e: wasmtime.Trap) -> Exception:
    msg = _trap_message(e)
    code = getattr(e, "trap_code", None)
    if code is not None and getattr(code, "name", "") == "STACK_OVERFLOW" or "call stack exhausted" in msg:
        return Exhaustion(msg)
    if "thrown Wasm exception" in msg or "exception" in msg and "uncaught" in msg:
        return UncaughtException(msg)
    return Trap(msg)


class WasmtimeExecutor(Executor):
    """The wasmtime oracle; one engine shared by all sessions of a process."""

    name = "wasmtime"
    config = "default"

    def __init__(self) -> None:
        self._engine: wasmtime.Engine | None = None

    def open_session(self) -> WasmtimeSession:
        if self._engine is None:
            self._engine = make_engine()
        return WasmtimeSession(self._engine)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"wasmtime": version("wasmtime")}
