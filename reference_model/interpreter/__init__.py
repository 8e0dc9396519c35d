"""The reference interpreter: a plain WebAssembly interpreter that defines the canonical trace.

Public surface:

``load(wasm) -> Module``
    decode and validate a binary; raises ModuleRejected (malformed or
    invalid) or Unsupported(feature) (a proposal we do not run: simd,
    gc, exceptions, tail-call, memory64, threads, multi-memory, ...).
``Store(max_depth=...)``, ``Store.instantiate(module, resolve) -> ModuleInstance``
    link and instantiate; raises LinkError, InstantiationTrap, Exhaustion.
``invoke(store, func, args, *, trace=False, max_steps=None, cells=None) -> Result``
    call a function with ``Value`` arguments; raises Trap, Exhaustion,
    StepLimit.  With ``trace=True`` the result holds the TraceRecords of
    docs/trace.md.  ``cells`` (a ``CellStack``) sizes the call stack as
    another implementation does (machine.py).

Files: ``binary`` (decoder), ``opcodes`` (the instruction table),
``numerics`` (integer and float semantics), ``traps`` (messages),
``flatcode`` (bodies with resolved branches), ``runtime`` (store,
instantiation), ``machine`` (the step loop), ``validate`` (wasmtime).
"""
from __future__ import annotations

from typing import NamedTuple

from reference_model.trace import TraceRecord
from reference_model.values import MASK, Value

from .binary import FuncType, Module, decode
from .machine import CellStack, execute
from .runtime import Func, Global, HostModule, Memory, ModuleInstance, Store, Table
from .validate import validate_binary


class Result(NamedTuple):
    """What one invocation returned."""

    values: list[Value]
    steps: int
    trace: list[TraceRecord] | None


def load(wasm: bytes) -> Module:
    """The decoded Module of a valid binary.

    Raises ModuleRejected if it is malformed or invalid, Unsupported(feature)
    if it is valid but uses a proposal this interpreter does not implement.
    """
    validate_binary(wasm)
    return decode(wasm)


def to_bits(v: Value, type_: str):
    """The interpreter's run-time form of a boundary Value expected to have ``type_``.

    Raises TypeError if the value's type is not ``type_`` (a caller's bug, not a trap).
    """
    if v.type != type_:
        raise TypeError(f"argument type mismatch: expected {type_}, got {v.type}")
    if type_ in MASK:
        return v.bits & MASK[type_]
    return v.bits


def invoke(store: Store, func: Func, args: list[Value], *, trace: bool = False,
           max_steps: int | None = None, cells: CellStack | None = None) -> Result:
    """Call ``func`` with ``args``; the results as Values, the steps executed and the trace.

    Raises Trap (spec wording), Exhaustion("call stack exhausted"),
    StepLimit, and TypeError for arguments that do not fit the signature;
    the outcomes carry ``steps`` and, when tracing, ``trace``.  With
    ``cells`` the call stack is that CellStack's (where it exhausts).
    """
    params = func.type.params
    if len(args) != len(params):
        raise TypeError(f"wrong number of arguments: expected {len(params)}, got {len(args)}")
    bits = [to_bits(a, t) for a, t in zip(args, params)]
    records: list | None = [] if trace else None
    results, steps = execute(store, func, bits, records, max_steps, cells)
    values = [Value(t, b) for t, b in zip(func.type.results, results)]
    return Result(values, steps, records)


__all__ = ["load", "decode", "invoke", "Result", "CellStack", "Store", "Module", "ModuleInstance", "HostModule", "Func",
           "Table", "Memory", "Global", "FuncType", "execute"]
