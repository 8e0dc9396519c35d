"""The store and its instances: allocation, linking and instantiation.

Run-time values inside the interpreter: numbers are unsigned ints (their
bits); a funcref is the function's *address* in the store (an int) or
None; an externref is the host's payload or None.  These are also the
``bits`` of ``reference_model.values.Value`` at the boundary.

Instantiation follows the spec's order (WebAssembly 2.0, section 4.5.4):
imports are matched, functions, tables, memories and globals allocated,
element and data segments evaluated, then active element segments copied
into tables and active data segments into memory one after the other
(a segment out of bounds traps, and what earlier segments wrote stays),
then the start function runs.
"""
from __future__ import annotations

from typing import Callable

from reference_model.errors import Exhaustion, InstantiationTrap, LinkError, Trap

from . import traps
from .binary import FuncType, GlobalType, Instr, Limits, Module, TableType
from .flatcode import FlatCode, flatten
from .numerics import operator

PAGE = 65536
MAX_PAGES = 65536  # the spec's limit for 32-bit memories
MAX_TABLE = 0xFFFFFFFF
# Implementation limits (the spec lets memory.grow and table.grow fail at any
# size).  The wasmtime executor applies the same limits to its store, so the
# two engines agree on which grows fail: without this, wasmtime grows a
# memory to 3.5 GiB where the interpreter returns -1 at 1 GiB.
LIMIT_MEMORY_PAGES = 16384  # 1 GiB per memory
LIMIT_TABLE_ELEMENTS = 10_000_000


class Func:
    """A function instance: ``host`` is a callable for host functions, else None."""

    __slots__ = ("type", "module", "index", "code", "flat", "host", "addr", "name")

    def __init__(self, type: FuncType, module=None, index: int = 0, code=None, host: Callable | None = None,
                 name: str = ""):
        self.type = type
        self.module = module  # the ModuleInstance it closes over (None for host functions)
        self.index = index  # its index in that module's function index space
        self.code = code  # binary.Code; flattened on first call
        self.flat: FlatCode | None = None
        self.host = host
        self.addr = -1
        self.name = name

    def flat_code(self) -> FlatCode:
        if self.flat is None:
            m = self.module
            self.flat = flatten(m.module, self.code, self.type, m.func_types)
        return self.flat


class Table:
    __slots__ = ("type", "elements")

    def __init__(self, type: TableType, init=None):
        self.type = type
        self.elements = [init] * type.limits.min

    @property
    def max(self) -> int:
        return MAX_TABLE if self.type.limits.max is None else self.type.limits.max

    def grow(self, n: int, init, cap: int) -> int:
        """Old size, or -1 if the table cannot grow by n."""
        old = len(self.elements)
        if old + n > min(self.max, cap):
            return -1
        self.elements.extend([init] * n)
        self.type = TableType(self.type.elem, Limits(old + n, self.type.limits.max))
        return old


class Memory:
    __slots__ = ("type", "data")

    def __init__(self, type: Limits, cap_pages: int):
        if type.min > cap_pages:
            raise Exhaustion(f"memory of {type.min} pages exceeds the interpreter's limit of {cap_pages}")
        self.type = type
        self.data = bytearray(type.min * PAGE)

    def grow(self, n: int, cap_pages: int) -> int:
        """Old size in pages, or -1 if the memory cannot grow by n pages."""
        old = len(self.data) // PAGE
        limit = MAX_PAGES if self.type.max is None else self.type.max
        if old + n > min(limit, cap_pages):
            return -1
        self.data.extend(bytes(n * PAGE))  # in place: cached references stay valid
        self.type = Limits(old + n, self.type.max)
        return old


class Global:
    __slots__ = ("type", "value")

    def __init__(self, type: GlobalType, value):
        self.type = type
        self.value = value


class ModuleInstance:
    """What instantiating a module made: its index spaces and exports."""

    def __init__(self, module: Module):
        self.module = module
        self.types = module.types
        self.func_types = module.func_types()
        self.funcs: list[Func] = []
        self.tables: list[Table] = []
        self.mems: list[Memory] = []
        self.globals: list[Global] = []
        self.elems: list[list] = []
        self.datas: list[bytes] = []
        self.exports: dict[str, object] = {}

    @property
    def memory(self) -> Memory | None:
        return self.mems[0] if self.mems else None


class HostModule:
    """A module of host exports (e.g. ``spectest``), importable like an instance."""

    def __init__(self, exports: dict[str, object]):
        self.exports = exports


Extern = Func | Table | Memory | Global


def extern_kind(x: object) -> str:
    return {Func: "func", Table: "table", Memory: "memory", Global: "global"}[type(x)]


def _limits_match(actual: Limits, wanted: Limits) -> bool:
    if actual.min < wanted.min:
        return False
    if wanted.max is None:
        return True
    return actual.max is not None and actual.max <= wanted.max


class Store:
    """All function, table, memory and global instances of one session."""

    def __init__(self, *, max_depth: int = 10000, max_memory_pages: int = LIMIT_MEMORY_PAGES,
                 max_table_elements: int = LIMIT_TABLE_ELEMENTS):
        self.funcs: list[Func] = []
        self.max_depth = max_depth
        self.max_memory_pages = max_memory_pages
        self.max_table_elements = max_table_elements

    def add_func(self, f: Func) -> Func:
        f.addr = len(self.funcs)
        self.funcs.append(f)
        return f

    def host_func(self, type: FuncType, fn: Callable, name: str = "") -> Func:
        """A host function; ``fn(list of bits) -> list of bits``."""
        return self.add_func(Func(type, host=fn, name=name))

    # ------------------------------------------------------------ instantiation

    def instantiate(self, module: Module, resolve: Callable[[str, str], object | None]) -> ModuleInstance:
        """A new instance of a decoded, validated module.

        ``resolve(module, name)`` gives the extern a name refers to, or None.
        Raises LinkError("unknown import" | "incompatible import type"),
        InstantiationTrap (a segment out of bounds, or the start function
        trapped), Exhaustion.
        """
        inst = ModuleInstance(module)
        for imp in module.imports:
            ext = resolve(imp.module, imp.name)
            if ext is None:
                raise LinkError("unknown import")
            self._check_import(inst, imp.kind, imp.desc, ext)
            {"func": inst.funcs, "table": inst.tables, "memory": inst.mems, "global": inst.globals}[
                imp.kind].append(ext)
        base = len(inst.funcs)
        for i, (tidx, code) in enumerate(zip(module.funcs, module.codes)):
            inst.funcs.append(self.add_func(Func(module.types[tidx], inst, base + i, code)))
        for g in module.globals:
            inst.globals.append(Global(g.type, self.eval_const(inst, g.init)))
        for t in module.tables:
            inst.tables.append(Table(t))
        for lim in module.mems:
            inst.mems.append(Memory(lim, self.max_memory_pages))
        for e in module.exports:
            space = {"func": inst.funcs, "table": inst.tables, "memory": inst.mems, "global": inst.globals}
            inst.exports[e.name] = space[e.kind][e.index]
        inst.elems = [[self.eval_const(inst, x) for x in seg.init] for seg in module.elems]
        inst.datas = [d.init for d in module.datas]

        try:
            for i, seg in enumerate(module.elems):
                if seg.mode == "active":
                    offset = self.eval_const(inst, seg.offset)
                    table = inst.tables[seg.table]
                    items = inst.elems[i]
                    if offset + len(items) > len(table.elements):
                        raise InstantiationTrap(traps.OUT_OF_BOUNDS_TABLE)
                    table.elements[offset:offset + len(items)] = items
                if seg.mode != "passive":
                    inst.elems[i] = []
            for i, seg in enumerate(module.datas):
                if seg.mode == "active":
                    offset = self.eval_const(inst, seg.offset)
                    mem = inst.mems[seg.memory].data
                    if offset + len(seg.init) > len(mem):
                        raise InstantiationTrap(traps.OUT_OF_BOUNDS_MEMORY)
                    mem[offset:offset + len(seg.init)] = seg.init
                    inst.datas[i] = b""
            if module.start is not None:
                from .machine import execute

                execute(self, inst.funcs[module.start], [])
        except InstantiationTrap:
            raise
        except Trap as t:
            raise InstantiationTrap(t.message) from None
        return inst

    def _check_import(self, inst: ModuleInstance, kind: str, desc, ext) -> None:
        if not isinstance(ext, (Func, Table, Memory, Global)) or extern_kind(ext) != kind:
            raise LinkError("incompatible import type")
        ok = True
        if kind == "func":
            ok = ext.type == inst.types[desc]
        elif kind == "table":
            ok = ext.type.elem == desc.elem and _limits_match(
                Limits(len(ext.elements), ext.type.limits.max), desc.limits)
        elif kind == "memory":
            ok = _limits_match(Limits(len(ext.data) // PAGE, ext.type.max), desc)
        elif kind == "global":
            ok = ext.type == desc
        if not ok:
            raise LinkError("incompatible import type")

    def eval_const(self, inst: ModuleInstance, expr: list[Instr]):
        """The value of a constant expression (extended-const arithmetic included)."""
        stack: list = []
        for ins in expr:
            op = ins.op
            if op == "end":
                break
            if op.endswith(".const"):
                stack.append(ins.imm[0])
            elif op == "global.get":
                stack.append(inst.globals[ins.imm[0]].value)
            elif op == "ref.null":
                stack.append(None)
            elif op == "ref.func":
                stack.append(inst.funcs[ins.imm[0]].addr)
            else:  # extended-const: i32/i64 add, sub, mul
                b = stack.pop()
                stack[-1] = operator(op)(stack[-1], b)
        return stack[-1]
