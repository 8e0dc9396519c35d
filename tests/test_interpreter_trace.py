"""The canonical trace (docs/trace.md) as the reference interpreter writes it."""
from __future__ import annotations

import pytest

from interp_util import call, instance
from reference_model.errors import Trap
from reference_model.trace import trace_hash
from reference_model.values import i32

PROGRAM = """(module
  (memory 1)
  (func $double (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "run") (param i32) (result i32)
    (block
      (br_if 0 (i32.eqz (local.get 0)))
      (i32.store (i32.const 4) (call $double (local.get 0))))
    (i32.load (i32.const 4)))
  (func (export "loop") (param $n i32) (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (local.get $n)))))
  (func (export "choose") (param i32) (result i32)
    (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2))))
  (func $boom (param i32) unreachable)
  (func (export "trap") (result i32) (i32.const 5) (call $boom (i32.const 1)))
)"""


def lines(result) -> list[str]:
    return [r.canonical() for r in result.trace]


def test_exact_trace_with_a_call_a_store_and_a_fallthrough_block():
    store, inst = instance(PROGRAM)
    result = call(store, inst, "run", i32(3), trace=True)
    # step depth func pc op [pushed] height [writes]; ints in hex
    assert lines(result) == [
        "0 0 1 0 block [] 0 []",
        "1 0 1 1 local.get [3] 1 []",
        "2 0 1 2 i32.eqz [0] 1 []",
        "3 0 1 3 br_if [] 0 []",
        "4 0 1 4 i32.const [4] 1 []",
        "5 0 1 5 local.get [3] 2 []",
        "6 0 1 6 call [6] 2 []",  # placed where it was fetched, completed by the callee's return
        "7 1 0 0 local.get [3] 1 []",
        "8 1 0 1 i32.const [2] 2 []",
        "9 1 0 2 i32.mul [6] 1 []",
        "10 1 0 3 end [] 1 []",  # the callee's final end: height in the function being left
        "11 0 1 7 i32.store [] 0 [memory:0:4:b06000000]",
        "12 0 1 8 end [] 0 []",
        "13 0 1 9 i32.const [4] 1 []",
        "14 0 1 10 i32.load [6] 1 []",
        "15 0 1 11 end [] 1 []",
    ]
    assert result.steps == 16
    assert trace_hash(result.trace) == trace_hash(call(store, inst, "run", i32(3), trace=True).trace)


def test_taken_branch_skips_the_end_of_its_block():
    store, inst = instance(PROGRAM)
    ops = [(r.pc, r.op) for r in call(store, inst, "run", i32(0), trace=True).trace]
    assert ops == [(0, "block"), (1, "local.get"), (2, "i32.eqz"), (3, "br_if"), (9, "i32.const"),
                   (10, "i32.load"), (11, "end")]


def test_branch_to_a_loop_re_enters_at_the_loop_instruction_and_local_writes_are_recorded():
    store, inst = instance(PROGRAM)
    trace = call(store, inst, "loop", i32(2), trace=True).trace
    assert [r.pc for r in trace] == [*range(9), *range(11)]  # loop (pc 0) re-executed on the taken br_if
    sets = [r.writes for r in trace if r.op == "local.set"]
    assert [w[0].kind for w in sets] == ["local", "local"] and [w[0].value for w in sets] == [1, 2]
    assert all(r.pushed == () for r in trace if r.op in ("loop", "br_if", "end", "local.set"))


def test_if_else_both_arms_leave_through_end():
    store, inst = instance(PROGRAM)
    then_arm = [(r.pc, r.op, r.height) for r in call(store, inst, "choose", i32(1), trace=True).trace]
    else_arm = [(r.pc, r.op, r.height) for r in call(store, inst, "choose", i32(0), trace=True).trace]
    assert then_arm == [(0, "local.get", 1), (1, "if", 0), (2, "i32.const", 1), (3, "else", 1),
                        (5, "end", 1), (6, "end", 1)]
    assert else_arm == [(0, "local.get", 1), (1, "if", 0), (4, "i32.const", 1), (5, "end", 1), (6, "end", 1)]


def test_a_trap_ends_the_trace_without_the_trapping_instruction():
    store, inst = instance(PROGRAM)
    with pytest.raises(Trap, match="^unreachable$") as info:
        call(store, inst, "trap", trace=True)
    got = [r.canonical() for r in info.value.trace]
    assert got == [
        "0 0 5 0 i32.const [5] 1 []",
        "1 0 5 1 i32.const [1] 2 []",
        "2 0 5 2 call [] 1 []",  # never completed: no results, the caller's height while the callee ran
    ]
    assert info.value.steps == 4  # the trapping unreachable was fetched and counted


def test_tracing_off_builds_no_records():
    store, inst = instance(PROGRAM)
    result = call(store, inst, "run", i32(3))
    assert result.trace is None and result.steps == 16
