"""The reference interpreter as an executor: the trace every other executor is measured against."""
from __future__ import annotations

from reference_model.errors import LinkError, Unsupported
from reference_model.interpreter import CellStack, Func, Global, HostModule, Memory, Store, Table, invoke, load
from reference_model.interpreter.binary import FuncType, GlobalType, Limits, TableType
from reference_model.trace import trace_hash
from reference_model.values import Value

from .base import Executor, Invocation, Session


def spectest(store: Store) -> HostModule:
    """The ``spectest`` host module of the spec testsuite (print functions do nothing)."""

    def host(params: tuple[str, ...], name: str) -> Func:
        return store.host_func(FuncType(params, ()), lambda args: [], name=f"spectest.{name}")

    def const(type_: str, bits: int) -> Global:
        return Global(GlobalType(type_, False), bits)

    return HostModule({
        "print": host((), "print"),
        "print_i32": host(("i32",), "print_i32"),
        "print_i64": host(("i64",), "print_i64"),
        "print_f32": host(("f32",), "print_f32"),
        "print_f64": host(("f64",), "print_f64"),
        "print_i32_f32": host(("i32", "f32"), "print_i32_f32"),
        "print_f64_f64": host(("f64", "f64"), "print_f64_f64"),
        "global_i32": const("i32", 666),
        "global_i64": const("i64", 666),
        "global_f32": const("f32", 0x4426A666),  # 666.6, as in the spec interpreter
        "global_f64": const("f64", 0x4084D4CCCCCCCCCD),  # 666.6
        "table": Table(TableType("funcref", Limits(10, 20))),
        "memory": Memory(Limits(1, 2), store.max_memory_pages),
    })


class ReferenceSession(Session):
    """One store; registered names map to instances (a later registration shadows an earlier one)."""

    def __init__(self, max_depth: int, trace: bool):
        self.store = Store(max_depth=max_depth)
        self.trace = trace
        self.registry: dict[str, object] = {"spectest": spectest(self.store)}

    def _resolve(self, module: str, name: str):
        inst = self.registry.get(module)
        return None if inst is None else inst.exports.get(name)

    def validate(self, wasm: bytes) -> None:
        try:
            load(wasm)
        except Unsupported:
            pass  # valid (wasmtime said so) but uses a proposal we do not run: instantiate will say so

    def instantiate(self, wasm: bytes):
        return self.store.instantiate(load(wasm), self._resolve)

    def register(self, name: str, instance) -> None:
        self.registry[name] = instance

    def _export(self, instance, field: str, kind: type):
        ext = instance.exports.get(field)
        if not isinstance(ext, kind):
            raise LinkError(f"no exported {kind.__name__.lower()} {field!r}")
        return ext

    def invoke(self, instance, field: str, args: list[Value], cells: CellStack | None = None) -> Invocation:
        """``cells``: the call stack of the executor this session is the trace oracle of (CellStack)."""
        func = self._export(instance, field, Func)
        result = invoke(self.store, func, args, trace=self.trace, cells=cells)
        return Invocation(
            values=result.values,
            steps=result.steps,
            trace=result.trace,
            trace_hash=trace_hash(result.trace) if result.trace is not None else None,
        )

    def get(self, instance, field: str) -> Value:
        g = self._export(instance, field, Global)
        return Value(g.type.type, g.value)

    def memory(self, instance, field: str) -> bytes:
        return bytes(self._export(instance, field, Memory).data)


class ReferenceExecutor(Executor):
    """The plain interpreter of reference_model.interpreter; ``max_depth`` bounds the call stack."""

    name = "reference"
    traces = True

    def __init__(self, trace: bool = True, max_depth: int = 10000):
        self.trace = trace
        self.traces = trace
        self.max_depth = max_depth
        self.config = "default" if max_depth == 10000 else f"max_depth={max_depth}"

    def open_session(self) -> Session:
        return ReferenceSession(self.max_depth, self.trace)

    def versions(self) -> dict[str, str]:
        import wasmtime  # the validator

        return {"reference": "wasmconf-0.1", "wasmtime-validator": getattr(wasmtime, "__version__", "?")}
