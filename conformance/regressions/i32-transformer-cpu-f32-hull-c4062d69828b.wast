;; wasmconf fuzz regression: i32 case c4062d69828b
;; found by: wasmconf fuzz --seconds 600 --executor reference,transformer --configs cpu-f64-hull,cpu-f32-hull --generator i32 --seed 11 --max-steps 500 --shrink-seconds 60 --regressions /tmp/fuzz10_regr --out /tmp/fuzz10 -q  (seed 11)
;; executor: transformer  config: cpu-f32-hull
;; observed: tie_break at call 1 f0(): expected i32:1, got i32:0 (near tie: head L2.h1:mem.T1 at step 1 (token 11) selected position 118 by 6 eps; wrong_result)
;; expectations below are wasmtime's outcomes
(module
  (type (;0;) (func (result i32)))
  (export "f0" (func 0))
  (func (;0;) (type 0) (result i32)
    (local i32 i32)
    i32.const 0
    i32.eqz
  )
)
(assert_return (invoke "f0") (i32.const 1))
