"""A decoded module + an invocation -> the program prompt (tokens + slot table).

Encoding is a compiler step, not runtime state: branch targets, frame
offsets, static operand heights and call targets are resolved here into
each instruction slot's 12 immediate bytes (see compiler/vocabulary.py):

  H  (0,1) frame-relative height before the instruction (locals + link + operands)
  X  (2,3) port-X offset (local index, global address, link offset) ; XA (4) absolute?
  W  (5,6) write offset ; WA (7) absolute?
  TGT(8,9) target slot ; N (10,11) br_table count / call frame delta ; CONST = bytes 8..11

Memory: address 0 = "no write", globals at 1..G, frames from G+1.  A frame
holds its locals at fp+i, the caller's link (return slot, caller fp) at
fp+nlocals, then its operand stack.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.opcodes import BY_CODE, BY_NAME, STORE_HI
from reference_model.errors import Unsupported
from reference_model.program.binary import Module
from reference_model.program.wide import NUMERIC, WIDTH, Micro, width

FEATURES = [
    (0x11, 0x11, "call_indirect"), (0x25, 0x26, "reference types (table.get/set)"),
    (0x29, 0x29, "i64"), (0x2A, 0x2B, "floats"), (0x30, 0x35, "i64"), (0x37, 0x37, "i64"), (0x38, 0x39, "floats"),
    (0x3C, 0x3E, "i64"), (0x28, 0x40, "memory"),
    (0x42, 0x42, "i64"), (0x43, 0x44, "floats"), (0x50, 0x5A, "i64"), (0x5B, 0x66, "floats"), (0x79, 0x8A, "i64"),
    (0x8B, 0xA6, "floats"), (0xA7, 0xBF, "conversions"), (0xC2, 0xC4, "i64"), (0xD0, 0xD2, "reference types"),
    (0xFC00, 0xFC07, "saturating conversions"), (0xFC08, 0xFC11, "bulk memory/table"),
]


def feature_of(code: int) -> str:
    for lo, hi, name in FEATURES:
        if lo <= code <= hi:
            return name
    return f"opcode 0x{code:02x}"


@dataclass
class Slot:
    """One instruction slot of the prompt, as the trace decoder sees it."""

    op: str  # machine opcode (opcodes.py)
    func: int | None = None  # function index (None: pseudo slot outside functions)
    pc: int | None = None  # instruction index in the body (None: hidden pseudo slot)
    mnemonic: str = ""
    height: int = 0  # operand height after (taken height for branches)
    height_fallthrough: int = 0  # br_if not taken
    target: int = 0  # TGT slot
    index: int = 0  # local/global index for writes
    imm: list = field(default_factory=lambda: [0] * vocab.N_IMM)
    bulk: bool = False  # a hidden store of a bulk instruction: its byte belongs to that record's write
    base: int = 0  # table.write: the table's first cell (the write's element index is the cell minus it)
    micro: bool = False  # a hidden slot of an i64 instruction's microcode (wide.py)
    multi: tuple = ()  # a return of several cells: the result types, read from fp+0.. (two cells per i64)
    wide: int | None = None  # an i64 value: its low cell (frame offset, or absolute with wide_abs); high cell next
    wide_abs: bool = False
    gather: int = 0  # i64.store: the record's write is these bytes at the effective address, as the model wrote them
    ref: str = ""  # "funcref" / "externref": the value it pushes, writes or returns is an element word, read as its
    #                payload (payload_of)
    push: bool = False  # its record pushes the written value although the row does not (table.get's table.read)
    results: int = 0  # a call's result values: while its callee runs, the caller's height is height - results


@dataclass
class ProgramPrompt:
    tokens: list
    slots: list
    entry: int  # slot
    func: int
    results: int
    globals_written: dict = field(default_factory=dict)
    fp0: int = 0  # the entry frame pointer
    cells: dict = field(default_factory=dict)  # the prompt's memory cells: address -> value
    payloads: dict = field(default_factory=dict)  # element word -> the function's store address (0: null)
    result_types: tuple = ()
    # a call that may grow a table: per table (its size cell, its first element's cell, its element type)
    table_cells: list | None = None

    def call_sites(self) -> dict:
        """(function index, pc) -> (advance, top) of every call slot, as its immediates give them to the model:
        the callee's frame starts at fp + advance, and the call exhausts the stack when fp + top reaches the
        machine's stack_limit (compiler/machine_to_graph.py; the oracle's CellStack)."""
        return {(s.func, s.pc): (s.imm[10] | s.imm[11] << 8, s.imm[2] | s.imm[3] << 8)
                for s in self.slots if s.op in ("call", "call_indirect") and s.pc is not None}


class Ref(NamedTuple):
    """A function reference as the executor knows it: its store address (the trace's payload), its
    signature, and its decoded module and index there when the model may run it (module None: it cannot,
    ``why``)."""

    addr: int
    module: object
    func: int
    sig: tuple
    why: str = ""


# Ref.why of an imported host function that does nothing and returns nothing (spectest's print functions):
# a call of it is a slot that pops its arguments, as the reference interpreter's call does
NOOP_HOST = "a host function that does nothing"


class Extern(NamedTuple):
    """An externref as the executor knows it: the host's payload (its element word is payload + 1)."""

    payload: int


MAX_EXTERN = 0xFFFFFFFE  # the largest payload whose word (payload + 1) fits a cell
REF_TYPES = ("funcref", "externref")  # values held as their element word (one cell)


def payload_of(kind: str, word: int, payloads: dict):
    """The trace's payload of a reference's element word: a funcref's store address (-1: no function's word),
    an externref's payload; None for null (word 0)."""
    if kind == "externref":
        return None if word == 0 else word - 1
    return payloads.get(word, -1)


@dataclass(frozen=True)
class Conventions:
    """Where control goes (must match the reference interpreter's trace)."""

    if_false_to_end: bool = True  # `if` without else, false: jump to the `end` (it executes)
    else_to_end: bool = True  # then-branch reaching `else`: jump to the `end` (it executes)
    loop_target_body: bool = False  # br to a loop: the `loop` instruction itself (re-entered)


def _put16(imm, at, v):
    assert 0 <= v < 65536, v
    imm[at], imm[at + 1] = v & 255, v >> 8


def _block_types(module, instr) -> tuple:
    """The block's (parameter types, result types)."""
    kind = instr.imm[0]
    if kind == "empty":
        return (), ()
    if kind == "val":
        width(instr.imm[1])
        return (), (instr.imm[1],)
    params, results = module.types[instr.imm[1]]
    for t in (*params, *results):
        width(t)
    return tuple(params), tuple(results)


def cells_of(types) -> int:
    """Stack cells of values of these types."""
    return sum(width(t) for t in types)


# i64 (and f64) instructions beyond wide.NUMERIC: const, loads and stores (the i32 row each uses, sign-extended?)
I64_CONST = 0x42
I64_LOADS = {0x29: ("i64.load", "i32.load", None), 0x30: ("i64.load8_s", "i32.load8_s", True),
             0x31: ("i64.load8_u", "i32.load8_u", False), 0x32: ("i64.load16_s", "i32.load16_s", True),
             0x33: ("i64.load16_u", "i32.load16_u", False), 0x34: ("i64.load32_s", "i32.load", True),
             0x35: ("i64.load32_u", "i32.load", False),
             0x2B: ("f64.load", "i32.load", None)}  # (floats as bits, below)
I64_STORES = {0x37: ("i64.store", "i32.store"), 0x3C: ("i64.store8", "i32.store8"),
              0x3D: ("i64.store16", "i32.store16"), 0x3E: ("i64.store32", "i32.store"),
              0x39: ("f64.store", "i32.store")}
# floats as bits (wide.py): f32 loads, stores and constants are the i32 rows under their own mnemonics; f64
# ones are the i64 microcode; comparisons are microcode on the bits (wide.FLOAT_COMPARE); float arithmetic
# stays unsupported: "floats"
F32_ALIAS = {0x2A: ("f32.load", "i32.load"), 0x38: ("f32.store", "i32.store"), 0x43: ("f32.const", "i32.const")}
F64_CONST = 0x44
I64_CODES = {I64_CONST, F64_CONST, *NUMERIC, *I64_LOADS, *I64_STORES}
# references (an element word on the stack, funcref or externref): ref.null, ref.is_null, ref.func, table.get,
# table.set, table.size, table.fill, table.grow (microcode: _table_grow)
REF_CODES = {0xD0: "ref.null", 0xD1: "ref.is_null", 0xD2: "ref.func", 0x25: "table.get", 0x26: "table.set",
             0xFC10: "table.size", 0xFC11: "table.fill", 0xFC0F: "table.grow"}
_REF_ROW = {0xD0: "i32.const", 0xD1: "i32.eqz", 0xD2: "i32.const", 0x25: "table.read", 0x26: "table.write",
            0xFC10: "i32.const", 0xFC11: "table.copy", 0xFC0F: "local.get"}
# a call that may grow a table holds each table's size in a cell (TABLE_BASE + the table's index, the tables'
# elements after them); the instructions that check an index against a size first clamp it (_clamp)
_CLAMPED = {0x11, 0x25, 0x26, 0xFC0C, 0xFC0E, 0xFC11}


def two_cells(t) -> bool:
    """A value of type t takes two cells (i64, f64)."""
    return WIDTH.get(t) == 2


def const_bits(ins) -> int:
    """The bits of a constant instruction's immediate (f32/f64 constants are stored as their bytes)."""
    v = ins.imm[0]
    return int.from_bytes(v, "little") if isinstance(v, (bytes, bytearray, memoryview)) else v


def mnemonic_of(code: int) -> str:
    if code in BY_CODE:
        return BY_CODE[code].mnemonic
    if code in F32_ALIAS:
        return F32_ALIAS[code][0]
    if code in REF_CODES:
        return REF_CODES[code]
    if code in (I64_CONST, F64_CONST):
        return "i64.const" if code == I64_CONST else "f64.const"
    return (NUMERIC.get(code) or I64_LOADS.get(code) or I64_STORES[code])[0]


class _Functions:
    """Per-function facts: signature, locals, reachability."""

    table_types: list = []  # each table's element type (encode_invocation sets it)

    def __init__(self, module: Module):
        self.m = module
        self.n_imp = len(module.imported_funcs)
        self.stops: dict = {}  # why -> halt slot
        self.growable = False  # the call may reach a table.grow (encode_invocation sets it)
        self.slot_list: list | None = None  # the program's slots once pass 1 is done (microcode's halt slots)

    def sig(self, f):
        t = self.m.imported_funcs[f] if f < self.n_imp else self.m.functions[f - self.n_imp].type_index
        return self.m.types[t]

    def noop_host(self, f) -> bool:
        """Whether function f is an import the executor knows as a host function that does nothing."""
        funcs = getattr(self, "funcs", None)
        return f < self.n_imp and funcs is not None and f < len(funcs) and funcs[f] is not None \
            and funcs[f].why == NOOP_HOST and not funcs[f].sig[1]

    def check(self, f) -> None:
        if f < self.n_imp:
            if self.noop_host(f):
                return
            raise Unsupported("imported function call")
        fn = self.m.functions[f - self.n_imp]
        if fn.error:
            raise Unsupported(f"undecodable body ({fn.error})")
        params, results = self.sig(f)
        for t in (*params, *results, *fn.locals):
            width(t)
        for ins in fn.body:
            if ins.code not in BY_CODE and ins.code not in I64_CODES and ins.code not in F32_ALIAS \
                    and ins.code not in REF_CODES:
                raise Unsupported(feature_of(ins.code))
            if ins.code == 0x1C and any(t not in WIDTH for t in ins.imm):
                raise Unsupported(" ".join(ins.imm))

    def frame(self, f) -> tuple:
        """(offsets, cells): each local's (parameters first) frame offset, and the frame's cells below the
        link.  A function with an i64 result has at least 2 (its return moves the result to fp+0, fp+1)."""
        params, results = self.sig(f)
        offs, at = [], 0
        for t in (*params, *self.m.functions[f - self.n_imp].locals):
            offs.append(at)
            at += width(t)
        return offs, max(at, cells_of(results)) if cells_of(results) > 1 else at

    def bound(self, f) -> int:
        """Frame top bound (exhaustion): cells, link, operands; an i64 function's microcode also uses scratch."""
        fn = self.m.functions[f - self.n_imp]
        n = self.frame(f)[1] + 1 + len(fn.body) + 8
        if self.growable:  # a table.grow or a clamp (_clamp_prefix) uses up to ~50 cells
            n += 64
        return n + len(fn.body) + 300 if self.wide(f) else n  # (a signed i64 division uses 256 scratch cells)

    def wide(self, f) -> bool:
        params, results = self.sig(f)
        fn = self.m.functions[f - self.n_imp]
        return any(map(two_cells, (*params, *results, *fn.locals))) or any(ins.code in I64_CODES for ins in fn.body)

    def global_cell(self, g) -> int:
        """A global's cell: 1 + the cells of the globals before it (an i64 or f64 global has two)."""
        m = self.m
        return 1 + sum(1 + two_cells(global_type(m, k)) for k in range(g))

    def stop(self, why: str, slots: list, key=None) -> int:
        """A halt slot past the functions: the model jumps there when the call reaches what it cannot run
        (the decoder makes that outcome unsupported, with ``why``); one per ``key`` (default: per why)."""
        key = why if key is None else key
        if key not in self.stops:
            self.stops[key] = len(slots)
            slots.append(Slot("halt", None, None, why))
        return self.stops[key]

    def type_id(self, sig) -> int:
        """call_indirect's id of a signature: 1 + the index of the first equal type (255: none is equal)."""
        for k, t in enumerate(self.m.types):
            if t == tuple(sig):
                return k + 1
        return 255

    def reachable(self, entry, targets=None) -> tuple:
        """(functions, declined): the functions a call of ``entry`` may reach, by ``call`` and, through the
        tables (``targets``: this module's functions in its tables and element segments), by
        ``call_indirect``; declined: those the model cannot run (index -> why), which a call_indirect
        reaches only to stop there."""
        order, todo, declined = [], [(entry, True)], {}
        while todo:
            f, direct = todo.pop()
            if f in order or (not direct and f in declined):
                continue
            try:
                self.check(f)
            except Unsupported as e:
                if direct:
                    raise
                declined[f] = e.feature
                continue
            if f < self.n_imp:  # a host function that does nothing: its calls are slots of their own, no body
                continue
            order.append(f)
            for ins in self.m.functions[f - self.n_imp].body:
                if ins.code == 0x10:
                    todo.append((ins.imm[0], True))
                elif ins.code == 0x11:
                    if targets is None:
                        raise Unsupported("call_indirect (no table state)")
                    todo.extend((e, False) for e in sorted(targets))
        return order, declined


def _typing(m, F, f) -> list:
    """Per instruction of ``f``'s body: (the operand types before it, after it, the types each of its branch
    labels carries); None in unreachable code (the validator's stack, read the way _encode_function reads
    control)."""
    fn = m.functions[f - F.n_imp]
    params, results = F.sig(f)
    ltypes = (*params, *fn.locals)
    st, ctl, dead, out = [], [], False, []
    last = len(fn.body) - 1

    def label(depth):  # the types a branch to this label carries (a loop's: its parameters)
        if depth >= len(ctl):
            return tuple(results)
        return ctl[-1 - depth][4] if ctl[-1 - depth][3] else ctl[-1 - depth][1]

    for i, ins in enumerate(fn.body):
        c = ins.code
        before = None if dead else tuple(st)
        if not dead and c in (0x0C, 0x0D):
            labels = (label(ins.imm[0]),)
        elif not dead and c == 0x0E:
            labels = tuple(label(d) for d in (*ins.imm[0], ins.imm[1]))
        else:
            labels = ()
        if c in (0x02, 0x03, 0x04):
            if c == 0x04 and not dead:
                st.pop()
            bp, br = _block_types(m, ins)
            ctl.append((tuple(st[: len(st) - len(bp)]), br, dead, c == 0x03, bp))
        elif c == 0x05:
            entry, _, dead, _, bp = ctl[-1]
            st = [*entry, *bp]
        elif c == 0x0B and i == last:
            st, dead = list(results), False
        elif c == 0x0B:
            entry, bt, dead, _, _ = ctl.pop()
            st = [*entry, *bt]
        elif not dead:
            pops, pushes = _effect(m, F, ins, st, ltypes)
            del st[len(st) - pops:]
            st.extend(pushes)
            dead = c in (0x00, 0x0C, 0x0E, 0x0F)
        out.append((before, None if dead else tuple(st), labels))
    return out


def _effect(m, F, ins, st, ltypes) -> tuple:
    """(values popped, types pushed) of a plain instruction."""
    c = ins.code
    if c in NUMERIC:
        _, args, res, _ = NUMERIC[c]
        return len(args), (res,)
    if c in (I64_CONST, F64_CONST):
        return 0, ("i64" if c == I64_CONST else "f64",)
    if c in I64_LOADS:
        return 1, ("f64" if c == 0x2B else "i64",)
    if c in I64_STORES:
        return 2, ()
    if c in F32_ALIAS:
        return {0x2A: (1, ("f32",)), 0x38: (2, ()), 0x43: (0, ("f32",))}[c]
    if c in REF_CODES:  # table.get pushes its table's element type (a table not held is unsupported at encoding)
        null = "funcref" if c != 0xD0 or ins.imm[0] == 0x70 else "externref"
        elem = F.table_types[ins.imm[0]] if c == 0x25 and ins.imm[0] < len(F.table_types) else "funcref"
        return {0xD0: (0, (null,)), 0xD1: (1, ("i32",)), 0xD2: (0, ("funcref",)), 0x25: (1, (elem,)),
                0x26: (2, ()), 0xFC10: (0, ("i32",)), 0xFC11: (3, ()), 0xFC0F: (2, ("i32",))}[c]
    if c in (0x1B, 0x1C):
        return 3, (st[-2],)
    if c in (0x20, 0x21, 0x22):
        t = ltypes[ins.imm[0]]
        return (0, (t,)) if c == 0x20 else (1, ()) if c == 0x21 else (1, (t,))
    if c in (0x23, 0x24):
        t = global_type(m, ins.imm[0])
        return (0, (t,)) if c == 0x23 else (1, ())
    if c in (0x10, 0x11):
        params, results = F.sig(ins.imm[0]) if c == 0x10 else m.types[ins.imm[0]]
        return len(params) + (c == 0x11), tuple(results)
    op = BY_CODE[c]
    return op.pops, ("i32",) * op.pushes


_HI_CODES = {BY_NAME[name].code for name in STORE_HI} | {0x3D, 0x3E, 0x38}  # stores followed by a hidden slot for the next word
MAX_PAGES, LIMIT_PAGES = 65536, 16384  # memory.grow's limits: the spec's, and the reference interpreter's
_BULK_HIDDEN = {0xFC0B: 3, 0xFC0A: 17, 0xFC0E: 17}  # hidden loop slots after memory.fill / memory.copy (_bulk_loop)
MAX_INIT_BYTES = 8192  # a memory.init lays its segment out as one hidden slot per byte
_TABLE_CHECK = 4  # table.get / table.set: hidden slots before them that check the index (_table_check)
_FILL_SLOTS = 6  # table.fill: 3 hidden moves before it, a loop of 3 after it (_encode_plain)
_TRACED_AT = {0xFC08: 1, 0xFC0C: 1, 0x40: 1, 0x25: _TABLE_CHECK, 0x26: _TABLE_CHECK, 0xFC11: 3}  # after hidden slots


def _hidden_slots(module, ins, elems=None) -> int:
    if ins.code == 0xFC08:  # memory.init: a check slot before it, its loop and the segment's bytes after it
        return 7 + len(module.data[ins.imm[0]][2])
    if ins.code == 0xFC0C:  # table.init: the same, with the segment's element words
        return 7 + len(elems[ins.imm[0]]) if elems is not None and ins.imm[0] < len(elems) else 7
    return (ins.code in _HI_CODES) + _BULK_HIDDEN.get(ins.code, 0) + 2 * (ins.code == 0x40) \
        + _TABLE_CHECK * (ins.code in (0x25, 0x26)) + _FILL_SLOTS * (ins.code == 0xFC11)
_MEMORY_READ = {*range(0x28, 0x36), 0x3F, 0x40, 0xFC08, 0xFC0A, 0xFC0B}
_MEMORY_WRITE = {*range(0x36, 0x3F), 0x40, 0xFC08, 0xFC09, 0xFC0A, 0xFC0B}
_TABLE = {0x11, 0x25, 0x26, *range(0xFC0C, 0xFC12)}
_PURE_BAN = _MEMORY_READ | _MEMORY_WRITE | _TABLE | {0x10, 0x23, 0x24, 0xD2}  # another instance's function
ALL_GLOBALS = ("global", None)
STATE = frozenset({"memory", "tables", ALL_GLOBALS})


def state_use(module: Module, func: int) -> tuple:
    """(used, written): the parts of an instance's state ("memory", "tables", ("global", index)) that calling
    ``func`` may read or write, and those it may write (("global", None) stands for every global), over every
    function it may reach: by ``call``, and by ``call_indirect`` every function an element segment or a
    ``ref.func`` names (conservative: imported functions or tables and undecodable bodies use and write
    everything)."""
    n_imp, seen, todo, used, written = len(module.imported_funcs), set(), [func], set(), set()
    imported_table = any(kind == 1 for _, _, kind, _ in module.imports)
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        body = module.functions[f - n_imp].body if f >= n_imp else None
        if body is None:
            return STATE, STATE
        for ins in body:
            c = ins.code
            if c in _MEMORY_READ or c in _MEMORY_WRITE:
                used.add("memory")
                if c in _MEMORY_WRITE:
                    written.add("memory")
            elif c in (0x23, 0x24):
                used.add(("global", ins.imm[0]))
                if c == 0x24:
                    written.add(("global", ins.imm[0]))
            if c in _TABLE:
                used.add("tables")
                if c not in (0x11, 0x25):
                    written.add("tables")
            if c == 0x10:
                todo.append(ins.imm[0])
            elif c == 0x11:
                if imported_table or None in module.func_refs:
                    return STATE, STATE
                todo.extend(module.func_refs)
    return frozenset(used), frozenset(written)


def memory_pages(module: Module, *, imported: bool = False) -> int:
    """Pages of the module's memory (0: none); Unsupported if the transformer cannot hold it.

    ``imported``: the caller holds the memory the module imports (its size and maximum are the exporter's,
    not the import's type)."""
    if module.wide_limits:
        raise Unsupported("memory64 (64-bit addresses)")
    if not module.memories:
        return 0
    if len(module.memories) > 1:
        raise Unsupported("multiple memories")
    if module.imported_memories and not imported:
        raise Unsupported("imported memory")
    lo, _ = module.memories[0]
    if lo > LIMIT_PAGES:
        raise Unsupported(f"memory of {lo} pages (past the reference interpreter's {LIMIT_PAGES})")
    return lo


def encode_invocation(module: Module, func: int, args: list, globals_bits: dict, conv: Conventions = Conventions(),
                      memory: bytes = b"", dropped: frozenset = frozenset(), tables: list | None = None,
                      elems: list | None = None, pages: int | None = None, funcs: list | None = None,
                      table_types: list | None = None, table_max: list | None = None,
                      memory_max: int | None = None) -> ProgramPrompt:
    """Prompt tokens and slot table for calling function ``func`` with i32 ``args`` (bits).

    ``globals_bits``: each global's value: a number's bits, a reference global's ``Ref`` / ``Extern`` /
    None (null); a reference global left out is one the executor does not hold (using it is unsupported).
    ``memory``: the memory's current contents (its non-zero words become prompt cells); ``dropped``: the
    segment flags set so far (data segment x: x, element segment x: number of data segments + x; active
    segments are dropped once instantiated); ``tables``: each table's elements (``Ref`` or None for null;
    a table the executor does not hold is None), ``elems``: each element segment's; None when the
    executor does not know them.  ``pages``: the memory's size now (default: its declared minimum).
    ``funcs``: the ``Ref`` of each of the module's functions (what ``ref.func`` pushes; None: not known).
    ``table_types``: each table's element type (default funcref); an externref table holds ``Extern``s.
    ``table_max``: the most elements each table may grow to (its maximum, or the store's limit); table.grow
    needs it.  ``memory_max``: the most pages memory.grow may reach (default: the module's declared maximum; an
    imported memory's is the exporter's, and its caller passes ``pages`` and ``memory_max``).
    """
    F = _Functions(module)
    F.table_types = table_types or ["funcref"] * len(tables or ())
    declared = memory_pages(module, imported=pages is not None)
    pages = declared if pages is None else pages
    refs = [] if tables is None else [r for t in (*tables, *(elems or ())) if t is not None for r in t if isinstance(r, Ref)]
    if tables is not None and funcs is not None:  # the functions ref.func names may reach a table too
        named = {ins.imm[0] for fn in module.functions for ins in fn.body if ins.code == 0xD2}
        refs += [funcs[x] for x in sorted(named) if x < len(funcs) and funcs[x] is not None]
    if tables is not None:  # and the functions reference globals hold
        refs += [r for r in globals_bits.values() if isinstance(r, Ref)]
    F.funcs = funcs
    F.memory_max = memory_max if memory_max is not None or not module.memories else module.memories[0][1]
    funcs, declined = F.reachable(func, None if tables is None else {r.func for r in refs if r.module is module})
    codes = {ins.code for f in funcs for ins in module.functions[f - F.n_imp].body}
    F.elems = elems
    if codes & _TABLE:
        if tables is None:  # (an imported table is one of them: the executor holds what it holds now)
            raise Unsupported("tables (no table state)")
        F.growable = 0xFC0F in codes
        grown = {ins.imm[0] for f in funcs for ins in module.functions[f - F.n_imp].body if ins.code == 0xFC0F}
        if F.growable and (table_max is None or any(tables[x] is None for x in grown)):
            raise Unsupported("table.grow of a table the executor does not hold")
        F.sizes = [None if t is None else len(t) for t in tables]
        F.caps = list(F.sizes)  # the cells each table's elements may take (growable: room to grow into)
        at = len(tables) if F.growable else 0  # (growable: the size cells come first)
        if F.growable:
            free = vocab.MAX_TABLE - at - sum(n for n in F.sizes if n is not None)
            for x in sorted(grown):
                F.caps[x] += max(0, min(free // len(grown), table_max[x] - F.sizes[x]))
            F.table_max = table_max
        F.bases = []
        for cap in F.caps:
            F.bases.append(at)
            at += cap or 0
        if at > vocab.MAX_TABLE or len(module.types) >= 255:
            raise Unsupported(f"tables of {at} elements, {len(module.types)} types")
    # functions of other instances the tables name: laid out too when they touch no state and call nothing
    foreign = {}
    for r in refs:
        if r.module is None or r.module is module or (id(r.module), r.func) in foreign:
            continue
        G = _Functions(r.module)
        try:
            G.check(r.func)
            if any(ins.code in _PURE_BAN for ins in r.module.functions[r.func - G.n_imp].body):
                raise Unsupported("a function of another instance that uses its state or calls")
            foreign[(id(r.module), r.func)] = (G, None)
        except Unsupported as e:
            foreign[(id(r.module), r.func)] = (None, e.feature)
    n_glob = len(module.imported_globals) + len(module.globals)
    slots = [Slot("halt")]
    entry_slot = {}
    bodies = {}
    # pass 1: slot numbers (zero-init pseudo slots, br_table entries, hidden exit)
    layout = [(module, F, f, f) for f in funcs] + [(G.m, G, f, key) for key, (G, _) in foreign.items() if G is not None
                                                   for f in [key[1]]]
    for m, G, f, key in layout:
        fn = m.functions[f - G.n_imp]
        typing = _typing(m, G, f)
        offs = G.frame(f)[0]
        entry_slot[key] = len(slots)
        n = len(slots) + cells_of(fn.locals)
        where = []
        last = len(fn.body) - 1
        for k, (ins, ty) in enumerate(zip(fn.body, typing)):
            where.append(n)
            n += 1 + (len(ins.imm[0]) + 1 if ins.code == 0x0E else 0) + _hidden_slots(m, ins, elems)
            n += len(_clamp_prefix(G, f, ins, 4096, 0)) if ty[0] is not None else 0
            n += _wide_hidden(m, G, f, ins, ty, offs, k == last)
        bodies[key] = (fn, where, n, typing)  # n = hidden exit slot
        slots.extend([None] * (n + len(_exit(f, 0, 0, cells_of(G.sig(f)[1]), tuple(G.sig(f)[1]))) - len(slots)))
    F.frame_bound = max(G.bound(f) for m, G, f, _ in layout)
    payloads = {0: None}

    def word(r) -> int:
        """The element word of a reference: entry slot, local count, type id + 1 (compiler/tables.py)."""
        if r is None:
            return 0
        if isinstance(r, Extern):
            if not 0 <= r.payload <= MAX_EXTERN:
                raise Unsupported(f"externref payload {r.payload} (its word, payload + 1, takes a cell)")
            return r.payload + 1
        key = r.func if r.module is module else (id(r.module), r.func)
        if key in entry_slot:
            G = F if r.module is module else foreign[key][0]
            nl = G.frame(r.func)[1]
            if nl > 255:
                raise Unsupported(f"a table function with {nl} locals")
            w = entry_slot[key] | nl << 16
        else:
            why = r.why or declined.get(r.func, "") if r.module is module else r.why or foreign.get(key, (0, ""))[1]
            w = F.stop(f"call_indirect to a function not run here ({why})", slots, key=("ref", r.addr))
        w |= F.type_id(r.sig) << 24
        payloads[w] = r.addr
        return w

    F.word = word
    F.slot_list = slots  # (microcode that stops the call adds its halt slot here)
    # a reference global holds its value's element word (what global.get pushes, global.set writes)
    F.ref_globals = {g for g in range(n_glob) if global_type(module, g) in REF_TYPES and g in globals_bits}
    for m, G, f, key in layout:
        _encode_function(m, G, f, bodies[key], slots, entry_slot, conv, key)
    # br_table entries of unreachable code are never executed
    slots = [s if s is not None else Slot("br_entry") for s in slots]
    cells = [(F.global_cell(g), word(globals_bits[g])) for g in sorted(F.ref_globals)]
    if codes & _TABLE:  # the tables' elements (a null one is a cell never written)
        if F.growable:
            cells += [(vocab.TABLE_BASE + t, n) for t, n in enumerate(F.sizes) if n is not None]
        for t, tab in enumerate(tables):
            for i, r in enumerate(tab or ()):
                if r is not None:
                    cells.append((vocab.TABLE_BASE + F.bases[t] + i, word(r)))

    params, results = F.sig(func)
    offs, nlocals = F.frame(func)
    fp0 = F.global_cell(n_glob)
    tokens = []
    for s in slots:
        tokens.append(vocab.op_token(s.op))
        tokens.extend(vocab.byte_token("IMM", b) for b in s.imm)
    for g in range(n_glob):
        if global_type(module, g) in REF_TYPES:
            continue  # laid out above (a reference global the executor does not hold: a cell never written)
        bits = globals_bits.get(g, 0)
        cells += [(F.global_cell(g), bits & 0xFFFFFFFF)] + [(F.global_cell(g) + 1, bits >> 32)] * two_cells(global_type(module, g))
    for t, o, a in zip(params, offs, args):
        cells += [(fp0 + o, a & 0xFFFFFFFF)] + [(fp0 + o + 1, (a >> 32) & 0xFFFFFFFF)] * two_cells(t)
    cells.append((fp0 + nlocals, 0))  # link: return to slot 0 (halt), fp 0
    if codes & {0xFC08, 0xFC09, 0xFC0C, 0xFC0D}:
        # every segment's flag is a cell (a look-up of a cell never written would find its neighbour's)
        n_flags = len(module.data) + len(elems or ())
        if n_flags > vocab.MAX_SEGMENTS:
            raise Unsupported(f"{n_flags} data and element segments")
        cells += [(vocab.DROP_BASE + x, int(x in dropped)) for x in range(n_flags)]
    if module.memories:  # the size cell even at 0 pages (a look-up of a cell never written finds a neighbour)
        cells.append((vocab.MEM_SIZE_CELL, pages))
        for i in range(0, min(len(memory), 4 * vocab.MEM_WORDS), 4):
            word = int.from_bytes(memory[i : i + 4].ljust(4, b"\0"), "little")
            if word:
                cells.append((vocab.MEM_BASE + i // 4, word))
    for addr, value in cells:
        tokens += [vocab.byte_token("A0", addr & 255), vocab.byte_token("A1", addr >> 8)]
        tokens += [vocab.byte_token(f"V{k}", (value >> (8 * k)) & 255) for k in range(4)]
    e = entry_slot[func]
    tokens.append(vocab.op_token("boot"))
    tokens += [vocab.byte_token("P0", e & 255), vocab.byte_token("P1", e >> 8)]
    tokens += [vocab.byte_token("F0", fp0 & 255), vocab.byte_token("F1", fp0 >> 8)]
    tokens += [vocab.byte_token(r, 0) for r in ("A0", "A1", "V0", "V1", "V2", "V3")]
    grow_cells = None
    if F.growable:  # where the decoder reads the tables after the run
        grow_cells = [(vocab.TABLE_BASE + t, vocab.TABLE_BASE + F.bases[t], F.table_types[t])
                      for t in range(len(tables))]
    return ProgramPrompt(tokens, slots, e, func, len(results), fp0=fp0, cells=dict(cells), payloads=payloads,
                         result_types=tuple(results), table_cells=grow_cells)


def _encode_function(module, F, f, body, slots, entry_slot, conv, key=None) -> None:
    """Fill ``f``'s slots.  Heights in immediates count cells (an i64 value has two); the trace's heights
    (``Slot.height``) count values, from the typing pass."""
    fn, where, exit_slot, typing = body
    params, results = F.sig(f)
    nparams = len(params)
    offs, nlocals = F.frame(f)
    base = nlocals + 1  # operand stack starts above the link
    arity_f = cells_of(results)
    start = entry_slot[f if key is None else key]
    zero = [offs[nparams + i] + k for i, t in enumerate(fn.locals) for k in range(width(t))]
    for i, cell in enumerate(zero):
        s = Slot("local.zero", f, None)
        s.imm[0:2] = [base & 255, base >> 8]
        _put16(s.imm, 5, cell)
        slots[start + i] = s
    for k, s in enumerate(_exit(f, base, nlocals, arity_f, tuple(results))):
        slots[exit_slot + k] = s

    # matching structure: for each block start, its else/end index
    match, stack = {}, []
    for i, ins in enumerate(fn.body):
        if ins.code in (0x02, 0x03, 0x04):
            stack.append(i)
            match[i] = [None, None]
        elif ins.code == 0x05:
            match[stack[-1]][0] = i
        elif ins.code == 0x0B and stack:
            match[stack.pop()][1] = i
    # control frames: (kind, start, cells at entry, values at entry, branch types, end types, dead outside)
    ctl = [("func", -1, 0, 0, tuple(results), tuple(results), False, ())]
    h, dead = 0, False  # h: cells (stays as it was through unreachable code)

    def label(depth):
        kind, st, hh, hv, btypes, _, _, _ = ctl[-1 - depth]
        if kind == "func":
            return exit_slot, hh, hv, btypes
        if kind == "loop":
            return (where[st] + 1 if conv.loop_target_body else where[st]), hh, hv, btypes
        return where[match[st][1]] + 1, hh, hv, btypes

    last = len(fn.body) - 1
    for i, ins in enumerate(fn.body):
        before, after, _ = typing[i]
        code = ins.code
        op = BY_NAME[F32_ALIAS[code][1]] if code in F32_ALIAS else BY_NAME[_REF_ROW[code]] if code in REF_CODES \
            else BY_CODE.get(code)
        s = Slot(op.name if op else "nop", f, i, mnemonic_of(code))
        s.ref = _ref_valued(module, F, f, ins, after, results, i == last)
        if code == 0x26:  # table.set: its write is of the table's type
            s.ref = F.table_types[ins.imm[0]]
        if before is not None:
            h = cells_of(before)
        _put16(s.imm, 0, min(base + max(h, 0), 65535))
        if code in (0x02, 0x03, 0x04):
            params_b, types = _block_types(module, ins)
            if code == 0x04:
                h -= 0 if dead else 1
                e_, end_ = match[i]
                s.target = where[e_] + 1 if e_ is not None else (where[end_] if conv.if_false_to_end else where[end_] + 1)
                _put16(s.imm, 8, s.target)
            kind = {0x02: "block", 0x03: "loop", 0x04: "if"}[code]
            hv = len(before) - (code == 0x04) - len(params_b) if before is not None else 0
            # the label's height excludes the block's parameters (they are the block's own operands)
            ctl.append((kind, i, h - cells_of(params_b), hv, params_b if kind == "loop" else types, types, dead,
                        params_b))
            s.height = hv + len(params_b)
        elif code == 0x05:
            kind, st, hh, hv, _, et, was_dead, pb = ctl[-1]
            end_ = match[st][1]
            s.target = where[end_] if conv.else_to_end else where[end_] + 1
            _put16(s.imm, 8, s.target)
            s.height = hv + len(et)
            h, dead = hh + cells_of(pb), was_dead
        elif code == 0x0B and i == last:
            s.op = "end.func.v" if arity_f else "end.func"
            _put16(s.imm, 2, nlocals)
            s.height = len(results)
            if arity_f > 1:  # all but the last cell to fp+0.. first, then the traced slot moves the last one
                _wide_return(s, f, base, slots, where[i], results)
                continue
        elif code == 0x0B:
            kind, st, hh, hv, _, et, was_dead, _ = ctl.pop()
            h, dead = hh + cells_of(et), was_dead
            s.height = hv + len(et)
        elif not dead:
            data = _wide_data(F, f, ins, before, base + h, offs, where[i])
            if data is not None:  # an i64 instruction: hidden slots, then the traced one
                *hidden, s2 = data
                slots[where[i] : where[i] + len(hidden)] = hidden
                s2.func, s2.pc, s2.mnemonic, s2.micro = f, i, s.mnemonic, False
                s2.index = ins.imm[0] if code in (0x20, 0x21, 0x22, 0x23, 0x24) else 0
                s2.height = len(after)
                slots[where[i] + len(hidden)] = s2
                h = cells_of(after)
                continue
            if code in (0x0C, 0x0D, 0x0F) and _branch_cells(typing[i], code, results) > 1:
                at = _wide_branch(s, ins, f, base, h, nlocals, label, slots, where[i], tuple(results))
                if code == 0x0D:
                    s.height_fallthrough = len(after)
                else:
                    dead = True
                slots[at] = s
                continue
            if code in (0x3C, 0x3D, 0x3E):  # i64.store8/16/32: the i32 store of the low cell
                s.op, op = I64_STORES[code][1], BY_NAME[I64_STORES[code][1]]
                h -= 1
                _put16(s.imm, 0, base + h)
            pre = _clamp_prefix(F, f, ins, base + h, where[i])
            if pre:  # a call that may grow a table: the index checked against the size cell first
                slots[where[i] : where[i] + len(pre)] = pre
                where[i] += len(pre)
            h = _encode_plain(s, ins, op, h, base, nlocals, F, entry_slot, label, slots, where, i, typing[i])
            if code in _TRACED_AT:  # these sit after hidden slots
                slots[where[i] + _TRACED_AT[code]] = s
                s.height = len(after)
                continue
            if s.op in ("br", "br.v", "br_if", "br_if.v", "return", "return.v") or s.mnemonic in ("br", "br_if", "return"):
                pass  # their heights are the label's (set by _encode_plain)
            elif after is not None:
                s.height = len(after)
            if code in (0x00, 0x0C, 0x0E, 0x0F):
                dead = True
        slots[where[i]] = s


def _ref_valued(m, F, f, ins, after, results, last: bool) -> str:
    """The reference type ("funcref", "externref") of the value ``ins`` pushes, writes (local.set/tee,
    global.set) or returns, or "" when it is a number."""
    c = ins.code
    if c in (0x20, 0x21, 0x22):
        t = (*F.sig(f)[0], *m.functions[f - F.n_imp].locals)[ins.imm[0]]
    elif c in (0x23, 0x24):
        t = global_type(m, ins.imm[0])
    elif c == 0x0F or (c == 0x0B and last):
        t = results[0] if len(results) == 1 else None
    else:
        t = after[-1] if after else None
    return t if t in REF_TYPES else ""


def _table_check(func, top: int, ix: int, size: int, first: int) -> list:
    """The hidden slots before table.get / table.set (laid out from slot ``first``): i, i, 1 above the
    operands, then a hidden table.copy row that traps "out of bounds table access" when i + 1 > the table's
    size and otherwise goes on (n = 1) to the traced slot, whose port reads only the index's low bytes."""
    m = Micro(func, top, first)
    m.mov(ix, top)
    m.mov(ix, top + 1)
    m.const(1, top + 2)
    check = m.emit("table.copy", top + 3, tgt=first + _TABLE_CHECK)
    _put16(check.imm, 5, size)
    _put16(check.imm, 10, size)
    assert len(m.slots) == _TABLE_CHECK
    return m.slots


def _clamp_prefix(F, func, ins, top: int, first: int) -> list:
    """In a call that may grow a table, the hidden slots before an instruction that checks an index against
    a table's size (laid out from slot ``first``; ``top``: the frame offset above its operands): each index
    it checks becomes 2^32 - 1 when index + n > the size in the table's size cell, so that the instruction's
    own check, against the room the table may grow into, traps as the spec says.  [] for any other call."""
    c = ins.code
    if not F.growable or c not in _CLAMPED:
        return []
    m = Micro(func, top, first)
    if c in (0x25, 0x11):  # table.get x / call_indirect: i on top
        _clamp(m, top - 1, None, ins.imm[0] if c == 0x25 else ins.imm[1])
    elif c == 0x26:  # table.set x: i, v
        _clamp(m, top - 2, None, ins.imm[0])
    elif c == 0xFC11:  # table.fill x: i, v, n
        _clamp(m, top - 3, top - 1, ins.imm[0])
    elif c == 0xFC0E:  # table.copy x y: d, s, n
        _clamp(m, top - 3, top - 1, ins.imm[0])
        _clamp(m, top - 2, top - 1, ins.imm[1])
    else:  # table.init x y: d, s, n (s is checked against the segment)
        _clamp(m, top - 3, top - 1, ins.imm[1])
    return m.slots


def _clamp(m, ix: int, n: int | None, x: int) -> None:
    """cell ix := 2^32 - 1 if ix + n (n: a cell, None: 1) > table x's size, else unchanged."""
    a = m.new(3)  # i, size, i
    m.mov(ix, a)
    m.mov(vocab.TABLE_BASE + x, a + 1, src_abs=True)
    m.mov(ix, a + 2)
    past = m.op("gt_u", a, a + 1)  # i > size
    b = m.new(2)
    if n is None:
        m.const(1, b)
    else:
        m.mov(n, b)
    m.op("sub", a + 1, a + 2, dst=b + 1)  # size - i (no wrap when i <= size)
    over = m.op("gt_u", b, b + 1)  # n > size - i
    bad = m.op("or", past, over)
    m.select(m.const(0xFFFFFFFF), ix, bad, dst=ix)


def _table_grow(F, m, x: int, t: int) -> list:
    """table.grow x (init at t-2, n at t-1): the old size, or -1 when size + n passes the table's maximum
    (or the store's limit); a table that grows writes its new size to its size cell and init to each new
    element (a hidden loop whose writes the trace does not show: the reference records none).  A growth
    the table's room (``F.caps``) cannot hold stops the call at a halt slot: unsupported."""
    init, n = t - 2, t - 1
    cell = vocab.TABLE_BASE + x
    size = m.mov(cell, src_abs=True)
    fail = m.op("gt_u", n, m.op("sub", m.const(F.table_max[x]), size))
    big = m.op("gt_u", n, m.op("sub", m.const(F.caps[x]), size))
    stop = m.op("gt_u", big, fail)
    slots = F.slot_list  # None in pass 1 (counting slots)
    why = f"table.grow past the {F.caps[x]} elements the transformer holds for table {x}"
    m.emit("br_if", stop + 1, tgt=0 if slots is None else F.stop(why, slots))
    n2 = m.select(m.const(0), n, fail)  # the elements added
    r = m.select(m.const(0xFFFFFFFF), size, fail)
    m.mov(m.op("add", size, n2), cell, dst_abs=True)
    i = m.new(3)
    v, k = i + 1, i + 2
    m.mov(size, i)
    m.mov(init, v)
    m.mov(n2, k)
    j = m.new(3)
    m.mov(size, j)
    m.mov(size, j + 1)
    m.mov(n2, j + 2)
    check = m.emit("table.copy", j + 3)  # never traps (size + n2 <= the room); n2 = 0 jumps past the loop
    _put16(check.imm, 5, F.caps[x])
    _put16(check.imm, 10, F.caps[x])
    loop = m.here()
    write = _table_write(F, m.func, k, x)  # cell(i) = v
    write.bulk = False  # (not the trace's: table.grow writes nothing there)
    for s in (write, _hidden("bulk.addi", m.func, k + 1, X=k, W=k, add=-1),  # n2 -= 1
              _hidden("bulk.addi.br", m.func, k + 1, X=i, W=i, add=1, tgt=loop)):  # i += 1, while n2
        s.micro = True
        m.slots.append(s)
    check.target = m.here()
    _put16(check.imm, 8, check.target)
    m.mov(r, init)  # the traced slot: the result replaces init
    return m.slots


def _branch_cells(ty, code, results) -> int:
    """Cells the branch (br, br_if, return) carries."""
    return cells_of(results) if code == 0x0F else cells_of(ty[2][0])


def _exit(f, base, nlocals, arity, results) -> list:
    """The function's hidden exit (branches to the function's label jump here): return, with its result."""
    ex = Slot("return.v" if arity else "return", f, None, height=len(results),
              ref=results[0] if len(results) == 1 and results[0] in REF_TYPES else "")
    _put16(ex.imm, 0, base + arity)
    _put16(ex.imm, 2, nlocals)
    if arity < 2:
        return [ex]
    return _moves_then(ex, f, base + arity, results)


def _moves_then(s: Slot, f, top, results) -> list:
    """A return of several cells (an i64, several values): hidden moves of all but the last cell to fp+0..,
    then ``s`` (return.v / end.func.v) writes the last one (the frame has at least as many cells as the
    results, so none of them is the link).  The decoder reads the results from fp+0.. (``Slot.multi``)."""
    c = cells_of(results)
    m = Micro(f, top)
    for k in range(c - 1):
        m.mov(top - c + k, k)
    _put16(s.imm, 5, c - 1)
    s.multi = tuple(results)
    return [*m.slots, s]


def _wide_return(s: Slot, f, base, slots, at, results) -> int:
    """end.func / return of several cells, laid out from ``at``; returns the traced slot's position."""
    run = _moves_then(s, f, s.imm[0] | s.imm[1] << 8, results)
    slots[at : at + len(run)] = run
    return at + len(run) - 1


def _label_moves(m: Micro, src: int, dst: int, c: int) -> None:
    """Move the c cells a branch carries (from frame offset src) to its label's (dst); dst <= src."""
    for k in range(c):
        m.mov(src + k, dst + k)


def _wide_branch(s: Slot, ins, f, base, h, nlocals, label, slots, at, results) -> int:
    """br / br_if / return carrying more than one cell; returns the traced slot's position."""
    code, top = ins.code, base + h
    if code == 0x0F:
        s.op = "return.v"
        _put16(s.imm, 2, nlocals)
        s.height = len(results)
        return _wide_return(s, f, base, slots, at, results)
    tgt, hh, hv, btypes = label(ins.imm[0])
    c = cells_of(btypes)
    if code == 0x0C:  # move the values to the label's cells, then branch
        m = Micro(f, top)
        _label_moves(m, top - c, base + hh, c)
        slots[at : at + c] = m.slots
        s.op, s.target, s.height = "br", tgt, hv + len(btypes)
        _put16(s.imm, 8, tgt)
        return at + c
    # br_if: the traced slot is an `if` row (true: on to the moves and a br; false: past them)
    m = Micro(f, top)
    _label_moves(m, top - 1 - c, base + hh, c)
    m.emit("br", top - 1, tgt=tgt)
    slots[at + 1 : at + 2 + c] = m.slots
    s.op, s.target, s.height = "if", at + 2 + c, hv + len(btypes)
    _put16(s.imm, 8, at + 2 + c)
    return at


def _wide_data(F, f, ins, before, top, offs, first: int = 0) -> list | None:
    """The slots of an i64 instruction that computes or moves a value (hidden ones, then the traced one,
    which Micro made too), or None when ``ins`` is not one.  ``top``: the frame offset above the operands."""
    c, t, m = ins.code, top, Micro(f, top, first)
    if c == 0xFC0F:
        return _table_grow(F, m, ins.imm[0], t)
    if c == 0xFC10 and F.growable:  # table.size: its size cell
        m.mov(vocab.TABLE_BASE + ins.imm[0], t, src_abs=True)
        return m.slots
    if c in NUMERIC:
        _, args, res, build = NUMERIC[c]
        dst = at = t - cells_of(args)
        xs = []
        for a in args:
            xs.append(at)
            at += width(a)
        out = build(m, *xs)
        m.mov(out[0], dst)
        if len(out) == 2:
            m.mov(out[1], dst + 1)
            m.slots[-1].wide = dst
        return m.slots
    if c in (I64_CONST, F64_CONST):
        v = const_bits(ins) & 0xFFFFFFFFFFFFFFFF
        m.const(v & 0xFFFFFFFF, t)
        m.const(v >> 32, t + 1)
        m.slots[-1].wide = t
        return m.slots
    if c in I64_LOADS:
        _, row, signed = I64_LOADS[c]
        offset = ins.imm[1]
        if signed is None:  # the high word first: it traps exactly when the whole access is out of bounds
            m.emit("i32.load", t, X=vocab.MEM_SIZE_CELL, x_abs=True, W=t, offset=min(offset + 4, 0xFFFFFFFF))
            m.emit("i32.load", t, X=vocab.MEM_SIZE_CELL, x_abs=True, W=t - 1, offset=offset)
        else:
            m.emit(row, t, X=vocab.MEM_SIZE_CELL, x_abs=True, W=t - 1, offset=offset)
            if signed:
                m.op("shr_s", t - 1, m.const(31, t), dst=t)
            else:
                m.const(0, t)
        m.slots[-1].wide = t - 1
        return m.slots
    if c in (0x37, 0x39):  # i64.store, f64.store: the high word first (it traps exactly when the whole access would), then the low
        offset = ins.imm[1]
        H = m.operands(t - 3, t - 1)
        for HH, off in ((H, min(offset + 4, 0xFFFFFFFF)), (t - 1, offset)):
            m.emit("i32.store", HH, X=vocab.MEM_SIZE_CELL, x_abs=True, offset=off)
            m.emit("i32.store.hi", HH, X=vocab.MEM_SIZE_CELL, x_abs=True, offset=off)
        m.emit("nop", t - 1, offset=offset).gather = 8
        return m.slots
    if c in (0x20, 0x21, 0x22) and offs is not None:
        x = ins.imm[0]
        if not _wide_local(F, f, x):
            return None
        o = offs[x]
        if c == 0x20:
            m.mov(o, t)
            m.emit("local.get", t + 2, X=o + 1, W=t + 1).wide = t
        else:
            m.mov(t - 2, o)
            m.emit("local.set" if c == 0x21 else "local.tee", t, W=o + 1).wide = o
        return m.slots
    if c in (0x23, 0x24):
        g = ins.imm[0]
        if not two_cells(global_type(F.m, g)):
            return None
        ga = F.global_cell(g)
        if c == 0x23:
            m.mov(ga, t, src_abs=True)
            m.emit("global.get", t + 2, X=ga + 1, x_abs=True, W=t + 1).wide = t
        else:
            m.mov(t - 2, ga, dst_abs=True)
            last = m.emit("global.set", t, W=ga + 1, w_abs=True)
            last.wide, last.wide_abs = ga, True
        return m.slots
    if c in (0x1B, 0x1C) and two_cells(before[-2]):
        lo = m.select(t - 5, t - 3, t - 1)
        hi = m.select(t - 4, t - 2, t - 1)
        m.mov(lo, t - 5)
        m.mov(hi, t - 4)
        m.slots[-1].wide = t - 5
        return m.slots
    return None


def _wide_local(F, f, x) -> bool:
    params, _ = F.sig(f)
    fn = F.m.functions[f - F.n_imp]
    return two_cells((*params, *fn.locals)[x])


def _wide_hidden(m, F, f, ins, ty, offs, last: bool) -> int:
    """Pass 1: the hidden slots an i64 instruction, or a branch or return of several cells, adds (0 for
    everything else)."""
    before, _, labels = ty
    rc = cells_of(F.sig(f)[1])
    if ins.code == 0x0B and last:
        return rc - 1 if rc > 1 else 0
    if before is None:
        return 0
    c = ins.code
    lc = [cells_of(lab) for lab in labels]
    if c == 0x0C:
        return lc[0] if lc[0] > 1 else 0
    if c == 0x0D:
        return lc[0] + 1 if lc[0] > 1 else 0
    if c == 0x0E:
        return sum(n + 1 for n in lc if n > 1)
    if c == 0x0F:
        return rc - 1 if rc > 1 else 0
    data = _wide_data(F, f, ins, before, 4096, offs)
    return 0 if data is None else len(data) - 1


def _encode_plain(s, ins, op, h, base, nlocals, F, entry_slot, label, slots, where, i, ty) -> int:
    code = ins.code
    if code in (0x0C, 0x0D):
        depth = ins.imm[0]
        tgt, hh, hv, btypes = label(depth)
        arity = cells_of(btypes)
        if code == 0x0D:
            h -= 1
        s.op = {(0x0C, 0): "br", (0x0C, 1): "br.v", (0x0D, 0): "br_if", (0x0D, 1): "br_if.v"}[(code, arity)]
        s.target = tgt
        _put16(s.imm, 8, tgt)
        _put16(s.imm, 5, base + hh)
        s.height = hv + len(btypes)
        s.height_fallthrough = len(ty[1]) if ty[1] is not None else 0
        return h
    if code == 0x0E:
        h -= 1
        labels, default = ins.imm
        _put16(s.imm, 10, len(labels))
        more = where[i] + 2 + len(labels)  # the moves of the entries that carry several cells
        for k, depth in enumerate((*labels, default)):
            tgt, hh, hv, btypes = label(depth)
            arity = cells_of(btypes)
            e = Slot("br_entry.v" if arity == 1 else "br_entry", s.func, None, height=hv + len(btypes), target=tgt)
            _put16(e.imm, 0, base + h)
            _put16(e.imm, 5, base + hh)
            if arity > 1:  # jump to moves of the values (below the index) to the label's cells, then branch
                m = Micro(s.func, base + h + 1)
                _label_moves(m, base + h - arity, base + hh, arity)
                m.emit("br", base + h, tgt=tgt)
                m.slots[0].height = e.height
                slots[more : more + arity + 1] = m.slots
                e.target, more = more, more + arity + 1
            _put16(e.imm, 8, e.target)
            slots[where[i] + 1 + k] = e
        return h
    if code == 0x0F:
        results = F.sig(s.func)[1]
        arity = cells_of(results)
        s.op = "return.v" if arity else "return"
        _put16(s.imm, 2, nlocals)
        s.height = len(results)
        return arity
    if code == 0x11:  # call_indirect: the callee comes from table 0 (compiler/tables.py)
        params, results = F.m.types[ins.imm[0]]
        s.results = len(results)
        d = base + h - 1 - cells_of(params)
        t = ins.imm[1]
        if F.sizes[t] is None:
            raise Unsupported("call_indirect through a table the executor does not hold")
        _put16(s.imm, 10, d)
        _put16(s.imm, 2, min(d + F.frame_bound, 65535))  # frame top bound for exhaustion
        _put16(s.imm, 5, F.caps[t])
        s.imm[7] = F.type_id((params, results))
        _put16(s.imm, 8, F.bases[t])
        return h - 1 - cells_of(params) + cells_of(results)
    if code == 0x10:
        callee = ins.imm[0]
        params, results = F.sig(callee)
        if F.noop_host(callee):  # pops the arguments, calls nothing: a nop row at the height after
            s.op = "nop"
            return h - cells_of(params)
        s.results = len(results)
        nl = F.frame(callee)[1]
        d = base + h - cells_of(params)
        s.target = entry_slot[callee]
        _put16(s.imm, 8, s.target)
        _put16(s.imm, 10, d)
        _put16(s.imm, 5, d + nl)
        _put16(s.imm, 2, min(d + F.bound(callee), 65535))  # frame top bound for exhaustion
        return h - cells_of(params) + cells_of(results)
    if code in (0x20, 0x21, 0x22):
        s.index = ins.imm[0]
        o = F.frame(s.func)[0][ins.imm[0]]
        if code == 0x20:
            _put16(s.imm, 2, o)
            _put16(s.imm, 5, base + h)
        else:
            _put16(s.imm, 5, o)
        return h + (1 if code == 0x20 else 0 if code == 0x22 else -1)
    if code in (0x23, 0x24):
        g = ins.imm[0]
        gt = global_type(F.m, g)
        if gt not in ("i32", "f32", "funcref", "externref"):
            raise Unsupported(gt)
        if gt in REF_TYPES and g not in F.ref_globals:
            raise Unsupported(f"a {gt} global the executor does not hold")
        s.index = g
        if code == 0x23:
            _put16(s.imm, 2, F.global_cell(g))
            s.imm[4] = 1
            _put16(s.imm, 5, base + h)
            return h + 1
        _put16(s.imm, 5, F.global_cell(g))
        s.imm[7] = 1
        return h - 1
    if code in (0xD0, 0xD2, 0xFC10):  # ref.null func, ref.func x, table.size x: a constant word
        x = ins.imm[0]
        if code == 0xFC10 and F.sizes[x] is None:
            raise Unsupported("a table the executor does not hold")
        if code == 0xD2 and (F.funcs is None or F.funcs[x] is None):
            raise Unsupported("ref.func (the function's store address is not known here)")
        v = 0 if code == 0xD0 else F.word(F.funcs[x]) if code == 0xD2 else F.sizes[x]
        s.imm[8:12] = [(v >> (8 * k)) & 255 for k in range(4)]
        _put16(s.imm, 5, base + h)
        return h + 1
    if code in (0x25, 0x26):  # table.get x / table.set x: the index checked, then table.read / table.write
        x = ins.imm[0]
        if F.sizes[x] is None:
            raise Unsupported("a table the executor does not hold")
        top = base + h
        ix = top - 1 if code == 0x25 else top - 2
        slots[where[i] : where[i] + _TABLE_CHECK] = _table_check(s.func, top, ix, F.caps[x], where[i])
        if code == 0x25:  # the element word (a cell never written: null, 0) replaces the index
            _put16(s.imm, 8, F.bases[x])
            _put16(s.imm, 5, top - 1)
            s.push = True
            return h
        s.index, s.base = x, vocab.TABLE_BASE + F.bases[x]  # cell(base + i) = v
        _put16(s.imm, 10, s.base)
        return h - 2
    if code == 0xFC11:  # table.fill x: i, i, n above the operands, the bounds check, then a hidden loop
        x = ins.imm[0]
        if F.sizes[x] is None:
            raise Unsupported("a table the executor does not hold")
        top = base + h
        m = Micro(s.func, top, where[i])
        for src in (top - 3, top - 3, top - 1):
            m.mov(src, m.new())
        slots[where[i] : where[i] + 3] = m.slots
        _put16(s.imm, 0, top + 3)  # the table.copy row's T2, T1, T0 = i, i, n: i + n past the table traps
        _put16(s.imm, 5, F.caps[x])
        _put16(s.imm, 10, F.caps[x])
        first = where[i] + 4
        loop = [_table_write(F, s.func, top - 1, x),  # cell(i) = v
                _hidden("bulk.addi", s.func, top, X=top - 1, W=top - 1, add=-1),  # n -= 1
                _hidden("bulk.addi.br", s.func, top, X=top - 3, W=top - 3, add=1, tgt=first)]  # i += 1, while n
        assert 3 + len(loop) == _FILL_SLOTS
        return _place_loop(s, slots, first, loop, h)
    if code in (0x41, 0x43):  # i32.const, f32.const: the bits
        v = const_bits(ins)
        s.imm[8:12] = [(v >> (8 * k)) & 255 for k in range(4)]
        _put16(s.imm, 5, base + h)
        return h + 1
    if code in (0x1B, 0x1C):
        _put16(s.imm, 5, max(base + h - 3, 0))
        return h - 2
    if code == 0x40:  # memory.grow: keep n, grow, write the new size (compiler/memory.py build_grow)
        top = base + h
        slots[where[i]] = _hidden("bulk.addi", s.func, top, X=top - 1, W=top)  # scratch = n
        _put16(s.imm, 2, vocab.MEM_SIZE_CELL)
        s.imm[4] = 1
        _put16(s.imm, 5, top - 1)
        _put16(s.imm, 10, min(F.memory_max or MAX_PAGES, LIMIT_PAGES))
        post = _hidden("memory.grow.set", s.func, top + 1)  # T0 = n, T1 = the result; X = the size cell
        _put16(post.imm, 5, vocab.MEM_SIZE_CELL)
        post.imm[7] = 1
        slots[where[i] + 2] = post
        return h
    if op.value in ("load", "store") or code == 0x3F:
        _put16(s.imm, 2, vocab.MEM_SIZE_CELL)  # port X reads the memory size
        s.imm[4] = 1
        if code == 0x3F:
            _put16(s.imm, 5, base + h)
            return h + 1
        offset = ins.imm[1]
        s.imm[8:12] = [(offset >> (8 * k)) & 255 for k in range(4)]
        if op.value == "load":
            _put16(s.imm, 5, base + h - 1)
            return h
        if op.name in STORE_HI:  # the next slot writes the next word if the store crosses into it
            hi = Slot(STORE_HI[op.name], s.func, None, height=h - 2)
            hi.imm = list(s.imm)
            slots[where[i] + 1] = hi
        return h - 2
    if code == 0xFC08:  # memory.init x: check slot, traced slot, loop
        x = ins.imm[0]
        data = F.m.data[x][2]
        if x >= vocab.MAX_SEGMENTS or len(data) > MAX_INIT_BYTES:
            raise Unsupported(f"memory.init of segment {x} ({len(data)} bytes)")
        top = base + h
        check = _hidden("data.check", s.func, top, X=vocab.DROP_BASE + x)
        check.imm[4] = 1  # the flag cell's address is absolute
        slots[where[i]] = check
        _put16(s.imm, 2, vocab.MEM_SIZE_CELL)
        s.imm[4] = 1
        _put16(s.imm, 10, len(data))
        first = where[i] + 2
        loop = _init_loop(s.func, top, first, data, _hidden("i32.store8", s.func, top + 2, bulk=True))
        return _place_loop(s, slots, first, loop, h)
    if code in (0xFC0E, 0xFC0C):  # table.copy x y / table.init y x: bounds, then a hidden loop
        x, y = ins.imm if code == 0xFC0E else (ins.imm[1], ins.imm[0])
        if F.sizes[x] is None or (code == 0xFC0E and F.sizes[y] is None):
            raise Unsupported("a table the executor does not hold")
        top = base + h
        write = _table_write(F, s.func, top + 2, x)  # cell(d2) = scratch
        _put16(s.imm, 5, F.caps[x])
        if code == 0xFC0E:
            _put16(s.imm, 10, F.caps[y])
            read = _hidden("table.read", s.func, top - 1, W=top + 1)  # scratch = cell(s)
            _put16(read.imm, 8, F.bases[y])
            first = where[i] + 1
            loop = _bulk_loop(code, s.func, top, first, read, write)
        else:
            segment = F.elems[y] if F.elems is not None and y < len(F.elems) else None
            if segment is None:
                raise Unsupported("table.init of a segment the executor does not hold")
            check = _hidden("elem.check", s.func, top, X=vocab.DROP_BASE + len(F.m.data) + y)
            check.imm[4] = 1
            slots[where[i]] = check
            _put16(s.imm, 10, len(segment))
            first = where[i] + 2
            loop = _init_loop(s.func, top, first, [F.word(r) for r in segment], write)
        return _place_loop(s, slots, first, loop, h)
    if code in (0xFC09, 0xFC0D):  # data.drop x / elem.drop x: the segment's flag cell := 1
        s.index = ins.imm[0]
        flag = s.index + (len(F.m.data) if code == 0xFC0D else 0)  # element segments' flags follow the data's
        if flag >= vocab.MAX_SEGMENTS:
            raise Unsupported(f"{op.mnemonic} of segment {s.index}")
        _put16(s.imm, 5, vocab.DROP_BASE + flag)
        s.imm[7] = 1
        s.imm[8] = 1
        return h
    if code in _BULK_HIDDEN:
        _put16(s.imm, 2, vocab.MEM_SIZE_CELL)  # port X reads the memory size (bounds)
        s.imm[4] = 1
        first = where[i] + 1
        loop = _bulk_loop(code, s.func, base + h, first)
        assert len(loop) == _BULK_HIDDEN[code]
        return _place_loop(s, slots, first, loop, h)
    if op.value == "alu":
        _put16(s.imm, 5, max(base + h - op.pops, 0))
        return h - op.pops + 1
    return h - op.pops + op.pushes



def _table_write(F, func, H: int, x: int) -> Slot:
    """A bulk loop's hidden table.write into table x: cell(TABLE_BASE + x's base + T1) = T0."""
    write = _hidden("table.write", func, H, bulk=True)
    write.index, write.base, write.ref = x, vocab.TABLE_BASE + F.bases[x], F.table_types[x]
    _put16(write.imm, 10, write.base)
    return write


def _place_loop(s: Slot, slots: list, first: int, loop: list, h: int) -> int:
    """Lay a bulk instruction's hidden loop out from slot ``first``; the instruction jumps past it when n = 0.
    Returns the height after the instruction (its 3 operands popped)."""
    slots[first : first + len(loop)] = loop
    s.target = first + len(loop)
    _put16(s.imm, 8, s.target)
    return h - 3


def _hidden(op: str, func, H: int, X: int | None = None, W: int | None = None, tgt: int | None = None,
            add: int = 0, bulk: bool = False) -> Slot:
    """A hidden slot: operands at frame offsets H-1, H-2, H-3 (T0, T1, T2); port X at frame offset X, or at
    the memory size cell when X is None; writes at frame offset W; ``add``: bulk.addi's immediate."""
    s = Slot(op, func, None, bulk=bulk)
    _put16(s.imm, 0, H)
    if X is None:
        _put16(s.imm, 2, vocab.MEM_SIZE_CELL)
        s.imm[4] = 1
    else:
        _put16(s.imm, 2, X)
    if W is not None:
        _put16(s.imm, 5, W)
    if tgt is not None:
        s.target = tgt
        _put16(s.imm, 8, tgt)
    s.imm[10], s.imm[11] = add & 255, 255 if add < 0 else 0
    return s


def _bulk_loop(code: int, func, top: int, first: int, read: Slot | None = None, write: Slot | None = None) -> list:
    """The hidden slots after memory.fill (0xFC0B) or memory.copy (0xFC0A), which starts them when n != 0.

    The operands stay in their stack slots (frame offsets d = top-3, v or s = top-2, n = top-1) and are
    the loop's counters; ``top`` and ``top+1`` are scratch (a copy of d, the byte in flight).  One byte per
    iteration: fill 3 slots (store v at d; n -= 1; d += 1, again while n != 0); copy forward (d <= s) 5,
    backward (d > s, from the end, so overlapping ranges copy like memmove) 6.
    """
    d, s, n, d2, byte = top - 3, top - 2, top - 1, top, top + 1
    if code == 0xFC0B:  # memory.fill
        return [
            _hidden("i32.store8", func, top - 1, bulk=True),  # mem[d] = v
            _hidden("bulk.addi", func, top, X=n, W=n, add=-1),
            _hidden("bulk.addi.br", func, top, X=d, W=d, add=1, tgt=first),  # while n != 0
        ]
    fw, bw = first + 2, first + 9
    if read is None:  # memory.copy: a byte at a time; table.copy passes its element read and write
        read = _hidden("i32.load8_u", func, top - 1, W=byte)  # byte = mem[s]
        write = _hidden("i32.store8", func, top + 2, bulk=True)  # mem[d2] = byte
    return [
        _hidden("i32.gt_u", func, top - 1, W=d2),  # d > s ?
        _hidden("br_if", func, top + 1, tgt=bw),
        # forward
        _hidden("bulk.addi", func, top, X=d, W=d2),  # d2 = d
        read,
        write,
        _hidden("bulk.addi", func, top, X=n, W=n, add=-1),
        _hidden("bulk.addi", func, top, X=d2, W=d2, add=1),
        _hidden("bulk.addi.br", func, top, X=s, W=s, add=1, tgt=fw + 1),  # while n != 0
        _hidden("br", func, top, tgt=first + 17),
        # backward: s += n, d2 = d + n, then from the end
        _hidden("bulk.addn", func, top, X=s, W=s),
        _hidden("bulk.addn", func, top, X=d, W=d2),
        _hidden("bulk.addi", func, top, X=s, W=s, add=-1),
        _hidden("bulk.addi", func, top, X=d2, W=d2, add=-1),
        _hidden("bulk.addi", func, top, X=n, W=n, add=-1),
        replace(read, imm=list(read.imm)),
        replace(write, imm=list(write.imm)),
        _hidden("br_if", func, top, tgt=bw + 2),  # while n != 0
    ]


def _init_loop(func, top: int, first: int, data, store_slot: Slot) -> list:
    """The hidden slots after memory.init or table.init (which start them when n != 0): per item, a
    br_table on s jumps to the segment's item s (one slot per item, which writes it to scratch and jumps
    on: bulk.byte for a data byte, bulk.word for an element word), then ``store_slot`` puts it at d (a copy
    in scratch), n -= 1, d += 1, s += 1, again while n != 0."""
    d, s, n, d2, byte = top - 3, top - 2, top - 1, top, top + 1
    store = first + 2 + len(data)
    table = _hidden("br_table", func, top - 1)  # T0 = s
    _put16(table.imm, 10, len(data))
    items = []
    for b in data:
        if isinstance(data, bytes):
            items.append(_hidden("bulk.byte", func, top, W=byte, tgt=store, add=b))
        else:  # an element word: entry slot in imm 10-11, local count and type id in X (read absolute)
            w = _hidden("bulk.word", func, top, X=(b >> 16) & 0xFFFF, W=byte, tgt=store)
            w.imm[4] = 1
            _put16(w.imm, 10, b & 0xFFFF)
            items.append(w)
    return [
        _hidden("bulk.addi", func, top, X=d, W=d2),  # d2 = d
        table,
        *items,
        store_slot,  # mem[d2] = byte, or cell(d2) = word
        _hidden("bulk.addi", func, top, X=n, W=n, add=-1),
        _hidden("bulk.addi", func, top, X=d2, W=d2, add=1),
        _hidden("bulk.addi.br", func, top, X=s, W=s, add=1, tgt=first + 1),  # while n != 0
    ]


def global_type(module, g) -> str:
    if g < len(module.imported_globals):
        return module.imported_globals[g][2]
    return module.globals[g - len(module.imported_globals)].type
