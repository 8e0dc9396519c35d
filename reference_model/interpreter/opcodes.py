"""The instruction set this interpreter supports: opcode -> (mnemonic, immediates).

Immediate kinds, as the decoder reads them:
  ""          none
  "idx"       one u32 index (local, global, function, label, table, data, elem)
  "block"     a block type
  "br_table"  a vector of labels and a default label
  "call_ind"  type index, table index
  "select_t"  a vector of value types
  "mem"       a memarg (align, offset)
  "memidx"    one memory index byte/u32 (memory.size, memory.grow, memory.fill)
  "i32", "i64" signed LEB128 constants; "f32", "f64" raw little-endian bits
  "reftype"   a reference type (ref.null)
  "idx2"      two u32 indices (memory.copy, table.copy, memory.init, table.init)

Opcodes that belong to proposals we do not run are listed in
``UNSUPPORTED_OPCODES`` with the feature they need, so the decoder can
name it; anything absent from both tables is malformed.
"""
from __future__ import annotations

OPCODES: dict[int, tuple[str, str]] = {
    0x00: ("unreachable", ""),
    0x01: ("nop", ""),
    0x02: ("block", "block"),
    0x03: ("loop", "block"),
    0x04: ("if", "block"),
    0x05: ("else", ""),
    0x0B: ("end", ""),
    0x0C: ("br", "idx"),
    0x0D: ("br_if", "idx"),
    0x0E: ("br_table", "br_table"),
    0x0F: ("return", ""),
    0x10: ("call", "idx"),
    0x11: ("call_indirect", "call_ind"),
    0x1A: ("drop", ""),
    0x1B: ("select", ""),
    0x1C: ("select", "select_t"),
    0x20: ("local.get", "idx"),
    0x21: ("local.set", "idx"),
    0x22: ("local.tee", "idx"),
    0x23: ("global.get", "idx"),
    0x24: ("global.set", "idx"),
    0x25: ("table.get", "idx"),
    0x26: ("table.set", "idx"),
    0x3F: ("memory.size", "memidx"),
    0x40: ("memory.grow", "memidx"),
    0x41: ("i32.const", "i32"),
    0x42: ("i64.const", "i64"),
    0x43: ("f32.const", "f32"),
    0x44: ("f64.const", "f64"),
    0xD0: ("ref.null", "reftype"),
    0xD1: ("ref.is_null", ""),
    0xD2: ("ref.func", "idx"),
}

# loads and stores: mnemonic, bytes accessed, signed (loads only)
LOADS = {
    0x28: ("i32.load", 4, False), 0x29: ("i64.load", 8, False),
    0x2A: ("f32.load", 4, False), 0x2B: ("f64.load", 8, False),
    0x2C: ("i32.load8_s", 1, True), 0x2D: ("i32.load8_u", 1, False),
    0x2E: ("i32.load16_s", 2, True), 0x2F: ("i32.load16_u", 2, False),
    0x30: ("i64.load8_s", 1, True), 0x31: ("i64.load8_u", 1, False),
    0x32: ("i64.load16_s", 2, True), 0x33: ("i64.load16_u", 2, False),
    0x34: ("i64.load32_s", 4, True), 0x35: ("i64.load32_u", 4, False),
}
STORES = {
    0x36: ("i32.store", 4), 0x37: ("i64.store", 8), 0x38: ("f32.store", 4), 0x39: ("f64.store", 8),
    0x3A: ("i32.store8", 1), 0x3B: ("i32.store16", 2),
    0x3C: ("i64.store8", 1), 0x3D: ("i64.store16", 2), 0x3E: ("i64.store32", 4),
}
for _op, (_name, _n, _s) in LOADS.items():
    OPCODES[_op] = (_name, "mem")
for _op, (_name, _n) in STORES.items():
    OPCODES[_op] = (_name, "mem")

# numeric instructions, in opcode order from 0x45; arity 1 = unary/test/conversion, 2 = binary/compare
_INT_CMP = ["eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u"]
_FLOAT_CMP = ["eq", "ne", "lt", "gt", "le", "ge"]
_INT_UN = ["clz", "ctz", "popcnt"]
_INT_BIN = ["add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor",
            "shl", "shr_s", "shr_u", "rotl", "rotr"]
_FLOAT_UN = ["abs", "neg", "ceil", "floor", "trunc", "nearest", "sqrt"]
_FLOAT_BIN = ["add", "sub", "mul", "div", "min", "max", "copysign"]

NUMERIC: dict[str, tuple[int, str]] = {}  # mnemonic -> (arity, result type)
_seq: list[tuple[str, int, str]] = []
_seq.append(("i32.eqz", 1, "i32"))
_seq += [(f"i32.{n}", 2, "i32") for n in _INT_CMP]
_seq.append(("i64.eqz", 1, "i32"))
_seq += [(f"i64.{n}", 2, "i32") for n in _INT_CMP]
_seq += [(f"f32.{n}", 2, "i32") for n in _FLOAT_CMP]
_seq += [(f"f64.{n}", 2, "i32") for n in _FLOAT_CMP]
for _t in ("i32", "i64"):
    _seq += [(f"{_t}.{n}", 1, _t) for n in _INT_UN]
    _seq += [(f"{_t}.{n}", 2, _t) for n in _INT_BIN]
for _t in ("f32", "f64"):
    _seq += [(f"{_t}.{n}", 1, _t) for n in _FLOAT_UN]
    _seq += [(f"{_t}.{n}", 2, _t) for n in _FLOAT_BIN]
_seq += [(n, 1, n[:3]) for n in (
    "i32.wrap_i64", "i32.trunc_f32_s", "i32.trunc_f32_u", "i32.trunc_f64_s", "i32.trunc_f64_u",
    "i64.extend_i32_s", "i64.extend_i32_u", "i64.trunc_f32_s", "i64.trunc_f32_u",
    "i64.trunc_f64_s", "i64.trunc_f64_u", "f32.convert_i32_s", "f32.convert_i32_u",
    "f32.convert_i64_s", "f32.convert_i64_u", "f32.demote_f64", "f64.convert_i32_s",
    "f64.convert_i32_u", "f64.convert_i64_s", "f64.convert_i64_u", "f64.promote_f32",
    "i32.reinterpret_f32", "i64.reinterpret_f64", "f32.reinterpret_i32", "f64.reinterpret_i64",
    "i32.extend8_s", "i32.extend16_s", "i64.extend8_s", "i64.extend16_s", "i64.extend32_s",
)]
for _i, (_name, _arity, _rt) in enumerate(_seq):
    OPCODES[0x45 + _i] = (_name, "")
    NUMERIC[_name] = (_arity, _rt)
assert OPCODES[0xC4][0] == "i64.extend32_s"

# 0xFC prefix: sub-opcode -> (mnemonic, immediates)
PREFIX_FC: dict[int, tuple[str, str]] = {}
for _i, _name in enumerate(("i32.trunc_sat_f32_s", "i32.trunc_sat_f32_u", "i32.trunc_sat_f64_s",
                            "i32.trunc_sat_f64_u", "i64.trunc_sat_f32_s", "i64.trunc_sat_f32_u",
                            "i64.trunc_sat_f64_s", "i64.trunc_sat_f64_u")):
    PREFIX_FC[_i] = (_name, "")
    NUMERIC[_name] = (1, _name[:3])
PREFIX_FC.update({
    8: ("memory.init", "idx2"),
    9: ("data.drop", "idx"),
    10: ("memory.copy", "idx2"),
    11: ("memory.fill", "memidx"),
    12: ("table.init", "idx2"),
    13: ("elem.drop", "idx"),
    14: ("table.copy", "idx2"),
    15: ("table.grow", "idx"),
    16: ("table.size", "idx"),
    17: ("table.fill", "idx"),
})

UNSUPPORTED_OPCODES: dict[int, str] = {
    0x06: "exceptions", 0x07: "exceptions", 0x08: "exceptions", 0x09: "exceptions",
    0x0A: "exceptions", 0x18: "exceptions", 0x19: "exceptions", 0x1F: "exceptions",
    0x12: "tail-call", 0x13: "tail-call",
    0x14: "function-references", 0x15: "tail-call",
    0xD3: "gc", 0xD4: "function-references", 0xD5: "function-references", 0xD6: "function-references",
    0xFB: "gc", 0xFD: "simd", 0xFE: "threads",
}
UNSUPPORTED_FC = {18: "wide-arithmetic", 19: "wide-arithmetic", 20: "wide-arithmetic",
                  21: "wide-arithmetic", 22: "wide-arithmetic"}

# extended-const: the numeric instructions allowed in constant expressions besides constants
EXTENDED_CONST = {"i32.add", "i32.sub", "i32.mul", "i64.add", "i64.sub", "i64.mul"}
