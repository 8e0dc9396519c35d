"""Feed-forward unit factories: each states the arithmetic it encodes.

``off`` is an Expr that is 0 when the block is active and >= 1 when it is
not (e.g. ``1 - flag``); ``big`` must exceed the magnitude of the guarded
expression, so an inactive block contributes exactly 0.  All inputs are
integers, so the step and hat functions below are exact.
"""
from __future__ import annotations

from reference_model.compiler.nodes import Expr, Unit


def _scaled(out: dict, c: float) -> dict:
    return {k: v * c for k, v in out.items()}


def relu(pre, out: dict, gate=None) -> list:
    """out += ReLU(pre) [* gate]."""
    return [Unit(Expr.of(pre), dict(out), None if gate is None else Expr.of(gate))]


def passthrough(x, out: dict, off=0, big: float = 512.0) -> list:
    """out += x * [active], for 0 <= x < big:  ReLU(x - big*off)."""
    return relu(Expr.of(x) - Expr.of(off) * big, out)


def step(x, out: dict, off=0, big: float = 2.0**34) -> list:
    """out += [x >= 0] * [active], integer x:  ReLU(x + 1 - big*off) - ReLU(x - big*off)."""
    x = Expr.of(x) - Expr.of(off) * big
    return [Unit(x + 1, dict(out)), Unit(x, _scaled(out, -1.0))]


def hat(x, out: dict, off=0, big: float = 2.0**34) -> list:
    """out += [x == 0] * [active], integer x:  ReLU(x+1) - 2 ReLU(x) + ReLU(x-1), each shifted by -big*off."""
    x = Expr.of(x) - Expr.of(off) * big
    return [Unit(x + 1, dict(out)), Unit(x, _scaled(out, -2.0)), Unit(x - 1, dict(out))]


def is_zero(x, out: dict, off=0, big: float = 2.0**34) -> list:
    """out += [x == 0] * [active], integer x >= 0:  ReLU(1 - x - big*off)."""
    return relu(1 - Expr.of(x) - Expr.of(off) * big, out)


def floor_div(x, divisor: int, top: int, out: dict, off=0, big: float = 2.0**34) -> list:
    """out += floor(x / divisor) * [active] for integer 0 <= x < (top+1)*divisor: sum of `top` steps."""
    units = []
    for m in range(1, top + 1):
        units += step(Expr.of(x) - m * divisor, out, off, big)
    return units


def byte_add(a: list, b: list, out: list, off=0, carry_in: int = 0) -> list:
    """out[k] += ((a + b + carry_in) mod 256**n)[k] * [active], for little-endian byte lists a, b.

    Carry into byte k: c_k = [sum_{j<k} (a_j + b_j) 256^j + carry_in >= 256^k] (one step each, exact);
    result byte k = a_k + b_k + c_k - 256 c_{k+1} (c_0 = carry_in).
    """
    n = len(a)
    units = []
    low = Expr.of(carry_in)
    for k in range(n):
        units += passthrough(Expr.of(a[k]) + b[k] + (carry_in if k == 0 else 0), {out[k]: 1.0}, off, big=1024.0)
        low = low + (Expr.of(a[k]) + b[k]) * (256.0**k)
        # carry out of byte k = carry into byte k+1
        c_out = {out[k]: -256.0}
        if k + 1 < n:
            c_out[out[k + 1]] = 1.0
        units += step(low - 256.0 ** (k + 1), c_out, off)
    return units
