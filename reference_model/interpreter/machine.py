"""The machine: runs flat code one instruction at a time.

``execute`` is the interpreter's step loop.  Its configuration is the
spec's: the current frame (code, pc, operand stack, locals, module
instance) plus the saved frames of the callers.  Each iteration fetches
``code[pc]`` and matches on the instruction's kind; that one match is the
``step``.  It is written as a single loop over local variables, not one
function call per step, because that is what makes a Python interpreter
fast enough to fuzz with; the order of the tests is by frequency.

Outcomes are kept apart: a Trap (message from ``traps``) or an
Exhaustion is the program's doing; StepLimit is the caller's budget;
any other exception is a bug in the interpreter.

Tracing (docs/trace.md): with ``trace`` a list, one TraceRecord is
appended per completed instruction; with ``trace=None`` no record or
write is ever built.  A ``call`` record is placed where the call was
fetched and completed when the callee returns (its ``pushed`` are the
callee's results).  On a trap the trapping instruction has no record; the
calls still waiting for their callee keep their place with ``pushed``
empty and the caller's height while the callee ran.

The call stack's size is the implementation's to choose (the spec leaves
it open): by default a call exhausts it at ``store.max_depth`` frames; a
``CellStack`` makes it another implementation's stack, counted in cells,
so that the canonical trace exhausts exactly where that implementation's
does (the transformer executor's, whose frames are cells of its memory).
"""
from __future__ import annotations

from typing import Mapping, NamedTuple

from reference_model.errors import ExecutorOutcome, Exhaustion, StepLimit, Trap
from reference_model.trace import TraceRecord, Write

from . import traps
from .flatcode import (BINOP, BR, BR_IF, BR_IF_RETURN, BR_TABLE, CALL, CALL_INDIRECT, CONST, DATA_DROP, DROP,
                       ELEM_DROP, ELSE, GLOBAL_GET, GLOBAL_SET, IF, LOAD, LOCAL_GET, LOCAL_SET, LOCAL_TEE,
                       MEMORY_COPY, MEMORY_FILL, MEMORY_GROW, MEMORY_INIT, MEMORY_SIZE, NOP, REF_FUNC,
                       REF_IS_NULL, REF_NULL, RETURN, RETURN_TARGET, SELECT, STORE, TABLE_COPY, TABLE_FILL,
                       TABLE_GET, TABLE_GROW, TABLE_INIT, TABLE_SET, TABLE_SIZE, UNOP, UNREACHABLE)
from .runtime import PAGE, Func, Store


class CellStack(NamedTuple):
    """An implementation's call stack, in cells: where its calls exhaust it.

    The invoked function's frame starts at cell ``fp0``.  A call at
    ``calls[(function index, pc)] = (advance, top)`` made from a frame at
    ``fp`` exhausts the stack when ``fp + top >= limit``; otherwise the
    callee's frame starts at ``fp + advance``.  ``calls`` covers the call
    sites of the invoked function's module; above a call it does not cover
    (or one made in another module's function) the frames are counted by
    ``store.max_depth`` again.
    """

    fp0: int
    limit: int
    calls: Mapping


_U32 = 0xFFFFFFFF


def execute(store: Store, func: Func, args: list, trace: list | None = None,
            max_steps: int | None = None, cells: CellStack | None = None) -> tuple[list, int]:
    """The results (bits) of calling ``func`` with ``args`` (bits), and the steps executed.

    Appends TraceRecords to ``trace`` when it is a list.  Raises Trap (with
    the spec's message), Exhaustion("call stack exhausted") when the call
    depth would exceed ``store.max_depth`` (or ``cells`` says the call
    exhausts that stack: CellStack), StepLimit after ``max_steps``
    instructions.  The exceptions carry ``steps`` (and ``trace``) so far.
    """
    if func.host is not None:
        return list(func.host(list(args))), 0
    max_depth = store.max_depth
    funcs = store.funcs
    limit = -1 if max_steps is None else max_steps
    steps = 0
    frames: list[tuple] = []

    fc = func.flat_code()
    code, ops, pushes, nres = fc.code, fc.ops, fc.pushes, len(fc.type.results)
    locals_ = list(args) + fc.local_zeros
    stack: list = []
    pc = 0
    inst = func.module
    fidx = func.index
    meminst = inst.memory
    mem = meminst.data if meminst is not None else None
    globals_ = inst.globals
    pc0 = 0
    home = inst  # the module whose call sites `cells` describes
    fp = None if cells is None else cells.fp0  # the frame's first cell, where a CellStack counts it
    try:
        while True:
            ins = code[pc]
            k = ins[0]
            pc0 = pc
            writes = ()
            steps += 1
            if steps == limit:
                raise StepLimit(f"step limit {max_steps} reached")
            # ---------------------------------------------------------------- step
            if k == LOCAL_GET:
                stack.append(locals_[ins[1]])
                pc += 1
            elif k == CONST:
                stack.append(ins[1])
                pc += 1
            elif k == BINOP:
                b = stack.pop()
                stack[-1] = ins[1](stack[-1], b)
                pc += 1
            elif k == LOCAL_SET:
                v = locals_[ins[1]] = stack.pop()
                if trace is not None:
                    writes = (Write("local", ins[1], 0, v),)
                pc += 1
            elif k == BR_IF:
                if stack.pop():
                    target, height, arity = ins[1]
                    if len(stack) != height + arity:
                        if arity:
                            stack[height:] = stack[len(stack) - arity:]
                        else:
                            del stack[height:]
                    pc = target
                else:
                    pc += 1
            elif k == UNOP:
                stack[-1] = ins[1](stack[-1])
                pc += 1
            elif k == LOCAL_TEE:
                v = locals_[ins[1]] = stack[-1]
                if trace is not None:
                    writes = (Write("local", ins[1], 0, v),)
                pc += 1
            elif k == NOP:
                pc += 1
            elif k == BR:
                target, height, arity = ins[1]
                if len(stack) != height + arity:
                    if arity:
                        stack[height:] = stack[len(stack) - arity:]
                    else:
                        del stack[height:]
                pc = target
            elif k == LOAD:
                ea = stack[-1] + ins[1]
                n = ins[2]
                if ea + n > len(mem):
                    raise Trap(traps.OUT_OF_BOUNDS_MEMORY)
                stack[-1] = int.from_bytes(mem[ea:ea + n], "little", signed=ins[3]) & ins[4]
                pc += 1
            elif k == STORE:
                v = stack.pop()
                ea = stack.pop() + ins[1]
                n = ins[2]
                if ea + n > len(mem):
                    raise Trap(traps.OUT_OF_BOUNDS_MEMORY)
                mem[ea:ea + n] = (v & ins[3]).to_bytes(n, "little")
                if trace is not None:
                    writes = (Write("memory", 0, ea, bytes(mem[ea:ea + n])),)
                pc += 1
            elif k == GLOBAL_GET:
                stack.append(globals_[ins[1]].value)
                pc += 1
            elif k == GLOBAL_SET:
                v = globals_[ins[1]].value = stack.pop()
                if trace is not None:
                    writes = (Write("global", ins[1], 0, v),)
                pc += 1
            elif k == IF:
                pc = pc + 1 if stack.pop() else ins[1]
            elif k == ELSE:
                pc = ins[1]
            elif k == CALL or k == CALL_INDIRECT:
                if k == CALL:
                    f = inst.funcs[ins[1]]
                else:
                    i = stack.pop()
                    elements = inst.tables[ins[2]].elements
                    if i >= len(elements):
                        raise Trap(traps.UNDEFINED_ELEMENT)
                    a = elements[i]
                    if a is None:
                        raise Trap(traps.UNINITIALIZED_ELEMENT)
                    f = funcs[a]
                    if f.type != inst.types[ins[1]]:
                        raise Trap(traps.INDIRECT_CALL_TYPE_MISMATCH)
                nargs = len(f.type.params)
                split = len(stack) - nargs
                args = stack[split:]
                del stack[split:]
                if f.host is not None:
                    stack.extend(f.host(args))
                    pc += 1
                else:
                    site = None if fp is None or inst is not home else cells.calls.get((fidx, pc0))
                    if site is None:
                        if len(frames) + 1 >= max_depth:
                            raise traps.exhausted()
                    elif fp + site[1] >= cells.limit:
                        raise traps.exhausted()
                    slot = None
                    if trace is not None:
                        slot = len(trace)
                        trace.append(None)  # completed when the callee returns
                    frames.append((code, ops, pushes, nres, stack, locals_, pc + 1, inst, fidx, slot, pc0, fp))
                    fp = None if site is None else fp + site[0]
                    fc = f.flat_code()
                    code, ops, pushes, nres = fc.code, fc.ops, fc.pushes, len(fc.type.results)
                    args.extend(fc.local_zeros)
                    locals_ = args
                    stack = []
                    pc = 0
                    if f.module is not inst:
                        inst = f.module
                        meminst = inst.memory
                        mem = meminst.data if meminst is not None else None
                        globals_ = inst.globals
                    fidx = f.index
                    continue
            elif k == RETURN or k == BR_IF_RETURN or k == BR_TABLE:
                if k == BR_IF_RETURN:
                    if not stack.pop():
                        pc += 1
                        if trace is not None:
                            trace.append(TraceRecord(len(trace), len(frames), fidx, pc0, ops[pc0], (), len(stack)))
                        continue
                elif k == BR_TABLE:
                    i = stack.pop()
                    target, height, arity = ins[1][i] if i < len(ins[1]) else ins[2]
                    if target != RETURN_TARGET:
                        if len(stack) != height + arity:
                            if arity:
                                stack[height:] = stack[len(stack) - arity:]
                            else:
                                del stack[height:]
                        pc = target
                        if trace is not None:
                            trace.append(TraceRecord(len(trace), len(frames), fidx, pc0, ops[pc0], (), len(stack)))
                        continue
                # leave the function: return, br/br_if/br_table to its label, or its final end
                results = stack[len(stack) - nres:] if nres else []
                if trace is not None:
                    trace.append(TraceRecord(len(trace), len(frames), fidx, pc0, ops[pc0], (), nres))
                if not frames:
                    return results, steps
                code, ops, pushes, nres, stack, locals_, pc, caller, fidx, slot, call_pc, fp = frames.pop()
                stack.extend(results)
                if caller is not inst:
                    inst = caller
                    meminst = inst.memory
                    mem = meminst.data if meminst is not None else None
                    globals_ = inst.globals
                if trace is not None:
                    trace[slot] = TraceRecord(slot, len(frames), fidx, call_pc, ops[call_pc], tuple(results),
                                              len(stack))
                continue
            elif k == DROP:
                stack.pop()
                pc += 1
            elif k == SELECT:
                c = stack.pop()
                b = stack.pop()
                if not c:
                    stack[-1] = b
                pc += 1
            elif k == UNREACHABLE:
                raise Trap(traps.UNREACHABLE)
            elif k == MEMORY_SIZE:
                stack.append(len(mem) // PAGE)
                pc += 1
            elif k == MEMORY_GROW:
                stack[-1] = meminst.grow(stack[-1], store.max_memory_pages) & _U32
                pc += 1
            elif k == MEMORY_FILL:
                n = stack.pop()
                v = stack.pop()
                d = stack.pop()
                if d + n > len(mem):
                    raise Trap(traps.OUT_OF_BOUNDS_MEMORY)
                if n:
                    mem[d:d + n] = bytes((v & 0xFF,)) * n
                    if trace is not None:
                        writes = (Write("memory", 0, d, bytes(mem[d:d + n])),)
                pc += 1
            elif k == MEMORY_COPY:
                n = stack.pop()
                s = stack.pop()
                d = stack.pop()
                if s + n > len(mem) or d + n > len(mem):
                    raise Trap(traps.OUT_OF_BOUNDS_MEMORY)
                if n:
                    mem[d:d + n] = mem[s:s + n]
                    if trace is not None:
                        writes = (Write("memory", 0, d, bytes(mem[d:d + n])),)
                pc += 1
            elif k == MEMORY_INIT:
                n = stack.pop()
                s = stack.pop()
                d = stack.pop()
                data = inst.datas[ins[1]]
                if s + n > len(data) or d + n > len(mem):
                    raise Trap(traps.OUT_OF_BOUNDS_MEMORY)
                if n:
                    mem[d:d + n] = data[s:s + n]
                    if trace is not None:
                        writes = (Write("memory", 0, d, bytes(mem[d:d + n])),)
                pc += 1
            elif k == DATA_DROP:
                inst.datas[ins[1]] = b""
                pc += 1
            elif k == TABLE_GET:
                i = stack[-1]
                elements = inst.tables[ins[1]].elements
                if i >= len(elements):
                    raise Trap(traps.OUT_OF_BOUNDS_TABLE)
                stack[-1] = elements[i]
                pc += 1
            elif k == TABLE_SET:
                v = stack.pop()
                i = stack.pop()
                elements = inst.tables[ins[1]].elements
                if i >= len(elements):
                    raise Trap(traps.OUT_OF_BOUNDS_TABLE)
                elements[i] = v
                if trace is not None:
                    writes = (Write("table", ins[1], i, v),)
                pc += 1
            elif k == TABLE_SIZE:
                stack.append(len(inst.tables[ins[1]].elements))
                pc += 1
            elif k == TABLE_GROW:
                n = stack.pop()
                stack[-1] = inst.tables[ins[1]].grow(n, stack[-1], store.max_table_elements) & _U32
                pc += 1
            elif k == TABLE_FILL:
                n = stack.pop()
                v = stack.pop()
                i = stack.pop()
                elements = inst.tables[ins[1]].elements
                if i + n > len(elements):
                    raise Trap(traps.OUT_OF_BOUNDS_TABLE)
                if n:
                    elements[i:i + n] = [v] * n
                    if trace is not None:
                        writes = (Write("table", ins[1], i, tuple(elements[i:i + n])),)
                pc += 1
            elif k == TABLE_COPY:
                n = stack.pop()
                s = stack.pop()
                d = stack.pop()
                dst = inst.tables[ins[1]].elements
                src = inst.tables[ins[2]].elements
                if s + n > len(src) or d + n > len(dst):
                    raise Trap(traps.OUT_OF_BOUNDS_TABLE)
                if n:
                    dst[d:d + n] = src[s:s + n]
                    if trace is not None:
                        writes = (Write("table", ins[1], d, tuple(dst[d:d + n])),)
                pc += 1
            elif k == TABLE_INIT:
                n = stack.pop()
                s = stack.pop()
                d = stack.pop()
                seg = inst.elems[ins[1]]
                dst = inst.tables[ins[2]].elements
                if s + n > len(seg) or d + n > len(dst):
                    raise Trap(traps.OUT_OF_BOUNDS_TABLE)
                if n:
                    dst[d:d + n] = seg[s:s + n]
                    if trace is not None:
                        writes = (Write("table", ins[2], d, tuple(dst[d:d + n])),)
                pc += 1
            elif k == ELEM_DROP:
                inst.elems[ins[1]] = []
                pc += 1
            elif k == REF_NULL:
                stack.append(None)
                pc += 1
            elif k == REF_IS_NULL:
                stack[-1] = 1 if stack[-1] is None else 0
                pc += 1
            elif k == REF_FUNC:
                stack.append(inst.funcs[ins[1]].addr)
                pc += 1
            else:
                raise AssertionError(f"unknown instruction kind {k} at pc {pc}")
            # ---------------------------------------------------------------- trace
            if trace is not None:
                n = pushes[pc0]
                trace.append(TraceRecord(len(trace), len(frames), fidx, pc0, ops[pc0],
                                         tuple(stack[len(stack) - n:]) if n else (), len(stack), writes))
    except ExecutorOutcome as outcome:
        outcome.steps = steps
        if trace is not None:
            _close_pending_calls(trace, frames)
            outcome.trace = trace
        raise
    except RecursionError:  # not reachable: calls do not recurse in Python
        raise Exhaustion(traps.CALL_STACK_EXHAUSTED) from None


def _close_pending_calls(trace: list, frames: list[tuple]) -> None:
    """Give the calls whose callee never returned their record (pushed empty)."""
    for depth, frame in enumerate(frames):
        _code, ops, _pushes, _nres, stack, _locals, _pc, _inst, fidx, slot, call_pc, _fp = frame
        if slot is not None:
            trace[slot] = TraceRecord(slot, depth, fidx, call_pc, ops[call_pc], (), len(stack))
