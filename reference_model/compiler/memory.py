"""Linear memory: i32 loads and stores over 4-byte memory words (the first page addressable).

Word i of the memory (bytes 4i..4i+3) is memory cell MEM_BASE + i, written
and read like every other cell: a store's group writes the whole word (the
stored bytes merged into the word as it was), a load reads it through one
more memory head, "most recent write wins".  Per access:

  effective address  ea = address operand + offset (byte-wise with carries),
                     and the exact scalar address + offset for the bounds check
  bounds             trap "out of bounds memory access" when
                     address + offset + bytes > 65536 * pages (pages: cell
                     MEM_SIZE_CELL, read by port X)
  far                an access in bounds that reaches past the first page
                     (address + offset + bytes > 65536, in a memory of
                     more pages) stops with the FAR token: the run is
                     unsupported, since the model addresses one page
  word, byte         wi = ea >> 2 (from ea's two low bytes), bo = ea & 3
  look-up (port M)   the word at MEM_BASE + wi; its key's address comes back
                     as a value, so a word never written (a miss: the nearest
                     other cell won) reads as zero
  load               result byte k = word byte bo + k (k < bytes), then zero
                     or sign extension from the top loaded bit
  store              word byte k = stored byte k - bo where bo <= k < bo +
                     bytes, the old word's byte elsewhere; written to cell
                     MEM_BASE + wi

An access may cross into the next word (bo + bytes > 4, unaligned): a second
head (port M2) reads word wi + 1 for loads, and a store that may cross is
followed by a hidden slot (``i32.store.hi``, ``i32.store16.hi``) that
writes the next word's share of the stored bytes, or nothing when the store
stays in one word.
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


def build_bulk(g, ports: dict, V: list, imm: list) -> None:
    """memory.fill / copy / init: the bounds checks of the traced slot, and the loops' arithmetic.

    The traced slot (operands d, v or s, n in T2, T1, T0; port X reads the memory size) traps "out of
    bounds memory access" when d + n exceeds 65536 x pages, or s + n does (copy) or exceeds the segment's
    length (init: imm bytes 10, 11), and otherwise goes on to its hidden loop when n != 0 (the encoder lays
    out the loops: program/encoding.py).  Before memory.init, ``data.check`` traps when the segment was
    dropped (port X reads its flag cell) and s + n > 0.  The loops' rows: ``bulk.addi`` writes X + a signed
    16-bit immediate (imm bytes 10, 11; byte 11 is 0 or 255 and extends the sign), ``bulk.addn`` writes
    X + T0, both mod 2^32; ``bulk.byte`` writes its immediate byte (imm byte 10) and jumps back.
    """
    T0, T1, T2, X = ports["T0"], ports["T1"], ports["T2"], ports["X"]
    size = 65536.0 * X.u
    seg_len = imm[10] + 256 * imm[11]
    g.units("bulk.bounds",
            U.step(T2.u + T0.u - size - 1, {"bulk.o1": 1.0}, off=g.off(["memory.fill", "memory.copy", "memory.init"]))
            + U.step(T1.u + T0.u - size - 1, {"bulk.o2": 1.0}, off=g.off(["memory.copy"]))
            + U.step(T1.u + T0.u - seg_len - 1, {"bulk.o2": 1.0}, off=g.off(["memory.init"]))
            + U.step(T1.u + T0.u - 1, {"bulk.nz": 1.0}, off=g.off(["data.check"])))  # s + n > 0
    g.units("bulk.trap", U.step(Expr.of("bulk.o1") + Expr.of("bulk.o2") - 1, {"trap.oob": 1.0})  # one flag, never 2
            # data.check: port X reads the segment's dropped flag (0 or 1)
            + U.step(X.b[0] + Expr.of("bulk.nz") - 2, {"trap.oob": 1.0}, off=g.off(["data.check"])))
    g.units("bulk.byte", U.passthrough(imm[10], {V[0]: 1.0}, g.off(["bulk.byte"]), 256.0))
    sign = imm[11]
    g.units("bulk.addi", U.byte_add(X.b, [imm[10], sign, sign, sign], V, off=g.off(["bulk.addi", "bulk.addi.br"])))
    g.units("bulk.addn", U.byte_add(X.b, T0.b, V, off=g.off(["bulk.addn", "memory.grow.set"])))


def build_grow(g, ports: dict, V: list, imm: list) -> None:
    """memory.grow (n in T0, port X on the size cell, imm bytes 10-11 the largest size it may reach): new =
    size + n; more than that is a failure (-1), else the old size is pushed.  The hidden slot after it,
    ``memory.grow.set`` (T0 = n kept in scratch, T1 = the result), writes size + n to the size cell unless
    the result is -1."""
    T0, T1, X = ports["T0"], ports["T1"], ports["X"]
    f = g.flag("memory.grow")
    # every sum below stays under 2^21, so float32 is exact too (a 2^34 switch-off would swamp it): size +
    # n's low 16 bits, and n >= 2^16 (which always fails) adds 2^18
    g.units("grow.hi", U.step(T0.b[2] + T0.b[3] - 1, {"grow.hi": 1.0}, off=1 - f, big=1024.0))
    new = X.u + T0.b[0] + 256 * T0.b[1] + 2.0**18 * Expr.of("grow.hi")
    g.units("grow.check", U.step(new - (imm[10] + 256 * imm[11]) - 1, {"grow.fail": 1.0}, off=1 - f, big=2.0**20)
            # the result is the old size (< 2^24) or -1: its top byte tells them apart
            + U.step(254 - T1.b[3], {"grow.ok": 1.0}, off=g.off(["memory.grow.set"]), big=512.0))
    fail = Expr.of("grow.fail")
    us = []
    for k in range(4):
        us += U.passthrough(X.b[k], {V[k]: 1.0}, (1 - f) + fail, 256.0)
        us += U.relu(255 * fail - 256 * (1 - f), {V[k]: 1.0})
    g.units("grow.value", us)
    ok = Expr.of("grow.ok")
    g.units("grow.write_address", [u for k in range(2) for u in U.passthrough(
        f"wb.{k}", {f"out.A{k}": 1.0}, g.off(["memory.grow.set"]) + (1 - ok), 256.0)])


def build(g, ports: dict, V: list, offset: list, key: tuple, values: list) -> None:
    loads = g.ops_where(value="load")
    stores = g.ops_where(value="store")
    his = g.ops_where(value="store_hi")
    if not loads and not stores:
        return
    T0, T1, X = ports["T0"], ports["T1"], ports["X"]
    T = g.machine.recency

    # effective address: bytes (for the word and byte index) and the exact scalar (bounds)
    ea = [f"ea.b{k}" for k in range(4)]
    g.units("mem.ea", U.byte_add(T0.b, offset, ea, off=g.off(loads))
            + U.byte_add(T1.b, offset, ea, off=g.off(stores + his)))
    off_u = total(Expr.of(offset[k]) * 256.0**k for k in range(4))
    us = []
    for name in loads + stores:
        n, _ = MEMORY_ACCESS[name]
        addr = T0 if name in loads else T1
        end = addr.u + off_u + n
        us += U.step(end - 65536.0 * X.u - 1, {"trap.oob": 1.0, "mem.oob": 1.0}, off=1 - g.flag(name))
        us += U.step(end - 65536.0 - 1, {"mem.past": 1.0}, off=1 - g.flag(name))
    g.units("mem.bounds", us)
    g.units("mem.far", U.step(Expr.of("mem.past") - Expr.of("mem.oob") - 1, {"trap.far": 1.0}))

    e0, e1 = Expr.of(ea[0]), Expr.of(ea[1])
    g.units("mem.wi", U.floor_div(e0, 4, 63, {"mem.q0": 1.0}) + U.floor_div(e1, 4, 63, {"mem.q1": 1.0}))
    q0, q1 = Expr.of("mem.q0"), Expr.of("mem.q1")
    bo_val = e0 - 4 * q0
    g.units("mem.bo", [u for c in range(4) for u in U.hat(bo_val - c, {f"mem.bo{c}": 1.0})])
    bo = [Expr.of(f"mem.bo{c}") for c in range(4)]
    cell = vocab.MEM_BASE + q0 + 64 * e1  # MEM_BASE + wi (for ea < 65536; beyond that it traps or stops)

    # ports M and M2: the word and the next one, and the addresses their keys were written for
    words, misses = [], []
    for name, at in (("M", cell), ("M2", cell + 1)):
        outs = [f"{name}.b{k}" for k in range(4)] + [f"{name}.bit{j}" for j in range(32)] + [f"{name}.w"]
        g.lookups.append(Lookup(f"mem.{name}", (T * g.memory_w(at), Expr.of(1)), key, [*values, Expr.of("mem.w")],
                                outs))
        d = Expr.of(f"{name}.w") - (at + 1)
        g.units(f"mem.{name}.miss", U.step(d - 1, {f"{name}.miss": 1.0}) + U.step(-1 * d - 1, {f"{name}.miss": 1.0}))
        words.append(_Word(name))
        misses.append(Expr.of(f"{name}.miss"))

    def byte(j):  # byte j (0..7) of the two words, and the miss of its word
        return words[j // 4].b[j % 4], misses[j // 4]

    for name in loads:
        n, signed = MEMORY_ACCESS[name]
        f = g.flag(name)
        us = []
        for c in range(4):
            off = (1 - f) + (1 - bo[c])
            for k in range(n):
                b, miss = byte(c + k)
                us += U.passthrough(b, {V[k]: 1.0}, off + miss, 256.0)
            if signed:
                top = c + n - 1
                sign, miss = words[top // 4].bit[8 * (top % 4) + 7], misses[top // 4]
                for k in range(n, 4):
                    us += U.passthrough(255 * sign, {V[k]: 1.0}, off + miss, 512.0)
        g.units(f"mem.{name}", us)

    for name in stores:  # the word of ea: the stored bytes that fall in it, the old bytes elsewhere
        n, _ = MEMORY_ACCESS[name]
        f = g.flag(name)
        us = []
        for c in range(4):
            off = (1 - f) + (1 - bo[c])
            for k in range(4):
                if c <= k < c + n:
                    us += U.passthrough(T0.b[k - c], {V[k]: 1.0}, off, 256.0)
                else:
                    us += U.passthrough(words[0].b[k], {V[k]: 1.0}, off + misses[0], 256.0)
        g.units(f"mem.{name}", us)
    r1 = e1 - 4 * q1
    if stores:
        g.units("mem.write_address",
                U.passthrough(q0 + 64 * r1, {"out.A0": 1.0}, g.off(stores), 256.0)
                + U.passthrough(vocab.MEM_BASE // 256 + q1, {"out.A1": 1.0}, g.off(stores), 256.0))

    # the hidden slot after a store: the next word, written only when the store crosses into it
    g.units("mem.next_carry", U.step(q0 + 64 * r1 + 1 - 256, {"mem.c1": 1.0}))
    c1 = Expr.of("mem.c1")
    us = []
    for name in his:
        n, _ = MEMORY_ACCESS[name]
        f = g.flag(name)
        spans = total(bo[c] for c in range(4) if c + n > 4)
        us += U.passthrough(q0 + 64 * r1 + 1 - 256 * c1, {"out.A0": 1.0}, (1 - f) + (1 - spans), 256.0)
        us += U.passthrough(vocab.MEM_BASE // 256 + q1 + c1, {"out.A1": 1.0}, (1 - f) + (1 - spans), 256.0)
        for c in range(4):
            if c + n <= 4:
                continue
            off = (1 - f) + (1 - bo[c])
            for k in range(4):
                if k < c + n - 4:
                    us += U.passthrough(T0.b[k + 4 - c], {V[k]: 1.0}, off, 256.0)
                else:
                    us += U.passthrough(words[1].b[k], {V[k]: 1.0}, off + misses[1], 256.0)
    g.units("mem.next_word", us)
