;; Batch invariance with padding: the first module is longer than the second,
;; so when the second's calls run as needles in batches (`--batch 1,4`), the
;; earlier, longer prompts around them make them left-padded.  Every command
;; must give the same trace at every batch size (the padmask fault breaks
;; exactly that: tests/test_faults.py).
(module
  (func (export "sum") (param i32) (result i32) (local i32)
    (block (loop
      (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br 0)))
    (local.get 1))
  (func (export "mix") (param i32 i32) (result i32)
    (i32.xor (i32.mul (local.get 0) (i32.const 31)) (i32.rotl (local.get 1) (i32.const 7))))
)
(assert_return (invoke "sum" (i32.const 4)) (i32.const 10))
(assert_return (invoke "mix" (i32.const 3) (i32.const 5)) (i32.const 733))
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "sub") (param i32 i32) (result i32) (i32.sub (local.get 0) (local.get 1)))
)
(assert_return (invoke "add" (i32.const 40000) (i32.const 2)) (i32.const 40002))
(assert_return (invoke "sub" (i32.const 7) (i32.const 9)) (i32.const -2))
(assert_return (invoke "add" (i32.const -1) (i32.const 1)) (i32.const 0))
