;; assert_exception (exception handling): an uncaught exception escapes the call.
(module
  (tag $e (param i32))
  (func (export "throw") (param i32) (throw $e (local.get 0)))
  (func (export "catch") (param i32) (result i32)
    (block $h (result i32)
      (try_table (catch $e $h) (throw $e (local.get 0)))
      (i32.const -1))))
(assert_exception (invoke "throw" (i32.const 1)))
(assert_return (invoke "catch" (i32.const 9)) (i32.const 9))
