"""Binary format -> Module: a decoder for the non-SIMD core of WebAssembly 2.0.

``decode(wasm)`` reads every section into plain dataclasses; function
bodies become lists of ``Instr(op, imm)`` in binary order, so an
instruction's index in the list is its ``pc`` in the trace.  Decoding
checks structure only (that is what "malformed" means); type checking is
``validate.py``'s job.  Constructs of proposals we do not run raise
``Unsupported(feature)`` at the first place they appear.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from reference_model.errors import ModuleRejected, Unsupported

from .opcodes import LOADS, OPCODES, PREFIX_FC, STORES, UNSUPPORTED_FC, UNSUPPORTED_OPCODES

VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x70: "funcref", 0x6F: "externref"}
REFTYPES = {0x70: "funcref", 0x6F: "externref"}
# value-type bytes of other proposals (v128, typed and GC references)
UNSUPPORTED_VALTYPES = {0x7B: "simd", 0x63: "function-references", 0x64: "function-references",
                        0x6E: "gc", 0x6D: "gc", 0x6C: "gc", 0x6B: "gc", 0x6A: "gc", 0x71: "gc",
                        0x72: "gc", 0x73: "gc", 0x74: "exceptions", 0x69: "exceptions", 0x68: "stack-switching"}


class Instr(NamedTuple):
    """One decoded instruction: mnemonic and immediates (a tuple, shape set by ``opcodes``)."""

    op: str
    imm: tuple = ()


@dataclass(frozen=True)
class FuncType:
    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        return f"[{' '.join(self.params)}] -> [{' '.join(self.results)}]"


@dataclass(frozen=True)
class Limits:
    min: int
    max: int | None


@dataclass(frozen=True)
class TableType:
    elem: str  # "funcref" | "externref"
    limits: Limits


@dataclass(frozen=True)
class GlobalType:
    type: str
    mutable: bool


@dataclass
class Import:
    module: str
    name: str
    kind: str  # "func" | "table" | "memory" | "global"
    desc: object  # type index (func), TableType, Limits, GlobalType


@dataclass
class Export:
    name: str
    kind: str
    index: int


@dataclass
class Global:
    type: GlobalType
    init: list[Instr]


@dataclass
class ElemSegment:
    type: str
    init: list[list[Instr]]  # one constant expression per element
    mode: str  # "active" | "passive" | "declarative"
    table: int = 0
    offset: list[Instr] | None = None


@dataclass
class DataSegment:
    init: bytes
    mode: str  # "active" | "passive"
    memory: int = 0
    offset: list[Instr] | None = None


@dataclass
class Code:
    locals: list[str]  # declared locals, expanded (parameters not included)
    body: list[Instr]  # ends with the body's final "end"


@dataclass
class Module:
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    funcs: list[int] = field(default_factory=list)  # type index of each defined function
    tables: list[TableType] = field(default_factory=list)
    mems: list[Limits] = field(default_factory=list)
    globals: list[Global] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elems: list[ElemSegment] = field(default_factory=list)
    datas: list[DataSegment] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)

    def imported(self, kind: str) -> list[Import]:
        return [i for i in self.imports if i.kind == kind]

    def func_types(self) -> list[FuncType]:
        """The type of every function in the function index space (imports first)."""
        return [self.types[i.desc] for i in self.imported("func")] + [self.types[t] for t in self.funcs]


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def eof(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise ModuleRejected("unexpected end")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise ModuleRejected("unexpected end")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def uleb(self, bits: int = 32) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= bits + 7:
                raise ModuleRejected("integer representation too long")
        if result >> bits:
            raise ModuleRejected("integer too large")
        return result

    def sleb(self, bits: int) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift >= bits + 7:
                raise ModuleRejected("integer representation too long")
        if b & 0x40:
            result -= 1 << shift
        if not -(1 << (bits - 1)) <= result < (1 << (bits - 1)):
            raise ModuleRejected("integer too large")
        return result

    def name(self) -> str:
        raw = self.bytes(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ModuleRejected("malformed UTF-8 encoding") from None

    def vec(self, item) -> list:
        return [item() for _ in range(self.uleb())]

    # ---- types

    def valtype(self) -> str:
        b = self.byte()
        if b in VALTYPES:
            return VALTYPES[b]
        if b in UNSUPPORTED_VALTYPES:
            raise Unsupported(UNSUPPORTED_VALTYPES[b])
        raise ModuleRejected("malformed value type")

    def reftype(self) -> str:
        b = self.byte()
        if b in REFTYPES:
            return REFTYPES[b]
        if b in UNSUPPORTED_VALTYPES:
            raise Unsupported(UNSUPPORTED_VALTYPES[b])
        raise ModuleRejected("malformed reference type")

    def limits(self, kind: str) -> Limits:
        flags = self.byte()
        if flags & 0x02:
            raise Unsupported("threads")
        if flags & 0x04:
            raise Unsupported("memory64")
        if flags & 0x08:
            raise Unsupported("custom-page-sizes")
        if flags & ~0x01:
            raise ModuleRejected("malformed limits flags")
        lo = self.uleb()
        hi = self.uleb() if flags & 1 else None
        return Limits(lo, hi)

    def tabletype(self) -> TableType:
        elem = self.reftype()
        return TableType(elem, self.limits("table"))

    def globaltype(self) -> GlobalType:
        t = self.valtype()
        m = self.byte()
        if m > 1:
            raise ModuleRejected("malformed mutability")
        return GlobalType(t, m == 1)

    def blocktype(self):
        b = self.data[self.pos] if self.pos < self.end else None
        if b == 0x40:
            self.pos += 1
            return None
        if b is not None and (b in VALTYPES or b in UNSUPPORTED_VALTYPES):
            return self.valtype()
        idx = self.sleb(33)
        if idx < 0:
            raise ModuleRejected("malformed block type")
        return idx  # a type index

    # ---- instructions

    def instr(self) -> Instr:
        opcode = self.byte()
        if opcode == 0xFC:
            sub = self.uleb()
            if sub in UNSUPPORTED_FC:
                raise Unsupported(UNSUPPORTED_FC[sub])
            if sub not in PREFIX_FC:
                raise ModuleRejected(f"illegal opcode fc {sub:02x}")
            name, kind = PREFIX_FC[sub]
            if name in ("memory.init",):
                imm = (self.uleb(), self._memidx())
            elif name == "memory.copy":
                imm = (self._memidx(), self._memidx())
            else:
                imm = self.immediates(kind)
            return Instr(name, imm)
        if opcode in UNSUPPORTED_OPCODES:
            raise Unsupported(UNSUPPORTED_OPCODES[opcode])
        if opcode not in OPCODES:
            raise ModuleRejected(f"illegal opcode {opcode:02x}")
        name, kind = OPCODES[opcode]
        return Instr(name, self.immediates(kind))

    def _memidx(self) -> int:
        idx = self.uleb()
        if idx != 0:
            raise Unsupported("multi-memory")
        return 0

    def immediates(self, kind: str) -> tuple:
        if kind == "":
            return ()
        if kind == "idx":
            return (self.uleb(),)
        if kind == "idx2":
            return (self.uleb(), self.uleb())
        if kind == "block":
            return (self.blocktype(),)
        if kind == "br_table":
            labels = tuple(self.vec(self.uleb))
            return (labels, self.uleb())
        if kind == "call_ind":
            return (self.uleb(), self.uleb())
        if kind == "select_t":
            return (tuple(self.vec(self.valtype)),)
        if kind == "mem":
            align = self.uleb()
            if align & 0x40:
                align &= ~0x40
                self._memidx()
            offset = self.uleb(64)
            if offset >> 32:
                raise Unsupported("memory64")
            return (align, offset)
        if kind == "memidx":
            return (self._memidx(),)
        if kind == "i32":
            return (self.sleb(32) & 0xFFFFFFFF,)
        if kind == "i64":
            return (self.sleb(64) & 0xFFFFFFFFFFFFFFFF,)
        if kind == "f32":
            return (int.from_bytes(self.bytes(4), "little"),)
        if kind == "f64":
            return (int.from_bytes(self.bytes(8), "little"),)
        if kind == "reftype":
            return (self.reftype(),)
        raise AssertionError(kind)

    def expr(self) -> list[Instr]:
        """Instructions up to and including the ``end`` that closes the expression."""
        body: list[Instr] = []
        depth = 0
        while True:
            ins = self.instr()
            body.append(ins)
            if ins.op in ("block", "loop", "if"):
                depth += 1
            elif ins.op == "end":
                if depth == 0:
                    return body
                depth -= 1


SECTION_ORDER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12}


def decode(wasm: bytes) -> Module:
    """The Module that ``wasm`` encodes.

    Raises ModuleRejected if the binary is malformed, Unsupported(feature)
    if it uses a proposal this interpreter does not implement.
    """
    r = _Reader(bytes(wasm))
    if r.bytes(4) != b"\0asm":
        raise ModuleRejected("magic header not detected")
    version = r.bytes(4)
    if version != b"\x01\0\0\0":
        if version[:2] == b"\x0d\0":
            raise Unsupported("component-model")
        raise ModuleRejected("unknown binary version")
    m = Module()
    func_decls: list[int] = []
    last = 0
    while not r.eof():
        sid = r.byte()
        size = r.uleb()
        end = r.pos + size
        if end > r.end:
            raise ModuleRejected("section size mismatch")
        s = _Reader(r.data, r.pos, end)
        if sid == 0:
            s.name()  # custom section: its name must be well-formed, the rest is skipped
            s.pos = end
        elif sid == 13:
            raise Unsupported("exceptions")
        elif sid not in SECTION_ORDER:
            raise ModuleRejected("malformed section id")
        else:
            if SECTION_ORDER[sid] <= last:
                raise ModuleRejected("unexpected content after last section")
            last = SECTION_ORDER[sid]
            _SECTIONS[sid](s, m, func_decls)
        if s.pos != end:
            raise ModuleRejected("section size mismatch")
        r.pos = end
    if len(m.mems) + len(m.imported("memory")) > 1:
        raise Unsupported("multi-memory")
    if len(func_decls) != len(m.codes):
        raise ModuleRejected("function and code section have inconsistent lengths")
    m.funcs = func_decls
    return m


def _types(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        form = s.byte()
        if form in (0x4E, 0x50, 0x4F, 0x5E, 0x5F):
            raise Unsupported("gc")
        if form != 0x60:
            raise ModuleRejected("malformed type")
        params = tuple(s.vec(s.valtype))
        results = tuple(s.vec(s.valtype))
        m.types.append(FuncType(params, results))


def _imports(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        module, name = s.name(), s.name()
        kind = s.byte()
        if kind == 0:
            m.imports.append(Import(module, name, "func", s.uleb()))
        elif kind == 1:
            m.imports.append(Import(module, name, "table", s.tabletype()))
        elif kind == 2:
            lim = s.limits("memory")
            m.imports.append(Import(module, name, "memory", lim))
        elif kind == 3:
            m.imports.append(Import(module, name, "global", s.globaltype()))
        elif kind == 4:
            raise Unsupported("exceptions")
        else:
            raise ModuleRejected("malformed import kind")


def _functions(s: _Reader, m: Module, func_decls: list[int]) -> None:
    func_decls.extend(s.vec(s.uleb))


def _tables(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        if s.pos < s.end and s.data[s.pos] == 0x40:
            raise Unsupported("function-references")  # table with an initialiser
        m.tables.append(s.tabletype())


def _memories(s: _Reader, m: Module, _) -> None:
    m.mems.extend(s.vec(lambda: s.limits("memory")))
    if len(m.mems) + len(m.imported("memory")) > 1:
        raise Unsupported("multi-memory")


def _globals(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        t = s.globaltype()
        m.globals.append(Global(t, s.expr()))


def _exports(s: _Reader, m: Module, _) -> None:
    kinds = {0: "func", 1: "table", 2: "memory", 3: "global"}
    for _i in range(s.uleb()):
        name = s.name()
        kind = s.byte()
        if kind == 4:
            raise Unsupported("exceptions")
        if kind not in kinds:
            raise ModuleRejected("malformed export kind")
        m.exports.append(Export(name, kinds[kind], s.uleb()))


def _start(s: _Reader, m: Module, _) -> None:
    m.start = s.uleb()


def _elems(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        flags = s.uleb()
        if flags > 7:
            raise ModuleRejected("malformed elements segment kind")
        passive_or_declarative = flags & 1
        explicit_table = flags & 2
        uses_exprs = flags & 4
        table, offset = 0, None
        if not passive_or_declarative:
            if explicit_table:
                table = s.uleb()
            offset = s.expr()
            mode = "active"
        else:
            mode = "declarative" if explicit_table else "passive"
        if flags & 3 == 0:
            etype = "funcref"  # flags 0 and 4: no element kind/type byte
        elif uses_exprs:
            etype = s.reftype()
        else:
            if s.byte() != 0x00:
                raise ModuleRejected("malformed element kind")
            etype = "funcref"
        if uses_exprs:
            init = s.vec(s.expr)
        else:
            init = [[Instr("ref.func", (x,)), Instr("end")] for x in s.vec(s.uleb)]
        m.elems.append(ElemSegment(etype, init, mode, table, offset))


def _codes(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        size = s.uleb()
        end = s.pos + size
        if end > s.end:
            raise ModuleRejected("unexpected end")
        c = _Reader(s.data, s.pos, end)
        local_types: list[str] = []
        for _j in range(c.uleb()):
            n = c.uleb()
            t = c.valtype()
            if len(local_types) + n > 50000:
                raise ModuleRejected("too many locals")
            local_types.extend([t] * n)
        body = c.expr()
        if c.pos != end:
            raise ModuleRejected("section size mismatch")
        s.pos = end
        m.codes.append(Code(local_types, body))


def _datas(s: _Reader, m: Module, _) -> None:
    for _i in range(s.uleb()):
        flags = s.uleb()
        if flags == 0:
            offset = s.expr()
            m.datas.append(DataSegment(s.bytes(s.uleb()), "active", 0, offset))
        elif flags == 1:
            m.datas.append(DataSegment(s.bytes(s.uleb()), "passive"))
        elif flags == 2:
            mem = s._memidx()
            offset = s.expr()
            m.datas.append(DataSegment(s.bytes(s.uleb()), "active", mem, offset))
        else:
            raise ModuleRejected("malformed data segment kind")


def _datacount(s: _Reader, m: Module, _) -> None:
    s.uleb()


_SECTIONS = {1: _types, 2: _imports, 3: _functions, 4: _tables, 5: _memories, 6: _globals,
             7: _exports, 8: _start, 9: _elems, 10: _codes, 11: _datas, 12: _datacount}

__all__ = ["decode", "Module", "Instr", "FuncType", "Limits", "TableType", "GlobalType", "Import",
           "Export", "Global", "ElemSegment", "DataSegment", "Code", "LOADS", "STORES"]
