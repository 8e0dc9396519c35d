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

from dataclasses import dataclass, field

from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.opcodes import BY_CODE, BY_NAME, STORE_HI
from reference_model.errors import Unsupported
from reference_model.program.binary import Module

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


@dataclass(frozen=True)
class Conventions:
    """Where control goes (must match the reference interpreter's trace)."""

    if_false_to_end: bool = True  # `if` without else, false: jump to the `end` (it executes)
    else_to_end: bool = True  # then-branch reaching `else`: jump to the `end` (it executes)
    loop_target_body: bool = False  # br to a loop: the `loop` instruction itself (re-entered)


def _put16(imm, at, v):
    assert 0 <= v < 65536, v
    imm[at], imm[at + 1] = v & 255, v >> 8


def _block_arity(module, instr) -> int:
    kind = instr.imm[0]
    if kind == "empty":
        return 0
    if kind == "val":
        if instr.imm[1] != "i32":
            raise Unsupported(instr.imm[1])
        return 1
    params, results = module.types[instr.imm[1]]
    if params or len(results) > 1:
        raise Unsupported("multi-value")
    if results and results[0] != "i32":
        raise Unsupported(results[0])
    return len(results)


class _Functions:
    """Per-function facts: signature, locals, reachability."""

    def __init__(self, module: Module):
        self.m = module
        self.n_imp = len(module.imported_funcs)
        self.stops: dict = {}  # why -> halt slot

    def sig(self, f):
        t = self.m.imported_funcs[f] if f < self.n_imp else self.m.functions[f - self.n_imp].type_index
        return self.m.types[t]

    def check(self, f) -> None:
        if f < self.n_imp:
            raise Unsupported("imported function call")
        fn = self.m.functions[f - self.n_imp]
        if fn.error:
            raise Unsupported(f"undecodable body ({fn.error})")
        params, results = self.sig(f)
        for t in (*params, *results, *fn.locals):
            if t != "i32":
                raise Unsupported(t)
        if len(results) > 1:
            raise Unsupported("multi-value")
        for ins in fn.body:
            if ins.code not in BY_CODE:
                raise Unsupported(feature_of(ins.code))

    def stop(self, why: str, slots: list) -> int:
        """A halt slot past the functions: the model jumps there when the call reaches what it cannot run
        (the decoder makes that outcome unsupported, with ``why``)."""
        if why not in self.stops:
            self.stops[why] = len(slots)
            slots.append(Slot("halt", None, None, why))
        return self.stops[why]

    def type_id(self, sig) -> int:
        """call_indirect's id of a signature: 1 + the index of the first equal type (255: none is equal)."""
        for k, t in enumerate(self.m.types):
            if t == tuple(sig):
                return k + 1
        return 255

    def reachable(self, entry, table=None) -> tuple:
        """(functions, declined): the functions a call of ``entry`` may reach, by ``call`` and, through table 0
        (``table``: its elements, see encode_invocation), by ``call_indirect``; declined: the table's
        functions the model cannot run (index -> why), which a call_indirect reaches only to stop there."""
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
            order.append(f)
            for ins in self.m.functions[f - self.n_imp].body:
                if ins.code == 0x10:
                    todo.append((ins.imm[0], True))
                elif ins.code == 0x11:
                    if table is None:
                        raise Unsupported("call_indirect (no table state)")
                    if ins.imm[1] != 0:
                        raise Unsupported("call_indirect through a table other than table 0")
                    todo.extend((e, False) for e in table if isinstance(e, int))
        return order, declined


_HI_CODES = {BY_NAME[name].code for name in STORE_HI}  # stores followed by a hidden slot for the next word
MAX_PAGES, LIMIT_PAGES = 65536, 16384  # memory.grow's limits: the spec's, and the reference interpreter's
_BULK_HIDDEN = {0xFC0B: 3, 0xFC0A: 17}  # hidden loop slots after memory.fill / memory.copy (_bulk_loop)
MAX_INIT_BYTES = 8192  # a memory.init lays its segment out as one hidden slot per byte


def _hidden_slots(module, ins) -> int:
    if ins.code == 0xFC08:  # memory.init: a check slot before it, its loop and the segment's bytes after it
        return 7 + len(module.data[ins.imm[0]][2])
    return (ins.code in _HI_CODES) + _BULK_HIDDEN.get(ins.code, 0) + 2 * (ins.code == 0x40)
_MEMORY_READ = {*range(0x28, 0x36), 0x3F, 0x40, 0xFC08, 0xFC0A, 0xFC0B}
_MEMORY_WRITE = {*range(0x36, 0x3F), 0x40, 0xFC08, 0xFC09, 0xFC0A, 0xFC0B}
_TABLE = {0x11, 0x25, 0x26, *range(0xFC0C, 0xFC12)}
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


def memory_pages(module: Module) -> int:
    """Pages of the module's memory (0: none); Unsupported if the transformer cannot hold it."""
    if not module.memories:
        return 0
    if len(module.memories) > 1:
        raise Unsupported("multiple memories")
    if module.imported_memories:
        raise Unsupported("imported memory")
    lo, _ = module.memories[0]
    if lo > 1:
        raise Unsupported(f"memory of {lo} pages (the transformer holds one)")
    return lo


def encode_invocation(module: Module, func: int, args: list, globals_bits: dict, conv: Conventions = Conventions(),
                      memory: bytes = b"", dropped: frozenset = frozenset(), table: list | None = None,
                      pages: int | None = None) -> ProgramPrompt:
    """Prompt tokens and slot table for calling function ``func`` with i32 ``args`` (bits).

    ``memory``: the memory's current contents (its non-zero words become prompt cells); ``dropped``: the
    data segments dropped so far (active ones are, after instantiation); ``table``: table 0's elements
    (None: null, an int: a function of this module, or ``(signature, why)``: a function the model cannot
    run, e.g. another instance's); None when the executor does not know them.  ``pages``: the memory's
    size now (default: its declared minimum).
    """
    F = _Functions(module)
    declared = memory_pages(module)
    pages = declared if pages is None else pages
    funcs, declined = F.reachable(func, table)
    indirect = any(ins.code == 0x11 for f in funcs for ins in module.functions[f - F.n_imp].body)
    if indirect:
        if any(kind == 1 for _, _, kind, _ in module.imports):
            raise Unsupported("imported table")
        if len(table) > vocab.MAX_TABLE or len(module.types) >= 255:
            raise Unsupported(f"table of {len(table)} elements, {len(module.types)} types")
        F.table_size = len(table)
        F.frame_bound = max(len(F.sig(f)[0]) + len(module.functions[f - F.n_imp].locals) + 1
                            + len(module.functions[f - F.n_imp].body) + 8 for f in funcs)
    n_glob = len(module.imported_globals) + len(module.globals)
    slots = [Slot("halt")]
    entry_slot = {}
    bodies = {}
    # pass 1: slot numbers (zero-init pseudo slots, br_table entries, hidden exit)
    for f in funcs:
        fn = module.functions[f - F.n_imp]
        entry_slot[f] = len(slots)
        n = len(slots) + len(fn.locals)
        where = []
        for ins in fn.body:
            where.append(n)
            n += 1 + (len(ins.imm[0]) + 1 if ins.code == 0x0E else 0) + _hidden_slots(module, ins)
        bodies[f] = (fn, where, n)  # n = hidden exit slot
        slots.extend([None] * (n + 1 - len(slots)))
    for f in funcs:
        _encode_function(module, F, f, bodies[f], slots, entry_slot, conv)
    # br_table entries of unreachable code are never executed
    slots = [s if s is not None else Slot("br_entry") for s in slots]
    cells = []
    if indirect:  # table 0's elements (a null one is a cell never written)
        for i, e in enumerate(table):
            if e is None:
                continue
            if isinstance(e, int) and e in entry_slot:
                params = F.sig(e)[0]
                nl = len(params) + len(module.functions[e - F.n_imp].locals)
                if nl > 255:
                    raise Unsupported(f"a table function with {nl} locals")
                entry, tid = entry_slot[e], F.type_id(F.sig(e))
            else:
                sig, why = (F.sig(e), declined.get(e, "")) if isinstance(e, int) else e
                entry, nl, tid = F.stop(f"call_indirect to a function not run here ({why})", slots), 0, F.type_id(sig)
            cells.append((vocab.TABLE_BASE + i, entry | nl << 16 | tid << 24))

    params, results = F.sig(func)
    fn = module.functions[func - F.n_imp]
    nlocals = len(params) + len(fn.locals)
    fp0 = n_glob + 1
    tokens = []
    for s in slots:
        tokens.append(vocab.op_token(s.op))
        tokens.extend(vocab.byte_token("IMM", b) for b in s.imm)
    cells += [(1 + g, globals_bits.get(g, 0)) for g in range(n_glob)]
    cells += [(fp0 + i, a & 0xFFFFFFFF) for i, a in enumerate(args)]
    cells.append((fp0 + nlocals, 0))  # link: return to slot 0 (halt), fp 0
    if any(ins.code in (0xFC08, 0xFC09) for f in funcs for ins in module.functions[f - F.n_imp].body):
        # every segment's flag is a cell (a look-up of a cell never written would find its neighbour's)
        cells += [(vocab.DROP_BASE + x, int(x in dropped)) for x in range(min(len(module.data), vocab.MAX_SEGMENTS))]
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
    return ProgramPrompt(tokens, slots, e, func, len(results), fp0=fp0, cells=dict(cells))


def _encode_function(module, F, f, body, slots, entry_slot, conv) -> None:
    fn, where, exit_slot = body
    params, results = F.sig(f)
    nparams = len(params)
    nlocals = nparams + len(fn.locals)
    base = nlocals + 1  # operand stack starts above the link
    arity_f = len(results)
    start = entry_slot[f]
    for i in range(len(fn.locals)):
        s = Slot("local.zero", f, None)
        s.imm[0:2] = [base & 255, base >> 8]
        _put16(s.imm, 5, nparams + i)
        slots[start + i] = s
    ex = Slot("return.v" if arity_f else "return", f, None, height=arity_f)
    _put16(ex.imm, 0, base + arity_f)
    _put16(ex.imm, 2, nlocals)
    slots[exit_slot] = ex

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
    # control frames: (kind, start, height at entry, branch arity, end arity, dead outside)
    ctl = [("func", -1, 0, arity_f, arity_f, False)]
    h, dead = 0, False

    def label(depth):
        kind, st, hh, barity, _, _ = ctl[-1 - depth]
        if kind == "func":
            return exit_slot, hh, barity
        if kind == "loop":
            return (where[st] + 1 if conv.loop_target_body else where[st]), hh, barity
        return where[match[st][1]] + 1, hh, barity

    last = len(fn.body) - 1
    for i, ins in enumerate(fn.body):
        op = BY_CODE[ins.code]
        s = Slot(op.name, f, i, op.mnemonic)
        _put16(s.imm, 0, min(base + max(h, 0), 65535))
        code = ins.code
        if code in (0x02, 0x03, 0x04):
            arity = _block_arity(module, ins)
            if code == 0x04:
                h -= 0 if dead else 1
                e_, end_ = match[i]
                s.target = where[e_] + 1 if e_ is not None else (where[end_] if conv.if_false_to_end else where[end_] + 1)
                _put16(s.imm, 8, s.target)
            kind = {0x02: "block", 0x03: "loop", 0x04: "if"}[code]
            ctl.append((kind, i, h, 0 if kind == "loop" else arity, arity, dead))
            s.height = max(h, 0)
        elif code == 0x05:
            kind, st, hh, ba, ea, was_dead = ctl[-1]
            end_ = match[st][1]
            s.target = where[end_] if conv.else_to_end else where[end_] + 1
            _put16(s.imm, 8, s.target)
            s.height = hh + ea
            h, dead = hh, was_dead
        elif code == 0x0B and i == last:
            s.op = "end.func.v" if arity_f else "end.func"
            _put16(s.imm, 2, nlocals)
            s.height = arity_f
        elif code == 0x0B:
            kind, st, hh, ba, ea, was_dead = ctl.pop()
            h, dead = hh + ea, was_dead
            s.height = h
        elif not dead:
            h = _encode_plain(s, ins, op, h, base, nlocals, F, entry_slot, label, slots, where, i)
            if code in (0xFC08, 0x40):  # memory.init and memory.grow sit after a hidden slot
                slots[where[i] + 1] = s
                s.height = h
                continue
            if s.op not in ("br", "br.v", "br_if", "br_if.v", "return", "return.v"):
                s.height = h
            if code in (0x00, 0x0C, 0x0E, 0x0F):
                dead = True
        slots[where[i]] = s


def _encode_plain(s, ins, op, h, base, nlocals, F, entry_slot, label, slots, where, i) -> int:
    code = ins.code
    if code in (0x0C, 0x0D):
        depth = ins.imm[0]
        tgt, hh, arity = label(depth)
        if code == 0x0D:
            h -= 1
        s.op = {(0x0C, 0): "br", (0x0C, 1): "br.v", (0x0D, 0): "br_if", (0x0D, 1): "br_if.v"}[(code, arity)]
        s.target = tgt
        _put16(s.imm, 8, tgt)
        _put16(s.imm, 5, base + hh)
        s.height = hh + arity
        s.height_fallthrough = h
        return h
    if code == 0x0E:
        h -= 1
        labels, default = ins.imm
        _put16(s.imm, 10, len(labels))
        for k, depth in enumerate((*labels, default)):
            tgt, hh, arity = label(depth)
            e = Slot("br_entry.v" if arity else "br_entry", s.func, None, height=hh + arity, target=tgt)
            _put16(e.imm, 0, base + h)
            _put16(e.imm, 8, tgt)
            _put16(e.imm, 5, base + hh)
            slots[where[i] + 1 + k] = e
        return h
    if code == 0x0F:
        arity = len(F.sig(s.func)[1])
        s.op = "return.v" if arity else "return"
        _put16(s.imm, 2, nlocals)
        s.height = arity
        return arity
    if code == 0x11:  # call_indirect: the callee comes from table 0 (compiler/tables.py)
        params, results = F.m.types[ins.imm[0]]
        if any(t != "i32" for t in (*params, *results)) or len(results) > 1:
            raise Unsupported("call_indirect of a signature other than i32s")
        d = base + h - 1 - len(params)
        _put16(s.imm, 10, d)
        _put16(s.imm, 2, min(d + F.frame_bound, 65535))  # frame top bound for exhaustion
        _put16(s.imm, 5, F.table_size)
        s.imm[7] = F.type_id((params, results))
        return h - 1 - len(params) + len(results)
    if code == 0x10:
        callee = ins.imm[0]
        params, results = F.sig(callee)
        fn = F.m.functions[callee - F.n_imp]
        nl = len(params) + len(fn.locals)
        d = base + h - len(params)
        s.target = entry_slot[callee]
        _put16(s.imm, 8, s.target)
        _put16(s.imm, 10, d)
        _put16(s.imm, 5, d + nl)
        _put16(s.imm, 2, min(d + nl + 1 + len(fn.body) + 8, 65535))  # frame top bound for exhaustion
        return h - len(params) + len(results)
    if code in (0x20, 0x21, 0x22):
        s.index = ins.imm[0]
        if code == 0x20:
            _put16(s.imm, 2, ins.imm[0])
            _put16(s.imm, 5, base + h)
        else:
            _put16(s.imm, 5, ins.imm[0])
        return h + (1 if code == 0x20 else 0 if code == 0x22 else -1)
    if code in (0x23, 0x24):
        g = ins.imm[0]
        gt = _global_type(F.m, g)
        if gt != "i32":
            raise Unsupported(gt)
        s.index = g
        if code == 0x23:
            _put16(s.imm, 2, 1 + g)
            s.imm[4] = 1
            _put16(s.imm, 5, base + h)
            return h + 1
        _put16(s.imm, 5, 1 + g)
        s.imm[7] = 1
        return h - 1
    if code == 0x41:
        v = ins.imm[0]
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
        _put16(s.imm, 10, min(F.m.memories[0][1] or MAX_PAGES, LIMIT_PAGES))
        s.target = F.stop("memory.grow past one page (the transformer holds one)", slots)
        _put16(s.imm, 8, s.target)
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
        loop = _init_loop(s.func, top, first, data)
        slots[first : first + len(loop)] = loop
        s.target = first + len(loop)
        _put16(s.imm, 8, s.target)
        return h - 3
    if code == 0xFC09:  # data.drop x: its flag cell := 1
        s.index = ins.imm[0]
        if s.index >= vocab.MAX_SEGMENTS:
            raise Unsupported(f"data.drop of segment {s.index}")
        _put16(s.imm, 5, vocab.DROP_BASE + s.index)
        s.imm[7] = 1
        s.imm[8] = 1
        return h
    if code in _BULK_HIDDEN:
        _put16(s.imm, 2, vocab.MEM_SIZE_CELL)  # port X reads the memory size (bounds)
        s.imm[4] = 1
        first = where[i] + 1
        loop = _bulk_loop(code, s.func, base + h, first)
        assert len(loop) == _BULK_HIDDEN[code]
        slots[first : first + len(loop)] = loop
        s.target = first + len(loop)  # n = 0: straight to the next instruction
        _put16(s.imm, 8, s.target)
        return h - 3
    if op.value == "alu":
        _put16(s.imm, 5, max(base + h - op.pops, 0))
        return h - op.pops + 1
    return h - op.pops + op.pushes



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


def _bulk_loop(code: int, func, top: int, first: int) -> list:
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
    return [
        _hidden("i32.gt_u", func, top - 1, W=d2),  # d > s ?
        _hidden("br_if", func, top + 1, tgt=bw),
        # forward
        _hidden("bulk.addi", func, top, X=d, W=d2),  # d2 = d
        _hidden("i32.load8_u", func, top - 1, W=byte),  # byte = mem[s]
        _hidden("i32.store8", func, top + 2, bulk=True),  # mem[d2] = byte
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
        _hidden("i32.load8_u", func, top - 1, W=byte),
        _hidden("i32.store8", func, top + 2, bulk=True),
        _hidden("br_if", func, top, tgt=bw + 2),  # while n != 0
    ]


def _init_loop(func, top: int, first: int, data: bytes) -> list:
    """The hidden slots after memory.init (which starts them when n != 0): per byte, a br_table on s jumps
    to the segment's byte s (one bulk.byte slot per byte, which writes it to scratch and jumps on), then
    store it at d (a copy in scratch), n -= 1, d += 1, s += 1, again while n != 0."""
    d, s, n, d2, byte = top - 3, top - 2, top - 1, top, top + 1
    store = first + 2 + len(data)
    table = _hidden("br_table", func, top - 1)  # T0 = s
    _put16(table.imm, 10, len(data))
    return [
        _hidden("bulk.addi", func, top, X=d, W=d2),  # d2 = d
        table,
        *(_hidden("bulk.byte", func, top, W=byte, tgt=store, add=b) for b in data),
        _hidden("i32.store8", func, top + 2, bulk=True),  # mem[d2] = byte
        _hidden("bulk.addi", func, top, X=n, W=n, add=-1),
        _hidden("bulk.addi", func, top, X=d2, W=d2, add=1),
        _hidden("bulk.addi.br", func, top, X=s, W=s, add=1, tgt=first + 1),  # while n != 0
    ]


def _global_type(module, g):
    if g < len(module.imported_globals):
        return module.imported_globals[g][2]
    return module.globals[g - len(module.imported_globals)].type
