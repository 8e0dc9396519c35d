"""Numeric instructions over bit patterns: integers and IEEE 754 floats.

Every value is an unsigned Python int holding the type's bits; every
operator here takes and returns bits.  Integer widths share one
implementation, ``int_ops(width)``, instantiated for 32 and 64 (as the
spec's ``exec/ixx.ml`` is for ``i32.ml``/``i64.ml``); floats likewise
share ``float_ops(width)``.

NaN results: the spec lets an arithmetic operator return any arithmetic
NaN when an input is a NaN, and requires the canonical NaN when every NaN
input is canonical.  We always return the positive canonical NaN, which
satisfies both and makes results deterministic.  ``neg``, ``abs`` and
``copysign`` are bit operations and keep payloads, as the spec says.

f32 arithmetic is computed in binary64 and rounded once to binary32: for
+, -, *, / and sqrt this double rounding is innocuous (binary64 has more
than 2*24+2 significand bits), so results are correctly rounded.
"""
from __future__ import annotations

import math
import struct
from typing import Callable

from . import traps
from reference_model.errors import Trap

_I32 = struct.Struct("<I")
_F32 = struct.Struct("<f")
_I64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")

F32_CANONICAL_NAN = 0x7FC00000
F64_CANONICAL_NAN = 0x7FF8000000000000


# ---------------------------------------------------------------- float <-> bits

def f32_to_float(bits: int) -> float:
    """The binary32 value of ``bits`` as a Python float (exact; NaN payloads may change)."""
    return _F32.unpack(_I32.pack(bits))[0]


def f64_to_float(bits: int) -> float:
    """The binary64 value of ``bits`` as a Python float."""
    return _F64.unpack(_I64.pack(bits))[0]


def float_to_f32(x: float) -> int:
    """Bits of x rounded to binary32 (nearest, ties to even); NaN becomes canonical."""
    if x != x:
        return F32_CANONICAL_NAN
    try:
        return _I32.unpack(_F32.pack(x))[0]
    except OverflowError:  # rounds to infinity
        return 0x7F800000 if x > 0 else 0xFF800000


def float_to_f64(x: float) -> int:
    """Bits of x; NaN becomes canonical."""
    if x != x:
        return F64_CANONICAL_NAN
    return _I64.unpack(_F64.pack(x))[0]


def _round_int(n: int, precision: int) -> int:
    """n rounded to ``precision`` significant bits, ties to even (exact int result)."""
    m = abs(n)
    excess = m.bit_length() - precision
    if excess <= 0:
        return n
    q, r = divmod(m, 1 << excess)
    half = 1 << (excess - 1)
    if r > half or (r == half and q & 1):
        q += 1
    m = q << excess
    return -m if n < 0 else m


def int_to_f32(n: int) -> int:
    """Bits of the integer n rounded to binary32 in a single rounding."""
    return float_to_f32(float(_round_int(n, 24)))


def int_to_f64(n: int) -> int:
    """Bits of the integer n rounded to binary64 (Python's int->float is correctly rounded)."""
    return float_to_f64(float(n))


# ---------------------------------------------------------------- integers

def int_ops(width: int) -> dict[str, Callable]:
    """Mnemonic suffix -> operator on ``width``-bit patterns, e.g. ``"add"`` -> (a, b) -> bits."""
    mask = (1 << width) - 1
    sign = 1 << (width - 1)
    modulus = 1 << width
    smin = -sign
    smax = sign - 1

    def s(x):  # two's-complement reading
        return x - modulus if x & sign else x

    def div_s(a, b):
        if b == 0:
            raise Trap(traps.INTEGER_DIVIDE_BY_ZERO)
        x, y = s(a), s(b)
        if x == smin and y == -1:
            raise Trap(traps.INTEGER_OVERFLOW)
        q = abs(x) // abs(y)
        return (-q if (x < 0) != (y < 0) else q) & mask

    def div_u(a, b):
        if b == 0:
            raise Trap(traps.INTEGER_DIVIDE_BY_ZERO)
        return a // b

    def rem_s(a, b):
        if b == 0:
            raise Trap(traps.INTEGER_DIVIDE_BY_ZERO)
        x, y = s(a), s(b)
        r = abs(x) % abs(y)
        return (-r if x < 0 else r) & mask

    def rem_u(a, b):
        if b == 0:
            raise Trap(traps.INTEGER_DIVIDE_BY_ZERO)
        return a % b

    def rotl(a, b):
        k = b % width
        return ((a << k) | (a >> (width - k))) & mask

    def rotr(a, b):
        k = b % width
        return ((a >> k) | (a << (width - k))) & mask

    def clz(a):
        return width - a.bit_length()

    def ctz(a):
        return width if a == 0 else (a & -a).bit_length() - 1

    def extend(bits):
        top = 1 << (bits - 1)
        low = (1 << bits) - 1
        return lambda a: (((a & low) ^ top) - top) & mask

    return {
        "clz": clz,
        "ctz": ctz,
        "popcnt": lambda a: a.bit_count(),
        "eqz": lambda a: 1 if a == 0 else 0,
        "add": lambda a, b: (a + b) & mask,
        "sub": lambda a, b: (a - b) & mask,
        "mul": lambda a, b: (a * b) & mask,
        "div_s": div_s,
        "div_u": div_u,
        "rem_s": rem_s,
        "rem_u": rem_u,
        "and": lambda a, b: a & b,
        "or": lambda a, b: a | b,
        "xor": lambda a, b: a ^ b,
        "shl": lambda a, b: (a << (b % width)) & mask,
        "shr_s": lambda a, b: (s(a) >> (b % width)) & mask,
        "shr_u": lambda a, b: a >> (b % width),
        "rotl": rotl,
        "rotr": rotr,
        "eq": lambda a, b: 1 if a == b else 0,
        "ne": lambda a, b: 1 if a != b else 0,
        "lt_s": lambda a, b: 1 if s(a) < s(b) else 0,
        "lt_u": lambda a, b: 1 if a < b else 0,
        "gt_s": lambda a, b: 1 if s(a) > s(b) else 0,
        "gt_u": lambda a, b: 1 if a > b else 0,
        "le_s": lambda a, b: 1 if s(a) <= s(b) else 0,
        "le_u": lambda a, b: 1 if a <= b else 0,
        "ge_s": lambda a, b: 1 if s(a) >= s(b) else 0,
        "ge_u": lambda a, b: 1 if a >= b else 0,
        "extend8_s": extend(8),
        "extend16_s": extend(16),
        "extend32_s": extend(32),
        # bounds used by conversions
        "_signed": s,
        "_range_s": (smin, smax),
        "_range_u": (0, mask),
    }


I32 = int_ops(32)
I64 = int_ops(64)


# ---------------------------------------------------------------- floats

def float_ops(width: int) -> dict[str, Callable]:
    """Mnemonic suffix -> operator on binary32/binary64 bit patterns (see module docstring)."""
    if width == 32:
        to_f, from_f, nan = f32_to_float, float_to_f32, F32_CANONICAL_NAN
    else:
        to_f, from_f, nan = f64_to_float, float_to_f64, F64_CANONICAL_NAN
    sign = 1 << (width - 1)
    mag = sign - 1
    exp_mask = ((1 << (11 if width == 64 else 8)) - 1) << (52 if width == 64 else 23)

    def isnan(bits):
        return (bits & exp_mask) == exp_mask and (bits & mag) != exp_mask

    def unary(f):
        def op(a):
            if isnan(a):
                return nan
            x = to_f(a)
            if x == 0.0 or math.isinf(x):
                return a  # integral already; keeps -0 and the infinities
            y = float(f(x))
            return from_f(math.copysign(y, x) if y == 0.0 else y)

        return op

    def sqrt(a):
        x = to_f(a)
        if x != x or x < 0.0:
            return nan
        return from_f(math.sqrt(x))

    def add(a, b):
        return from_f(to_f(a) + to_f(b))

    def sub(a, b):
        return from_f(to_f(a) - to_f(b))

    def mul(a, b):
        return from_f(to_f(a) * to_f(b))

    def div(a, b):
        x, y = to_f(a), to_f(b)
        if y == 0.0:
            if x != x or x == 0.0:
                return nan
            negative = (a ^ b) & sign
            return from_f(-math.inf if negative else math.inf)
        return from_f(x / y)

    def fmin(a, b):
        if isnan(a) or isnan(b):
            return nan
        x, y = to_f(a), to_f(b)
        if x == y:  # equal, or +0/-0: the one with the sign bit wins
            return a | b
        return a if x < y else b

    def fmax(a, b):
        if isnan(a) or isnan(b):
            return nan
        x, y = to_f(a), to_f(b)
        if x == y:
            return a & b
        return a if x > y else b

    return {
        "abs": lambda a: a & mag,
        "neg": lambda a: a ^ sign,
        "copysign": lambda a, b: (a & mag) | (b & sign),
        "ceil": unary(math.ceil),
        "floor": unary(math.floor),
        "trunc": unary(math.trunc),
        "nearest": unary(round),  # Python's round on floats is half-to-even
        "sqrt": sqrt,
        "add": add,
        "sub": sub,
        "mul": mul,
        "div": div,
        "min": fmin,
        "max": fmax,
        "eq": lambda a, b: 1 if to_f(a) == to_f(b) else 0,
        "ne": lambda a, b: 1 if to_f(a) != to_f(b) else 0,
        "lt": lambda a, b: 1 if to_f(a) < to_f(b) else 0,
        "gt": lambda a, b: 1 if to_f(a) > to_f(b) else 0,
        "le": lambda a, b: 1 if to_f(a) <= to_f(b) else 0,
        "ge": lambda a, b: 1 if to_f(a) >= to_f(b) else 0,
        "_isnan": isnan,
        "_to_float": to_f,
    }


F32 = float_ops(32)
F64 = float_ops(64)


# ---------------------------------------------------------------- conversions

def _trunc(src: dict, dst: dict, signed_: bool, saturating: bool) -> Callable:
    lo, hi = dst["_range_s" if signed_ else "_range_u"]
    mask = dst["_range_u"][1]
    isnan, to_f = src["_isnan"], src["_to_float"]

    def op(a):
        if isnan(a):
            if saturating:
                return 0
            raise Trap(traps.INVALID_CONVERSION)
        x = to_f(a)
        if math.isinf(x):
            t = hi if x > 0 else lo
            if not saturating:
                raise Trap(traps.INTEGER_OVERFLOW)
        else:
            t = math.trunc(x)
            if t < lo or t > hi:
                if not saturating:
                    raise Trap(traps.INTEGER_OVERFLOW)
                t = lo if t < lo else hi
        return t & mask

    return op


# demote/promote of a NaN: the spec allows any arithmetic NaN when the input is
# not canonical; we do what x86 and ARM hardware do (and so what wasmtime does):
# keep the sign, keep the top payload bits, set the quiet bit.  A canonical
# input still gives the canonical NaN, as the spec requires.
def _demote(a):
    if F64["_isnan"](a):
        return ((a >> 32) & 0x80000000) | 0x7FC00000 | ((a >> 29) & 0x003FFFFF)
    return float_to_f32(f64_to_float(a))


def _promote(a):
    if F32["_isnan"](a):
        return ((a & 0x80000000) << 32) | 0x7FF8000000000000 | ((a & 0x003FFFFF) << 29)
    return float_to_f64(f32_to_float(a))


_s32, _s64 = I32["_signed"], I64["_signed"]

CONVERSIONS: dict[str, Callable] = {
    "i32.wrap_i64": lambda a: a & 0xFFFFFFFF,
    "i64.extend_i32_s": lambda a: _s32(a) & 0xFFFFFFFFFFFFFFFF,
    "i64.extend_i32_u": lambda a: a,
    "f32.convert_i32_s": lambda a: int_to_f32(_s32(a)),
    "f32.convert_i32_u": int_to_f32,
    "f32.convert_i64_s": lambda a: int_to_f32(_s64(a)),
    "f32.convert_i64_u": int_to_f32,
    "f64.convert_i32_s": lambda a: int_to_f64(_s32(a)),
    "f64.convert_i32_u": int_to_f64,
    "f64.convert_i64_s": lambda a: int_to_f64(_s64(a)),
    "f64.convert_i64_u": int_to_f64,
    "f32.demote_f64": _demote,
    "f64.promote_f32": _promote,
    "i32.reinterpret_f32": lambda a: a,
    "i64.reinterpret_f64": lambda a: a,
    "f32.reinterpret_i32": lambda a: a,
    "f64.reinterpret_i64": lambda a: a,
}
for _dst_name, _dst in (("i32", I32), ("i64", I64)):
    for _src_name, _src in (("f32", F32), ("f64", F64)):
        for _sx in ("s", "u"):
            CONVERSIONS[f"{_dst_name}.trunc_{_src_name}_{_sx}"] = _trunc(_src, _dst, _sx == "s", False)
            CONVERSIONS[f"{_dst_name}.trunc_sat_{_src_name}_{_sx}"] = _trunc(_src, _dst, _sx == "s", True)


def operator(mnemonic: str) -> Callable:
    """The function implementing a numeric instruction, e.g. ``operator("i32.add")``.

    Raises KeyError for a mnemonic that is not a numeric operator.
    """
    if mnemonic in CONVERSIONS:
        return CONVERSIONS[mnemonic]
    ty, _, name = mnemonic.partition(".")
    table = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}[ty]
    if name.startswith("_"):
        raise KeyError(mnemonic)
    return table[name]
