"""Differential fuzzing: generated modules through every executor and config.

``generate``  hypothesis strategies of FuzzCases: wasm-smith modules, i32-only
              structured programs, long-running loops; edge-biased arguments
``compare``   one case through wasmtime (the oracle), the reference
              interpreter and the executors under test, via the Session
              interface; one result row per (call, executor)
``shrink``    a failing case made small (hypothesis, then ``wasm-tools
              shrink``) and saved as a .wast regression script
``campaign``  a time-boxed run of the three, as ``wasmconf fuzz`` drives it
``case``      what the stages hand each other (Call, FuzzCase)
"""
