"""Script values: arguments become Values, expectations become patterns.

Values compare by bits; floats may instead be expected to be a NaN of a
named class (``nan:canonical``: only the quiet bit set in the payload, any
sign; ``nan:arithmetic``: the quiet bit set); v128 compares lane by lane
with the lane type the script gave.  Mismatches print as hex.
"""
from __future__ import annotations

from dataclasses import dataclass

from reference_model.values import MASK, WIDTH, Value, format_value

QUIET = {"f32": 1 << 22, "f64": 1 << 51}
EXP_MASK = {"f32": 0x7F800000, "f64": 0x7FF0000000000000}
FRAC_MASK = {"f32": (1 << 23) - 1, "f64": (1 << 52) - 1}
LANE_TYPES = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "f32": 32, "f64": 64}
REF_TYPES = {
    "funcref", "externref", "anyref", "eqref", "i31ref", "structref", "arrayref", "exnref",
    "nullref", "nullfuncref", "nullexternref", "nullexnref", "refnull",
}


class UnsupportedValue(Exception):
    """A value kind this harness cannot express (named in the message)."""


def _num(text: str, type_: str) -> int:
    return int(text) & MASK[type_]


def parse_arg(raw: dict) -> Value:
    """A json-from-wast argument as a Value."""
    t = raw["type"]
    if t in ("i32", "i64", "f32", "f64"):
        return Value(t, _num(raw["value"], t))
    if t == "v128":
        width = LANE_TYPES[raw["lane_type"]]
        bits = 0
        for i, lane in enumerate(raw["value"]):
            bits |= (int(lane) & ((1 << width) - 1)) << (i * width)
        return Value("v128", bits)
    if t in ("funcref", "externref"):
        v = raw.get("value")
        return Value(t, None if v in (None, "null") else int(v))
    raise UnsupportedValue(f"argument type {t}")


def _nan_class(bits: int, t: str) -> str | None:
    if (bits & EXP_MASK[t]) != EXP_MASK[t] or (bits & FRAC_MASK[t]) == 0:
        return None
    payload = bits & FRAC_MASK[t]
    if payload == QUIET[t]:
        return "canonical"
    return "arithmetic" if payload & QUIET[t] else "signalling"


def _float_matches(pattern: str, bits: int, t: str) -> bool:
    if pattern == "nan:canonical":
        return _nan_class(bits, t) == "canonical"
    if pattern == "nan:arithmetic":
        return _nan_class(bits, t) in ("canonical", "arithmetic")
    return bits == (int(pattern) & MASK[t])


@dataclass(frozen=True)
class Expected:
    """One expected result: a json-from-wast value (or an ``either`` of several)."""

    raw: dict

    def matches(self, v: Value) -> bool:
        raw = self.raw
        t = raw["type"]
        if t == "either":
            return any(Expected(alt).matches(v) for alt in raw["values"])
        if t in ("i32", "i64"):
            return v.type == t and v.bits == _num(raw["value"], t)
        if t in ("f32", "f64"):
            return v.type == t and _float_matches(raw["value"], v.bits, t)
        if t == "v128":
            if v.type != "v128":
                return False
            lt = raw["lane_type"]
            width = LANE_TYPES[lt]
            for i, lane in enumerate(raw["value"]):
                got = (v.bits >> (i * width)) & ((1 << width) - 1)
                if lt in ("f32", "f64"):
                    if not _float_matches(lane, got, lt):
                        return False
                elif got != (int(lane) & ((1 << width) - 1)):
                    return False
            return True
        if t in REF_TYPES:
            return self._ref_matches(v)
        raise UnsupportedValue(f"expected type {t}")

    def _ref_matches(self, v: Value) -> bool:
        t, want = self.raw["type"], self.raw.get("value")
        if v.type not in REF_TYPES:
            return False
        if t == "refnull" or t.startswith("null") or want == "null":
            return v.bits is None
        if want is None:  # any non-null reference of the type
            return v.bits is not None
        if t == "externref":
            return v.bits == int(want)
        return v.bits is not None

    def __str__(self) -> str:
        raw = self.raw
        t = raw["type"]
        if t == "either":
            return "either(" + " | ".join(str(Expected(a)) for a in raw["values"]) + ")"
        if t in ("i32", "i64"):
            return format_value(Value(t, _num(raw["value"], t)))
        if t in ("f32", "f64"):
            val = raw["value"]
            return f"{t}:{val}" if val.startswith("nan") else format_value(Value(t, _num(val, t)))
        if t == "v128":
            return f"v128:{raw['lane_type']}x[{' '.join(raw['value'])}]"
        return f"{t}:{raw.get('value', 'non-null')}"


def format_values(values) -> str:
    """Comma-separated text of Values or Expecteds."""
    return ", ".join(str(v) for v in values)


def value_width(t: str) -> int:
    return WIDTH[t]
