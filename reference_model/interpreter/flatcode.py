"""Function body -> flat code: instruction tuples with branch targets resolved.

The machine never searches for an ``end`` or keeps a label stack: every
branch carries ``(target pc, label height, arity)`` computed here from
the block structure.  Label heights are static because a valid body's
operand-stack height at each instruction is fixed by validation.

Control transfer (the choices docs/trace.md spells out):
  * ``br`` to a ``block``/``if`` label continues after that block's
    ``end`` (the ``end`` is not executed); to a ``loop`` label, at the
    ``loop`` instruction itself (re-entering the loop, as the spec's
    reduction does); to the function's own label, it returns.
  * ``if`` with a false condition continues after its ``else``, or at
    its ``end`` when there is none; ``else`` reached from the then-arm
    continues at the matching ``end``, which executes.
  * the body's final ``end`` returns.

Each instruction becomes a tuple whose first item is a small int *kind*
(below) and whose other items are its resolved immediates.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import numerics
from .binary import Code, FuncType, Module
from .opcodes import LOADS, NUMERIC, STORES

# kinds, most frequent first (the machine tests them in this order)
(LOCAL_GET, CONST, BINOP, LOCAL_SET, BR_IF, UNOP, LOCAL_TEE, NOP, BR, LOAD, STORE, GLOBAL_GET,
 GLOBAL_SET, IF, ELSE, CALL, RETURN, DROP, SELECT, BR_TABLE, CALL_INDIRECT, UNREACHABLE,
 MEMORY_SIZE, MEMORY_GROW, MEMORY_FILL, MEMORY_COPY, MEMORY_INIT, DATA_DROP, TABLE_GET, TABLE_SET,
 TABLE_SIZE, TABLE_GROW, TABLE_FILL, TABLE_COPY, TABLE_INIT, ELEM_DROP, REF_NULL, REF_IS_NULL,
 REF_FUNC, BR_IF_RETURN) = range(40)

RETURN_TARGET = -1  # branch target meaning "leave the function"

_LOAD_BY_NAME = {name: (n, signed) for name, n, signed in LOADS.values()}
_STORE_BY_NAME = {name: n for name, n in STORES.values()}
_MASK = {"i32": 0xFFFFFFFF, "f32": 0xFFFFFFFF, "i64": 0xFFFFFFFFFFFFFFFF, "f64": 0xFFFFFFFFFFFFFFFF}

# kind, pops, pushes for instructions whose effect does not depend on types
_SIMPLE = {
    "unreachable": (UNREACHABLE, 0, 0), "nop": (NOP, 0, 0), "drop": (DROP, 1, 0),
    "select": (SELECT, 3, 1), "return": (RETURN, 0, 0),
    "local.get": (LOCAL_GET, 0, 1), "local.set": (LOCAL_SET, 1, 0), "local.tee": (LOCAL_TEE, 1, 1),
    "global.get": (GLOBAL_GET, 0, 1), "global.set": (GLOBAL_SET, 1, 0),
    "table.get": (TABLE_GET, 1, 1), "table.set": (TABLE_SET, 2, 0),
    "table.size": (TABLE_SIZE, 0, 1), "table.grow": (TABLE_GROW, 2, 1),
    "table.fill": (TABLE_FILL, 3, 0), "table.copy": (TABLE_COPY, 3, 0),
    "table.init": (TABLE_INIT, 3, 0), "elem.drop": (ELEM_DROP, 0, 0),
    "memory.size": (MEMORY_SIZE, 0, 1), "memory.grow": (MEMORY_GROW, 1, 1),
    "memory.fill": (MEMORY_FILL, 3, 0), "memory.copy": (MEMORY_COPY, 3, 0),
    "memory.init": (MEMORY_INIT, 3, 0), "data.drop": (DATA_DROP, 0, 0),
    "ref.null": (REF_NULL, 0, 1), "ref.is_null": (REF_IS_NULL, 1, 1), "ref.func": (REF_FUNC, 0, 1),
}


@dataclass
class FlatCode:
    """A function body ready to run, plus what tracing needs per pc."""

    code: list[tuple]  # code[pc] = (kind, immediates...)
    ops: list[str]  # ops[pc] = mnemonic
    pushes: list[int]  # pushes[pc] = values the instruction computes (0 for control)
    type: FuncType
    local_zeros: list  # initial values of the declared locals


@dataclass
class _Label:
    kind: str  # "block" | "loop" | "if" | "func"
    pc: int
    height: int  # operand-stack height at entry, below the block's parameters
    params: int
    results: int
    fixups: list  # branch records [target, height, arity] waiting for the end pc
    if_record: list | None = None
    else_pc: int | None = None

    @property
    def arity(self) -> int:
        return self.params if self.kind == "loop" else self.results


def _block_arity(module: Module, bt) -> tuple[int, int]:
    if bt is None:
        return 0, 0
    if isinstance(bt, str):
        return 0, 1
    t = module.types[bt]
    return len(t.params), len(t.results)


def flatten(module: Module, code: Code, ftype: FuncType, func_types: list[FuncType]) -> FlatCode:
    """The flat code of one function body of a *validated* module."""
    out: list[list] = []
    ops: list[str] = []
    pushes: list[int] = []
    labels = [_Label("func", 0, 0, 0, len(ftype.results), [])]
    h = 0  # static operand-stack height

    def branch(depth: int) -> list:
        lab = labels[-1 - depth]
        if lab.kind == "func":
            return [RETURN_TARGET, 0, lab.results]
        rec = [lab.pc if lab.kind == "loop" else None, lab.height, lab.arity]
        if lab.kind != "loop":
            lab.fixups.append(rec)
        return rec

    for pc, ins in enumerate(code.body):
        op, imm = ins.op, ins.imm
        ops.append(op)
        push = 0
        if op in NUMERIC:
            arity, _ = NUMERIC[op]
            if op.endswith(".const"):
                raise AssertionError
            out.append([UNOP if arity == 1 else BINOP, numerics.operator(op)])
            h += 1 - arity
            push = 1
        elif op.endswith(".const"):
            out.append([CONST, imm[0]])
            h += 1
            push = 1
        elif op in _LOAD_BY_NAME:
            n, signed = _LOAD_BY_NAME[op]
            out.append([LOAD, imm[1], n, signed, _MASK[op[:3]]])
            push = 1
        elif op in _STORE_BY_NAME:
            n = _STORE_BY_NAME[op]
            out.append([STORE, imm[1], n, (1 << (8 * n)) - 1])
            h -= 2
        elif op in ("block", "loop", "if"):
            params, results = _block_arity(module, imm[0])
            if op == "if":
                h -= 1
            lab = _Label(op, pc, h - params, params, results, [])
            if op == "if":
                lab.if_record = [IF, None]
                out.append(lab.if_record)
            else:
                out.append([NOP])
            labels.append(lab)
        elif op == "else":
            lab = labels[-1]
            lab.else_pc = pc
            rec = [ELSE, None]
            lab.fixups.append(rec)  # patched below to the end pc itself
            out.append(rec)
            h = lab.height + lab.params
        elif op == "end":
            lab = labels.pop()
            if lab.kind == "func":
                out.append([RETURN])
            else:
                out.append([NOP])
                for rec in lab.fixups:
                    if rec[0] == ELSE:
                        rec[1] = pc
                    elif rec[0] is None:
                        rec[0] = pc + 1
                if lab.if_record is not None:
                    lab.if_record[1] = lab.else_pc + 1 if lab.else_pc is not None else pc
            h = lab.height + lab.results
        elif op == "br":
            rec = branch(imm[0])
            out.append([RETURN] if rec[0] == RETURN_TARGET else [BR, rec])
            h = labels[-1].height  # unreachable until the next else/end
        elif op == "br_if":
            h -= 1
            rec = branch(imm[0])
            out.append([BR_IF_RETURN] if rec[0] == RETURN_TARGET else [BR_IF, rec])
        elif op == "br_table":
            h -= 1
            out.append([BR_TABLE, [branch(d) for d in imm[0]], branch(imm[1])])
            h = labels[-1].height
        elif op == "return" or op == "unreachable":
            out.append([RETURN if op == "return" else UNREACHABLE])
            h = labels[-1].height
        elif op == "call":
            t = func_types[imm[0]]
            out.append([CALL, imm[0]])
            h += len(t.results) - len(t.params)
            push = len(t.results)
        elif op == "call_indirect":
            t = module.types[imm[0]]
            out.append([CALL_INDIRECT, imm[0], imm[1]])
            h += len(t.results) - len(t.params) - 1
            push = len(t.results)
        elif op in _SIMPLE:
            kind, pops, push = _SIMPLE[op]
            if kind == MEMORY_INIT:
                out.append([kind, imm[0]])
            elif kind == REF_NULL:
                out.append([kind])
            elif kind in (MEMORY_SIZE, MEMORY_GROW, MEMORY_FILL, MEMORY_COPY):
                out.append([kind])
            else:
                out.append([kind, *imm])
            h += push - pops
        else:
            raise AssertionError(f"no flat form for {op}")
        pushes.append(push)

    code_tuples = [_freeze(x) for x in out]
    zeros = [None if t in ("funcref", "externref") else 0 for t in code.locals]
    return FlatCode(code_tuples, ops, pushes, ftype, zeros)


def _freeze(x):
    if isinstance(x, list):
        return tuple(_freeze(y) for y in x)
    return x
