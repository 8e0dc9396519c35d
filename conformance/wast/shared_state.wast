;; Memories and tables shared between instances: what one instance writes, the others read, and segments
;; written before a trap at instantiation persist (the trace oracle must follow them too).
(module $M
  (memory (export "mem") 1 3)
  (table (export "tab") 2 4 funcref)
  (func $seven (result i32) (i32.const 7))
  (elem (i32.const 0) $seven)
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "call") (param i32) (result i32) (call_indirect (result i32) (local.get 0)))
  (func (export "tsize") (result i32) (table.size)))
(register "M" $M)

(module $U
  (import "M" "mem" (memory 1))
  (import "M" "tab" (table 2 funcref))
  (func $nine (result i32) (i32.const 9))
  (elem (i32.const 1) $nine)
  (data (i32.const 10) "\2a")
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "tgrow") (param i32) (result i32) (table.grow (ref.null func) (local.get 0))))

(assert_return (invoke $M "load" (i32.const 10)) (i32.const 42))
(assert_return (invoke $M "call" (i32.const 1)) (i32.const 9))
(invoke $U "store" (i32.const 11) (i32.const 5))
(assert_return (invoke $M "load" (i32.const 11)) (i32.const 5))
(assert_return (invoke $U "grow" (i32.const 3)) (i32.const -1))
(assert_return (invoke $U "grow" (i32.const 1)) (i32.const 1))
(assert_return (invoke $M "size") (i32.const 2))
(assert_return (invoke $U "tgrow" (i32.const 1)) (i32.const 2))
(assert_return (invoke $M "tsize") (i32.const 3))
;; links against the sizes the calls left
(module (import "M" "mem" (memory 2)) (import "M" "tab" (table 3 funcref)))

;; the first segment is written, the second is out of bounds
(assert_trap
  (module
    (import "M" "mem" (memory 1))
    (data (i32.const 12) "\63")
    (data (i32.const 131070) "zzzz"))
  "out of bounds memory access")
(assert_return (invoke $M "load" (i32.const 12)) (i32.const 99))
(assert_trap
  (module
    (import "M" "tab" (table 1 funcref))
    (func $eleven (result i32) (i32.const 11))
    (elem (i32.const 2) $eleven)
    (elem (i32.const 3) $eleven))
  "out of bounds table access")
(assert_return (invoke $M "call" (i32.const 2)) (i32.const 11))

;; spectest's memory is one memory for every module that imports it
(module (import "spectest" "memory" (memory 1)) (data (i32.const 4) "\07"))
(module $S (import "spectest" "memory" (memory 1)) (func (export "get") (result i32) (i32.load8_u (i32.const 4))))
(assert_return (invoke $S "get") (i32.const 7))
