"""A minimal WebAssembly binary decoder: what the program encoder needs.

NOTE: duplicates part of ``reference_model/interpreter/binary.py`` (being
written in parallel); switch to that one when it lands.  Functions whose
bodies use an opcode this decoder cannot parse keep ``error`` set and are
Unsupported when invoked; everything else in the module still works.
"""
from __future__ import annotations

from dataclasses import dataclass, field

VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}


@dataclass
class Instr:
    code: int  # opcode byte (0xFC-prefixed: 0xFC00 + sub-opcode)
    imm: tuple = ()


@dataclass
class Function:
    type_index: int
    locals: list = field(default_factory=list)  # non-parameter locals' types
    body: list | None = None
    error: str | None = None


@dataclass
class Global:
    type: str
    mutable: bool
    init: int | None  # bits of a constant initialiser (None: it reads a global)
    expr: bytes = b""  # the initialiser expression (for ``const_value`` with the globals' values)


@dataclass
class Module:
    types: list = field(default_factory=list)  # (params, results)
    imports: list = field(default_factory=list)  # (module, name, kind, desc)
    functions: list = field(default_factory=list)  # defined functions
    globals: list = field(default_factory=list)  # defined globals
    exports: dict = field(default_factory=dict)  # name -> (kind, index)
    start: int | None = None
    imported_funcs: list = field(default_factory=list)  # type indices
    imported_globals: list = field(default_factory=list)  # (module, name, type, mutable)
    memories: list = field(default_factory=list)  # (min pages, max pages or None), imported ones first
    wide_limits: bool = False  # a memory or table with 64-bit addresses (memory64 / table64)
    imported_memories: int = 0
    data: list = field(default_factory=list)  # (memory, offset: -1 passive, or its expression's bytes, data)
    func_refs: set = field(default_factory=set)  # functions named by element segments and ref.func (None: unknown)


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.d, self.p, self.end = data, pos, len(data) if end is None else end

    def byte(self) -> int:
        b = self.d[self.p]
        self.p += 1
        return b

    def u32(self) -> int:
        result, shift = 0, 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def sleb(self, bits: int) -> int:
        result, shift = 0, 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result & ((1 << bits) - 1)

    def name(self) -> str:
        n = self.u32()
        s = self.d[self.p : self.p + n].decode("utf-8", "replace")
        self.p += n
        return s

    def take(self, n: int) -> bytes:
        s = self.d[self.p : self.p + n]
        self.p += n
        return s


def _limits(r, m=None) -> tuple:
    """(min, max or None); the shared flag is read past, the 64-bit one noted on the module ``m``."""
    flag = r.byte()
    if flag & 4 and m is not None:
        m.wide_limits = True
    lo = r.u32()  # (LEB128 of any length: 64-bit limits too)
    hi = r.u32() if flag & 1 else None
    return lo, hi


def _elements(r, refs: set) -> None:
    """The element section: every function a segment names goes to refs."""
    for _ in range(r.u32()):
        flag = r.u32()
        if flag in (2, 6):
            r.u32()  # table index
        if flag in (0, 2, 4, 6):
            _const_expr(r)  # offset
        if flag in (1, 2, 3, 5, 6, 7):
            if r.byte() in (0x63, 0x64):  # element kind / reference type; (ref null? <heap type>)
                r.sleb(33)
        if flag < 4:
            refs.update(r.u32() for _ in range(r.u32()))
        else:
            for _ in range(r.u32()):
                _const_expr(r, refs=refs)


def const_value(expr: bytes, globals_bits: dict) -> int | None:
    """The value of a constant expression whose ``global.get`` reads ``globals_bits`` (None if it cannot)."""
    return _const_expr(_Reader(expr), globals_bits)


def _const_expr(r, globals_bits: dict | None = None, refs: set | None = None) -> int | None:
    """The value bits of a constant expression: None if it reads a global not in ``globals_bits`` (or is a
    reference).  Extended constants (i32/i64 add, sub, mul) are evaluated.  With ``refs``, the functions it
    names go there (None for a ``global.get``: any function).
    """
    stack, unknown = [], False
    while True:
        op = r.byte()
        if op == 0x0B:
            return None if unknown or not stack else stack[-1]
        if op == 0x41:
            stack.append(r.sleb(32))
        elif op == 0x42:
            stack.append(r.sleb(64))
        elif op == 0x43:
            stack.append(int.from_bytes(r.take(4), "little"))
        elif op == 0x44:
            stack.append(int.from_bytes(r.take(8), "little"))
        elif op == 0xFD:  # v128.const
            r.u32()
            stack.append(int.from_bytes(r.take(16), "little"))
        elif op == 0x23:
            g = r.u32()
            if refs is not None:
                refs.add(None)
            if globals_bits is not None and g in globals_bits:
                stack.append(globals_bits[g])
            else:
                unknown = True
                stack.append(0)
        elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
            b, a = stack.pop(), stack.pop()
            v = a + b if op in (0x6A, 0x7C) else a - b if op in (0x6B, 0x7D) else a * b
            stack.append(v & (0xFFFFFFFF if op < 0x70 else 0xFFFFFFFFFFFFFFFF))
        elif op == 0xD0:
            r.byte()
            stack.append(None)
        elif op == 0xD2:
            f = r.u32()
            if refs is not None:
                refs.add(f)
            stack.append(None)
        else:
            raise ValueError(f"constant expression opcode 0x{op:02x}")


_NO_IMM = set(range(0x45, 0xC5)) | {0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1}


def _instr(r) -> Instr:
    op = r.byte()
    if op in _NO_IMM:
        return Instr(op)
    if op in (0x02, 0x03, 0x04):
        b = r.d[r.p]
        if b == 0x40 or b in VALTYPES:
            r.p += 1
            return Instr(op, ("empty",) if b == 0x40 else ("val", VALTYPES[b]))
        return Instr(op, ("type", r.sleb(33)))
    if op in (0x0C, 0x0D, 0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0xD2):
        return Instr(op, (r.u32(),))
    if op == 0x0E:
        labels = tuple(r.u32() for _ in range(r.u32()))
        return Instr(op, (labels, r.u32()))
    if op == 0x11:
        return Instr(op, (r.u32(), r.u32()))
    if op == 0x1C:
        return Instr(op, tuple(VALTYPES.get(r.byte(), "?") for _ in range(r.u32())))
    if 0x28 <= op <= 0x3E:
        return Instr(op, (r.u32(), r.u32()))
    if op in (0x3F, 0x40):
        return Instr(op, (r.byte(),))
    if op == 0x41:
        return Instr(op, (r.sleb(32),))
    if op == 0x42:
        return Instr(op, (r.sleb(64),))
    if op == 0x43:
        return Instr(op, (r.take(4),))
    if op == 0x44:
        return Instr(op, (r.take(8),))
    if op == 0xD0:
        return Instr(op, (r.byte(),))
    if op == 0xFC:
        sub = r.u32()
        n = {8: 1, 9: 1, 12: 2, 13: 1, 14: 2, 15: 1, 16: 1, 17: 1}.get(sub, 0)
        imm = tuple(r.u32() for _ in range(n))
        if sub in (8, 10, 11):
            imm += tuple(r.byte() for _ in range(1 if sub in (8, 11) else 2))
        return Instr(0xFC00 + sub, imm)
    raise ValueError(f"opcode 0x{op:02x}")


def decode_module(data: bytes) -> Module:
    """The parts of a (validated) module the transformer executor uses."""
    m = Module()
    r = _Reader(data, 8)
    func_types = []
    while r.p < len(data):
        sid = r.byte()
        size = r.u32()
        end = r.p + size
        if sid == 1:
            for _ in range(r.u32()):
                if r.byte() != 0x60:  # rec groups, sub types, structs, arrays (GC)
                    raise ValueError("type section: GC type forms")
                params = tuple(VALTYPES.get(r.byte(), "?") for _ in range(r.u32()))
                results = tuple(VALTYPES.get(r.byte(), "?") for _ in range(r.u32()))
                m.types.append((params, results))
        elif sid == 2:
            for _ in range(r.u32()):
                mod, name, kind = r.name(), r.name(), r.byte()
                if kind == 0:
                    desc = r.u32()
                    m.imported_funcs.append(desc)
                elif kind == 1:
                    r.byte()
                    _limits(r, m)
                    desc = None
                elif kind == 2:
                    desc = _limits(r, m)
                    m.memories.append(desc)
                    m.imported_memories += 1
                elif kind == 3:
                    t, mut = VALTYPES.get(r.byte(), "?"), r.byte()
                    desc = (t, bool(mut))
                    m.imported_globals.append((mod, name, t, bool(mut)))
                else:
                    desc = r.u32()  # tag
                m.imports.append((mod, name, kind, desc))
        elif sid == 3:
            func_types = [r.u32() for _ in range(r.u32())]
        elif sid == 5:
            for _ in range(r.u32()):
                m.memories.append(_limits(r, m))
        elif sid == 9:
            _elements(r, m.func_refs)
        elif sid == 11:
            for _ in range(r.u32()):
                flag = r.u32()
                mem, offset = 0, -1
                if flag in (0, 2):
                    mem = r.u32() if flag == 2 else 0
                    start = r.p
                    offset = _const_expr(r)
                    if offset is None:  # reads a global: the expression, for const_value at instantiation
                        offset = bytes(r.d[start : r.p])
                size = r.u32()
                m.data.append((mem, offset, r.take(size)))
        elif sid == 6:
            for _ in range(r.u32()):
                t, mut = VALTYPES.get(r.byte(), "?"), r.byte()
                start = r.p
                value = _const_expr(r, refs=m.func_refs)
                m.globals.append(Global(t, bool(mut), value, bytes(r.d[start : r.p])))
        elif sid == 7:
            for _ in range(r.u32()):
                name, kind, idx = r.name(), r.byte(), r.u32()
                m.exports[name] = (kind, idx)
        elif sid == 8:
            m.start = r.u32()
        elif sid == 10:
            for i in range(r.u32()):
                fsize = r.u32()
                fend = r.p + fsize
                f = Function(func_types[i])
                try:
                    for _ in range(r.u32()):
                        n, t = r.u32(), r.byte()
                        f.locals += [VALTYPES.get(t, "?")] * n
                    body = []
                    while r.p < fend:
                        body.append(_instr(r))
                    f.body = body
                    m.func_refs.update(ins.imm[0] for ins in body if ins.code == 0xD2)
                except (ValueError, IndexError) as e:
                    f.error = str(e)
                r.p = fend
                m.functions.append(f)
        r.p = end
    return m
