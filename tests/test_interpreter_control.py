"""Control flow, calls, tables, memory, linking, exhaustion and unsupported detection."""
from __future__ import annotations

import pytest

from interp_util import bits, call, instance, wat
from reference_model.errors import Exhaustion, InstantiationTrap, LinkError, ModuleRejected, Trap, Unsupported
from reference_model.interpreter import Store, load
from reference_model.values import Value, i32, i64


def test_block_loop_if_and_branches():
    store, inst = instance("""(module
      (func (export "sum") (param $n i32) (result i32) (local $s i32)
        (block $done (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $s (i32.add (local.get $s) (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
        (local.get $s))
      (func (export "sel") (param i32) (result i32)
        (if (result i32) (local.get 0) (then (i32.const 10)) (else (i32.const 20))))
      (func (export "table") (param i32) (result i32)
        (block $a (block $b (block $c (br_table $a $b $c (local.get 0)))
          (return (i32.const 3))) (return (i32.const 2))) (i32.const 1))
      (func (export "early") (param i32) (result i32)
        (if (local.get 0) (then (return (i32.const 7)))) (i32.const 8))
      (func (export "brval") (result i32)
        (block (result i32) (i32.const 1) (br 0) (drop) (i32.const 2))))""")
    assert bits(store, inst, "sum", i32(100)) == [5050]
    assert bits(store, inst, "sel", i32(1)) == [10] and bits(store, inst, "sel", i32(0)) == [20]
    assert [bits(store, inst, "table", i32(k))[0] for k in (0, 1, 2, 3, 99)] == [1, 2, 3, 3, 3]
    assert bits(store, inst, "early", i32(1)) == [7] and bits(store, inst, "early", i32(0)) == [8]
    assert bits(store, inst, "brval") == [1]


def test_multi_value_blocks_with_type_indices_carry_values():
    store, inst = instance("""(module
      (type $pair (func (param i32 i32) (result i32 i32)))
      (func (export "swap") (param i32 i32) (result i32 i32)
        (local.get 1) (local.get 0)
        (block (type $pair) (local.set 0) (local.set 1) (local.get 0) (local.get 1)))
      (func (export "loopsum") (param $n i32) (result i32)
        (i32.const 0)
        (loop $l (param i32) (result i32)
          (local.get $n) (i32.add)
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $l (local.get $n)))))""")
    assert bits(store, inst, "swap", i32(1), i32(2)) == [1, 2]  # swapped twice: once on the stack, once in the block
    # 5 + 4 + 3 + 2 + 1 = 15, the running sum carried through the loop's parameters
    assert bits(store, inst, "loopsum", i32(5)) == [15]


def test_calls_and_indirect_calls_with_spec_traps():
    store, inst = instance("""(module
      (type $i (func (result i32)))
      (type $l (func (result i64)))
      (table 4 funcref)
      (elem (i32.const 0) $one $two)
      (elem (i32.const 3) $wide)
      (func $one (result i32) (i32.const 1))
      (func $two (result i32) (i32.add (call $one) (i32.const 1)))
      (func $wide (result i64) (i64.const 9))
      (func (export "ind") (param i32) (result i32) (call_indirect (type $i) (local.get 0))))""")
    assert bits(store, inst, "ind", i32(0)) == [1] and bits(store, inst, "ind", i32(1)) == [2]
    with pytest.raises(Trap, match="^uninitialized element$"):
        call(store, inst, "ind", i32(2))
    with pytest.raises(Trap, match="^indirect call type mismatch$"):
        call(store, inst, "ind", i32(3))
    with pytest.raises(Trap, match="^undefined element$"):
        call(store, inst, "ind", i32(4))


def test_memory_loads_stores_grow_and_bulk_operations():
    store, inst = instance("""(module
      (memory 1 3)
      (data (i32.const 8) "\\80\\ff")
      (data $p "hello")
      (func (export "l8s") (param i32) (result i32) (i32.load8_s (local.get 0)))
      (func (export "l16u") (param i32) (result i64) (i64.load16_u (local.get 0)))
      (func (export "st") (param i32 i64) (i64.store32 offset=1 (local.get 0) (local.get 1)))
      (func (export "ld") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) (memory.size))
      (func (export "init") (param i32 i32 i32) (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
      (func (export "drop") (data.drop $p))
      (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
      (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2))))""")
    assert bits(store, inst, "l8s", i32(8)) == [0xFFFFFF80]
    assert bits(store, inst, "l16u", i32(8)) == [0xFF80]
    call(store, inst, "st", i32(99), i64(0x1122334455667788))
    assert bits(store, inst, "ld", i32(100)) == [0x55667788]
    with pytest.raises(Trap, match="^out of bounds memory access$"):
        call(store, inst, "ld", i32(65533))
    with pytest.raises(Trap, match="^out of bounds memory access$"):
        call(store, inst, "st", i32(0xFFFFFFFF), i64(0))  # offset overflows 32 bits: still a trap
    assert bits(store, inst, "grow", i32(1)) == [1] and bits(store, inst, "size") == [2]
    assert bits(store, inst, "grow", i32(2)) == [0xFFFFFFFF]  # beyond the maximum of 3
    call(store, inst, "init", i32(200), i32(1), i32(4))
    assert bits(store, inst, "ld", i32(200)) == [int.from_bytes(b"ello", "little")]
    call(store, inst, "drop")
    with pytest.raises(Trap, match="^out of bounds memory access$"):
        call(store, inst, "init", i32(0), i32(0), i32(1))
    call(store, inst, "init", i32(0), i32(0), i32(0))  # zero length at the end of a dropped segment is fine
    call(store, inst, "fill", i32(300), i32(0x1AB), i32(4))
    assert bits(store, inst, "ld", i32(300)) == [0xABABABAB]
    call(store, inst, "copy", i32(301), i32(200), i32(4))  # overlapping copies behave like memmove
    assert bits(store, inst, "ld", i32(300)) == [int.from_bytes(b"\xabell", "little")]


def test_reference_types_tables():
    store, inst = instance("""(module
      (table $t 2 10 externref)
      (table $f 3 funcref)
      (elem $e func $g $g)
      (func $g (result i32) (i32.const 5))
      (func (export "set") (param i32 externref) (table.set $t (local.get 0) (local.get 1)))
      (func (export "get") (param i32) (result externref) (table.get $t (local.get 0)))
      (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null extern) (local.get 0)))
      (func (export "size") (result i32) (table.size $t))
      (func (export "init") (table.init $f $e (i32.const 1) (i32.const 0) (i32.const 2)))
      (func (export "isnull") (param i32) (result i32) (ref.is_null (table.get $f (local.get 0))))
      (func (export "fill") (param i32 externref i32) (table.fill $t (local.get 0) (local.get 1) (local.get 2))))""")
    call(store, inst, "set", i32(1), Value("externref", 42))
    assert bits(store, inst, "get", i32(1)) == [42] and bits(store, inst, "get", i32(0)) == [None]
    with pytest.raises(Trap, match="^out of bounds table access$"):
        call(store, inst, "get", i32(2))
    assert bits(store, inst, "grow", i32(3)) == [2] and bits(store, inst, "size") == [5]
    assert bits(store, inst, "grow", i32(6)) == [0xFFFFFFFF]
    call(store, inst, "init")
    assert [bits(store, inst, "isnull", i32(k))[0] for k in range(3)] == [1, 0, 0]
    with pytest.raises(Trap, match="^out of bounds table access$"):
        call(store, inst, "fill", i32(4), Value("externref", 1), i32(2))


def test_globals_and_imports_link_by_kind_and_type():
    store, exporter = instance("""(module
      (global (export "g") (mut i32) (i32.const 1))
      (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (global.get 0)))
      (func (export "bump") (global.set 0 (i32.add (global.get 0) (i32.const 1)))))""")
    exports = {("m", k): v for k, v in exporter.exports.items()}
    _, importer = instance("""(module
      (import "m" "f" (func $f (param i32) (result i32)))
      (import "m" "g" (global $g (mut i32)))
      (func (export "use") (result i32) (call $f (global.get $g))))""", store, exports)
    call(store, exporter, "bump")
    assert bits(store, importer, "use") == [4]  # g == 2 seen through both instances
    with pytest.raises(LinkError, match="^unknown import$"):
        instance('(module (import "m" "nope" (func)))', store, exports)
    with pytest.raises(LinkError, match="^incompatible import type$"):
        instance('(module (import "m" "f" (func (param i64))))', store, exports)
    with pytest.raises(LinkError, match="^incompatible import type$"):
        instance('(module (import "m" "g" (global i32)))', store, exports)  # mutability differs
    with pytest.raises(LinkError, match="^incompatible import type$"):
        instance('(module (import "m" "g" (func)))', store, exports)


def test_instantiation_traps_in_segment_order_and_start_runs():
    store = Store()
    _, shared = instance('(module (memory (export "mem") 1) (func (export "ld") (result i32) (i32.load8_u (i32.const 0))))',
                         store)
    imports = {("s", "mem"): shared.exports["mem"]}
    with pytest.raises(InstantiationTrap, match="^out of bounds memory access$"):
        instance("""(module (import "s" "mem" (memory 1))
          (data (i32.const 0) "\\07") (data (i32.const 65536) "x"))""", store, imports)
    assert bits(store, shared, "ld") == [7]  # the first segment's write stays
    with pytest.raises(InstantiationTrap, match="^unreachable$"):
        instance("(module (func $s unreachable) (start $s))", store)
    _, inst = instance("""(module (global $g (mut i32) (i32.const 0))
      (func $s (global.set $g (i32.const 9))) (start $s)
      (func (export "g") (result i32) (global.get $g)))""", store)
    assert bits(store, inst, "g") == [9]


def test_call_stack_exhaustion_at_configured_depth():
    text = """(module
      (func $r (export "r") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
          (else (i32.add (i32.const 1) (call $r (i32.sub (local.get 0) (i32.const 1))))))))"""
    store, inst = instance(text, Store(max_depth=50))
    assert bits(store, inst, "r", i32(49)) == [49]  # 50 frames in all
    with pytest.raises(Exhaustion, match="^call stack exhausted$"):
        call(store, inst, "r", i32(50))
    store, inst = instance("(module (func $f (export \"f\") (call $f)))", Store(max_depth=1000))
    with pytest.raises(Exhaustion, match="^call stack exhausted$") as info:
        call(store, inst, "f")
    assert not isinstance(info.value, Trap)


def test_a_cell_stack_exhausts_where_its_call_sites_say():
    """With a CellStack (another implementation's stack, in cells) a call exhausts the stack when its frame's
    fp + top reaches the limit, and the callee's frame starts at fp + advance; a call site it does not cover is
    counted by max_depth again.  The trace ends with the last call made, as at the depth limit."""
    from reference_model.interpreter import CellStack, invoke

    store, inst = instance("(module (func $f (export \"f\") (call $f)) (func (export \"g\") (call $f)))")
    f, g = inst.exports["f"], inst.exports["g"]
    # frames at fp 10, 13, 16, ...: the call from fp 10 + 3k is made while 10 + 3k + 5 < 100, so for k = 0..28
    with pytest.raises(Exhaustion) as info:
        invoke(store, f, [], trace=True, cells=CellStack(10, 100, {(0, 0): (3, 5)}))
    assert [(r.depth, r.op) for r in info.value.trace] == [(k, "call") for k in range(29)]
    with pytest.raises(Exhaustion) as info:  # one cell more: the same
        invoke(store, f, [], trace=True, cells=CellStack(10, 101, {(0, 0): (3, 5)}))
    assert len(info.value.trace) == 29
    with pytest.raises(Exhaustion) as info:  # a frame's worth more: one call more
        invoke(store, f, [], trace=True, cells=CellStack(10, 103, {(0, 0): (3, 5)}))
    assert len(info.value.trace) == 30
    with pytest.raises(Exhaustion) as info:  # g's call is not covered: f's frames are counted by max_depth
        invoke(store, g, [], trace=True, cells=CellStack(10, 100, {(0, 0): (3, 5)}))
    assert len(info.value.trace) == store.max_depth - 1
    with pytest.raises(Exhaustion) as info:  # g's call covered, from fp 10: f's frames start at 20
        invoke(store, g, [], trace=True, cells=CellStack(10, 100, {(0, 0): (3, 5), (1, 0): (10, 12)}))
    assert len(info.value.trace) == 1 + 25  # f's calls from fp 20 + 3k while 25 + 3k < 100: k = 0..24


@pytest.mark.parametrize("text, feature", [
    ("(module (func (result v128) (v128.const i64x2 0 0)))", "simd"),
    ("(module (memory i64 1))", "memory64"),
    ("(module (tag $e) (func (throw $e)))", "exceptions"),
    ("(module (func $f (return_call $f)))", "tail-call"),
    ("(module (memory 1) (memory 1))", "multi-memory"),
    ("(module (type (struct (field i32))))", "gc"),
    ("(module (memory 1 1 shared) (func (drop (memory.atomic.notify (i32.const 0) (i32.const 1)))))", "threads"),
])
def test_unsupported_proposals_are_named_not_crashed(text, feature):
    with pytest.raises(Unsupported) as info:
        load(wat(text))
    assert info.value.feature == feature


@pytest.mark.parametrize("wasm", [b"\0asm\x01\0\0\0\x01", b"\0asX\x01\0\0\0",
                                  wat("(module (func (result i32) (i64.const 0)))")])
def test_malformed_and_invalid_modules_are_rejected(wasm):
    with pytest.raises(ModuleRejected):
        load(wasm)
