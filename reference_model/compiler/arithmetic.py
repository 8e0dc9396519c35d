"""Arithmetic blocks: the feed-forward units of every i32 numeric instruction.

Operands come from memory ports as 4 bytes, 32 bits, an unsigned scalar u
and a signed scalar s (linear in the bytes/bits).  Binary instructions read
A = T1 (below the top) and B = T0 (the top); unary ones read A = T0.  Every
block is gated by its opcode flag (``off = 1 - flag``) and adds its result
bytes into the shared ``out.V*`` variables, so inactive blocks add 0.

Exactness: scalars reach 2**32 (comparisons, carries), 2**37 (multiply
column sums) and 2**56 (division trial products, which are exact or far
from the threshold): exact in float64, NOT in float32.  A bounded-magnitude
variant (byte-local carries, base-3 carry look-ahead) is the path to an
exact float32 build; it is not implemented yet.
"""
from __future__ import annotations

from reference_model.compiler import units as U
from reference_model.compiler.nodes import Expr, total

M = 2.0**34


def _bytes_from_bits(bits_coef: dict) -> dict:
    """{bit j: coef} -> {out.V(j//8): coef * 2^(j%8)} summed."""
    out = {}
    for j, c in bits_coef.items():
        k = f"out.V{j // 8}"
        out[k] = out.get(k, 0.0) + c * 2.0 ** (j % 8)
    return out


def build(g, ports, V) -> None:
    T0, T1, T2 = ports["T0"], ports["T1"], ports["T2"]
    alu = {op.alu: op.name for op in g.machine.opcodes if op.alu}

    def off(kind):
        return 1 - g.flag(alu[kind])

    A, B = T1, T0
    # add / sub: byte-wise with carry look-ahead (one layer)
    g.units("i32.add", U.byte_add(A.b, B.b, V, off=off("add")))
    g.units("i32.sub", U.byte_add(A.b, [255 - b for b in B.b], V, off=off("sub"), carry_in=1))

    # comparisons: steps and hats on exact scalars
    d_u, d_s = A.u - B.u, A.s - B.s
    g.units("i32.eqz", U.is_zero(T0.u, {V[0]: 1.0}, off("eqz")))
    g.units("i32.eq", U.hat(d_u, {V[0]: 1.0}, off("eq")))
    g.units("i32.ne", U.relu(1 - off("ne") * M, {V[0]: 1.0}) + U.hat(d_u, {V[0]: -1.0}, off("ne")))
    for kind, diff in (("lt", -1 * d_u - 1), ("gt", d_u - 1), ("le", -1 * d_u), ("ge", d_u)):
        g.units(f"i32.{kind}_u", U.step(diff, {V[0]: 1.0}, off(f"{kind}_u")))
    for kind, diff in (("lt", -1 * d_s - 1), ("gt", d_s - 1), ("le", -1 * d_s), ("ge", d_s)):
        g.units(f"i32.{kind}_s", U.step(diff, {V[0]: 1.0}, off(f"{kind}_s")))

    # bitwise: and_j = ReLU(a_j + b_j - 1)
    for kind in ("and", "or", "xor"):
        us = []
        for j in range(32):
            s = A.bit[j] + B.bit[j] - 2 * off(kind)
            both = _bytes_from_bits({j: 1.0})
            if kind == "and":
                us += U.relu(s - 1, both)
            else:
                us += U.relu(s, both)
                us += U.relu(s - 1, {k: -c if kind == "or" else -2 * c for k, c in both.items()})
        g.units(f"i32.{kind}", us)

    # unary bit counts on A = T0
    a = T0.bit
    g.units("i32.popcnt", U.relu(total(a) - 64 * off("popcnt"), {V[0]: 1.0}))
    g.units("i32.clz", sum((U.relu(1 - total(a[31 - k :]) - 2 * off("clz"), {V[0]: 1.0}) for k in range(32)), []))
    g.units("i32.ctz", sum((U.relu(1 - total(a[: k + 1]) - 2 * off("ctz"), {V[0]: 1.0}) for k in range(32)), []))
    for kind, width in (("extend8_s", 8), ("extend16_s", 16)):
        us = []
        for k in range(width // 8):
            us += U.passthrough(T0.b[k], {V[k]: 1.0}, off(kind), 256.0)
        for k in range(width // 8, 4):
            us += U.relu(a[width - 1] - off(kind), {V[k]: 255.0})
        g.units(f"i32.{kind}", us)

    _select(g, T0, T1, T2, V, off("select"))
    _shifts(g, A, B, off)
    _mul(g, A, B, off("mul"))
    _divide(g, A, B, V, off)


def _select(g, T0, T1, T2, V, off) -> None:
    """select(val1=T2, val2=T1, c=T0) = c != 0 ? val1 : val2."""
    cond = Expr.of("cond")
    us = []
    for k in range(4):
        us += U.passthrough(T2.b[k], {V[k]: 1.0}, off + (1 - cond), 256.0)
        us += U.passthrough(T1.b[k], {V[k]: 1.0}, off + cond, 256.0)
    g.units("select", us)


def _shifts(g, A, B, off) -> None:
    """All shifts and rotations as one right-rotation plus a mask.

    m = B mod 32; rotr by r = m (right ops) or r = (32 - m) mod 32 (left ops);
    rho_j = OR_r (onehot_r AND a_{(j+r) mod 32});
    shl: keep j >= m; shr_u: keep j <= 31 - m; shr_s: fill the rest with a_31.
    """
    right = ["shr_s", "shr_u", "rotr"]
    left = ["shl", "rotl"]
    off_r = total(off(k) for k in right) - (len(right) - 1)  # 0 if any right op
    off_l = total(off(k) for k in left) - (len(left) - 1)

    def match(v):  # sum_j [bit_j(m) == bit_j(v)] - 4  == 1 iff m == v
        return total(B.bit[j] if (v >> j) & 1 else 1 - B.bit[j] for j in range(5)) - 4

    us = []
    for r in range(32):
        us += U.relu(match(r) - 2 * off_r, {f"sh.r{r}": 1.0})
        us += U.relu(match((32 - r) % 32) - 2 * off_l, {f"sh.r{r}": 1.0})
        us += U.relu(match(r), {f"sh.m{r}": 1.0})
    g.units("shift.amount", us)
    us = []
    for r in range(32):
        for j in range(32):
            us += U.relu(Expr.of(f"sh.r{r}") + A.bit[(j + r) % 32] - 1, {f"sh.rho{j}": 1.0})
    g.units("shift.rotate", us)
    rho = [Expr.of(f"sh.rho{j}") for j in range(32)]
    m = [Expr.of(f"sh.m{r}") for r in range(32)]
    us = []
    for j in range(32):
        bj = _bytes_from_bits({j: 1.0})
        keep_l = total(m[: j + 1])  # [m <= j]
        keep_r = total(m[: 32 - j])  # [m <= 31 - j]
        us += U.relu(rho[j] - 2 * (off("rotl") + off("rotr") - 1), bj)
        us += U.relu(rho[j] + keep_l - 1 - 2 * off("shl"), bj)
        us += U.relu(rho[j] + keep_r - 1 - 2 * off("shr_u"), bj)
        us += U.relu(rho[j] + keep_r - 1 - 2 * off("shr_s"), bj)
        us += U.relu(A.bit[31] - keep_r - 2 * off("shr_s"), bj)
    g.units("shift.mask", us)


def _mul(g, A, B, off) -> None:
    """A*B mod 2^32 from bit products.

    p_ij = a_i AND b_j (i+j < 32); col_m = sum_{i+j=m} p_ij;
    c_m = floor(L_m / 2^m), L_m = sum_{j<m} col_j 2^j  (c_m <= m);
    result bit r_m = col_m + c_m - 2 c_{m+1}.
    """
    us = []
    for i in range(32):
        for j in range(32 - i):
            out = {f"mul.col{i + j}": 1.0, **_bytes_from_bits({i + j: 1.0})}
            us += U.relu(A.bit[i] + B.bit[j] - 1 - 2 * off, out)
    g.units("i32.mul.products", us)
    col = [Expr.of(f"mul.col{m}") for m in range(32)]
    us = []
    for m in range(1, 33):
        low = total(col[j] * 2.0**j for j in range(m))
        out = _bytes_from_bits({m: 1.0}) if m < 32 else {}
        prev = _bytes_from_bits({m - 1: -2.0})
        for k, c in prev.items():
            out[k] = out.get(k, 0.0) + c
        for v in range(1, m + 1):
            us += U.step(low - v * 2.0**m, out)
    g.units("i32.mul.carries", us)


def _divide(g, A, B, V, off) -> None:
    """div/rem (s/u): radix-256 restoring division on magnitudes, then signs.

    n = |A| (or A), d = |B| (or B); for k = 3..0:
      q_k = #{m in 1..255 : R_{k+1} >= m 256^k d},  R_k = R_{k+1} - 256^k d q_k;
    remainder bytes by floor steps on R_0; negation ~x + 1 with
    carry c_k = [x mod 256^k == 0].  Traps: d == 0; div_s with A = -2^31, B = -1.
    """
    kinds = ["div_s", "div_u", "rem_s", "rem_u"]
    signed = ["div_s", "rem_s"]
    unsigned = ["div_u", "rem_u"]
    off_s = total(off(k) for k in signed) - 1
    off_u = total(off(k) for k in unsigned) - 1
    off_any = total(off(k) for k in kinds) - 3
    sa, sb = A.bit[31], B.bit[31]
    us = []
    for x, name, s in ((A, "div.n", sa), (B, "div.d", sb)):
        us += U.relu(x.u - M * off_u, {name: 1.0})
        us += U.relu(x.u - M * off_s - M * s, {name: 1.0})
        us += U.relu(2.0**32 - x.u - M * off_s - M * (1 - s), {name: 1.0})
    us += U.is_zero(B.u, {"trap.divzero": 1.0}, off_any)
    us += U.relu(B.u - (2.0**32 - 2) - (A.s + 2.0**31) - off("div_s"), {"trap.overflow": 1.0})
    g.units("div.operands", us)
    d = Expr.of("div.d")
    r_prev = Expr.of("div.n")
    for k in (3, 2, 1, 0):
        g.units(f"div.q{k}", sum((U.step(r_prev - d * (m * 256.0**k), {f"div.q{k}": 1.0}) for m in range(1, 256)), []))
        g.units(f"div.r{k}", U.relu(r_prev, {f"div.r{k}": 1.0}) + U.relu(f"div.q{k}", {f"div.r{k}": -(256.0**k)}, gate=d))
        r_prev = Expr.of(f"div.r{k}")
    # remainder bytes
    rem = [None, None, None, None]
    left = r_prev
    for k in (3, 2, 1):
        g.units(f"rem.b{k}", U.floor_div(left, 256**k, 255, {f"rem.b{k}": 1.0}))
        rem[k] = Expr.of(f"rem.b{k}")
        left = left - rem[k] * 256.0**k
    rem[0] = left
    quo = [Expr.of(f"div.q{k}") for k in range(4)]

    us = []
    for kind, val, neg_cases, pos_cases in (
        ("div_u", quo, [], [0]),
        ("rem_u", rem, [], [0]),
        ("div_s", quo, [sa + (1 - sb), (1 - sa) + sb], [sa + sb, 2 - sa - sb]),
        ("rem_s", rem, [1 - sa], [sa]),
    ):
        for case in pos_cases:
            for k in range(4):
                us += U.passthrough(val[k], {V[k]: 1.0}, off(kind) + case, 256.0)
        for case in neg_cases:  # (~x + 1) mod 2^32
            o = off(kind) + case
            for k in range(4):
                us += U.relu(255 - val[k] - 256 * o, {V[k]: 1.0})
                low = total(val[j] * 256.0**j for j in range(k))
                carry_out = {V[k]: -256.0}
                if k + 1 < 4:
                    carry_out[V[k + 1]] = 1.0
                low_next = low + val[k] * 256.0**k
                us += U.relu(1 - low_next - M * o, carry_out)
            us += U.relu(1 - M * o, {V[0]: 1.0})
    g.units("div.result", us)
