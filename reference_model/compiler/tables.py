"""Tables: call_indirect, table.copy, table.init, elem.drop.  Element i of a table is memory cell
TABLE_BASE + the table's base + i (the encoder lays the tables out one after another).

An element cell holds the callee as the program encoder laid it out:
bytes 0-1 its entry slot, byte 2 its local count (parameters included),
byte 3 its type's canonical id + 1 (two signatures that are equal share an
id).  A null element is a cell never written.  Per call_indirect (operand i
in T0; immediates: N = the callee frame's offset, bytes 5-6 the table's
size, byte 7 the expected type's id + 1, X = a bound on the callee frame's
top for the exhaustion check):

  look-up (port TB)  the cell TABLE_BASE + i, and the address its key was
                     written for (a cell never written is a miss: null)
  traps              i >= size: "undefined element"; else a miss or id 0:
                     "uninitialized element"; else an id other than the
                     expected one: "indirect call type mismatch"
  next pc / fp       the entry slot; fp + N (as ``call``)
  write              the link (pc + 1, fp) at fp + N + the local count,
                     where the callee's return reads it

table.copy / table.init check their bounds ("out of bounds table access")
and run hidden loops like bulk memory's (program/encoding.py): per element,
``table.read`` (port TB at the source, TGT = the source table's base; a
miss reads as null, 0) or a ``bulk.word`` slot of the segment (its word in
imm bytes 10, 11, 2, 3) puts the element word in scratch, and
``table.write`` writes it to the cell TABLE_BASE + base + d (imm bytes
10-11 hold TABLE_BASE + the destination's base).  ``elem.check`` before
table.init traps when the segment was dropped and s + n > 0.
"""
from __future__ import annotations

from reference_model.compiler import units as U
from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.nodes import Expr, Lookup


def build(g, ports: dict, imm: list, fp_b: list, key: tuple) -> None:
    T0, T1, T2, X = ports["T0"], ports["T1"], ports["T2"], ports["X"]
    T = g.machine.recency
    off = g.off(["call_indirect"])
    # TGT (imm bytes 8, 9) is the table's base; i >= 65536 is past any table: the size check traps
    at = vocab.TABLE_BASE + imm[8] + 256 * imm[9] + T0.b[0] + 256 * T0.b[1]
    kb = [Expr.of(f"k.v{k}") for k in range(3)] + [Expr.of("val")]
    g.lookups.append(Lookup("tab.TB", (T * g.stack_w(at), Expr.of(1)), key, [*kb, Expr.of("mem.w")],
                            [f"TB.b{k}" for k in range(4)] + ["TB.w"]))
    b = [Expr.of(f"TB.b{k}") for k in range(4)]
    d = Expr.of("TB.w") - (at + 1)
    g.units("tab.miss", U.step(d - 1, {"TB.miss": 1.0}) + U.step(-1 * d - 1, {"TB.miss": 1.0})
            + U.is_zero(b[3], {"TB.z": 1.0}, off)
            + U.step(b[3] - imm[7] - 1, {"TB.ne": 1.0}, off) + U.step(imm[7] - b[3] - 1, {"TB.ne": 1.0}, off)
            + U.step(T0.u - (imm[5] + 256 * imm[6]), {"TB.und": 1.0}, off))
    und, ne = Expr.of("TB.und"), Expr.of("TB.ne")
    g.units("tab.null", U.step(Expr.of("TB.miss") + Expr.of("TB.z") - 1, {"TB.null": 1.0}, off))
    null = Expr.of("TB.null")
    g.units("tab.traps", U.relu(und, {"trap.undefined": 1.0})
            + U.step(null - und - 1, {"trap.uninit": 1.0}, off)
            + U.step(ne - null - und - 1, {"trap.sig": 1.0}, off))
    P = ["out.P0", "out.P1"]
    us = []
    for k in range(2):
        us += U.passthrough(b[k], {P[k]: 1.0}, off, 256.0)
    g.units("tab.next_pc", us)
    g.units("tab.link_address", U.byte_add(fp_b, [imm[10] + b[2], imm[11]], ["out.A0", "out.A1"], off=off))

    # table.copy / table.init: d + n past table x (imm 5-6), s + n past table y or the segment (imm 10-11)
    bulk = g.off(["table.copy", "table.init"])
    g.units("tab.bounds", U.step(T2.u + T0.u - (imm[5] + 256 * imm[6]) - 1, {"tab.o1": 1.0}, off=bulk)
            + U.step(T1.u + T0.u - (imm[10] + 256 * imm[11]) - 1, {"tab.o2": 1.0}, off=bulk)
            + U.step(T1.u + T0.u - 1, {"tab.nz": 1.0}, off=g.off(["elem.check"])))
    g.units("tab.bulk_trap", U.step(Expr.of("tab.o1") + Expr.of("tab.o2") - 1, {"trap.table_oob": 1.0})
            # elem.check: port X reads the segment's dropped flag; s + n > 0 then traps
            + U.step(X.b[0] + Expr.of("tab.nz") - 2, {"trap.table_oob": 1.0}, off=g.off(["elem.check"])))
    V = [f"out.V{k}" for k in range(4)]
    miss = Expr.of("TB.miss")
    us = []
    for k in range(4):  # table.read: the element cell (a cell never written: null, 0)
        us += U.passthrough(b[k], {V[k]: 1.0}, g.off(["table.read"]) + miss, 256.0)
    for k, src in enumerate((imm[10], imm[11], imm[2], imm[3])):  # bulk.word: its immediate word
        us += U.passthrough(src, {V[k]: 1.0}, g.off(["bulk.word"]), 256.0)
    g.units("tab.values", us)
    g.units("tab.write_address", U.byte_add([T1.b[0], T1.b[1]], [imm[10], imm[11]], ["out.A0", "out.A1"],
                                            off=g.off(["table.write"])))
