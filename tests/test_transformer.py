"""Compiled transformer == reference interpreter, over the shared case table (fast)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from harness.executors.reference import ReferenceExecutor
from harness.executors.transformer import TransformerExecutor
from reference_model.errors import ExecutorOutcome, Unsupported
from reference_model.values import Value, i32, i64
from transformer_cases import CASES, CONTROL, FLOAT_CMP, GROW_TABLES, MATH, REF_GLOBALS

ROOT = Path(__file__).resolve().parent.parent


def _outcome(session, wasm, export, args):
    inst = session.instantiate(wasm)
    try:
        inv = session.invoke(inst, export, [i32(a) if isinstance(a, int) else a for a in args])
        return ("ok", inv.values, inv.trace)
    except ExecutorOutcome as e:
        return (type(e).__name__, e.message, getattr(e, "trace", None))


@pytest.fixture(scope="module")
def sessions():
    return TransformerExecutor("cpu-f64-dense").open_session(), ReferenceExecutor().open_session()


@pytest.mark.parametrize("name,wat,export,args", CASES, ids=[c[0] for c in CASES])
def test_compiled_model_matches_reference(sessions, name, wat, export, args):
    _assert_matches(sessions, wat, export, args)


def _assert_matches(sessions, wat, export, args):
    """The model's outcome and trace are the reference interpreter's, record for record."""
    model, ref = sessions
    wasm = wasmtime.wat2wasm(wat)
    got, want = _outcome(model, wasm, export, args), _outcome(ref, wasm, export, args)
    assert got[:2] == want[:2]
    assert [r.canonical() for r in got[2] or []] == [r.canonical() for r in want[2] or []]


@pytest.fixture(scope="module")
def hull_sessions():
    return TransformerExecutor("cpu-f64-hull").open_session(), ReferenceExecutor().open_session()


@pytest.mark.parametrize("name,wat,export,args", FLOAT_CMP, ids=[c[0] for c in FLOAT_CMP])
def test_float_comparisons_match_reference(hull_sessions, name, wat, export, args):
    """The 12 float comparisons as microcode on the bits (NaNs unordered, -0 == +0, sign-magnitude order),
    packed into one i32: the reference interpreter's result and trace.  On cpu-f64-hull: each call is about a
    thousand steps, minutes on the dense path (hull == dense is issue 5's equivalence test)."""
    _assert_matches(hull_sessions, wat, export, args)


def test_reference_globals_keep_their_values_between_calls():
    """A funcref / externref global set by one call holds that value in the next (the executor keeps the
    trace's payload and lays out its element word), and an exported one reads back: the same values and
    traces as the reference interpreter, call after call."""
    model, ref = TransformerExecutor("cpu-f64-hull").open_session(), ReferenceExecutor().open_session()
    wasm = wasmtime.wat2wasm(REF_GLOBALS)
    insts = [s.instantiate(wasm) for s in (model, ref)]
    calls = [("get-e", []), ("globals", [Value("externref", 9), i32(20), i32(0)]), ("get-e", []), ("get-f", []),
             ("call-f", [i32(20)]), ("globals", [Value("externref", None), i32(5), i32(0)]), ("get-e", [])]
    for export, args in calls:
        got, want = (s.invoke(i, export, args) for s, i in zip((model, ref), insts))
        assert got.values == want.values, export
        assert [r.canonical() for r in got.trace] == [r.canonical() for r in want.trace], export
    assert model.get(insts[0], "e") == ref.get(insts[1], "e") == Value("externref", None)
    assert got.values == [Value("externref", None)] and want.values == got.values


def test_grown_tables_keep_their_size_and_elements_between_calls():
    """table.grow's new size and elements persist (the decoder reads the size cells and the new elements'
    cells; the executor extends its tables), and every later call checks against the new size: the same
    values and traces as the reference interpreter, call after call."""
    model, ref = TransformerExecutor("cpu-f64-hull").open_session(), ReferenceExecutor().open_session()
    wasm = wasmtime.wat2wasm(GROW_TABLES)
    insts = [s.instantiate(wasm) for s in (model, ref)]
    ext = lambda p: Value("externref", p)  # noqa: E731
    calls = [("call", [1, 7]), ("grow", [2]), ("size", []), ("call", [2, 7]), ("call", [3, 7]),
             ("growe", [ext(5), 3]), ("gete", [2]), ("gete", [3]), ("sete", [1, ext(9)]), ("gete", [1]),
             ("growe", [ext(6), 2]), ("growe", [ext(6), 1]), ("gete", [3]), ("fill", [3, ext(1), 2]),
             ("grow-then", [1, 3]), ("size", []), ("grow", [0]), ("size", [])]
    for export, args in calls:
        args = [i32(a) if isinstance(a, int) else a for a in args]
        got, want = (_outcome_on(s, i, export, args) for s, i in zip((model, ref), insts))
        assert got == want, (export, args)
    assert got[1] == [i32(404)]  # tables of 4 and 4 elements


def test_a_table_size_no_grow_leaves_is_not_expanded():
    """A faulty model may write any word to a size cell: the decoder lists no elements for a size past the
    table cells (a size of 2^32 - 1 once made a 4-billion-entry dict and the executor process was killed),
    and the executor makes the tables unknown instead of growing them."""
    from harness.executors.transformer import ModuleInstance, Table
    from reference_model.compiler import vocabulary as vocab
    from reference_model.program.decoding import _grown
    from reference_model.program.encoding import ProgramPrompt

    prompt = ProgramPrompt([], [], 0, 0, 0, cells={vocab.TABLE_BASE: 1},
                           table_cells=[(vocab.TABLE_BASE, vocab.TABLE_BASE + 1, "externref")])
    assert _grown(prompt, {vocab.TABLE_BASE: 0xFFFFFFFF}) == [(0xFFFFFFFF, {})]
    assert _grown(prompt, {vocab.TABLE_BASE: 3, vocab.TABLE_BASE + 2: 8}) == [(3, {1: 7, 2: None})]
    assert _grown(prompt, {vocab.TABLE_BASE: 1}) == [None]
    from reference_model.program.binary import decode_module

    inst = ModuleInstance(decode_module(wasmtime.wat2wasm("(module (table 1 externref))")), {})
    inst.tables, inst.table_types = [Table([None])], ["externref"]
    inst.grow_tables([(0xFFFFFFFF, {})])
    assert inst.tables == [[None]] and inst.any_unknown()
    assert inst.unknown_reason({"tables"}).endswith("a call left table 0 with 4294967295 elements")


def test_a_trace_past_the_recency_range_is_unsupported(monkeypatch):
    """The memory keys tell the most recent write apart for 2^22 positions only (2^25 on -long): a call whose
    trace would pass them stops there as unsupported (never a result past the range); calls inside it run.
    The ranges are made small here (the real ones are 4.2M and 33.5M tokens)."""
    import harness.executors.transformer as tx

    s = TransformerExecutor("cpu-f64-hull").open_session()
    inst = s.instantiate(wasmtime.wat2wasm(CONTROL))
    assert s.invoke(inst, "loop", [i32(4)]).values == [i32(10)]
    monkeypatch.setattr(tx, "RECENCY_POSITIONS", 900)
    assert s.invoke(inst, "loop", [i32(2)]).values == [i32(3)]  # ~480 positions
    with pytest.raises(Unsupported, match="past 900 positions"):
        s.invoke(inst, "loop", [i32(9)])
    monkeypatch.setattr(tx, "RECENCY_POSITIONS", 100)  # not even the prompt fits
    with pytest.raises(Unsupported, match="past 100 positions.*ending in -long"):
        s.invoke(inst, "loop", [i32(1)])
    long = TransformerExecutor("cpu-f64-hull-long").open_session()  # split keys, T = 2^25: its own range
    inst = long.instantiate(wasmtime.wat2wasm(CONTROL))
    assert long.invoke(inst, "loop", [i32(9)]).values == [i32(45)]
    monkeypatch.setattr(tx, "LONG_POSITIONS", 900)
    with pytest.raises(Unsupported, match=r"past 900 positions[^;]*\)$"):
        long.invoke(inst, "loop", [i32(9)])


def _outcome_on(session, inst, export, args):
    try:
        inv = session.invoke(inst, export, args)
        return ("ok", inv.values, [r.canonical() for r in inv.trace])
    except ExecutorOutcome as e:
        return (type(e).__name__, e.message, [r.canonical() for r in getattr(e, "trace", None) or []])


@pytest.mark.parametrize("config", ["cpu-f32-dense", "cpu-f64-hull"])
def test_memory_grow_and_size_in_both_dtypes(config):
    """memory.grow's checks are sums under 2^21, exact in float32 too (a 2^34 switch-off inside them lost
    the new size in float32: memory_size.wast's rows after a grow read the old size)."""
    s = TransformerExecutor(config).open_session()
    inst = s.instantiate(wasmtime.wat2wasm("""(module (memory 0 100)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) memory.size))"""))
    for n, old, size in ((1, 0, 1), (2, 1, 3), (0, 3, 3), (-1, -1, 3), (65536, -1, 3), (0x10001, -1, 3),
                         (97, 3, 100), (1, -1, 100)):  # (n >= 2^16 fails whatever its low 16 bits)
        assert s.invoke(inst, "grow", [i32(n)]).values == [i32(old)], n
        assert s.invoke(inst, "size", []).values == [i32(size)], n


def test_unsupported_is_classified_before_running():
    s = TransformerExecutor("cpu-f64-dense").open_session()
    inst = s.instantiate(wasmtime.wat2wasm('(module (func (export "f") (result f64) f64.const 1 f64.const 2 f64.add))'))
    with pytest.raises(Unsupported, match="floats"):  # float arithmetic (floats as bits run)
        s.invoke(inst, "f", [])
    # a memory of any size: memory.grow and memory.size run past the first page, an access past the first
    # 64 KiB stops there (FAR), unsupported, and leaves the memory unknown
    inst = s.instantiate(wasmtime.wat2wasm("""(module (memory 1)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) memory.size)
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
      (func (export "store") (param i32) (i32.store8 offset=2 (local.get 0) (i32.const 7))))"""))
    assert _outcome_on(s, inst, "grow", [i32(2)])[:2] == ("ok", [i32(1)])
    assert _outcome_on(s, inst, "size", [])[:2] == ("ok", [i32(3)])
    assert _outcome_on(s, inst, "store", [i32(65533)])[0] == "ok"  # byte 65535: the last of the first page
    assert _outcome_on(s, inst, "load", [i32(65532)])[:2] == ("ok", [i32(7 << 24)])
    for addr in (196605, -1):  # past the 3 pages: traps
        assert _outcome_on(s, inst, "load", [i32(addr)])[:2] == ("Trap", "out of bounds memory access"), addr
    with pytest.raises(Unsupported, match="i32.load past the first 64 KiB"):  # bytes 65533..65536
        s.invoke(inst, "load", [i32(65533)])
    assert _outcome_on(s, inst, "size", [])[:2] == ("ok", [i32(3)])  # (a load writes nothing)
    with pytest.raises(Unsupported, match="i32.store8 past the first 64 KiB"):  # byte 65536
        s.invoke(inst, "store", [i32(65534)])
    with pytest.raises(Unsupported, match="memory unknown"):
        s.invoke(inst, "size", [])
    inst = s.instantiate(wasmtime.wat2wasm('(module (memory 2) (func (export "f") (result i32) memory.size))'))
    assert s.invoke(inst, "f", []).values == [i32(2)]
    # a call_indirect that reaches a function the model cannot run stops there, unsupported (the model
    # jumped to a halt slot of its own); other elements of the same table still run
    inst = s.instantiate(wasmtime.wat2wasm("""(module (table 2 funcref) (elem (i32.const 0) $wide $ok)
      (func $wide (param i32) (result i32) (i32.trunc_f32_s (f32.convert_i32_s (local.get 0))))
      (func $ok (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func (export "f") (param i32) (result i32) (call_indirect (param i32) (result i32) (i32.const 7) (local.get 0))))"""))
    with pytest.raises(Unsupported, match=r"call_indirect to a function not run here \(conversions\)"):
        s.invoke(inst, "f", [i32(0)])
    assert s.invoke(inst, "f", [i32(1)]).values == [i32(8)]


def test_state_is_unknown_after_an_unsupported_call_that_may_write_it():
    """A call that did not run here but would have written memory leaves the instance's memory unknown:
    later calls that use memory are unsupported rather than results for a state the module is not in;
    calls that do not use it still run."""
    s = TransformerExecutor("cpu-f64-hull").open_session()
    wat = """(module (memory 1)
      (func (export "get") (result i32) i32.const 0 i32.load)
      (func (export "pure64") (result f64) f64.const 1 f64.const 1 f64.mul)
      (func (export "pure") (result i32) i32.const 7)
      (func (export "set64") (param f64) i32.const 0 local.get 0 f64.sqrt f64.store))"""
    inst = s.instantiate(wasmtime.wat2wasm(wat))
    with pytest.raises(Unsupported, match="floats"):
        s.invoke(inst, "pure64", [])  # writes nothing: the state is still known
    assert s.invoke(inst, "get", []).values == [i32(0)]
    with pytest.raises(Unsupported):
        s.invoke(inst, "set64", [Value("f64", 5)])
    with pytest.raises(Unsupported, match="memory unknown"):
        s.invoke(inst, "get", [])
    assert s.invoke(inst, "pure", []).values == [i32(7)]


def test_unknown_config_is_a_clear_error():
    with pytest.raises(ValueError, match="DEVICE-DTYPE-BACKEND"):
        TransformerExecutor("tpu-f64-dense")


# the attention package (tied-value sum, hull kernels) knows nothing of wasm either
GENERIC_IMPORTS = {
    "transformer.py": {"__future__", "importlib", "warnings", "weakref", "dataclasses", "typing", "numpy", "torch",
                       "concurrent.futures", "reference_model.attention.tied_mean", "reference_model.native"},
    "native.py": {"__future__", "hashlib", "pathlib", "sys", "warnings", "weakref", "typing", "numpy", "torch",
                  "numba", "numba.typed", "numba.core", "numba.extending", "llvmlite",
                  "reference_model.attention", "reference_model.attention.hull"},
}


@pytest.mark.parametrize("module", sorted(GENERIC_IMPORTS))
def test_the_generic_model_imports_nothing_wasm_specific(module):
    tree = ast.parse((ROOT / "reference_model" / module).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert names <= GENERIC_IMPORTS[module], names


def test_plain_forward_agrees_with_cached_decoding():
    import torch

    from reference_model.compiler import vocabulary as vocab
    from reference_model.program.binary import decode_module
    from reference_model.program.encoding import encode_invocation
    from reference_model.weights import compiled_model

    m = decode_module(wasmtime.wat2wasm(CASES[0][1]))
    p = encode_invocation(m, m.exports["div_s"][1], [0xFFFFFFF9, 2], {})
    model = compiled_model()
    gen = model.generate([p.tokens], max_new_tokens=200, stop_tokens=vocab.STOP_TOKENS)
    seq = torch.tensor([p.tokens + gen.tokens[0][:-1]])
    plain = model(seq)[0, len(p.tokens) - 1 :].argmax(-1).tolist()
    assert plain == gen.tokens[0]


def test_sparse_and_dense_weight_formats_agree_in_f64():
    from reference_model.compiler import vocabulary as vocab
    from reference_model.program.binary import decode_module
    from reference_model.program.encoding import encode_invocation
    from reference_model.weights import compiled_model

    m = decode_module(wasmtime.wat2wasm(CONTROL))
    p = encode_invocation(m, m.exports["fac"][1], [4], {})
    model = compiled_model()
    runs = [model.generate([p.tokens], max_new_tokens=2000, stop_tokens=vocab.STOP_TOKENS, weights=w)
            for w in ("sparse", "dense")]
    assert runs[0].stopped == [True]
    assert runs[0].tokens == runs[1].tokens
    assert all(a.equal(b) for a, b in zip(runs[0].margin, runs[1].margin))


def test_sparse_weights_follow_in_place_changes():
    """A weight changed after its CSR copy was made (a planted fault, a reload) is multiplied as changed."""
    import torch

    from reference_model.transformer import SPARSE_MIN, matmul

    w = torch.zeros(200, 200, dtype=torch.float64)
    assert w.numel() >= SPARSE_MIN
    w[3, 5] = 2.0
    x = torch.ones(1, 200, dtype=torch.float64)
    assert matmul(x, w)[0, 5] == 2.0
    w[3, 5] = 7.0
    assert matmul(x, w)[0, 5] == 7.0
    assert matmul(x, w).equal(matmul(x, w, "dense"))


def test_weights_round_trip_in_a_fresh_process(tmp_path):
    from reference_model.weights import compile_to_file

    path = compile_to_file(tmp_path / "w.safetensors")
    code = f"""
import wasmtime
from reference_model.compiler import vocabulary as vocab
from reference_model.program.binary import decode_module
from reference_model.program.encoding import encode_invocation
from reference_model.program.decoding import decode_trace
from reference_model.trace import trace_hash
from reference_model.weights import load_model
m = decode_module(wasmtime.wat2wasm({CONTROL!r}))
p = encode_invocation(m, m.exports["fac"][1], [4], {{}})
g = load_model({str(path)!r}).generate([p.tokens], max_new_tokens=2000, stop_tokens=vocab.STOP_TOKENS)
print(trace_hash(decode_trace(p, g.tokens[0]).records))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    s = ReferenceExecutor().open_session()
    inv = s.invoke(s.instantiate(wasmtime.wat2wasm(CONTROL)), "fac", [i32(4)])
    assert out == inv.trace_hash


@pytest.mark.parametrize("config", ["cpu-f64-dense", pytest.param("cpu-f32-hull", marks=pytest.mark.slow)])
def test_a_needle_gives_its_batch_1_trace_in_any_batch(config):
    """Batch invariance: each call, run at a random position among earlier calls' prompts, keeps its trace."""
    calls = [("arith", [123456789, 987654]), ("div_s", [7, 0]), ("cmp", [-5, 7]), ("rem_u", [9, 4])]
    wasm = wasmtime.wat2wasm(MATH)
    seen = {}
    for batch in (1, 5):
        session = TransformerExecutor(config, batch=batch).open_session()
        inst = session.instantiate(wasm)
        got, where = [], []
        for export, args in calls:
            try:
                inv = session.invoke(inst, export, [i32(a) if isinstance(a, int) else a for a in args])
                got.append(inv.trace_hash)
                where.append(inv.extra["needle_position"])
                assert inv.extra["batch"] == batch
            except ExecutorOutcome as e:
                got.append(type(e).__name__ + str(len(e.trace or [])))
        seen[batch] = got
        if batch > 1:
            assert len(set(where)) > 1  # the needle moved around the batch
            assert len(session.haystack) == len(calls)  # every call stopped (halt or trap): all fill later batches
    assert seen[5] == seen[1]


def test_a_next_pc_outside_the_program_is_a_malformed_trace():
    """Found by the f32 nightly: a br_table group naming slot 65,535 was an IndexError (a harness_error row)."""
    from reference_model.compiler import vocabulary as vocab
    from reference_model.program.binary import decode_module
    from reference_model.program.decoding import MalformedTrace, decode_trace
    from reference_model.program.encoding import encode_invocation

    m = decode_module(wasmtime.wat2wasm(CONTROL))
    p = encode_invocation(m, m.exports["table"][1], [1], {})
    body = [vocab.op_token(p.slots[p.entry].op)] + [vocab.byte_token(r, 255) for r in vocab.ROLES[1:]]
    with pytest.raises(MalformedTrace, match="outside the program"):
        decode_trace(p, body)


def test_linking_is_checked_and_an_imported_memory_is_shared():
    """Unlinkable modules fail to link (the reference interpreter's shadow check); a global initialiser over an
    imported global is evaluated; a module importing a registered instance's memory shares it: its data
    segments, stores and memory.grow (up to the exporter's maximum) are what the exporter then reads, and a
    later import sees the grown size; a module whose instantiation this executor does not run (a start
    function) leaves the shared memory unknown to both."""
    from reference_model.errors import LinkError

    s = TransformerExecutor("cpu-f64-hull").open_session()
    src = s.instantiate(wasmtime.wat2wasm("""(module (memory (export "mem") 1 2) (global (export "g") i32 (i32.const 40))
      (func (export "get") (result i32) i32.const 0 i32.load) (func (export "size") (result i32) memory.size))"""))
    s.register("M", src)
    with pytest.raises(LinkError):
        s.instantiate(wasmtime.wat2wasm('(module (import "M" "nope" (func)))'))
    user = s.instantiate(wasmtime.wat2wasm("""(module (import "M" "g" (global i32))
      (global i32 (i32.add (global.get 0) (i32.const 2))) (func (export "h") (result i32) global.get 1))"""))
    assert s.invoke(user, "h", []).values == [i32(42)]
    assert s.invoke(src, "get", []).values == [i32(0)]
    with pytest.raises(LinkError):  # M's memory has one page: a 2-page import does not link yet
        s.instantiate(wasmtime.wat2wasm('(module (import "M" "mem" (memory 2)))'))
    imp = s.instantiate(wasmtime.wat2wasm("""(module (import "M" "mem" (memory 1)) (data (i32.const 0) "\\01")
      (func (export "put") (param i32) i32.const 1 local.get 0 i32.store8)
      (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"""))
    assert s.invoke(src, "get", []).values == [i32(1)]  # the importer's data segment
    s.invoke(imp, "put", [i32(5)])
    assert s.invoke(src, "get", []).values == [i32(0x501)]  # the importer's store
    assert s.invoke(imp, "grow", [i32(2)]).values == [i32(-1 & 0xFFFFFFFF)]  # past M's maximum of 2 pages
    assert s.invoke(imp, "grow", [i32(1)]).values == [i32(1)]
    assert s.invoke(src, "size", []).values == [i32(2)]
    s.instantiate(wasmtime.wat2wasm('(module (import "M" "mem" (memory 2)))'))  # links now
    with pytest.raises(Unsupported, match="start function"):  # it may write M's memory
        s.instantiate(wasmtime.wat2wasm("""(module (import "M" "mem" (memory 1))
          (func $s i32.const 0 i32.const 9 i32.store) (start $s))"""))
    with pytest.raises(Unsupported, match="memory unknown"):
        s.invoke(src, "get", [])
    with pytest.raises(Unsupported, match="memory unknown"):
        s.invoke(imp, "put", [i32(5)])
    # spectest's memory is one memory for every module that imports it
    s = TransformerExecutor("cpu-f64-hull").open_session()
    s.instantiate(wasmtime.wat2wasm('(module (import "spectest" "memory" (memory 1)) (data (i32.const 4) "\\07"))'))
    b = s.instantiate(wasmtime.wat2wasm("""(module (import "spectest" "memory" (memory 1))
      (func (export "get") (result i32) i32.const 4 i32.load))"""))
    assert s.invoke(b, "get", []).values == [i32(7)]
    # a module the reference interpreter does not take cannot have its imports checked: unsupported, not
    # instantiated (linking.wast's typed-reference imports, which must not link, were "instantiated")
    s = TransformerExecutor("cpu-f64-hull").open_session()
    with pytest.raises(Unsupported, match="linking a module the reference interpreter does not take"):
        s.instantiate(wasmtime.wat2wasm('(module (type $t (func)) (global (import "Mref" "g") (ref func)))'))


def test_calls_of_spectests_print_functions_pop_their_arguments():
    """spectest's print functions do nothing: a call of one is a slot that pops its arguments (an i64 takes two
    cells), with the reference interpreter's record (op "call", nothing pushed, the height after).  A host
    function the executor does not know to do nothing (here one with a result) stays unsupported."""
    wat = """(module
      (import "spectest" "print_i32" (func $p (param i32))) (import "spectest" "print_i64" (func $q (param i64)))
      (import "spectest" "print" (func $r))
      (func (export "f") (param i32) (result i32)
        (call $p (local.get 0)) (call $r) (call $q (i64.const -5))
        (i32.add (i32.const 1) (local.get 0))))"""
    model, ref = TransformerExecutor("cpu-f64-hull").open_session(), ReferenceExecutor().open_session()
    got, want = (s.invoke(s.instantiate(wasmtime.wat2wasm(wat)), "f", [i32(41)]) for s in (model, ref))
    assert got.values == want.values == [i32(42)] and got.trace_hash == want.trace_hash
    assert [r.op for r in got.trace[:6]] == ["local.get", "call", "call", "i64.const", "call", "i32.const"]
    lib = model.instantiate(wasmtime.wat2wasm('(module (func (export "g") (result i32) (i32.const 7)))'))
    model.register("lib", lib)
    user = model.instantiate(wasmtime.wat2wasm("""(module (import "lib" "g" (func $g (result i32)))
      (func (export "h") (result i32) (call $g)))"""))
    with pytest.raises(Unsupported, match="imported function call"):
        model.invoke(user, "h", [])


DENSE_MEMORY = """(module (memory 1)
  (func (export "fill_and_sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (loop $w (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.mul (i32.add (local.get $i) (i32.const 1))
                                                                        (i32.const 0x01030507)))
      (br_if $w (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (loop $r (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 7))
                             (i32.load16_u offset=3 (i32.shl (local.get $i) (i32.const 2)))))
      (br_if $r (local.get $i)))
    (local.get $s)))"""


@pytest.mark.parametrize("config", ["cpu-f64-hull", "cpu-f64-hull-long"])
def test_neighbouring_words_read_back_what_was_written(config):
    """Every word of a run is written ((i+1) x 0x01030507), then read back in reverse through a 2-byte load that
    straddles two words (ports M and M2), so each read has written neighbours: a look-up that missed its word
    by one would find one.  The result and trace equal the reference interpreter's on both key layouts."""
    model, ref = TransformerExecutor(config).open_session(), ReferenceExecutor().open_session()
    wasm = wasmtime.wat2wasm(DENSE_MEMORY)
    got, want = (s.invoke(s.instantiate(wasm), "fill_and_sum", [i32(40)]) for s in (model, ref))
    assert got.values == want.values and got.trace_hash == want.trace_hash
    assert want.values[0].bits not in (0, None)


@pytest.mark.parametrize("config", ["cpu-f64-hull", "cpu-f64-hull-long"])
def test_shared_memories_and_tables_pass_with_the_oracle_following_failed_instantiations(config):
    """conformance/wast/shared_state.wast with the reference interpreter as trace oracle (also on -long, whose
    split memory keys read the stack, memory words and table elements through addresses of their own): a
    memory and a table shared by two instances (data and element segments, stores, memory.grow and table.grow
    seen by the exporter, imports linked against the grown sizes), segments written before a trap at
    instantiation kept (a function such a segment put in a table still called), spectest's memory shared.
    Every row passes; with the oracle not following a failed instantiation, the load after it diverged."""
    from harness.run import RunSpec, base_row
    from harness.runner import ScriptRunner
    from harness.wast import load_script

    script = load_script(ROOT / "conformance" / "wast" / "shared_state.wast")
    executor = TransformerExecutor(config)
    base = base_row(RunSpec(executor="transformer", config=config), executor)
    rows = list(ScriptRunner(script, executor, base, oracle=ReferenceExecutor()).rows())
    assert len(rows) == 20
    assert [(r["line"], r["status"]) for r in rows if r["status"] != "pass"] == []


def test_a_pass_whose_module_the_trace_oracle_cannot_run_says_its_trace_is_unchecked(tmp_path):
    """The reference interpreter declines a typed-reference table (function-references) that the transformer
    lays out: the call's values are checked against the script, its trace against nothing, and the row says so
    (a pass with an empty message means the trace equals the reference's)."""
    from harness.run import RunSpec, base_row
    from harness.runner import ScriptRunner
    from harness.wast import load_script

    func = '(func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 7)))'
    typed = f'(module (type $t (func)) (func $tf) (table (ref null $t) (elem $tf)) {func})'
    call = '(assert_return (invoke "f" (i32.const 1)) (i32.const 8))'
    plain = f'(module (type $t (func)) (func $tf) {func})'  # the same functions, no table: the oracle runs it
    (tmp_path / "typed.wast").write_text(f"{typed}\n{call}\n{plain}\n{call}\n")
    executor = TransformerExecutor("cpu-f64-hull")
    base = base_row(RunSpec(executor="transformer", config="cpu-f64-hull"), executor)
    rows = list(ScriptRunner(load_script(tmp_path / "typed.wast"), executor, base, oracle=ReferenceExecutor()).rows())
    assert [(r["line"], r["status"]) for r in rows] == [(1, "pass"), (2, "pass"), (3, "pass"), (4, "pass")]
    assert rows[1]["message"] == ("trace not checked: the trace oracle could not instantiate the module "
                                  "(unsupported(function-references))")
    assert rows[3]["message"] == "" and rows[3]["trace_hash"] == rows[1]["trace_hash"]


def test_tables_hold_functions_of_other_instances():
    """A table element naming another instance's function: a function that touches no state is laid out in
    the prompt and runs (its records name it by its index in its own module); one that reads its module's
    state stops the call as unsupported.  Table writes persist across calls; traces equal the reference's."""
    ref = ReferenceExecutor().open_session()
    model = TransformerExecutor("cpu-f64-hull").open_session()
    lib = """(module (global $g i32 (i32.const 5))
      (func (export "pure") (result i32) (i32.const 7))
      (func (export "reads") (result i32) (global.get $g)))"""
    user = """(module (type $r (func (result i32)))
      (import "lib" "pure" (func $pure (result i32))) (import "lib" "reads" (func $reads (result i32)))
      (func $own (result i32) (i32.const 3))
      (table 4 funcref) (elem (i32.const 0) func $own $pure $reads)
      (func (export "call") (param i32) (result i32) (call_indirect (type $r) (local.get 0)))
      (func (export "copy") (param i32 i32 i32) (table.copy (local.get 0) (local.get 1) (local.get 2))))"""
    outcomes = []
    for s in (model, ref):
        s.register("lib", s.instantiate(wasmtime.wat2wasm(lib)))
        inst = s.instantiate(wasmtime.wat2wasm(user))
        got = [_outcome(s, wasmtime.wat2wasm(user), "call", [1])]
        got.append(_call(s, inst, "copy", [3, 1, 1]))
        got.append(_call(s, inst, "call", [3]))
        got.append(_call(s, inst, "call", [1]))
        outcomes.append(got)
    for got, want in zip(*outcomes):
        assert got[:2] == want[:2]
        assert [r.canonical() for r in got[2] or []] == [r.canonical() for r in want[2] or []]
    assert outcomes[0][3][1] == [i32(7)] and outcomes[0][2][1] == [i32(7)]
    inst = model.instantiate(wasmtime.wat2wasm(user))
    with pytest.raises(Unsupported, match="call_indirect to a function not run here"):
        model.invoke(inst, "call", [i32(2)])


def _call(session, inst, export, args):
    try:
        inv = session.invoke(inst, export, [i32(a) if isinstance(a, int) else a for a in args])
        return ("ok", inv.values, inv.trace)
    except ExecutorOutcome as e:
        return (type(e).__name__, e.message, getattr(e, "trace", None))


@pytest.mark.parametrize("export,a,b", [
    ("div_u", -1, 3),  # d < 2^16: four 16-bit digits
    ("rem_u", 0x123456789ABCDEF0, 0x1234567),  # 2^16 <= d < 2^32: the bit loop, 48 iterations
    ("div_s", 0x7FFFFFFFFFFFFFFF, -0x100000001),  # |d| >= 2^32: 32 iterations, a negative quotient
    ("rem_s", -(2**63), 0x10001),  # the remainder takes the dividend's sign
])
def test_i64_division_paths_match_the_reference_on_hull(export, a, b):
    """The three paths of the i64 division microcode (program/wide.py), on the hull engine (the bit loop
    runs about 1,000-1,600 slots: long for dense decoding in the fast suite)."""
    wat = f"""(module (func (export "{export}") (param i64 i64) (result i64)
      local.get 0 local.get 1 i64.{export}))"""
    wasm = wasmtime.wat2wasm(wat)
    args = [i64(a), i64(b)]
    got = _outcome(TransformerExecutor("cpu-f64-hull").open_session(), wasm, export, args)
    want = _outcome(ReferenceExecutor().open_session(), wasm, export, args)
    assert got[:2] == want[:2]
    assert [r.canonical() for r in got[2]] == [r.canonical() for r in want[2]]


EXHAUSTION = """(module
  (func $runaway (export "runaway") (call $runaway))
  (func $m1 (export "mutual-runaway") (call $m2))
  (func $m2 (call $m1))
  (func $wide (export "wide-runaway") (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (call $wide))
  (func $div (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
  (func (export "trap-in-callee") (param i32) (result i32) (i32.add (i32.const 5) (call $div (local.get 0)))))
(assert_exhaustion (invoke "runaway") "call stack exhausted")
(assert_exhaustion (invoke "mutual-runaway") "call stack exhausted")
(assert_exhaustion (invoke "wide-runaway") "call stack exhausted")
(assert_trap (invoke "trap-in-callee" (i32.const 0)) "integer divide by zero")
"""


def _exhaustion_rows(tmp_path, skip=()):
    from harness.run import RunSpec, base_row
    from harness.runner import ScriptRunner
    from harness.wast import load_script

    path = tmp_path / "exhaustion.wast"
    path.write_text("\n".join(line for line in EXHAUSTION.splitlines()
                               if not (line.startswith("(assert") and any(k in line for k in skip))))
    executor = TransformerExecutor("cpu-f64-hull")
    base = base_row(RunSpec(executor="transformer", config="cpu-f64-hull"), executor)
    return [(r["export"], r["status"], r["steps"]) for r in
            ScriptRunner(load_script(path), executor, base, oracle=ReferenceExecutor()).rows() if r["kind"] != "module"]


def test_the_oracle_exhausts_the_models_call_stack_where_the_model_does(tmp_path, monkeypatch):
    """The call stack's size is the implementation's: the trace oracle runs on the model's stack (CellStack: its
    frames' cells, the machine's stack_limit), so a runaway recursion's exhaustion trace equals the reference's
    record for record (14,987 calls deep here, past the reference's own 10,000 frames; fewer with wider frames).
    A call whose callee trapped keeps the caller's height while the callee ran (without its results), as in the
    reference.  The oracle on its own depth limit, or on a stack a frame smaller than the model's, diverges."""
    import harness.executors.transformer as tx
    from reference_model.compiler.machine_to_graph import MachineDescription

    rows = _exhaustion_rows(tmp_path)
    assert [(e, s) for e, s, _ in rows] == [("runaway", "pass"), ("mutual-runaway", "pass"), ("wide-runaway", "pass"),
                                            ("trap-in-callee", "pass")]
    assert rows[0][2] == rows[1][2] == 14987 and 100 < rows[2][2] < 1000
    smaller = MachineDescription(stack_limit=MachineDescription().stack_limit - 40)  # a wide frame (33 cells) less
    monkeypatch.setattr(tx, "MachineDescription", lambda: smaller)
    skip = ('"runaway"', '"mutual-runaway"')  # (the wide frames alone: shorter traces)
    assert [s for _, s, _ in _exhaustion_rows(tmp_path, skip)] == ["trace_divergence", "pass"]
    monkeypatch.setattr(tx, "CellStack", lambda *a: None)  # no stack told: the oracle's 10,000 frames
    assert [s for _, s, _ in _exhaustion_rows(tmp_path, skip)] == ["trace_divergence", "pass"]
