"""Stage 1: the machine description (opcode table + vocabulary) -> computation graph.

Every position re-executes "its" instruction from the token history:

  layer A (positional look-ups)  state: pc and fp from the previous group's P/F
                                 tokens; the key carrier (role V3) reads its
                                 group's write address and value bytes
  layer B (positional look-ups)  fetch: opcode + 12 immediate bytes of slot pc
  layer C (memory look-ups)      operands: stack slots fp+H-1, -2, -3 and port X
                                 (local / global / saved link); "most recent
                                 write wins" by a recency term in the key
  a later layer (memory look-up) port M: the linear-memory word of a load or
                                 store's effective address (memory.py)
  feed-forward layers            opcode flags, next pc / fp, write address,
                                 value bytes (arithmetic.py), trap flags

The readout turns the byte the *next* role needs into a token by the
quadratic trick ``logit(v) = 2 v x - v^2`` plus a role bonus.
"""
from __future__ import annotations

from dataclasses import dataclass

from reference_model.compiler import arithmetic, memory, tables
from reference_model.compiler import units as U
from reference_model.compiler import vocabulary as vocab
from reference_model.compiler.nodes import Expr, Graph, Lookup, UnitGroup, total
from reference_model.compiler.opcodes import OPCODES


LONG_RECENCY = 2.0**25  # the largest T split keys keep exact in float64 (the "long" config variant)


@dataclass(frozen=True)
class MachineDescription:
    """What the compiler is asked to build; the defaults are the shipped machine."""

    opcodes: tuple = OPCODES
    # T, positions per address unit in the memory keys (2w, t - T w^2) and queries (T a, 1): the latest write to
    # a wins over writes to its neighbours while t < T (the longest trace, prompt included).  Cells reach 32767
    # (stack below MEM_BASE = 16384, memory words above): with one key for all, w = cell + 1 up to 32768 and
    # T = 2^22 keeps T w^2 and the query-key products 2 T a w at most 2^53 (exact in float64).
    recency: float = 2.0**22
    # split_keys: the stack heads see w = the cell and the memory heads w = the word, both below 2^14, so T can
    # be LONG_RECENCY: T w^2 < 2^53, 2 T a w is 2T times at most 28 bits, and every score T (a^2 - (a - w)^2) + t
    # is below 2^53 in magnitude.  Not the default: float32 resolves t only to T a^2 / 2^24 positions, so the
    # larger T costs float32 its short traces (docs/transformer.md, Memory keys); configs ending in -long
    split_keys: bool = False
    stack_limit: int = vocab.TABLE_BASE  # a call whose frame would reach this address is exhaustion


class Port:
    """A 4-byte value read from memory: bytes b[0..3], bits bit[0..31], unsigned u, signed s."""

    def __init__(self, name: str):
        self.b = [Expr.of(f"{name}.b{k}") for k in range(4)]
        self.bit = [Expr.of(f"{name}.bit{j}") for j in range(32)]
        self.u = total(self.b[k] * 256.0**k for k in range(4))
        self.s = self.u - self.bit[31] * 2.0**32


class MachineGraph:
    """Builder: look-ups and unit groups appended in dependency order."""

    def __init__(self, machine: MachineDescription):
        self.machine = machine
        self.lookups: list = []
        self.groups: list = []
        self.role = {r: Expr.of(f"role.{r}") for r in (*vocab.ROLES, "IMM")}
        self.val, self.pos, self.pos2 = Expr.of("val"), Expr.of("pos"), Expr.of("pos2")

    # -- primitives --------------------------------------------------------
    def read(self, name: str, position: Expr) -> Expr:
        """Value of the token at an absolute position: key (2t, -t^2), query (p, 1)."""
        self.lookups.append(Lookup(name, (position, Expr.of(1)), (2 * self.pos, -1 * self.pos2), [self.val], [name]))
        return Expr.of(name)

    def units(self, name: str, units: list) -> None:
        self.groups.append(UnitGroup(name, units))

    def flag(self, op: str) -> Expr:
        return Expr.of(f"f.{op}")

    def any_of(self, ops) -> Expr:
        return total(self.flag(o) for o in ops)

    def off(self, ops) -> Expr:
        """0 when one of ``ops`` executes, 1 otherwise."""
        return 1 - self.any_of(ops)

    def ops_where(self, **mode) -> list:
        return [op.name for op in self.machine.opcodes if all(getattr(op, k) == v for k, v in mode.items())]


def machine_to_graph(machine: MachineDescription) -> Graph:
    """The interpreter's computation graph (see module docstring)."""
    g = MachineGraph(machine)
    role, pos = g.role, g.pos
    R = vocab.ROLES

    # -- layer A: state of the instruction this position executes ----------
    # role r < V3 executes the instruction of its own group, whose pc/fp are
    # in the previous group (P0 at offset -10 - r); V3 fetches the next one.
    src = pos + total(role[r] * (-10.0 - i) for i, r in enumerate(R[:-1])) + role["V3"] * -9.0
    pc_b = [g.read("s.pc0", src), g.read("s.pc1", src + 1)]
    fp_b = [g.read("s.fp0", src + 2), g.read("s.fp1", src + 3)]
    pc, fp = pc_b[0] + 256 * pc_b[1], fp_b[0] + 256 * fp_b[1]
    ka = [g.read("k.a0", pos - 5), g.read("k.a1", pos - 4)]
    kb = [g.read("k.v0", pos - 3), g.read("k.v1", pos - 2), g.read("k.v2", pos - 1), g.val]

    # -- layer B: fetch ----------------------------------------------------
    op = g.read("op", vocab.SLOT * pc)
    imm = [g.read(f"imm{k}", vocab.SLOT * pc + 1 + k) for k in range(vocab.N_IMM)]
    H = imm[0] + 256 * imm[1]
    X = imm[2] + 256 * imm[3]
    XA = imm[4]
    Wb, WA = [imm[5], imm[6]], imm[7]
    TGT = [imm[8], imm[9]]
    N = [imm[10], imm[11]]
    CONST = imm[8:12]

    # -- key carrier: its write address and the bits of its value --------
    # mem.w = cell + 1 at the carrier (0 elsewhere).  One key for all cells: w = mem.w.  Split keys
    # (MachineDescription.split_keys): a stack cell (below MEM_BASE) is mem.ws = cell for the stack heads (every
    # memory word and non-carrier 0, the "no write" cell, never read), a memory word i is mem.wm - 1 = i for
    # the memory heads (everything else -1), so each key's addresses stay below 2^14
    car = ka[0] + 256 * ka[1] - 2.0**17 * (1 - role["V3"])
    g.units("carrier.address", U.relu(car + 1, {"mem.w": 1.0}))
    if machine.split_keys:
        g.units("carrier.split", U.step(car - vocab.MEM_BASE, {"mem.hi": 1.0})
                + U.relu(car - (vocab.MEM_BASE - 1), {"mem.wm": 1.0}))
    for k in range(4):
        g.units(f"carrier.nibble{k}", U.floor_div(kb[k], 16, 15, {f"k.hi{k}": 1.0}, big=1024.0))
    if machine.split_keys:
        stack_cell = car - 2.0**15 * Expr.of("mem.hi")  # a memory word's is below 0
        wm = Expr.of("mem.wm")
        g.units("carrier.square", U.relu(stack_cell, {"mem.ws": 1.0}) + U.relu(stack_cell, {"mem.ws2": 1.0}, gate=car)
                + U.relu(wm - 1, {"mem.wm2": 1.0}, gate=wm - 1) + U.relu(1 - wm, {"mem.wm2": 1.0}, gate=1 - wm))
    else:
        g.units("carrier.square", U.relu("mem.w", {"mem.w2": 1.0}, gate="mem.w"))
    for k in range(4):
        hi = Expr.of(f"k.hi{k}")
        for half, nib in ((0, kb[k] - 16 * hi), (4, hi)):
            us = []
            for m in range(1, 16):
                out = {f"k.bit{8 * k + half + j}": float(((m >> j) & 1) - (((m - 1) >> j) & 1)) for j in range(4)}
                us += U.step(nib - m, {v: c for v, c in out.items() if c}, big=1024.0)
            g.units(f"carrier.bits{k}.{half}", us)

    # -- opcode flags: f.<op> = [op == number] --------------------------------
    n_ops = len(machine.opcodes)
    us = []
    for o in range(1, n_ops + 1):
        out = {f"f.{machine.opcodes[o - 1].name}": 1.0}
        if o > 1:
            out[f"f.{machine.opcodes[o - 2].name}"] = -1.0
        us += U.step(op - o, out, big=1024.0)
    g.units("decode", us)

    # -- addresses computed before the memory layer -----------------------
    g.units("port_x.address", U.relu(X, {"ax": 1.0}) + U.relu(fp - 2.0**17 * XA, {"ax": 1.0}))  # X + (fp unless absolute)
    for k in range(2):
        g.units(f"write.base_fp{k}", U.passthrough(fp_b[k], {f"fpg{k}": 1.0}, off=WA, big=256.0))

    # -- layer C: memory (4 ports) ----------------------------------------
    T = machine.recency
    if machine.split_keys:  # the stack heads' key and w of a cell; the memory heads' key and w of a memory cell
        key, g.stack_w = (2 * Expr.of("mem.ws"), pos - T * Expr.of("mem.ws2")), (lambda cell: cell)
        mem_key, g.memory_w = (2 * (wm - 1), pos - T * Expr.of("mem.wm2")), (lambda cell: cell - vocab.MEM_BASE)
    else:
        key, g.stack_w = (2 * Expr.of("mem.w"), pos - T * Expr.of("mem.w2")), (lambda cell: cell + 1)
        mem_key, g.memory_w = key, g.stack_w
    values = [*kb, *(Expr.of(f"k.bit{j}") for j in range(32))]
    for name, addr in (("T0", fp + H - 1), ("T1", fp + H - 2), ("T2", fp + H - 3), ("X", Expr.of("ax"))):
        outs = [f"{name}.b{k}" for k in range(4)] + [f"{name}.bit{j}" for j in range(32)]
        g.lookups.append(Lookup(f"mem.{name}", (T * g.stack_w(addr), Expr.of(1)), key, values, outs))
    ports = {n: Port(n) for n in ("T0", "T1", "T2", "X")}

    # -- control: condition, pc+1, next pc, next fp, write address ----------
    t0 = ports["T0"]
    g.units("cond", U.step(t0.u - 1, {"cond": 1.0}))  # [T0 != 0]
    cond = Expr.of("cond")
    g.units("pc_plus_1", U.byte_add(pc_b, [1, 0], ["pc1.0", "pc1.1"]))
    pc1 = [Expr.of("pc1.0"), Expr.of("pc1.1")]
    P = ["out.P0", "out.P1"]
    seq = g.off(g.ops_where(npc="seq"))
    jump = g.off(g.ops_where(npc="jump"))
    link = g.off(g.ops_where(npc="link"))
    us = []
    for k in range(2):
        us += U.passthrough(pc1[k], {P[k]: 1.0}, seq, 256.0)
        us += U.passthrough(TGT[k], {P[k]: 1.0}, jump, 256.0)
        us += U.passthrough(ports["X"].b[k], {P[k]: 1.0}, link, 256.0)
        for o in g.ops_where(npc="if_true"):  # br_if: taken -> TGT
            us += U.passthrough(TGT[k], {P[k]: 1.0}, (1 - g.flag(o)) + (1 - cond), 256.0)
            us += U.passthrough(pc1[k], {P[k]: 1.0}, (1 - g.flag(o)) + cond, 256.0)
        for o in g.ops_where(npc="if_false"):  # if: false -> TGT
            us += U.passthrough(pc1[k], {P[k]: 1.0}, (1 - g.flag(o)) + (1 - cond), 256.0)
            us += U.passthrough(TGT[k], {P[k]: 1.0}, (1 - g.flag(o)) + cond, 256.0)
    g.units("next_pc", us)
    # br_table: pc + 1 + min(index, n); the entries follow the br_table slot
    g.units("table.clamp", U.step(t0.u - (N[0] + 256 * N[1]), {"tab.ge": 1.0}))
    ge = Expr.of("tab.ge")
    us = []
    for k in range(2):
        us += U.passthrough(N[k], {f"tab.c{k}": 1.0}, 1 - ge, 256.0)
        us += U.passthrough(t0.b[k], {f"tab.c{k}": 1.0}, ge, 256.0)
    g.units("table.index", us)
    g.units("table.next_pc", U.byte_add(pc1, [Expr.of("tab.c0"), Expr.of("tab.c1")], P, off=g.off(g.ops_where(npc="table"))))

    F = ["out.F0", "out.F1"]
    us = []
    for k in range(2):
        us += U.passthrough(fp_b[k], {F[k]: 1.0}, g.off(g.ops_where(nfp="keep")), 256.0)
        us += U.passthrough(ports["X"].b[2 + k], {F[k]: 1.0}, g.off(g.ops_where(nfp="link")), 256.0)
    us += U.byte_add(fp_b, N, F, off=g.off(g.ops_where(nfp="call")))
    g.units("next_fp", us)
    g.units("exhaustion", U.step(fp + X - machine.stack_limit, {"trap.exhaust": 1.0}, off=g.off(g.ops_where(nfp="call"))))

    g.units("write.base", U.byte_add([Expr.of("fpg0"), Expr.of("fpg1")], Wb, ["wb.0", "wb.1"]))
    A = ["out.A0", "out.A1"]
    us = []
    for k in range(2):
        us += U.passthrough(f"wb.{k}", {A[k]: 1.0}, g.off(g.ops_where(write="always")), 256.0)
        for o in g.ops_where(write="if_taken"):
            us += U.passthrough(f"wb.{k}", {A[k]: 1.0}, (1 - g.flag(o)) + (1 - cond), 256.0)
    g.units("write.address", us)

    # -- values written ------------------------------------------------------
    V = [f"out.V{k}" for k in range(4)]
    us = []
    for k in range(4):
        for src_name, src_val in (("T0", ports["T0"].b[k]), ("T1", ports["T1"].b[k]), ("X", ports["X"].b[k]), ("const", CONST[k])):
            us += U.passthrough(src_val, {V[k]: 1.0}, g.off(g.ops_where(value=src_name)), 256.0)
    link_ops = g.off(g.ops_where(value="link"))
    for k in range(2):
        us += U.passthrough(pc1[k], {V[k]: 1.0}, link_ops, 256.0)
        us += U.passthrough(fp_b[k], {V[2 + k]: 1.0}, link_ops, 256.0)
    g.units("value.move", us)
    g.units("trap.unreachable", U.relu(g.any_of(["unreachable"]), {"trap.unreachable": 1.0}))
    arithmetic.build(g, ports, V)
    memory.build(g, ports, V, CONST, mem_key, values)
    memory.build_bulk(g, ports, V, imm)
    memory.build_grow(g, ports, V, imm)
    tables.build(g, ports, imm, fp_b, key)

    return Graph(
        embedding=_embedding(),
        position_vars=(None, "pos", "pos2"),
        lookups=g.lookups,
        groups=g.groups,
        readout=_readout(),
        vocab_size=vocab.VOCAB_SIZE,
        pad_token=vocab.PAD,
    )


def _embedding() -> dict:
    table = {}
    for t in range(vocab.VOCAB_SIZE):
        r, v = vocab.describe(t)
        if r in vocab.SPECIALS:
            table[t] = {}
        else:
            table[t] = {f"role.{r}": 1.0, "val": float(v)}
    return table


ROLE_BONUS = 2.0**18  # beats the spread of 2vx - v^2 over bytes
TRAP_BONUS = 2.0**20


def _readout() -> dict:
    """logit(family F, v) = 2 v out.F - v^2 + bonus * [this role precedes F]."""
    R = vocab.ROLES
    prev = {R[i]: R[i - 1] for i in range(len(R))}
    table = {}
    for t in range(vocab.VOCAB_SIZE):
        r, v = vocab.describe(t)
        if r == "OP":
            table[t] = Expr({"op": 2.0 * v, f"role.{prev['OP']}": ROLE_BONUS}, -float(v * v))
        elif r in R:
            table[t] = Expr({f"out.{r}": 2.0 * v, f"role.{prev[r]}": ROLE_BONUS}, -float(v * v))
        elif r.startswith("TRAP:") or r in ("EXHAUST", "FAR"):
            flag = {"EXHAUST": "trap.exhaust", "FAR": "trap.far"}.get(r, f"trap.{r[5:]}")
            # wins only when the flag is set at an OP position (where P0 is due)
            table[t] = Expr({flag: TRAP_BONUS, "role.OP": TRAP_BONUS}, ROLE_BONUS + 2.0**17 - 2 * TRAP_BONUS)
        else:
            table[t] = Expr({}, -(2.0**40))
    return table
