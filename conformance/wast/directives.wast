;; One of each script directive, all expected to pass on a conforming executor.

;; module (text), action, assert_return on every number type
(module $M1
  (global $g (export "g") (mut i32) (i32.const 7))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "set-g") (param i32) (global.set $g (local.get 0)))
  (func (export "wide") (param i64) (result i64) (i64.mul (local.get 0) (i64.const 3)))
  (func (export "half") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 0.5)))
  (func (export "neg") (param f64) (result f64) (f64.neg (local.get 0)))
  (func (export "nan-sum") (param f32 f32) (result f32) (f32.add (local.get 0) (local.get 1)))
  (func (export "two") (result i32 i64) (i32.const 1) (i64.const -1))
)
(assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 5))
(assert_return (invoke "add" (i32.const 0x7fffffff) (i32.const 1)) (i32.const 0x80000000))
(assert_return (invoke "wide" (i64.const 0x1000000000)) (i64.const 0x3000000000))
(assert_return (invoke "half" (f32.const 3.0)) (f32.const 1.5))
(assert_return (invoke "neg" (f64.const -0x0p+0)) (f64.const 0x0p+0))
(assert_return (invoke "nan-sum" (f32.const nan) (f32.const 1.0)) (f32.const nan:canonical))
(assert_return (invoke "nan-sum" (f32.const nan:0x200000) (f32.const 1.0)) (f32.const nan:arithmetic))
(assert_return (invoke "two") (i32.const 1) (i64.const -1))
(assert_return (invoke "add" (i32.const 1) (i32.const 1)) (either (i32.const 2) (i32.const 3)))
(assert_return (get "g") (i32.const 7))
(invoke "set-g" (i32.const 42))
(assert_return (get "g") (i32.const 42))
(assert_return (get $M1 "g") (i32.const 42))

;; module (binary), register, imports from a registered module
(module binary
  "\00asm" "\01\00\00\00"
  "\01\05\01\60\00\01\7f"                  ;; type: [] -> [i32]
  "\03\02\01\00"                           ;; one function of type 0
  "\07\08\01\04\66\6f\72\74\00\00"         ;; export "fort" = func 0
  "\0a\06\01\04\00\41\2a\0b"               ;; body: i32.const 42
)
(assert_return (invoke "fort") (i32.const 42))
(register "lib")
(module (import "lib" "fort" (func $f (result i32)))
  (func (export "twice") (result i32) (i32.add (call $f) (call $f))))
(assert_return (invoke "twice") (i32.const 84))

;; name shadowing: a later register of the same name replaces the earlier one
(module (func (export "fort") (result i32) (i32.const 7)))
(register "lib")
(module (import "lib" "fort" (func $f (result i32)))
  (func (export "once") (result i32) (call $f)))
(assert_return (invoke "once") (i32.const 7))

;; register by module name, and the spectest host module
(module $Named (func (export "id") (param i32) (result i32) (local.get 0)))
(register "named" $Named)
(module
  (import "named" "id" (func $id (param i32) (result i32)))
  (import "spectest" "print_i32" (func $print (param i32)))
  (import "spectest" "global_i32" (global $g i32))
  (import "spectest" "memory" (memory 1 2))
  (import "spectest" "table" (table 10 20 funcref))
  (func (export "g666") (result i32) (call $print (i32.const 1)) (call $id (global.get $g))))
(assert_return (invoke "g666") (i32.const 666))
(assert_return (invoke $Named "id" (i32.const -5)) (i32.const -5))

;; v128 through the host boundary
(module (func (export "vadd") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1))))
(assert_return (invoke "vadd" (v128.const i32x4 1 2 3 4) (v128.const i32x4 10 20 30 0xffffffff))
               (v128.const i32x4 11 22 33 3))

;; module definitions and instances
(module definition $D (func (export "seven") (result i32) (i32.const 7)))
(module instance $I1 $D)
(assert_return (invoke $I1 "seven") (i32.const 7))
