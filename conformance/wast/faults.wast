;; The negative-control script: small commands each planted fault in
;; reference_model/faults.py breaks (tests/test_faults.py, docs/faults.md).
;; On a healthy model every command passes.
(module
  (func (export "xor") (param i32 i32) (result i32) (i32.xor (local.get 0) (local.get 1)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "sum") (param i32) (result i32) (local i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br 0)))
    (local.get 1))
)
(assert_return (invoke "xor" (i32.const 12) (i32.const 10)) (i32.const 6))
(assert_return (invoke "add" (i32.const 40000) (i32.const 2)) (i32.const 40002))
(assert_trap (invoke "div" (i32.const 7) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 0x80000000) (i32.const -1)) "integer overflow")
(assert_return (invoke "sum" (i32.const 5)) (i32.const 15))
