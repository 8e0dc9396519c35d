"""The one table of supported instructions.

Each row is one *machine opcode* (one opcode token of the vocabulary).  A
WebAssembly instruction maps to one row; a few instructions have variants
chosen at encoding time (``br`` vs ``br.v`` when the label carries a value,
``end`` vs ``end.func``), and a few rows are pseudo-instructions the
encoder inserts (``local.zero``, ``br_entry``, ``halt``, ``boot``) that the
trace decoder folds away.  Anything not in this table is
``Unsupported(<mnemonic>)`` before execution.

Columns (the compiler reads the modes, the encoder and decoder the rest):
  npc    next pc: seq (pc+1) | jump (TGT) | if_true (br_if: cond ? TGT : pc+1)
         | if_false (if: cond ? pc+1 : TGT) | link (return: saved pc) | table (br_table)
         | indirect (call_indirect: the entry slot of the table element's function)
  nfp    next frame pointer: keep | call (fp + N) | link (saved fp)
  value  the value written this step: none | T0 | T1 (stack slots below the top)
         | X (the port-X read: local/global/link/memory size) | const | link (call: pc+1, fp)
         | zero | alu (computed by the instruction's arithmetic block; the bulk-memory
         counters: addi = X + a signed 16-bit immediate, addn = X + T0)
         | load (bytes of the memory word read at the effective address)
         | store (the memory word with the stored bytes merged in)
         | store_hi (the same for the next word, when the store crosses into it)
  write  none | always | if_taken | mem (the memory word of the effective address)
         | indirect (call_indirect: the callee's link cell, fp + N + the element's local count)
         | if_grown (memory.grow's size cell, unless the grow failed: T1 = -1)
         | table (table.write: the element cell at TABLE_BASE + the table's base + T1)
  pushed whether the trace record's ``pushed`` is the written value
"""
from __future__ import annotations

from typing import NamedTuple


class Opcode(NamedTuple):
    name: str  # opcode token name
    mnemonic: str  # text-format name used in trace records ("" for pseudo rows)
    code: int | None  # binary opcode of the wasm instruction (None: variant or pseudo)
    pops: int
    pushes: int
    npc: str = "seq"
    nfp: str = "keep"
    value: str = "none"
    write: str = "none"
    pushed: bool = False
    alu: str = ""  # arithmetic block (compiler/arithmetic.py)


def _alu(name, code, pops, alu):
    return Opcode(name, name, code, pops, 1, value="alu", write="always", pushed=True, alu=alu)


_NUMERIC = [
    ("i32.eqz", 0x45, 1, "eqz"), ("i32.eq", 0x46, 2, "eq"), ("i32.ne", 0x47, 2, "ne"),
    ("i32.lt_s", 0x48, 2, "lt_s"), ("i32.lt_u", 0x49, 2, "lt_u"), ("i32.gt_s", 0x4A, 2, "gt_s"),
    ("i32.gt_u", 0x4B, 2, "gt_u"), ("i32.le_s", 0x4C, 2, "le_s"), ("i32.le_u", 0x4D, 2, "le_u"),
    ("i32.ge_s", 0x4E, 2, "ge_s"), ("i32.ge_u", 0x4F, 2, "ge_u"),
    ("i32.clz", 0x67, 1, "clz"), ("i32.ctz", 0x68, 1, "ctz"), ("i32.popcnt", 0x69, 1, "popcnt"),
    ("i32.add", 0x6A, 2, "add"), ("i32.sub", 0x6B, 2, "sub"), ("i32.mul", 0x6C, 2, "mul"),
    ("i32.div_s", 0x6D, 2, "div_s"), ("i32.div_u", 0x6E, 2, "div_u"),
    ("i32.rem_s", 0x6F, 2, "rem_s"), ("i32.rem_u", 0x70, 2, "rem_u"),
    ("i32.and", 0x71, 2, "and"), ("i32.or", 0x72, 2, "or"), ("i32.xor", 0x73, 2, "xor"),
    ("i32.shl", 0x74, 2, "shl"), ("i32.shr_s", 0x75, 2, "shr_s"), ("i32.shr_u", 0x76, 2, "shr_u"),
    ("i32.rotl", 0x77, 2, "rotl"), ("i32.rotr", 0x78, 2, "rotr"),
    ("i32.extend8_s", 0xC0, 1, "extend8_s"), ("i32.extend16_s", 0xC1, 1, "extend16_s"),
]

# linear memory: (bytes accessed, sign-extended) of each load and store
MEMORY_ACCESS = {
    "i32.load": (4, False), "i32.load8_s": (1, True), "i32.load8_u": (1, False), "i32.load16_s": (2, True),
    "i32.load16_u": (2, False), "i32.store": (4, False), "i32.store8": (1, False), "i32.store16": (2, False),
    "i32.store.hi": (4, False), "i32.store16.hi": (2, False),
}
# a store that may cross into the next word is followed by a hidden slot that writes that word
STORE_HI = {"i32.store": "i32.store.hi", "i32.store16": "i32.store16.hi"}
_LOADS = [("i32.load", 0x28), ("i32.load8_s", 0x2C), ("i32.load8_u", 0x2D), ("i32.load16_s", 0x2E), ("i32.load16_u", 0x2F)]
_STORES = [("i32.store", 0x36), ("i32.store8", 0x3A), ("i32.store16", 0x3B)]

OPCODES: tuple = (
    Opcode("unreachable", "unreachable", 0x00, 0, 0),
    Opcode("nop", "nop", 0x01, 0, 0),
    Opcode("block", "block", 0x02, 0, 0),
    Opcode("loop", "loop", 0x03, 0, 0),
    Opcode("if", "if", 0x04, 1, 0, npc="if_false"),
    Opcode("else", "else", 0x05, 0, 0, npc="jump"),
    Opcode("end", "end", 0x0B, 0, 0),
    Opcode("end.func", "end", None, 0, 0, npc="link", nfp="link"),
    Opcode("end.func.v", "end", None, 0, 0, npc="link", nfp="link", value="T0", write="always"),
    Opcode("br", "br", 0x0C, 0, 0, npc="jump"),
    Opcode("br.v", "br", None, 0, 0, npc="jump", value="T0", write="always"),
    Opcode("br_if", "br_if", 0x0D, 1, 0, npc="if_true"),
    Opcode("br_if.v", "br_if", None, 1, 0, npc="if_true", value="T1", write="if_taken"),
    Opcode("br_table", "br_table", 0x0E, 1, 0, npc="table"),
    Opcode("br_entry", "", None, 0, 0, npc="jump"),
    Opcode("br_entry.v", "", None, 0, 0, npc="jump", value="T0", write="always"),
    Opcode("return", "return", 0x0F, 0, 0, npc="link", nfp="link"),
    Opcode("return.v", "return", None, 0, 0, npc="link", nfp="link", value="T0", write="always"),
    Opcode("call", "call", 0x10, 0, 0, npc="jump", nfp="call", value="link", write="always"),
    Opcode("call_indirect", "call_indirect", 0x11, 1, 0, npc="indirect", nfp="call", value="link", write="indirect"),
    Opcode("drop", "drop", 0x1A, 1, 0),
    Opcode("select", "select", 0x1B, 3, 1, value="alu", write="always", pushed=True, alu="select"),
    Opcode("local.get", "local.get", 0x20, 0, 1, value="X", write="always", pushed=True),
    Opcode("local.set", "local.set", 0x21, 1, 0, value="T0", write="always"),
    Opcode("local.tee", "local.tee", 0x22, 1, 1, value="T0", write="always", pushed=True),
    Opcode("global.get", "global.get", 0x23, 0, 1, value="X", write="always", pushed=True),
    Opcode("global.set", "global.set", 0x24, 1, 0, value="T0", write="always"),
    Opcode("i32.const", "i32.const", 0x41, 0, 1, value="const", write="always", pushed=True),
    *(_alu(*row) for row in _NUMERIC),
    *(Opcode(name, name, code, 1, 1, value="load", write="always", pushed=True) for name, code in _LOADS),
    *(Opcode(name, name, code, 2, 0, value="store", write="mem") for name, code in _STORES),
    *(Opcode(hi, "", None, 2, 0, value="store_hi", write="mem") for hi in ("i32.store.hi", "i32.store16.hi")),
    Opcode("memory.size", "memory.size", 0x3F, 0, 1, value="X", write="always", pushed=True),
    # memory.grow: a hidden slot before it keeps n; it pushes the old size or -1; a hidden slot after it
    # writes the new size unless it failed (any size: an access past the first page stops, compiler/memory.py)
    Opcode("memory.grow", "memory.grow", 0x40, 1, 1, value="alu", write="always", pushed=True, alu="grow"),
    Opcode("memory.grow.set", "", None, 0, 0, value="alu", write="if_grown", alu="addn"),
    # bulk memory: the traced slot checks the bounds and skips the loop when n = 0; hidden slots after it
    # move the bytes one at a time (i32.load8_u / i32.store8 rows) and step the loop's counters
    Opcode("memory.fill", "memory.fill", 0xFC0B, 3, 0, npc="if_false"),
    Opcode("memory.copy", "memory.copy", 0xFC0A, 3, 0, npc="if_false"),
    Opcode("bulk.addi", "", None, 0, 0, value="alu", write="always", alu="addi"),
    Opcode("bulk.addi.br", "", None, 0, 0, npc="if_true", value="alu", write="always", alu="addi"),
    Opcode("bulk.addn", "", None, 0, 0, value="alu", write="always", alu="addn"),
    # memory.init: a hidden slot before it traps when the segment was dropped and s + n > 0; its loop
    # jumps (a hidden br_table on s) into the segment's bytes, one hidden bulk.byte slot each
    Opcode("data.check", "", None, 0, 0),
    Opcode("memory.init", "memory.init", 0xFC08, 3, 0, npc="if_false"),
    Opcode("bulk.byte", "", None, 0, 0, npc="jump", value="alu", write="always", alu="byte"),
    Opcode("data.drop", "data.drop", 0xFC09, 0, 0, value="const", write="always"),
    # tables (compiler/tables.py): table.copy / table.init move whole element cells in hidden loops
    Opcode("table.copy", "table.copy", 0xFC0E, 3, 0, npc="if_false"),
    Opcode("table.init", "table.init", 0xFC0C, 3, 0, npc="if_false"),
    Opcode("elem.check", "", None, 0, 0),
    Opcode("elem.drop", "elem.drop", 0xFC0D, 0, 0, value="const", write="always"),
    Opcode("table.read", "", None, 0, 0, value="alu", write="always", alu="tread"),
    Opcode("table.write", "", None, 0, 0, value="T0", write="table"),
    Opcode("bulk.word", "", None, 0, 0, npc="jump", value="alu", write="always", alu="word"),
    Opcode("local.zero", "", None, 0, 0, value="zero", write="always"),
    Opcode("halt", "", None, 0, 0),
    Opcode("boot", "", None, 0, 0),
)

BY_NAME = {op.name: op for op in OPCODES}
BY_CODE = {op.code: op for op in OPCODES if op.code is not None}
BY_CODE[0x1C] = BY_NAME["select"]  # typed select (select t): same semantics for i32
TRAPPING = {"unreachable": "unreachable"}  # op -> trap kind raised by the control block
