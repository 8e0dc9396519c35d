"""The one table of cases: (name, wat module, export, args: ints are i32s, or Values).  Each runs on the
compiled transformer and on the reference interpreter; traces must be identical."""
from reference_model.values import Value, i64

MATH = """(module
  (func $sq (param i32) (result i32) local.get 0 local.get 0 i32.mul)
  (func (export "arith") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add local.get 1 i32.sub call $sq local.get 1 i32.xor
    i32.const 3 i32.rotl local.get 0 i32.shr_s i32.popcnt)
  (func (export "div_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func (export "rem_u") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_u)
  (func (export "cmp") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.lt_s local.get 0 local.get 1 i32.ge_u i32.add
    local.get 0 i32.clz i32.add local.get 1 i32.ctz i32.add local.get 0 i32.extend8_s i32.add))"""

CONTROL = """(module
  (global $g (mut i32) (i32.const 7))
  (func $fac (export "fac") (param i32) (result i32)
    local.get 0 i32.eqz if (result i32) i32.const 1 else local.get 0 local.get 0 i32.const 1 i32.sub call $fac i32.mul end)
  (func (export "loop") (param i32) (result i32) (local i32)
    block loop local.get 0 i32.eqz br_if 1 local.get 1 local.get 0 i32.add local.set 1
      local.get 0 i32.const 1 i32.sub local.tee 0 drop br 0 end end local.get 1)
  (func (export "table") (param i32) (result i32)
    block block block local.get 0 br_table 0 1 2 end i32.const 1 return end i32.const 2 return end i32.const 3)
  (func (export "glob") (param i32) (result i32)
    global.get $g local.get 0 i32.add global.set $g local.get 0 local.get 0 global.get $g select)
  (func (export "early") (param i32) (result i32) i32.const 5 local.get 0 br_if 0 drop i32.const 6)
  (func (export "trap") (param i32) (result i32) local.get 0 if unreachable end i32.const 1))"""

MEMORY = """(module
  (memory 1)
  (data (i32.const 16) "\\01\\82\\03\\f4\\05\\06\\87\\08")
  (func (export "loads") (param i32) (result i32)
    local.get 0 i32.load offset=16
    local.get 0 i32.load8_s offset=17 i32.xor
    local.get 0 i32.load8_u offset=17 i32.add
    local.get 0 i32.load16_s offset=18 i32.xor
    local.get 0 i32.load16_u offset=21 i32.add
    local.get 0 i32.load16_s offset=22 i32.add)
  (func (export "stores") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.store offset=40
    local.get 0 local.get 1 i32.store8 offset=45
    local.get 0 local.get 1 i32.store16 offset=50
    local.get 0 i32.load offset=40
    local.get 0 i32.load offset=44 i32.add
    local.get 0 i32.load offset=48 i32.add
    i32.const 3000 i32.load i32.add
    memory.size i32.add)
  (func (export "unaligned") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.store offset=1
    local.get 0 local.get 1 i32.store16 offset=11
    local.get 0 i32.load offset=2
    local.get 0 i32.load16_s offset=7 i32.xor
    local.get 0 i32.load offset=9 i32.add
    local.get 0 i32.load offset=12 i32.add)
  (func (export "oob") (param i32) (result i32) local.get 0 i32.load16_u offset=65534)
  (func (export "oob_store") (param i32) local.get 0 i32.const 7 i32.store8 offset=65535)
)"""

BULK = """(module
  (memory 1)
  (data (i32.const 0) "\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10")
  (func $sum (result i32)
    (i32.add (i32.load (i32.const 0)) (i32.rotl (i32.xor (i32.load (i32.const 4))
      (i32.rotl (i32.load (i32.const 8)) (i32.const 7))) (i32.const 13))))
  (func (export "fill") (param i32 i32 i32) (result i32)
    (memory.fill (local.get 0) (local.get 1) (local.get 2)) (call $sum))
  (func (export "copy") (param i32 i32 i32) (result i32)
    (memory.copy (local.get 0) (local.get 1) (local.get 2)) (call $sum))
)"""

INIT = """(module
  (memory 1)
  (data $p "\\aa\\bb\\cc\\dd\\ee")
  (data (i32.const 0) "\\01\\02\\03\\04\\05\\06\\07\\08")
  (func $sum (result i32)
    (i32.add (i32.load (i32.const 0)) (i32.rotl (i32.load (i32.const 4)) (i32.const 13))))
  (func (export "init") (param i32 i32 i32) (result i32)
    (memory.init $p (local.get 0) (local.get 1) (local.get 2)) (call $sum))
  (func (export "init_active") (param i32 i32 i32) (result i32)
    (memory.init 1 (local.get 0) (local.get 1) (local.get 2)) (call $sum))
  (func (export "drop_init") (param i32 i32 i32) (result i32)
    (data.drop $p) (memory.init $p (local.get 0) (local.get 1) (local.get 2)) (call $sum))
)"""

INDIRECT = """(module
  (type $ii (func (param i32) (result i32)))
  (type $ii2 (func (param i32) (result i32)))
  (type $v (func))
  (import "spectest" "print_i32" (func $print (param i32)))
  (table 8 funcref)
  (elem (i32.const 1) $double $fac $nop $wide $print)
  (func $double (type $ii) (i32.add (local.get 0) (local.get 0)))
  (func $fac (type $ii2) (local i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
      (else (i32.mul (local.get 0)
        (call_indirect (type $ii) (i32.sub (local.get 0) (i32.const 1)) (i32.const 2))))))
  (func $nop (type $v))
  (func $wide (param i64) (result i32) (i32.wrap_i64 (local.get 0)))
  (func (export "call") (param i32 i32) (result i32)
    (i32.add (i32.const 100) (call_indirect (type $ii) (local.get 1) (local.get 0))))
  (func (export "call_v") (param i32) (call_indirect (type $v) (local.get 0)))
)"""

GROW = """(module
  (memory 0 3)
  (func (export "grow") (param i32 i32) (result i32)
    (i32.add (i32.mul (memory.grow (local.get 0)) (i32.const 10)) (memory.size))
    (if (local.get 1) (then (i32.store8 (i32.const 65535) (i32.const 9))))
    (i32.add (i32.load8_u (i32.const 65535))))
)"""

TABLES = """(module
  (type $r (func (result i32)))
  (table $t0 6 funcref)
  (table $t1 4 funcref)
  (elem (table $t0) (i32.const 0) func $a $b $c)
  (elem $p func $c $a)
  (func $a (type $r) (i32.const 10))
  (func $b (type $r) (i32.const 20))
  (func $c (type $r) (i32.const 30))
  (func (export "copy0") (param i32 i32 i32 i32) (result i32)
    (table.copy $t0 $t0 (local.get 0) (local.get 1) (local.get 2)) (call_indirect $t0 (type $r) (local.get 3)))
  (func (export "copy10") (param i32 i32 i32 i32) (result i32)
    (table.copy $t1 $t0 (local.get 0) (local.get 1) (local.get 2)) (call_indirect $t1 (type $r) (local.get 3)))
  (func (export "init") (param i32 i32 i32 i32) (result i32)
    (table.init $t1 $p (local.get 0) (local.get 1) (local.get 2)) (call_indirect $t1 (type $r) (local.get 3)))
  (func (export "init_active") (param i32 i32 i32 i32) (result i32)
    (table.init $t1 0 (local.get 0) (local.get 1) (local.get 2)) (call_indirect $t1 (type $r) (local.get 3)))
  (func (export "drop_init") (param i32 i32 i32 i32) (result i32)
    (elem.drop $p) (table.init $t1 $p (local.get 0) (local.get 1) (local.get 2)) (call_indirect $t1 (type $r) (local.get 3)))
)"""

I64 = """(module
  (memory 1)
  (global $g (mut i64) (i64.const 0x1122334455667788))
  (func $f (param i64 i32) (result i64) (local i64)
    local.get 0 local.get 1 i64.extend_i32_s i64.mul local.tee 2 local.get 2 i64.const 13 i64.rotl i64.xor)
  (func (export "arith") (param i64 i64) (result i64)
    local.get 0 local.get 1 i64.add local.get 1 i64.sub i32.const -3 call $f local.get 1 i64.shr_s
    local.get 0 i64.clz i64.add local.get 1 i64.popcnt i64.add local.get 0 i64.shl)
  (func (export "cmp") (param i64 i64) (result i32)
    local.get 0 local.get 1 i64.lt_s local.get 0 local.get 1 i64.ge_u i32.add local.get 0 i64.eqz i32.add
    local.get 0 i32.wrap_i64 i32.add local.get 1 i64.extend32_s local.get 1 i64.ne i32.add)
  (func (export "mem") (param i32 i64) (result i64)
    local.get 0 local.get 1 i64.store offset=1 local.get 0 local.get 1 i64.store16 offset=9
    global.get $g local.get 0 i64.load offset=3 i64.add global.set $g
    local.get 0 i64.load32_s offset=2 global.get $g i64.xor local.get 0 i64.load8_u offset=8 i64.or)
  (func (export "branch") (param i64 i32) (result i64)
    block (result i64) local.get 0 local.get 1 br_if 0 drop i64.const -1 local.get 1 br_table 0 0 end
    i64.const 5 local.get 1 i32.const 2 i32.gt_u select)
  (func (export "div") (param i64 i64) (result i64) local.get 0 local.get 1 i64.div_s)
)"""

MULTI = """(module
  (func $swap (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (func (export "multi") (param i32 i64) (result i32 i64 i32)
    local.get 0 local.get 1 call $swap
    block (param i64 i32) (result i64 i32) local.get 0 br_if 0 drop drop i64.const 3 i32.const 4 end
    local.get 0 if (param i64 i32) (result i32) i64.extend_i32_u i64.add i32.wrap_i64 else drop drop i32.const -1 end
    local.get 1 local.get 0 local.get 0 br_table 0 0)
)"""

FLOATS = """(module
  (memory 1)
  (global $g (mut f64) (f64.const -0x1.8p+1))
  (global $h (mut f32) (f32.const nan:0x200001))
  (func $id (param f32 f64) (result f64 f32) local.get 1 local.get 0)
  (func (export "bits") (param f32 f64) (result i64) (local i64)
    local.get 0 local.get 1 call $id
    f32.neg f32.const -0x1p-149 f32.copysign f32.abs local.get 0 i32.const 1 select
    i32.reinterpret_f32 i64.extend_i32_u
    local.get 1 f64.neg f64.abs global.get $g f64.copysign i64.reinterpret_f64 i64.xor local.set 2
    i64.reinterpret_f64 local.get 2 i64.xor i64.const 7 i64.xor
    f64.reinterpret_i64 i64.reinterpret_f64)
  (func (export "mem") (param i32 f64) (result f64)
    local.get 0 local.get 1 f64.store offset=3
    local.get 0 global.get $h f32.store offset=13
    local.get 0 f32.const -inf f32.store offset=17
    local.get 0 i64.load offset=3 f64.reinterpret_i64 global.set $g
    local.get 0 f32.load offset=13 global.set $h
    local.get 0 f64.load offset=13 f64.neg)
  (func (export "sign") (param f64 f64) (result f64) local.get 0 local.get 1 f64.copysign)
  (func (export "cmp") (param f32 f32 f64 f64) (result i32)  ;; the 12 comparisons as bits 0-11
    local.get 0 local.get 1 f32.eq
    local.get 0 local.get 1 f32.ne i32.const 1 i32.shl i32.or
    local.get 0 local.get 1 f32.lt i32.const 2 i32.shl i32.or
    local.get 0 local.get 1 f32.gt i32.const 3 i32.shl i32.or
    local.get 0 local.get 1 f32.le i32.const 4 i32.shl i32.or
    local.get 0 local.get 1 f32.ge i32.const 5 i32.shl i32.or
    local.get 2 local.get 3 f64.eq i32.const 6 i32.shl i32.or
    local.get 2 local.get 3 f64.ne i32.const 7 i32.shl i32.or
    local.get 2 local.get 3 f64.lt i32.const 8 i32.shl i32.or
    local.get 2 local.get 3 f64.gt i32.const 9 i32.shl i32.or
    local.get 2 local.get 3 f64.le i32.const 10 i32.shl i32.or
    local.get 2 local.get 3 f64.ge i32.const 11 i32.shl i32.or)
)"""

REFS = """(module
  (type $ii (func (param i32) (result i32)))
  (table $t 4 funcref)
  (table $u 2 funcref)
  (elem (table $t) (i32.const 1) func $inc $dbl)
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func $pick (param funcref funcref i32) (result funcref) (select (result funcref) (local.get 0) (local.get 1) (local.get 2)))
  (func (export "refs") (param i32 i32) (result i32) (local funcref)
    (table.set $u (i32.const 1) (table.get $t (local.get 0)))
    (local.set 2 (call $pick (ref.func $inc) (ref.null func) (local.get 1)))
    (table.set $t (i32.const 3) (local.get 2))
    (i32.add (i32.add (ref.is_null (table.get $u (i32.const 1))) (ref.is_null (local.get 2)))
      (i32.add (i32.mul (table.size $t) (i32.const 100)) (table.size $u))))
  (func (export "call") (param i32 i32) (result i32)
    (table.set $t (i32.const 0) (table.get $t (local.get 0)))
    (call_indirect $t (type $ii) (local.get 1) (i32.const 0)))
  (func (export "get") (param i32) (result funcref) (table.get $t (local.get 0)))
  (func (export "set") (param i32 funcref) (table.set $u (local.get 0) (local.get 1)))
)"""

EXTERN = """(module
  (table $e 3 externref)
  (table $f 3 funcref)
  (elem (table $f) (i32.const 0) func $one)
  (func $one (result i32) i32.const 1)
  (func (export "ext") (param externref i32) (result externref) (local externref)
    (table.set $e (local.get 1) (local.get 0))
    (local.set 2 (table.get $e (i32.const 2)))
    (if (ref.is_null (local.get 2)) (then (local.set 2 (ref.null extern))))
    (table.get $e (i32.const 0)))
  (func (export "fill") (param i32 externref i32) (result i32)
    (table.fill $e (local.get 0) (local.get 1) (local.get 2))
    (table.fill $f (i32.const 1) (table.get $f (i32.const 0)) (i32.const 2))
    (i32.add (call_indirect $f (result i32) (i32.const 2))
      (i32.add (ref.is_null (table.get $e (i32.const 1))) (table.size $e))))
)"""

REF_GLOBALS = """(module
  (type $ii (func (param i32) (result i32)))
  (table $t 2 funcref)
  (global $f (mut funcref) (ref.func $inc))
  (global $g funcref (ref.func $dbl))
  (global $e (export "e") (mut externref) (ref.null extern))
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
  (func $dbl (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func (export "globals") (param externref i32 i32) (result i32)
    (table.set $t (i32.const 0) (global.get $f))
    (table.set $t (i32.const 1) (global.get $g))
    (i32.add (i32.mul (ref.is_null (global.get $e)) (i32.const 100))
      (call_indirect $t (type $ii) (local.get 1) (local.get 2)))
    (global.set $e (local.get 0))
    (global.set $f (global.get $g)))
  (func (export "get-e") (result externref) (global.get $e))
  (func (export "get-f") (result funcref) (global.get $f))
  (func (export "call-f") (param i32) (result i32)
    (table.set $t (i32.const 0) (global.get $f))
    (call_indirect $t (type $ii) (local.get 0) (i32.const 0)))
)"""

GROW_TABLES = """(module
  (type $ii (func (param i32) (result i32)))
  (table $t 1 funcref)
  (table $e 0 4 externref)
  (elem (table $t) (i32.const 0) func $inc)
  (func $inc (type $ii) (i32.add (local.get 0) (i32.const 1)))
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.func $inc) (local.get 0)))
  (func (export "growe") (param externref i32) (result i32) (table.grow $e (local.get 0) (local.get 1)))
  (func (export "size") (result i32) (i32.add (i32.mul (table.size $t) (i32.const 100)) (table.size $e)))
  (func (export "call") (param i32 i32) (result i32) (call_indirect $t (type $ii) (local.get 1) (local.get 0)))
  (func (export "gete") (param i32) (result externref) (table.get $e (local.get 0)))
  (func (export "sete") (param i32 externref) (table.set $e (local.get 0) (local.get 1)))
  (func (export "fill") (param i32 externref i32) (table.fill $e (local.get 0) (local.get 1) (local.get 2)))
  (func (export "grow-then") (param i32 i32) (result i32)
    (drop (table.grow $t (ref.null func) (local.get 0)))
    (call_indirect $t (type $ii) (i32.const 5) (local.get 1)))
  (func (export "grow-fill") (param externref i32 i32) (result i32)
    (local $old i32)
    (local.set $old (table.grow $e (ref.null extern) (local.get 1)))
    (table.fill $e (i32.const 0) (local.get 0) (local.get 2))
    (table.set $e (i32.sub (table.size $e) (i32.const 1)) (local.get 0))
    (i32.add (i32.mul (local.get $old) (i32.const 100))
      (i32.add (table.size $e) (ref.is_null (table.get $e (i32.const 0))))))
)"""

CASES = [
    ("add-sub-mul-xor-rotl-shr-popcnt", MATH, "arith", [123456789, 987654]),
    ("div_s negative", MATH, "div_s", [-7, 2]),
    ("div_s by zero traps", MATH, "div_s", [1, 0]),
    ("div_s overflow traps", MATH, "div_s", [-(2**31), -1]),
    ("rem_u", MATH, "rem_u", [0xFFFFFFFF, 10]),
    ("comparisons and bit counts", MATH, "cmp", [-200, 0x100]),
    ("recursive factorial", CONTROL, "fac", [5]),
    ("loop with br_if/tee", CONTROL, "loop", [4]),
    ("br_table middle", CONTROL, "table", [1]),
    ("br_table default", CONTROL, "table", [9]),
    ("globals and select", CONTROL, "glob", [3]),
    ("br_if to function label", CONTROL, "early", [1]),
    ("unreachable traps", CONTROL, "trap", [1]),
    ("loads: widths, signs, data segment", MEMORY, "loads", [0]),
    ("stores: widths, merged words, a word never written", MEMORY, "stores", [4, 0x8899AABB]),
    ("unaligned: loads and stores across two words", MEMORY, "unaligned", [16, 0x8899AABB]),
    ("unaligned: a store ending at a word's end", MEMORY, "unaligned", [19, 0x01020304]),
    ("load past the end traps", MEMORY, "oob", [1]),
    ("load at the last bytes", MEMORY, "oob", [0]),
    ("store past the end traps", MEMORY, "oob_store", [1]),
    ("load with a huge address traps", MEMORY, "loads", [-8]),
    ("fill: bytes across three words", BULK, "fill", [3, 0x1AB, 6]),
    ("fill: n = 0 writes nothing", BULK, "fill", [5, 7, 0]),
    ("fill: n = 0 at the memory's end", BULK, "fill", [65536, 1, 0]),
    ("fill past the end traps before writing", BULK, "fill", [65530, 1, 7]),
    ("copy: overlapping, forward (d < s)", BULK, "copy", [1, 3, 7]),
    ("copy: overlapping, backward (d > s)", BULK, "copy", [3, 1, 7]),
    ("copy: disjoint, backward", BULK, "copy", [9, 0, 3]),
    ("copy: n = 0 at the memory's end", BULK, "copy", [65536, 65536, 0]),
    ("copy: source past the end traps", BULK, "copy", [0, 65535, 2]),
    ("copy: destination past the end traps", BULK, "copy", [65535, 0, 2]),
    ("copy: a length that wraps 32 bits traps", BULK, "copy", [4, 0, -1]),
    ("init: a passive segment's bytes across two words", INIT, "init", [3, 1, 4]),
    ("init: n = 0 at the segment's end", INIT, "init", [0, 5, 0]),
    ("init: past the segment's end traps", INIT, "init", [0, 4, 2]),
    ("init: past the memory's end traps", INIT, "init", [65535, 0, 2]),
    ("init: an active segment is dropped, n = 0 runs", INIT, "init_active", [0, 0, 0]),
    ("init: an active segment is dropped, n = 1 traps", INIT, "init_active", [0, 0, 1]),
    ("init after data.drop: n = 0 runs", INIT, "drop_init", [0, 0, 0]),
    ("init after data.drop: n = 1 traps", INIT, "drop_init", [1, 0, 1]),
    ("call_indirect: a function of the table", INDIRECT, "call", [1, 21]),
    ("call_indirect: recursion through the table, an equal type", INDIRECT, "call", [2, 5]),
    ("call_indirect: no params, no results", INDIRECT, "call_v", [3]),
    ("call_indirect: a null element traps", INDIRECT, "call", [0, 1]),
    ("call_indirect: past the table's end traps", INDIRECT, "call", [8, 1]),
    ("call_indirect: a huge index traps", INDIRECT, "call", [-1, 1]),
    ("call_indirect: another type traps", INDIRECT, "call", [3, 1]),
    ("call_indirect: another type (i64 param) traps", INDIRECT, "call_v", [4]),
    ("call_indirect: an imported function of another type traps", INDIRECT, "call_v", [5]),
    ("memory.grow: 0 -> 1 page, then a store at its last byte", GROW, "grow", [1, 1]),
    ("memory.grow by 0: the old size, a load past the end traps", GROW, "grow", [0, 0]),
    ("memory.grow past the maximum fails with -1", GROW, "grow", [4, 0]),
    ("table.copy: overlapping, backward (d > s)", TABLES, "copy0", [1, 0, 3, 3]),
    ("table.copy: overlapping, forward (d < s)", TABLES, "copy0", [0, 1, 2, 1]),
    ("table.copy: null elements copy as null", TABLES, "copy0", [0, 3, 3, 0]),
    ("table.copy: past the table's end traps", TABLES, "copy0", [4, 0, 3, 0]),
    ("table.copy: between two tables", TABLES, "copy10", [1, 0, 3, 2]),
    ("table.copy: a source past its end traps", TABLES, "copy10", [2, 4, 3, 0]),
    ("table.init: a passive segment", TABLES, "init", [0, 0, 2, 1]),
    ("table.init: from the segment's middle", TABLES, "init", [2, 1, 1, 2]),
    ("table.init: past the segment's end traps", TABLES, "init", [0, 1, 2, 0]),
    ("table.init: an active segment is dropped", TABLES, "init_active", [0, 0, 1, 0]),
    ("table.init after elem.drop: n = 0 runs", TABLES, "drop_init", [0, 0, 0, 0]),
    ("table.init after elem.drop: n = 1 traps", TABLES, "drop_init", [0, 0, 1, 0]),
    ("i64: add/sub/mul/rotl/xor/shr_s/clz/popcnt/shl, a call, i64 locals", I64, "arith",
     [i64(0x123456789ABCDEF0), i64(-0x3000000007)]),
    ("i64: comparisons, eqz, wrap, extend32_s, ne", I64, "cmp", [i64(-5), i64(0x180000000)]),
    ("i64: unaligned stores and loads, an i64 global", I64, "mem", [6, i64(0x8877665544332211)]),
    ("i64: store past the end traps before writing", I64, "mem", [65530, i64(1)]),
    ("i64: block result, br_if taken", I64, "branch", [i64(0x700000001), 1]),
    ("i64: br_table with a value, select", I64, "branch", [i64(0x700000001), 0]),
    ("i64: br_if not taken, select", I64, "branch", [i64(0x700000001), 3]),
    ("multi-value: call, block and if with parameters, br_if, br_table and return of three values", MULTI,
     "multi", [2, i64(0x500000007)]),
    ("multi-value: the other arms", MULTI, "multi", [0, i64(9)]),
    ("i64: division by zero traps", I64, "div", [i64(1), i64(0)]),
    ("i64: INT64_MIN / -1 traps", I64, "div", [i64(-(2**63)), i64(-1)]),
    ("floats as bits: consts, a call, neg/abs/copysign, select, reinterpret, globals", FLOATS, "bits",
     [Value("f32", 0x7FA00001), Value("f64", 0x8000000000000001)]),
    ("floats as bits: unaligned f64/f32 stores and loads, a NaN payload kept", FLOATS, "mem",
     [5, Value("f64", 0xFFF4000000000321)]),
    ("floats as bits: f64.store past the end traps before writing", FLOATS, "mem", [65530, Value("f64", 1)]),
    ("funcref: table.get/set between tables, ref.func through a call and select, ref.is_null, table.size",
     REFS, "refs", [2, 1]),
    ("funcref: the same with a null element and ref.null selected", REFS, "refs", [0, 0]),
    ("funcref: a table.set element called through call_indirect", REFS, "call", [2, 21]),
    ("funcref: table.get past the end traps", REFS, "get", [4]),
    ("funcref: table.get with a huge index traps", REFS, "get", [-1]),
    ("funcref: a funcref result", REFS, "get", [1]),
    ("funcref: table.set past the end traps", REFS, "set", [2, Value("funcref", None)]),
    ("funcref: table.set of a null parameter", REFS, "set", [1, Value("funcref", None)]),
    ("externref: table.set of a parameter, table.get, ref.null extern, an externref result", EXTERN, "ext",
     [Value("externref", 7), 0]),
    ("externref: a null result", EXTERN, "ext", [Value("externref", 7), 1]),
    ("externref: table.set past the end traps", EXTERN, "ext", [Value("externref", 7), 3]),
    ("table.fill: externref and funcref tables, the funcref filled is called", EXTERN, "fill",
     [1, Value("externref", 0xABCDEF), 2]),
    ("table.fill: n = 0 at the table's end", EXTERN, "fill", [3, Value("externref", 5), 0]),
    ("table.fill: past the end traps before writing", EXTERN, "fill", [2, Value("externref", 5), 2]),
    ("reference globals: funcref globals into a table and called, an externref global set", REF_GLOBALS,
     "globals", [Value("externref", 9), 20, 0]),
    ("reference globals: the immutable funcref global called", REF_GLOBALS, "globals", [Value("externref", None), 20, 1]),
    ("reference globals: an externref global's initial null, a funcref global's function", REF_GLOBALS, "get-f", []),
    ("table.grow: a funcref table grown, then an old element called", GROW_TABLES, "grow-then", [2, 0]),
    ("table.grow: a new null element traps uninitialized", GROW_TABLES, "grow-then", [2, 2]),
    ("table.grow: past the new size traps undefined", GROW_TABLES, "grow-then", [2, 3]),
    ("table.grow: by 0, the old size still bounds call_indirect", GROW_TABLES, "grow-then", [0, 1]),
    ("table.grow: an externref table grown, filled, set at its new end, table.size", GROW_TABLES, "grow-fill",
     [Value("externref", 3), 3, 2]),
    ("table.grow: past the maximum fails with -1; fill past the size traps", GROW_TABLES, "grow-fill",
     [Value("externref", 3), 5, 1]),
    ("table.grow: a length that wraps 32 bits fails with -1", GROW_TABLES, "grow", [-16]),
    ("floats as bits: copysign of a NaN's sign onto -0", FLOATS, "sign",
     [Value("f64", 0x8000000000000000), Value("f64", 0x7FF8000000000000)]),
]

# float comparisons (wide.FLOAT_COMPARE): long microcode, run on cpu-f64-hull (test_transformer.py)
FLOAT_CMP = [
    ("float comparisons: -0 == +0 (f32 and f64)", FLOATS, "cmp",
     [Value("f32", 0x80000000), Value("f32", 0), Value("f64", 0x8000000000000000), Value("f64", 0)]),
    ("float comparisons: a NaN is unordered (quiet f32, f64 NaN only in its low word)", FLOATS, "cmp",
     [Value("f32", 0x7FC00000), Value("f32", 0x7FC00000), Value("f64", 0x7FF0000000000001), Value("f64", 0)]),
    ("float comparisons: negative NaN against -inf, f64 equal NaN bits", FLOATS, "cmp",
     [Value("f32", 0xFF800001), Value("f32", 0xFF800000), Value("f64", 0xFFF8000000000000),
      Value("f64", 0xFFF8000000000000)]),
    ("float comparisons: negatives ordered by magnitude; f64 differing in the low word only", FLOATS, "cmp",
     [Value("f32", 0xBF800000), Value("f32", 0xBF800001), Value("f64", 0xC000000000000002),
      Value("f64", 0xC000000000000001)]),
    ("float comparisons: +inf against the largest finite; positive f64 low words", FLOATS, "cmp",
     [Value("f32", 0x7F800000), Value("f32", 0x7F7FFFFF), Value("f64", 0x3FF0000000000001),
      Value("f64", 0x3FF0000080000000)]),
    ("float comparisons: a subnormal against -0; equal f64", FLOATS, "cmp",
     [Value("f32", 1), Value("f32", 0x80000000), Value("f64", 0x0000000100000000), Value("f64", 0x0000000100000000)]),
    ("float comparisons: -inf against a negative f64 and infinities", FLOATS, "cmp",
     [Value("f32", 0xFF800000), Value("f32", 0x3F800000), Value("f64", 0xFFF0000000000000),
      Value("f64", 0x7FF0000000000000)]),
]
