"""Export signatures read straight from a module binary.

wasmtime's Python API aborts the whole process when asked for the type of
a function that has a v128 in its signature, and converts f32 results
through Python floats (which quiets signalling NaNs).  The wasmtime
executor therefore needs each export's signature *before* touching the
function; this reads just the type, import, function and export sections.
GC encodings (rec groups, subtypes, struct/array types, typed references)
are read too; a reference type other than funcref/externref is named
``ref:<heap type>`` so the executor can decline it before wasmtime-py
aborts on it.
"""
from __future__ import annotations

HEAP = {0x70: "func", 0x6F: "extern", 0x6E: "any", 0x6D: "eq", 0x6C: "i31", 0x6B: "struct", 0x6A: "array",
        0x69: "exn", 0x71: "none", 0x72: "noextern", 0x73: "nofunc", 0x74: "noexn"}
VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref", 0x6F: "externref"}


class _Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data, self.pos = data, pos
        self.end = len(data) if end is None else end

    def byte(self) -> int:
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    def name(self) -> str:
        n = self.u32()
        s = self.data[self.pos : self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def s33(self) -> int:
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result - (1 << shift) if b & 0x40 else result

    def heaptype(self) -> str:
        b = self.data[self.pos]
        if b in HEAP:
            self.pos += 1
            return HEAP[b]
        return f"type{self.s33()}"

    def valtype(self) -> str:
        b = self.byte()
        if b in VALTYPES:
            return VALTYPES[b]
        if b in (0x63, 0x64):  # (ref null ht) / (ref ht)
            heap = self.heaptype()
            if b == 0x63 and heap in ("func", "extern"):
                return f"{heap}ref"
            return f"ref:{'null ' if b == 0x63 else ''}{heap}"
        if b in HEAP:  # abbreviations anyref, eqref, ...
            return f"ref:null {HEAP[b]}"
        raise ValueError(f"valtype 0x{b:02x}")

    def storage(self) -> None:
        if self.data[self.pos] in (0x78, 0x77):  # i8, i16 packed
            self.pos += 1
        else:
            self.valtype()
        self.byte()  # mutability

    def comptype(self):
        form = self.byte()
        if form == 0x60:
            params = tuple(self.valtype() for _ in range(self.u32()))
            results = tuple(self.valtype() for _ in range(self.u32()))
            return (params, results)
        if form == 0x5F:
            for _ in range(self.u32()):
                self.storage()
            return None
        if form == 0x5E:
            self.storage()
            return None
        raise ValueError(f"type form 0x{form:02x}")

    def subtype(self):
        if self.data[self.pos] in (0x50, 0x4F):
            self.pos += 1
            for _ in range(self.u32()):
                self.u32()
        return self.comptype()

    def limits(self) -> None:
        flags = self.byte()
        self.u32()
        if flags & 1:
            self.u32()
        if flags & 8:  # custom page size
            self.u32()


def export_signatures(wasm: bytes) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """{export name: (params, results)} for exported functions; {} if the binary is beyond this reader."""
    try:
        return _signatures(wasm)
    except (ValueError, IndexError, UnicodeDecodeError):
        return {}


def _signatures(wasm: bytes) -> dict:
    if wasm[:4] != b"\0asm":
        return {}
    r = _Reader(wasm, 8)
    types: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    func_types: list[int] = []
    exports: dict[str, int] = {}
    while r.pos < r.end:
        sid = r.byte()
        size = r.u32()
        body = _Reader(wasm, r.pos, r.pos + size)
        r.pos += size
        if sid == 1:
            for _ in range(body.u32()):
                if body.data[body.pos] == 0x4E:  # rec group
                    body.pos += 1
                    types.extend(body.subtype() for _ in range(body.u32()))
                else:
                    types.append(body.subtype())
        elif sid == 2:
            for _ in range(body.u32()):
                body.name()
                body.name()
                kind = body.byte()
                if kind == 0:
                    func_types.append(body.u32())
                elif kind == 1:
                    body.valtype()
                    body.limits()
                elif kind == 4:  # tag
                    body.byte()
                    body.u32()
                elif kind == 2:
                    body.limits()
                elif kind == 3:
                    body.valtype()
                    body.byte()
                else:
                    raise ValueError("import kind")
        elif sid == 3:
            func_types.extend(body.u32() for _ in range(body.u32()))
        elif sid == 7:
            for _ in range(body.u32()):
                name = body.name()
                kind = body.byte()
                idx = body.u32()
                if kind == 0:
                    exports[name] = idx
    return {name: types[func_types[idx]] for name, idx in exports.items() if types[func_types[idx]] is not None}


def import_modules(wasm: bytes) -> set[str]:
    """The module names a binary imports from ({} if unreadable)."""
    try:
        r = _Reader(wasm, 8)
        while r.pos < r.end:
            sid = r.byte()
            size = r.u32()
            if sid != 2:
                r.pos += size
                continue
            body = _Reader(wasm, r.pos, r.pos + size)
            names = set()
            for _ in range(body.u32()):
                names.add(body.name())
                body.name()
                kind = body.byte()
                if kind in (0, 4):
                    if kind == 4:
                        body.byte()
                    body.u32()
                elif kind == 1:
                    body.valtype()
                    body.limits()
                elif kind == 2:
                    body.limits()
                elif kind == 3:
                    body.valtype()
                    body.byte()
            return names
    except (ValueError, IndexError, UnicodeDecodeError):
        pass
    return set()
