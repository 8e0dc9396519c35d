"""WebAssembly values as (type, bits): the one representation every executor speaks.

Numbers are carried as their bit patterns (unsigned ints), never as Python
floats, so that NaN payloads and signed zeros survive every boundary.
References are carried as an opaque payload: ``None`` for null, otherwise
whatever the executor that produced them uses (a function address, an
extern handle).  ``v128`` is a 128-bit unsigned int, lane 0 in the low bits.
"""
from __future__ import annotations

import struct
from typing import Any, NamedTuple

NUM_TYPES = ("i32", "i64", "f32", "f64")
VEC_TYPES = ("v128",)
REF_TYPES = ("funcref", "externref")

WIDTH = {"i32": 32, "i64": 64, "f32": 32, "f64": 64, "v128": 128}
MASK = {t: (1 << w) - 1 for t, w in WIDTH.items()}


class Value(NamedTuple):
    """One WebAssembly value: its type name and its bits (or ref payload)."""

    type: str
    bits: Any

    def __str__(self) -> str:
        return format_value(self)


def i32(x: int) -> Value:
    """Value of type i32 from a signed or unsigned Python int."""
    return Value("i32", x & MASK["i32"])


def i64(x: int) -> Value:
    """Value of type i64 from a signed or unsigned Python int."""
    return Value("i64", x & MASK["i64"])


def f32_from_float(x: float) -> Value:
    """Value of type f32 holding the float32 rounding of x."""
    return Value("f32", struct.unpack("<I", struct.pack("<f", x))[0])


def f64_from_float(x: float) -> Value:
    """Value of type f64 holding x."""
    return Value("f64", struct.unpack("<Q", struct.pack("<d", x))[0])


def signed(bits: int, width: int) -> int:
    """Two's-complement reading of an unsigned bit pattern."""
    return bits - (1 << width) if bits >> (width - 1) else bits


def is_nan(v: Value) -> bool:
    """True if v is an f32/f64 NaN (any payload)."""
    if v.type == "f32":
        return (v.bits & 0x7F800000) == 0x7F800000 and (v.bits & 0x007FFFFF) != 0
    if v.type == "f64":
        return (v.bits & 0x7FF0000000000000) == 0x7FF0000000000000 and (v.bits & 0x000FFFFFFFFFFFFF) != 0
    return False


def format_value(v: Value) -> str:
    """Short text form, e.g. ``i32:55``, ``f32:0x7fc00000``, ``funcref:null``."""
    if v.type in ("i32", "i64"):
        return f"{v.type}:{signed(v.bits, WIDTH[v.type])}"
    if v.type in ("f32", "f64"):
        digits = WIDTH[v.type] // 4
        return f"{v.type}:0x{v.bits:0{digits}x}"
    if v.type == "v128":
        return f"v128:0x{v.bits:032x}"
    if v.bits is None:
        return f"{v.type}:null"
    return f"{v.type}:{v.bits if isinstance(v.bits, int) else 'non-null'}"
