"""Trap and exhaustion messages, with the spec's wording, in one place.

The texts are those of the WebAssembly spec interpreter
(``interpreter/exec/eval.ml``, ``exec/numeric_error.ml``) as the spec
testsuite's ``assert_trap`` / ``assert_exhaustion`` commands spell them.
Every Trap the interpreter raises carries one of these strings.
"""
from __future__ import annotations

from reference_model.errors import Exhaustion, Trap

UNREACHABLE = "unreachable"
INTEGER_DIVIDE_BY_ZERO = "integer divide by zero"
INTEGER_OVERFLOW = "integer overflow"
INVALID_CONVERSION = "invalid conversion to integer"
OUT_OF_BOUNDS_MEMORY = "out of bounds memory access"
OUT_OF_BOUNDS_TABLE = "out of bounds table access"
UNDEFINED_ELEMENT = "undefined element"
UNINITIALIZED_ELEMENT = "uninitialized element"
INDIRECT_CALL_TYPE_MISMATCH = "indirect call type mismatch"

CALL_STACK_EXHAUSTED = "call stack exhausted"


def trap(message: str) -> Trap:
    """The Trap to raise for ``message`` (one of the constants above)."""
    return Trap(message)


def exhausted() -> Exhaustion:
    """The Exhaustion raised when the call stack reaches its configured depth."""
    return Exhaustion(CALL_STACK_EXHAUSTED)
