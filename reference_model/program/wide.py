"""i64 as microcode: 64-bit values in two stack cells, computed by hidden slots over the i32 rows.

An i64 value occupies two consecutive cells of the frame, low word first.
The compiled model has no 64-bit row: an i64 instruction is laid out as a
short run of hidden slots (the i32 rows ``local.get`` as a move between
cells, ``i32.const``, the i32 arithmetic blocks, ``select``, loads and
stores) at their own static heights, followed by one traced slot that
writes the last cell.  The model executes every slot, one cell per step,
like any other instruction (rules 1-4); the trace decoder folds the hidden
slots away and reads the instruction's 64-bit result from the two cells the
model wrote (``Slot.wide``).

Scratch cells lie above the instruction's operands (frame offsets from
``top`` up); the function's frame bound leaves room for them.
"""
from __future__ import annotations

from reference_model.errors import Unsupported

# a float is its bits: f32 in one cell, f64 in two; a reference is its table element word: a funcref's
# (compiler/tables.py), an externref's payload + 1; 0 is null
WIDTH = {"i32": 1, "i64": 2, "f32": 1, "f64": 2, "funcref": 1, "externref": 1}


def width(t) -> int:
    try:
        return WIDTH[t]
    except KeyError:
        raise Unsupported(t) from None


class Micro:
    """A run of hidden slots for one instruction; cells are frame offsets."""

    def __init__(self, func, top: int, first: int = 0):
        from reference_model.program.encoding import Slot  # one module owns Slot

        self.Slot = Slot
        self.func, self.top, self.free, self.slots, self.first = func, top, top, [], first

    def here(self) -> int:
        """The slot number the next emitted slot will have."""
        return self.first + len(self.slots)

    def new(self, n: int = 1) -> int:
        c = self.free
        self.free += n
        return c

    def emit(self, op: str, H: int, X: int | None = None, W: int | None = None, x_abs=False, w_abs=False,
             const: int | None = None, tgt: int | None = None, offset: int | None = None):
        s = self.Slot(op, self.func, None)
        s.micro = True
        _put(s.imm, 0, H)
        if X is not None:
            _put(s.imm, 2, X)
            s.imm[4] = int(x_abs)
        if W is not None:
            _put(s.imm, 5, W)
            s.imm[7] = int(w_abs)
        if tgt is not None:
            s.target = tgt
            _put(s.imm, 8, tgt)
        for v in (const, offset):
            if v is not None:
                s.imm[8:12] = [(v >> (8 * k)) & 255 for k in range(4)]
        self.slots.append(s)
        return s

    def mov(self, src: int, dst: int | None = None, src_abs=False, dst_abs=False) -> int:
        dst = self.new() if dst is None else dst
        self.emit("local.get", self.free, X=src, W=dst, x_abs=src_abs, w_abs=dst_abs)
        return dst

    def const(self, v: int, dst: int | None = None) -> int:
        dst = self.new() if dst is None else dst
        self.emit("i32.const", self.free, W=dst, const=v & 0xFFFFFFFF)
        return dst

    def operands(self, *xs: int) -> int:
        """The static height H at which the cells ``xs`` are T(n-1)..T0 (copies when they are not adjacent)."""
        if all(xs[k + 1] == xs[k] + 1 for k in range(len(xs) - 1)):
            return xs[-1] + 1
        s = self.new(len(xs))
        for k, x in enumerate(xs):
            self.mov(x, s + k)
        return s + len(xs)

    def op(self, name: str, *xs: int, dst: int | None = None) -> int:
        """``name`` (an i32 row, "i32." implied for arithmetic) over the cells ``xs``, into ``dst``."""
        H = self.operands(*xs)
        dst = self.new() if dst is None else dst
        self.emit(name if "." in name or name == "select" else f"i32.{name}", H, W=dst)
        return dst

    def select(self, a: int, b: int, c: int, dst: int | None = None) -> int:
        """c != 0 ? a : b"""
        return self.op("select", a, b, c, dst=dst)


def _put(imm, at, v):
    assert 0 <= v < 65536, v
    imm[at], imm[at + 1] = v & 255, v >> 8


# -- the numeric instructions ---------------------------------------------------------------------------------
# Each builder gets the Micro and the operands' cells (a: lo, a+1: hi) and returns the result's cells: (lo, hi)
# for an i64 result, (c,) for an i32 one.  The caller moves them into place; the last move is the traced slot.

def _add(m, a, b):
    lo = m.op("add", a, b)
    carry = m.op("lt_u", lo, b)
    hi = m.op("add", a + 1, b + 1)
    return lo, m.op("add", hi, carry)


def _sub(m, a, b):
    lo = m.op("sub", a, b)
    borrow = m.op("lt_u", a, b)
    hi = m.op("sub", a + 1, b + 1)
    return lo, m.op("sub", hi, borrow)


def _bitwise(name):
    return lambda m, a, b: (m.op(name, a, b), m.op(name, a + 1, b + 1))


def _eqz(m, a):
    return (m.op("eqz", m.op("or", a, a + 1)),)


def _eq(m, a, b):
    return (m.op("eqz", m.op("or", m.op("xor", a, b), m.op("xor", a + 1, b + 1))),)


def _ne(m, a, b):
    return (m.op("eqz", _eq(m, a, b)[0]),)


def _compare(hi_op, lo_op):
    """hi words differ: their (signed or unsigned) strict comparison; equal: the low words' comparison"""
    def build(m, a, b):
        hi = m.op(hi_op, a + 1, b + 1)
        lo = m.op(lo_op, a, b)
        same = m.op("eq", a + 1, b + 1)
        return (m.select(lo, hi, same),)
    return build


def _sign_of(m, x):
    return m.op("shr_s", x, m.const(31))


def _extend_s(m, a):
    return a, _sign_of(m, a)


def _extend_u(m, a):
    return a, m.const(0)


def _wrap(m, a):
    return (a,)


def _extend_n(name):
    def build(m, a):
        lo = m.op(name, a)
        return lo, _sign_of(m, lo)
    return build


def _clz(m, a):
    low = m.op("add", m.op("clz", a), m.const(32))
    return m.select(m.op("clz", a + 1), low, a + 1), m.const(0)


def _ctz(m, a):
    high = m.op("add", m.op("ctz", a + 1), m.const(32))
    return m.select(m.op("ctz", a), high, a), m.const(0)


def _popcnt(m, a):
    return m.op("add", m.op("popcnt", a), m.op("popcnt", a + 1)), m.const(0)


def _funnel_left(m, x, y, k, k_inv):
    """(x << k) | (y >> (32 - k)) for k = 0..31 (k_inv = k ^ 31; the i32 shifts take their count mod 32)"""
    return m.op("or", m.op("shl", x, k), m.op("shr_u", m.op("shr_u", y, m.const(1)), k_inv))


def _funnel_right(m, x, y, k, k_inv):
    """(x >> k) | (y << (32 - k)) for k = 0..31"""
    return m.op("or", m.op("shr_u", x, k), m.op("shl", m.op("shl", y, m.const(1)), k_inv))


def _shift(kind):
    def build(m, a, b):
        k = b  # the count's low word; bit 5 says "by 32 or more"
        big = m.op("and", k, m.const(32))
        k_inv = m.op("xor", k, m.const(31))
        if kind == "shl":
            lo_small = m.op("shl", a, k)
            hi_small = _funnel_left(m, a + 1, a, k, k_inv)
            return m.select(m.const(0), lo_small, big), m.select(lo_small, hi_small, big)
        hi_small = m.op("shr_s" if kind == "shr_s" else "shr_u", a + 1, k)
        lo_small = _funnel_right(m, a, a + 1, k, k_inv)
        fill = _sign_of(m, a + 1) if kind == "shr_s" else m.const(0)
        return m.select(hi_small, lo_small, big), m.select(fill, hi_small, big)
    return build


def _rotate(kind):
    def build(m, a, b):
        k = b if kind == "rotl" else m.op("sub", m.const(0), b)  # rotr by k = rotl by 64 - k
        big = m.op("and", k, m.const(32))
        k_inv = m.op("xor", k, m.const(31))
        p = m.select(a + 1, a, big)  # by 32 or more: the words swap first
        q = m.select(a, a + 1, big)
        return _funnel_left(m, p, q, k, k_inv), _funnel_left(m, q, p, k, k_inv)
    return build


def _mulhi_u(m, x, y):
    """The high word of the 64-bit product of two words, from 16-bit halves (each product fits a word)."""
    mask, sixteen = m.const(0xFFFF), m.const(16)
    x0, x1 = m.op("and", x, mask), m.op("shr_u", x, sixteen)
    y0, y1 = m.op("and", y, mask), m.op("shr_u", y, sixteen)
    p00, p01 = m.op("mul", x0, y0), m.op("mul", x0, y1)
    p10, p11 = m.op("mul", x1, y0), m.op("mul", x1, y1)
    mid = m.op("add", m.op("shr_u", p00, sixteen), m.op("and", p01, mask))
    mid = m.op("add", mid, m.op("and", p10, mask))
    hi = m.op("add", p11, m.op("shr_u", p01, sixteen))
    hi = m.op("add", hi, m.op("shr_u", p10, sixteen))
    return m.op("add", hi, m.op("shr_u", mid, sixteen))


def _mul(m, a, b):
    lo = m.op("mul", a, b)
    hi = m.op("add", _mulhi_u(m, a, b), m.op("mul", a, b + 1))
    return lo, m.op("add", hi, m.op("mul", a + 1, b))


def _neg(m, lo, hi):
    """0 - x"""
    zero = m.const(0)
    nlo = m.op("sub", zero, lo)
    return nlo, m.op("sub", m.op("sub", zero, hi), m.op("ne", lo, zero))


def _abs(m, lo, hi):
    nlo, nhi = _neg(m, lo, hi)
    neg = m.op("lt_s", hi, m.const(0))
    return m.select(nlo, lo, neg), m.select(nhi, hi, neg), neg


def _divmod_u(m, n_lo, n_hi, d_lo, d_hi):
    """(quotient, remainder) of 64-bit unsigned words, in cells.

    d < 2^16: long division by 16-bit digits with the i32 rows (each partial dividend fits a word);
    otherwise restoring division, one bit per iteration of a hidden loop (a hidden br_if back): 32
    iterations when d >= 2^32 (the quotient fits a word: start from n shifted by 32), else 48 (it fits 48
    bits: start from n shifted by 16).
    """
    q_lo = m.new(4)
    q_hi, r_lo, r_hi = q_lo + 1, q_lo + 2, q_lo + 3
    one, k16, k31 = m.const(1), m.const(16), m.const(31)
    small = m.op("eqz", m.op("or", d_hi, m.op("shr_u", d_lo, k16)))
    branch = m.emit("br_if", small + 1)  # target set below: the digit path
    # bit path: r:q starts as n shifted left by 32 (d >= 2^32) or 16, with that many iterations fewer
    big = m.op("ne", d_hi, m.const(0))
    s16_hi = m.op("or", m.op("shl", n_hi, k16), m.op("shr_u", n_lo, k16))
    m.select(n_hi, m.op("shr_u", n_hi, k16), big, dst=r_lo)
    m.const(0, r_hi)
    m.select(m.const(0), m.op("shl", n_lo, k16), big, dst=q_lo)
    m.select(n_lo, s16_hi, big, dst=q_hi)
    # the loop's cells are laid out so that most operations find their operands adjacent: r's words each
    # followed by a copy of d's, a constant after each temporary that is shifted, the select's triples
    rh = m.new(4)
    dh, rl, dl = rh + 1, rh + 2, rh + 3
    for src, dst in ((r_hi, rh), (d_hi, dh), (r_lo, rl), (d_lo, dl)):
        m.mov(src, dst)
    qh = m.new(3)
    ql, gq = qh + 1, qh + 2  # q's words; gq: ge, next to q_lo for the or
    m.mov(q_hi, qh)
    m.mov(q_lo, ql)
    shl1, shr31 = [], []
    for _ in range(4):  # [temporary, 1] pairs and [temporary, 31] pairs
        shl1.append(m.new(2))
        m.const(1, shl1[-1] + 1)
    for _ in range(3):
        shr31.append(m.new(2))
        m.const(31, shr31[-1] + 1)
    i = m.new(2)
    m.select(m.const(32), m.const(48), big, dst=i)
    m.const(1, i + 1)
    pairs, t, sel_lo, sel_hi = m.new(6), m.new(4), m.new(3), m.new(3)
    loop = m.here()

    def funnel(k, x, y, dst):  # dst = (x << 1) | (y >> 31)
        m.mov(x, shl1[k])
        m.emit("i32.shl", shl1[k] + 2, W=pairs + 2 * k)
        m.mov(y, shr31[k])
        m.emit("i32.shr_u", shr31[k] + 2, W=pairs + 2 * k + 1)
        m.emit("i32.or", pairs + 2 * k + 2, W=dst)

    funnel(0, rh, rl, rh)
    funnel(1, rl, qh, rl)
    funnel(2, qh, ql, qh)
    m.mov(ql, shl1[3])
    m.emit("i32.shl", shl1[3] + 2, W=ql)
    # ge = r >= d: hi words greater, or equal and lo words >=
    m.emit("i32.ge_u", rl + 2, W=t)
    m.emit("i32.gt_u", rh + 2, W=t + 1)
    m.emit("i32.eq", rh + 2, W=t + 2)
    m.emit("select", t + 3, W=sel_lo + 2)
    # t = r - d: lo, then hi minus the borrow
    m.emit("i32.sub", rl + 2, W=sel_lo)
    m.emit("i32.sub", rh + 2, W=t)
    m.emit("i32.lt_u", rl + 2, W=t + 1)
    m.emit("i32.sub", t + 2, W=sel_hi)
    # r = ge ? t : r; q |= ge
    m.mov(rl, sel_lo + 1)
    m.emit("select", sel_lo + 3, W=rl)
    m.mov(rh, sel_hi + 1)
    m.mov(sel_lo + 2, sel_hi + 2)
    m.emit("select", sel_hi + 3, W=rh)
    m.mov(sel_lo + 2, gq)
    m.emit("i32.or", gq + 1, W=ql)
    m.emit("i32.sub", i + 2, W=i)
    m.emit("br_if", i + 1, tgt=loop)
    for src, dst in ((rl, r_lo), (rh, r_hi), (ql, q_lo), (qh, q_hi)):
        m.mov(src, dst)
    done = m.emit("br", m.free)  # target set below: past the digit path
    # digit path: four 16-bit digits of n, most significant first; r < d < 2^16 keeps r:digit in a word
    branch.target = m.here()
    mask, r = m.const(0xFFFF), m.const(0)
    digits = []
    for word, shift in ((n_hi, True), (n_hi, False), (n_lo, True), (n_lo, False)):
        digit = m.op("shr_u", word, k16) if shift else m.op("and", word, mask)
        cur = m.op("or", m.op("shl", r, k16), digit)
        digits.append(m.op("div_u", cur, d_lo))
        m.op("rem_u", cur, d_lo, dst=r)
    m.op("or", m.op("shl", digits[0], k16), digits[1], dst=q_hi)
    m.op("or", m.op("shl", digits[2], k16), digits[3], dst=q_lo)
    m.mov(r, r_lo)
    m.const(0, r_hi)
    done.target = m.here()
    for s in (branch, done):
        _put(s.imm, 8, s.target)
    return (q_lo, q_hi), (r_lo, r_hi)


def _division(kind):
    def build(m, a, b):
        m.op("div_u", m.const(1), m.op("or", b, b + 1))  # traps "integer divide by zero" when b = 0
        if kind in ("div_u", "rem_u"):
            q, r = _divmod_u(m, a, a + 1, b, b + 1)
            return q if kind == "div_u" else r
        if kind == "div_s":  # INT64_MIN / -1 traps "integer overflow"
            n_min = m.op("and", m.op("eqz", a), m.op("eq", a + 1, m.const(0x80000000)))
            d_m1 = m.op("eq", m.op("and", b, b + 1), m.const(0xFFFFFFFF))
            over = m.op("and", n_min, d_m1)
            m.op("div_s", m.const(0x80000000), m.select(m.const(-1), m.const(1), over))
        n_lo, n_hi, n_neg = _abs(m, a, a + 1)
        d_lo, d_hi, d_neg = _abs(m, b, b + 1)
        q, r = _divmod_u(m, n_lo, n_hi, d_lo, d_hi)
        x, neg = (q, m.op("xor", n_neg, d_neg)) if kind == "div_s" else (r, n_neg)
        x_lo, x_hi = _neg(m, *x)
        return m.select(x_lo, x[0], neg), m.select(x_hi, x[1], neg)
    return build


# floats as bits: the instructions that only move or reinterpret a float's bits, or change its sign bit
# (abs, neg and copysign are bitwise in the spec, NaN payloads included); float arithmetic is unsupported
SIGN, MAGNITUDE = 0x80000000, 0x7FFFFFFF


def _same(m, a):  # a reinterpretation: the same cell(s), moved onto themselves by the traced slot
    return (a,)


def _same2(m, a):
    return a, a + 1


def _sign_op(kind):
    """f32/f64 abs, neg, copysign on the (high) word that holds the sign bit; the low word of an f64 stays."""
    def word(m, x, y=None):
        if kind == "abs":
            return m.op("and", x, m.const(MAGNITUDE))
        if kind == "neg":
            return m.op("xor", x, m.const(SIGN))
        return m.op("or", m.op("and", x, m.const(MAGNITUDE)), m.op("and", y, m.const(SIGN)))

    def f32(m, a, b=None):
        return (word(m, a, b),)

    def f64(m, a, b=None):
        return a, word(m, a + 1, None if b is None else b + 1)
    return f32, f64


_ABS, _NEG, _COPYSIGN = _sign_op("abs"), _sign_op("neg"), _sign_op("copysign")
F32_INF, F64_INF_HI = 0x7F800000, 0x7FF00000


def _is_number(m, hi, lo=None):
    """1 when the float (f32 bits in ``hi``; f64: high word ``hi``, low word ``lo``) is not a NaN: its magnitude
    is at most infinity's (exponent all ones with a non-zero fraction is a NaN)."""
    mag = m.op("and", hi, m.const(MAGNITUDE))
    if lo is None:
        return m.op("le_u", mag, m.const(F32_INF))
    below = m.op("lt_u", mag, m.const(F64_INF_HI))
    at = m.op("and", m.op("eq", mag, m.const(F64_INF_HI)), m.op("eqz", lo))
    return m.op("or", below, at)


def _order_key(m, x, wide: bool):
    """A float's bits as a signed integer in the float order, both zeros as 0: the magnitude for a positive
    float, minus the magnitude for a negative one (sign-magnitude to two's complement).  Cells (lo, hi) for an
    f64 (adjacent, as the i64 builders take them), (c,) for an f32."""
    hi = x + 1 if wide else x
    s = _sign_of(m, hi)  # -1 for a negative float, else 0
    if not wide:
        return (m.op("sub", m.op("xor", x, m.op("and", s, m.const(MAGNITUDE))), s),)
    # k = (x ^ (s & MAGNITUDE64)) - s, 64-bit: s is -1 or 0 in both words (operands() lays cells out adjacent)
    k = m.operands(m.op("xor", x, s), m.op("xor", hi, m.op("and", s, m.const(MAGNITUDE)))) - 2
    return (m.operands(*_sub(m, k, m.operands(s, s) - 2)) - 2,)


def _float_compare(kind: str, wide: bool):
    """f32/f64 eq, ne, lt, gt, le, ge on the bits: the integer comparison of the order keys when neither operand
    is a NaN (every comparison with a NaN is false, so ne is true), as the spec defines them (-0 == +0)."""
    i32_op = {"eq": "eq", "lt": "lt_s", "gt": "gt_s", "le": "le_s", "ge": "ge_s"}
    i64_op = {"eq": _eq, "lt": _compare("lt_s", "lt_u"), "gt": _compare("gt_s", "gt_u"),
              "le": _compare("lt_s", "le_u"), "ge": _compare("gt_s", "ge_u")}

    base = "eq" if kind == "ne" else kind

    def build(m, a, b):
        (ka,), (kb,) = _order_key(m, a, wide), _order_key(m, b, wide)
        if wide:
            cmp = i64_op[base](m, ka, kb)[0]
            numbers = m.op("and", _is_number(m, a + 1, a), _is_number(m, b + 1, b))
        else:
            cmp = m.op(i32_op[base], ka, kb)
            numbers = m.op("and", _is_number(m, a), _is_number(m, b))
        both = m.op("and", cmp, numbers)
        return (m.op("eqz", both) if kind == "ne" else both,)
    return build


FLOAT_COMPARE = {
    code: (f"{t}.{kind}", (t, t), "i32", _float_compare(kind, t == "f64"))
    for t, first in (("f32", 0x5B), ("f64", 0x61))
    for code, kind in zip(range(first, first + 6), ("eq", "ne", "lt", "gt", "le", "ge"))
}
FLOAT_BITS = {
    **FLOAT_COMPARE,
    0x8B: ("f32.abs", ("f32",), "f32", _ABS[0]),
    0x8C: ("f32.neg", ("f32",), "f32", _NEG[0]),
    0x98: ("f32.copysign", ("f32", "f32"), "f32", _COPYSIGN[0]),
    0x99: ("f64.abs", ("f64",), "f64", _ABS[1]),
    0x9A: ("f64.neg", ("f64",), "f64", _NEG[1]),
    0xA6: ("f64.copysign", ("f64", "f64"), "f64", _COPYSIGN[1]),
    0xBC: ("i32.reinterpret_f32", ("f32",), "i32", _same),
    0xBD: ("i64.reinterpret_f64", ("f64",), "i64", _same2),
    0xBE: ("f32.reinterpret_i32", ("i32",), "f32", _same),
    0xBF: ("f64.reinterpret_i64", ("i64",), "f64", _same2),
}

# binary code -> (mnemonic, operand types, result type, builder)
NUMERIC = {
    0x50: ("i64.eqz", ("i64",), "i32", _eqz),
    0x51: ("i64.eq", ("i64", "i64"), "i32", _eq),
    0x52: ("i64.ne", ("i64", "i64"), "i32", _ne),
    0x53: ("i64.lt_s", ("i64", "i64"), "i32", _compare("lt_s", "lt_u")),
    0x54: ("i64.lt_u", ("i64", "i64"), "i32", _compare("lt_u", "lt_u")),
    0x55: ("i64.gt_s", ("i64", "i64"), "i32", _compare("gt_s", "gt_u")),
    0x56: ("i64.gt_u", ("i64", "i64"), "i32", _compare("gt_u", "gt_u")),
    0x57: ("i64.le_s", ("i64", "i64"), "i32", _compare("lt_s", "le_u")),
    0x58: ("i64.le_u", ("i64", "i64"), "i32", _compare("lt_u", "le_u")),
    0x59: ("i64.ge_s", ("i64", "i64"), "i32", _compare("gt_s", "ge_u")),
    0x5A: ("i64.ge_u", ("i64", "i64"), "i32", _compare("gt_u", "ge_u")),
    0x79: ("i64.clz", ("i64",), "i64", _clz),
    0x7A: ("i64.ctz", ("i64",), "i64", _ctz),
    0x7B: ("i64.popcnt", ("i64",), "i64", _popcnt),
    0x7C: ("i64.add", ("i64", "i64"), "i64", _add),
    0x7D: ("i64.sub", ("i64", "i64"), "i64", _sub),
    0x7E: ("i64.mul", ("i64", "i64"), "i64", _mul),
    0x7F: ("i64.div_s", ("i64", "i64"), "i64", _division("div_s")),
    0x80: ("i64.div_u", ("i64", "i64"), "i64", _division("div_u")),
    0x81: ("i64.rem_s", ("i64", "i64"), "i64", _division("rem_s")),
    0x82: ("i64.rem_u", ("i64", "i64"), "i64", _division("rem_u")),
    0x83: ("i64.and", ("i64", "i64"), "i64", _bitwise("and")),
    0x84: ("i64.or", ("i64", "i64"), "i64", _bitwise("or")),
    0x85: ("i64.xor", ("i64", "i64"), "i64", _bitwise("xor")),
    0x86: ("i64.shl", ("i64", "i64"), "i64", _shift("shl")),
    0x87: ("i64.shr_s", ("i64", "i64"), "i64", _shift("shr_s")),
    0x88: ("i64.shr_u", ("i64", "i64"), "i64", _shift("shr_u")),
    0x89: ("i64.rotl", ("i64", "i64"), "i64", _rotate("rotl")),
    0x8A: ("i64.rotr", ("i64", "i64"), "i64", _rotate("rotr")),
    0xA7: ("i32.wrap_i64", ("i64",), "i32", _wrap),
    0xAC: ("i64.extend_i32_s", ("i32",), "i64", _extend_s),
    0xAD: ("i64.extend_i32_u", ("i32",), "i64", _extend_u),
    0xC2: ("i64.extend8_s", ("i64",), "i64", _extend_n("extend8_s")),
    0xC3: ("i64.extend16_s", ("i64",), "i64", _extend_n("extend16_s")),
    0xC4: ("i64.extend32_s", ("i64",), "i64", _extend_s),
    **FLOAT_BITS,
}
