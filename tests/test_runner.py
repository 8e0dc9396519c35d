"""The runner reads scripts as the spec means them, and can fail.

Each case is a tiny script whose expectation is deliberately wrong (or
right); the wasmtime oracle runs it, and the row's status must say so.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.executors.wasmtime_exec import WasmtimeExecutor
from harness.runner import ScriptRunner
from harness.wast import load_script

MOD = """(module
  (global (export "g") i32 (i32.const 7))
  (memory 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "f32id") (param f32) (result f32) (local.get 0))
  (func (export "f32add") (param f32 f32) (result f32) (f32.add (local.get 0) (local.get 1)))
  (func (export "f64id") (param f64) (result f64) (local.get 0))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "vid") (param v128) (result v128) (local.get 0))
  (func $r (export "recurse") (call $r))
)
"""

# (name, directive line, expected status of that line's row)
CASES = [
    ("return ok", '(assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 5))', "pass"),
    ("wrong value", '(assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i32.const 6))', "wrong_result"),
    ("wrong type", '(assert_return (invoke "add" (i32.const 2) (i32.const 3)) (i64.const 5))', "wrong_result"),
    ("wrong arity", '(assert_return (invoke "add" (i32.const 2) (i32.const 3)))', "wrong_result"),
    ("float bits", '(assert_return (invoke "f32id" (f32.const -0.0)) (f32.const 0.0))', "wrong_result"),
    ("f64 bits ok", '(assert_return (invoke "f64id" (f64.const -0x1.8p+3)) (f64.const -12))', "pass"),
    ("snan payload kept", '(assert_return (invoke "f32id" (f32.const nan:0x200001)) (f32.const nan:0x200001))', "pass"),
    ("nan not canonical", '(assert_return (invoke "f32id" (f32.const nan:0x200001)) (f32.const nan:canonical))', "wrong_result"),
    ("signalling not arithmetic", '(assert_return (invoke "f32id" (f32.const nan:0x000001)) (f32.const nan:arithmetic))', "wrong_result"),
    ("canonical is arithmetic", '(assert_return (invoke "f32add" (f32.const nan) (f32.const 1)) (f32.const nan:arithmetic))', "pass"),
    ("number is no nan", '(assert_return (invoke "f32id" (f32.const 1)) (f32.const nan:arithmetic))', "wrong_result"),
    ("v128 lanes", '(assert_return (invoke "vid" (v128.const i16x8 1 2 3 4 5 6 7 8)) (v128.const i16x8 1 2 3 4 5 6 7 8))', "pass"),
    ("v128 wrong lane", '(assert_return (invoke "vid" (v128.const i16x8 1 2 3 4 5 6 7 8)) (v128.const i16x8 1 2 3 4 5 6 7 9))', "wrong_result"),
    ("v128 float lane nan", '(assert_return (invoke "vid" (v128.const f32x4 nan 1 2 3)) (v128.const f32x4 nan:canonical 1 2 3))', "pass"),
    ("either ok", '(assert_return (invoke "add" (i32.const 1) (i32.const 1)) (either (i32.const 3) (i32.const 2)))', "pass"),
    ("either wrong", '(assert_return (invoke "add" (i32.const 1) (i32.const 1)) (either (i32.const 3) (i32.const 4)))', "wrong_result"),
    ("get ok", '(assert_return (get "g") (i32.const 7))', "pass"),
    ("get wrong", '(assert_return (get "g") (i32.const 8))', "wrong_result"),
    ("return but traps", '(assert_return (invoke "div" (i32.const 1) (i32.const 0)) (i32.const 0))', "wrong_trap"),
    ("trap ok", '(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")', "pass"),
    ("trap wrong text", '(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer overflow")', "wrong_trap"),
    ("trap but returns", '(assert_trap (invoke "div" (i32.const 1) (i32.const 1)) "integer divide by zero")', "wrong_trap"),
    ("memory trap text", '(assert_trap (invoke "load" (i32.const 65535)) "out of bounds memory access")', "pass"),
    ("exhaustion ok", '(assert_exhaustion (invoke "recurse") "call stack exhausted")', "pass"),
    ("exhaustion is not a trap", '(assert_trap (invoke "recurse") "call stack exhausted")', "wrong_trap"),
    ("exhaustion but returns", '(assert_exhaustion (invoke "add" (i32.const 1) (i32.const 1)) "call stack exhausted")', "wrong_trap"),
    ("action traps", '(invoke "div" (i32.const 1) (i32.const 0))', "wrong_trap"),
    ("invalid ok", '(assert_invalid (module (func (result i32) (i64.const 0))) "type mismatch")', "pass"),
    ("invalid but valid", '(assert_invalid (module (func (result i32) (i32.const 0))) "type mismatch")', "wrong_result"),
    ("malformed ok", '(assert_malformed (module binary "\\00asm" "\\02\\00\\00\\00") "unknown binary version")', "pass"),
    ("malformed but fine", '(assert_malformed (module binary "\\00asm" "\\01\\00\\00\\00") "unknown binary version")', "wrong_result"),
    ("malformed text", '(assert_malformed (module quote "(func (i32.const 0x))") "unknown operator")', "pass"),
    ("unlinkable ok", '(assert_unlinkable (module (import "spectest" "nope" (func))) "unknown import")', "pass"),
    ("unlinkable but links", '(assert_unlinkable (module (import "spectest" "print" (func))) "unknown import")', "wrong_result"),
    ("unlinkable wrong reason", '(assert_unlinkable (module (import "spectest" "print_i32" (func (param i64)))) "unknown import")', "wrong_trap"),
    ("uninstantiable ok", '(assert_trap (module (func $f unreachable) (start $f)) "unreachable")', "pass"),
    ("uninstantiable but fine", '(assert_trap (module (func $f nop) (start $f)) "unreachable")', "wrong_result"),
    ("uninstantiable wrong text", '(assert_trap (module (memory 1) (data (i32.const 65536) "x")) "unreachable")', "wrong_trap"),
    ("exception but returns", '(assert_exception (invoke "add" (i32.const 1) (i32.const 1)))', "wrong_trap"),
    ("missing export", '(assert_return (invoke "nope"))', "harness_error"),
]


def run_script(tmp_path: Path, body: str) -> list[dict]:
    path = tmp_path / "case.wast"
    path.write_text(body)
    script = load_script(path)
    return list(ScriptRunner(script, WasmtimeExecutor(), {}).rows())


@pytest.mark.parametrize("name,directive,status", CASES, ids=[c[0] for c in CASES])
def test_directive_status(tmp_path, name, directive, status):
    rows = run_script(tmp_path, MOD + directive + "\n")
    assert rows[0]["kind"] == "module" and rows[0]["status"] == "pass"
    assert rows[-1]["status"] == status, rows[-1]


def test_exception_directive(tmp_path):
    body = """(module (tag $e) (func (export "t") (throw $e)) (func (export "n")))
(assert_exception (invoke "t"))
(assert_exception (invoke "n"))
"""
    rows = run_script(tmp_path, body)
    assert [r["status"] for r in rows] == ["pass", "pass", "wrong_trap"]


def test_registered_names_shadow(tmp_path):
    body = """(module (func (export "f") (result i32) (i32.const 1)))
(register "m")
(module (func (export "f") (result i32) (i32.const 2)))
(register "m")
(module (import "m" "f" (func $f (result i32))) (func (export "g") (result i32) (call $f)))
(assert_return (invoke "g") (i32.const 1))
"""
    rows = run_script(tmp_path, body)
    assert rows[-1]["status"] == "wrong_result" and rows[-1]["actual"] == "i32:2"


def test_named_modules_and_current_module(tmp_path):
    body = """(module $A (func (export "f") (result i32) (i32.const 1)))
(module $B (func (export "f") (result i32) (i32.const 2)))
(assert_return (invoke "f") (i32.const 2))
(assert_return (invoke $A "f") (i32.const 1))
(assert_return (invoke $A "f") (i32.const 2))
"""
    rows = run_script(tmp_path, body)
    assert [r["status"] for r in rows] == ["pass", "pass", "pass", "pass", "wrong_result"]


def test_rows_keep_file_and_line(tmp_path):
    rows = run_script(tmp_path, MOD + "\n\n" + CASES[1][1] + "\n")
    last = rows[-1]
    assert last["file"] == "case.wast"
    assert last["line"] == MOD.count("\n") + 3
    assert last["expected"] == "i32:6" and last["actual"] == "i32:5"


def test_crash_in_one_command_is_a_row_and_the_script_goes_on(tmp_path):
    body = MOD + '(assert_return (invoke "nope"))\n(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))\n'
    rows = run_script(tmp_path, body)
    assert [r["status"] for r in rows[-2:]] == ["harness_error", "pass"]


def test_a_pass_whose_call_the_trace_oracle_ended_without_a_trace_says_so(tmp_path):
    """STAND-IN oracle (test only): the reference interpreter that declines every call.  The reference executor's
    pass keeps its status, and its message says why nothing checked its trace; with the plain oracle it is empty."""
    from harness.executors import make_executor
    from harness.executors.base import Executor
    from reference_model.errors import Unsupported

    class Declining(Executor):
        name, config, traces = "declining-reference", "default", True

        def open_session(self):
            session = make_executor("reference").open_session()

            def invoke(instance, field, args, **kw):
                raise Unsupported("stand-in")

            session.invoke = invoke
            return session

    path = tmp_path / "case.wast"
    path.write_text('(module (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1))))\n'
                    '(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))\n')
    executor = make_executor("reference")
    for oracle, message in ((make_executor("reference"), ""),
                            (Declining(), "trace not checked: the trace oracle gave no trace "
                                          "(Unsupported: unsupported(stand-in))")):
        rows = list(ScriptRunner(load_script(path), executor, {}, oracle=oracle).rows())
        assert [r["status"] for r in rows] == ["pass", "pass"]
        assert rows[1]["message"] == message
