"""The token vocabulary shared by the compiler, the program encoder and the decoder.

Ids: special tokens, then one token per machine opcode (``OPCODES`` order),
then 12 families of 256 byte tokens.  Every token has a *role* (the kind of
slot it fills) and a *value* (byte value, or opcode number starting at 1).

Trace: each executed instruction writes one group of 11 tokens
``OP P0 P1 F0 F1 A0 A1 V0 V1 V2 V3``: the opcode it fetched, the next pc
(instruction slot, little-endian), the next frame pointer, the address it
wrote (0 = no write) and the 4 value bytes written there.
Prompt: per instruction slot one opcode token and 12 IMM tokens; then
memory cells ``A0 A1 V0 V1 V2 V3`` (globals, arguments, the entry link);
then a boot group shaped like a trace group.
"""
from __future__ import annotations

from reference_model.compiler.opcodes import OPCODES

ROLES = ("OP", "P0", "P1", "F0", "F1", "A0", "A1", "V0", "V1", "V2", "V3")
GROUP = len(ROLES)  # tokens per executed instruction
BYTE_FAMILIES = ROLES[1:] + ("IMM",)
N_IMM = 12  # immediate bytes per instruction slot
SLOT = 1 + N_IMM  # prompt tokens per instruction slot
TRAP_KINDS = {"unreachable": "unreachable", "divzero": "integer divide by zero", "overflow": "integer overflow",
              "oob": "out of bounds memory access", "undefined": "undefined element",
              "uninit": "uninitialized element", "sig": "indirect call type mismatch",
              "table_oob": "out of bounds table access"}
SPECIALS = ("PAD", *(f"TRAP:{k}" for k in TRAP_KINDS), "EXHAUST", "FAR")  # FAR: an access past the first page

# linear memory (of any size; the first page addressable): word i (bytes 4i..4i+3, little-endian) of the
# first 64 KiB is memory cell MEM_BASE + i; the size in pages is cell MEM_SIZE_CELL.  An in-bounds access
# past the first page stops the trace with FAR (the run is unsupported).  Frames stay below all of them
# (MachineDescription.stack_limit).
MEM_BASE = 16384
MEM_WORDS = 16384
MEM_SIZE_CELL = 16383
# element i of a table is cell TABLE_BASE + the table's base + i (the tables one after another; in a call that
# may grow a table, table x's size is cell TABLE_BASE + x and the tables follow those cells); frames stay
# below TABLE_BASE
TABLE_BASE = 15000
MAX_TABLE = 1000
# data segment x is dropped when cell DROP_BASE + x holds 1, element segment x when DROP_BASE + (number of
# data segments) + x does (cells between the tables and the size cell)
DROP_BASE = 16000
MAX_SEGMENTS = MEM_SIZE_CELL - DROP_BASE

PAD = 0
OP_BASE = len(SPECIALS)
OP_NUMBER = {op.name: i + 1 for i, op in enumerate(OPCODES)}  # 0 is "no opcode"
BYTE_BASE = OP_BASE + len(OPCODES)
VOCAB_SIZE = BYTE_BASE + 256 * len(BYTE_FAMILIES)


def special(name: str) -> int:
    return SPECIALS.index(name)


def op_token(name: str) -> int:
    return OP_BASE + OP_NUMBER[name] - 1


def byte_token(family: str, value: int) -> int:
    assert 0 <= value < 256, value
    return BYTE_BASE + 256 * BYTE_FAMILIES.index(family) + value


def describe(token: int) -> tuple:
    """(role, value) of a token: role is a family/"OP"/a special name."""
    if token < OP_BASE:
        return SPECIALS[token], 0
    if token < BYTE_BASE:
        return "OP", token - OP_BASE + 1
    f, v = divmod(token - BYTE_BASE, 256)
    return BYTE_FAMILIES[f], v


def op_name(number: int) -> str:
    return OPCODES[number - 1].name


TRAP_TOKENS = {special(f"TRAP:{k}"): msg for k, msg in TRAP_KINDS.items()}
EXHAUST = special("EXHAUST")
FAR = special("FAR")
HALT = op_token("halt")
STOP_TOKENS = (*TRAP_TOKENS, EXHAUST, FAR, HALT)
