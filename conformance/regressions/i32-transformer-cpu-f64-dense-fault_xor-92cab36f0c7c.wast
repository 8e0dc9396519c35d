;; wasmconf fuzz regression: i32 case 92cab36f0c7c
;; found by: wasmconf fuzz --seconds 120 --generator i32 --executor transformer --config cpu-f64-dense-fault_xor --seed 7 --max-findings 1 --shrink-seconds 120 --regressions /tmp/fz/regs_fault --out /tmp/fz/run_fault  (seed 7)
;; executor: transformer  config: cpu-f64-dense-fault_xor
;; observed: wrong_result at call 1 f0(): expected i32:1, got i32:0
;; expectations below are wasmtime's outcomes
(module
  (type (;0;) (func (result i32)))
  (export "f0" (func 0))
  (func (;0;) (type 0) (result i32)
    (local i32 i32)
    i32.const 0
    i32.const 1
    i32.xor
  )
)
(assert_return (invoke "f0") (i32.const 1))
