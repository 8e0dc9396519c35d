"""Numeric semantics of the reference interpreter: edge cases the spec pins down."""
from __future__ import annotations

import math
import struct

import pytest

from reference_model.errors import Trap
from reference_model.interpreter.numerics import (F32, F32_CANONICAL_NAN, F64, F64_CANONICAL_NAN, I32, I64,
                                                  operator)
from reference_model.values import f32_from_float, f64_from_float, i32, i64

from interp_util import bits, instance


def f32b(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64b(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


MIN32, MAX32, M1_32 = 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF
MIN64, M1_64 = 1 << 63, (1 << 64) - 1


@pytest.mark.parametrize("op", ["div_s", "div_u", "rem_s", "rem_u"])
def test_integer_division_by_zero_traps(op):
    for table in (I32, I64):
        with pytest.raises(Trap, match="^integer divide by zero$"):
            table[op](7, 0)


def test_signed_division_overflow_traps_but_rem_is_zero():
    with pytest.raises(Trap, match="^integer overflow$"):
        I32["div_s"](MIN32, M1_32)
    with pytest.raises(Trap, match="^integer overflow$"):
        I64["div_s"](MIN64, M1_64)
    assert I32["rem_s"](MIN32, M1_32) == 0
    assert I64["rem_s"](MIN64, M1_64) == 0


def test_signed_division_truncates_toward_zero():
    assert I32["div_s"](-7 & M1_32, 2) == -3 & M1_32
    assert I32["rem_s"](-7 & M1_32, 2) == -1 & M1_32
    assert I32["rem_s"](7, -2 & M1_32) == 1
    assert I32["div_u"](-7 & M1_32, 2) == (M1_32 - 6) // 2


def test_shifts_and_rotates_take_count_modulo_width():
    assert I32["shl"](1, 33) == 2
    assert I32["shr_s"](MIN32, 31) == M1_32
    assert I64["shr_u"](MIN64, 64 + 63) == 1
    assert I32["rotl"](0x80000001, 1) == 3
    assert I32["rotr"](1, 1) == MIN32
    assert I64["rotl"](MIN64 | 1, 65) == 3


def test_bit_counts_and_sign_extension():
    assert I32["clz"](0) == 32 and I64["clz"](1) == 63
    assert I32["ctz"](0) == 32 and I64["ctz"](MIN64) == 63
    assert I64["popcnt"](M1_64) == 64
    assert I32["extend8_s"](0x80) == 0xFFFFFF80
    assert I32["extend16_s"](0x17FFF) == 0x7FFF
    assert I64["extend32_s"](0x80000000) == 0xFFFFFFFF80000000


def test_trunc_traps_on_nan_and_overflow():
    trunc = operator("i32.trunc_f32_s")
    with pytest.raises(Trap, match="^invalid conversion to integer$"):
        trunc(F32_CANONICAL_NAN)
    with pytest.raises(Trap, match="^integer overflow$"):
        trunc(f32b(2147483648.0))
    assert trunc(f32b(-2147483648.0)) == MIN32
    with pytest.raises(Trap, match="^integer overflow$"):
        operator("i32.trunc_f64_u")(f64b(-1.0))
    assert operator("i32.trunc_f64_u")(f64b(-0.9)) == 0
    assert operator("i32.trunc_f64_s")(f64b(-2147483648.9)) == MIN32
    with pytest.raises(Trap, match="^integer overflow$"):
        operator("i64.trunc_f64_s")(f64b(math.inf))


def test_saturating_trunc_clamps_and_maps_nan_to_zero():
    assert operator("i32.trunc_sat_f32_s")(F32_CANONICAL_NAN) == 0
    assert operator("i32.trunc_sat_f32_s")(f32b(1e10)) == MAX32
    assert operator("i32.trunc_sat_f32_s")(f32b(-math.inf)) == MIN32
    assert operator("i64.trunc_sat_f64_u")(f64b(-5.0)) == 0
    assert operator("i64.trunc_sat_f64_u")(f64b(1e300)) == M1_64


def test_arithmetic_nan_results_are_canonical():
    snan32 = 0x7FA00001
    assert F32["add"](snan32, f32b(1.0)) == F32_CANONICAL_NAN
    assert F64["mul"](f64b(math.inf), 0) == F64_CANONICAL_NAN
    assert F32["sqrt"](f32b(-1.0)) == F32_CANONICAL_NAN
    assert F64["div"](0, 0) == F64_CANONICAL_NAN



def test_demote_and_promote_keep_nan_sign_and_payload_like_hardware():
    # any arithmetic NaN is allowed here; we match x86/ARM (and so wasmtime): sign kept, quiet bit set
    assert operator("f32.demote_f64")(0xFFF0000000000001) == 0xFFC00000
    assert operator("f32.demote_f64")(0x7FFFFFFFFFFFFFFF) == 0x7FFFFFFF
    assert operator("f64.promote_f32")(0x7FA00001) == 0x7FFC000020000000
    # a canonical NaN stays canonical, as the spec requires
    assert operator("f32.demote_f64")(0x7FF8000000000000) == F32_CANONICAL_NAN
    assert operator("f64.promote_f32")(F32_CANONICAL_NAN) == 0x7FF8000000000000


def test_sign_bit_operations_keep_nan_payloads():
    snan32 = 0x7FA00001
    assert F32["neg"](snan32) == 0xFFA00001
    assert F32["abs"](0xFFA00001) == snan32
    assert F32["copysign"](snan32, f32b(-1.0)) == 0xFFA00001
    assert F64["neg"](0) == 1 << 63


def test_f32_arithmetic_rounds_to_single_precision():
    # 1 + 2^-24 is exact in f64 but a tie in f32 that rounds to even (1.0)
    assert F32["add"](f32b(1.0), f32b(2.0 ** -24)) == f32b(1.0)
    assert F32["add"](f32b(1.0), f32b(2.0 ** -23)) == f32b(1.0 + 2.0 ** -23)
    assert F32["mul"](f32b(3.4e38), f32b(2.0)) == 0x7F800000  # overflow to infinity
    assert F32["div"](f32b(1.0), f32b(3.0)) == f32b(1.0 / 3.0)
    # i64 -> f32 must round once: 2^53 + 1 + 2^29 style double rounding trap
    assert operator("f32.convert_i64_u")(0x20000020000001) == 0x5A000001
    assert operator("f32.convert_i64_s")(0x7FFFFFFFFFFFFFFF) == f32b(2.0 ** 63)


def test_division_by_zero_gives_signed_infinity():
    assert F64["div"](f64b(1.0), f64b(-0.0)) == f64b(-math.inf)
    assert F32["div"](f32b(-1.0), 0) == f32b(-math.inf)


def test_nearest_rounds_half_to_even_and_keeps_sign_of_zero():
    nearest = F64["nearest"]
    assert nearest(f64b(2.5)) == f64b(2.0)
    assert nearest(f64b(3.5)) == f64b(4.0)
    assert nearest(f64b(-0.5)) == f64b(-0.0)
    assert F32["nearest"](f32b(-1.5)) == f32b(-2.0)
    assert F32["ceil"](f32b(-0.5)) == f32b(-0.0)
    assert F64["trunc"](f64b(-0.7)) == f64b(-0.0)
    assert F64["floor"](f64b(4503599627370497.0)) == f64b(4503599627370497.0)


def test_min_max_signed_zeros_and_nan():
    pz, nz = f32b(0.0), f32b(-0.0)
    assert F32["min"](pz, nz) == nz and F32["min"](nz, pz) == nz
    assert F32["max"](pz, nz) == pz and F32["max"](nz, pz) == pz
    assert F32["min"](F32_CANONICAL_NAN, f32b(1.0)) == F32_CANONICAL_NAN
    assert F64["max"](f64b(1.0), 0x7FF0000000000001) == F64_CANONICAL_NAN
    assert F64["min"](f64b(-math.inf), f64b(1.0)) == f64b(-math.inf)


def test_comparisons_with_nan_are_false_except_ne():
    nan = F64_CANONICAL_NAN
    assert [F64[c](nan, nan) for c in ("eq", "ne", "lt", "gt", "le", "ge")] == [0, 1, 0, 0, 0, 0]
    assert F32["eq"](f32b(0.0), f32b(-0.0)) == 1


def test_numeric_instructions_through_a_module():
    store, inst = instance("""(module
      (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
      (func (export "fadd") (param f32 f32) (result f32) (f32.add (local.get 0) (local.get 1)))
      (func (export "demote") (param f64) (result f32) (f32.demote_f64 (local.get 0)))
      (func (export "wrap") (param i64) (result i32) (i32.wrap_i64 (local.get 0)))
      (func (export "ext") (param i32) (result i64) (i64.extend_i32_s (local.get 0))))""")
    assert bits(store, inst, "div", i32(-9), i32(2)) == [(-4) & M1_32]
    with pytest.raises(Trap, match="^integer divide by zero$"):
        bits(store, inst, "div", i32(1), i32(0))
    assert bits(store, inst, "fadd", f32_from_float(0.1), f32_from_float(0.2)) == [f32b(0.1 + 0.2)]
    assert bits(store, inst, "demote", f64_from_float(1e300)) == [0x7F800000]
    assert bits(store, inst, "wrap", i64(0x123456789)) == [0x23456789]
    assert bits(store, inst, "ext", i32(-1)) == [M1_64]
