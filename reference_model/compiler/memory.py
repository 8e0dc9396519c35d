"""Linear memory: i32 loads and stores over 4-byte memory words (one page at most).

Word i of the memory (bytes 4i..4i+3) is memory cell MEM_BASE + i, written
and read like every other cell: a store's group writes the whole word (the
stored bytes merged into the word as it was), a load reads it through one
more memory head, "most recent write wins".  Per access:

  effective address  ea = address operand + offset (byte-wise with carries),
                     and the exact scalar address + offset for the bounds check
  bounds             trap "out of bounds memory access" when
                     address + offset + bytes > 65536 * pages (pages: cell
                     MEM_SIZE_CELL, read by port X)
  word, byte         wi = ea >> 2 (from ea's two low bytes), bo = ea & 3
  look-up (port M)   the word at MEM_BASE + wi; its key's address comes back
                     as a value, so a word never written (a miss: the nearest
                     other cell won) reads as zero
  load               result byte k = word byte bo + k (k < bytes), then zero
                     or sign extension from the top loaded bit
  store              word byte k = stored byte k - bo where bo <= k < bo +
                     bytes, the old word's byte elsewhere; written to cell
                     MEM_BASE + wi

An access that crosses into the next word (bo + bytes > 4, unaligned) is not
built: it emits the "span" trap token, which the executor reports as
unsupported.
"""
from __future__ import annotations

from reference_model.compiler import units as U
from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.nodes import Expr, Lookup, total
from reference_model.compiler.opcodes import MEMORY_ACCESS


class _Word:
    def __init__(self, name: str):
        self.b = [Expr.of(f"{name}.b{k}") for k in range(4)]
        self.bit = [Expr.of(f"{name}.bit{j}") for j in range(32)]


def build(g, ports: dict, V: list, offset: list, key: tuple, values: list) -> None:
    loads = g.ops_where(value="load")
    stores = g.ops_where(value="store")
    if not loads and not stores:
        return
    T0, T1, X = ports["T0"], ports["T1"], ports["X"]
    T = g.machine.recency

    # effective address: bytes (for the word and byte index) and the exact scalar (bounds)
    ea = [f"ea.b{k}" for k in range(4)]
    g.units("mem.ea", U.byte_add(T0.b, offset, ea, off=g.off(loads)) + U.byte_add(T1.b, offset, ea, off=g.off(stores)))
    off_u = total(Expr.of(offset[k]) * 256.0**k for k in range(4))
    us = []
    for name in loads + stores:
        n, _ = MEMORY_ACCESS[name]
        addr = T0 if name in loads else T1
        us += U.step(addr.u + off_u + n - 65536.0 * X.u - 1, {"trap.oob": 1.0}, off=1 - g.flag(name))
    g.units("mem.bounds", us)

    e0, e1 = Expr.of(ea[0]), Expr.of(ea[1])
    g.units("mem.wi", U.floor_div(e0, 4, 63, {"mem.q0": 1.0}) + U.floor_div(e1, 4, 63, {"mem.q1": 1.0}))
    q0, q1 = Expr.of("mem.q0"), Expr.of("mem.q1")
    bo_val = e0 - 4 * q0
    g.units("mem.bo", [u for c in range(4) for u in U.hat(bo_val - c, {f"mem.bo{c}": 1.0})])
    bo = [Expr.of(f"mem.bo{c}") for c in range(4)]
    cell = vocab.MEM_BASE + q0 + 64 * e1  # MEM_BASE + wi (for ea < 65536; beyond that the access traps)

    # port M: the word, and the address its key was written for
    outs = [f"M.b{k}" for k in range(4)] + [f"M.bit{j}" for j in range(32)] + ["M.w"]
    g.lookups.append(Lookup("mem.M", (T * (cell + 1), Expr.of(1)), key, [*values, Expr.of("mem.w")], outs))
    M = _Word("M")
    d = Expr.of("M.w") - (cell + 1)
    g.units("mem.miss", U.step(d - 1, {"M.miss": 1.0}) + U.step(-1 * d - 1, {"M.miss": 1.0}))
    miss = Expr.of("M.miss")

    for name in loads:
        n, signed = MEMORY_ACCESS[name]
        f = g.flag(name)
        us = []
        for c in range(4):
            off = (1 - f) + (1 - bo[c])
            if c + n > 4:
                us += U.relu(f + bo[c] - 1, {"trap.span": 1.0})
                continue
            for k in range(n):
                us += U.passthrough(M.b[c + k], {V[k]: 1.0}, off + miss, 256.0)
            if signed:
                for k in range(n, 4):
                    us += U.passthrough(255 * M.bit[8 * (c + n - 1) + 7], {V[k]: 1.0}, off + miss, 512.0)
        g.units(f"mem.{name}", us)

    for name in stores:
        n, _ = MEMORY_ACCESS[name]
        f = g.flag(name)
        us = []
        for c in range(4):
            off = (1 - f) + (1 - bo[c])
            if c + n > 4:
                us += U.relu(f + bo[c] - 1, {"trap.span": 1.0})
                continue
            for k in range(4):
                if c <= k < c + n:
                    us += U.passthrough(T0.b[k - c], {V[k]: 1.0}, off, 256.0)
                else:
                    us += U.passthrough(M.b[k], {V[k]: 1.0}, off + miss, 256.0)
        g.units(f"mem.{name}", us)
    if stores:
        r1 = e1 - 4 * q1
        g.units("mem.write_address",
                U.passthrough(q0 + 64 * r1, {"out.A0": 1.0}, g.off(stores), 256.0)
                + U.passthrough(vocab.MEM_BASE // 256 + q1, {"out.A1": 1.0}, g.off(stores), 256.0))
