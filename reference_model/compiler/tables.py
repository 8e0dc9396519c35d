"""call_indirect over table 0: element i is memory cell TABLE_BASE + i.

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
"""
from __future__ import annotations

from reference_model.compiler import units as U
from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.nodes import Expr, Lookup


def build(g, ports: dict, imm: list, fp_b: list, key: tuple) -> None:
    if "call_indirect" not in g.ops_where(npc="indirect"):
        return
    T0 = ports["T0"]
    T = g.machine.recency
    off = g.off(["call_indirect"])
    at = vocab.TABLE_BASE + T0.b[0] + 256 * T0.b[1]  # i >= 65536 is past any table: the size check traps
    kb = [Expr.of(f"k.v{k}") for k in range(3)] + [Expr.of("val")]
    g.lookups.append(Lookup("tab.TB", (T * (at + 1), Expr.of(1)), key, [*kb, Expr.of("mem.w")],
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
