"""The native engine (reference_model/native.py) against the torch engine, bit for bit."""
from __future__ import annotations

import pytest
import torch
import wasmtime

from harness.executors.transformer import TransformerExecutor, _config
from reference_model.compiler import vocabulary as vocab
from reference_model.program.binary import decode_module
from reference_model.program.decoding import decode_trace
from reference_model.program.encoding import encode_invocation
from reference_model.weights import compiled_model
from transformer_cases import CONTROL, MATH


def _prompts():
    ctl, math = decode_module(wasmtime.wat2wasm(CONTROL)), decode_module(wasmtime.wat2wasm(MATH))
    return [encode_invocation(ctl, ctl.exports["fac"][1], [5], {}),
            encode_invocation(math, math.exports["div_s"][1], [7, 0], {}),  # a trap
            encode_invocation(math, math.exports["arith"][1], [123456789, 987654], {})]


def _same(a, b):
    assert a.tokens == b.tokens
    assert a.stopped == b.stopped
    for name in ("selected", "margin", "best"):
        for x, y in zip(getattr(a, name), getattr(b, name)):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert torch.equal(x, y), name


@pytest.mark.parametrize("dtype", ["f64", "f32"])
def test_native_engine_gives_the_torch_engines_bits(dtype):
    """Tokens, selected positions, margins and best scores: identical, one row and a left-padded batch."""
    model = compiled_model("cpu", dtype)
    prompts = [p.tokens for p in _prompts()]
    for batch in ([prompts[0]], prompts):
        runs = [model.generate(batch, max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine=e)
                for e in ("torch", "native")]
        if dtype == "f64":  # float32 runs away on some of these (the design limit docs/transformer.md describes)
            assert all(runs[0].stopped)
        _same(*runs)


def test_native_threads_split_rows_without_changing_them():
    model = compiled_model("cpu", "f64")
    prompts = [p.tokens for p in _prompts()] * 2
    one, two = (model.generate(prompts, max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull",
                               engine="native", threads=t) for t in (1, 3))
    _same(one, two)


def test_native_traces_decode_to_the_reference_results():
    model = compiled_model("cpu", "f64")
    p = _prompts()[0]
    gen = model.generate([p.tokens], max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull",
                         engine="native")
    assert decode_trace(p, gen.tokens[0]).results == [120]


def test_native_engine_follows_in_place_weight_changes():
    """A weight changed after packing (a planted fault) is used as changed: the packed copy is made again."""
    from reference_model.native import packed

    model = compiled_model("cpu", "f64")
    clone = type(model)(model.config).double()
    clone.load_state_dict(model.state_dict())
    p = _prompts()[0].tokens
    before = clone.generate([p], max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine="native")
    first = packed(clone)
    clone.w_out.mul_(-1.0)  # every logit negated: argmax picks another token
    assert packed(clone) is not first
    after = clone.generate([p], max_new_tokens=50, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine="native")
    assert after.tokens[0][:5] != before.tokens[0][:5]


def test_native_stop_when_is_asked_and_obeyed():
    model = compiled_model("cpu", "f64")
    m = decode_module(wasmtime.wat2wasm(CONTROL))
    p = encode_invocation(m, m.exports["fac"][1], [12], {})
    asked = []

    def stop(row, tokens):
        asked.append(len(tokens))
        return True

    gen = model.generate([p.tokens], max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull",
                         engine="native", check_every=16, stop_when=stop)
    assert asked == [16] and len(gen.tokens[0]) == 16 and gen.stopped == [False]


def test_native_engine_refuses_what_it_does_not_run():
    model = compiled_model("cpu", "f64")
    with pytest.raises(ValueError, match="hull attention on the CPU"):
        model.generate([[1, 2]], max_new_tokens=1, stop_tokens=[0], backend="dense", engine="native")
    with pytest.raises(ValueError, match="unknown engine"):
        model.generate([[1, 2]], max_new_tokens=1, stop_tokens=[0], engine="jit")
    gen = model.generate([[1, 2]], max_new_tokens=0, stop_tokens=[0], backend="hull", engine="native")
    assert gen.tokens == [[]] and gen.selected[0].shape == (0, sum(model.config.n_heads))


def test_configs_pick_the_engine_and_record_it():
    assert _config("cpu-f64-hull")["engine"] == "native"
    assert _config("cpu-f32-hull")["engine"] == "native"
    for config in ("cpu-f64-dense", "cpu-f64-hull-torch_engine", "cpu-f64-hull-dense_weights", "cuda-f64-hull",
                   "cpu-f64-hull-fault_float16"):
        assert _config(config)["engine"] == "torch", config
    assert TransformerExecutor("cpu-f64-hull").versions()["engine"] == "native"
    with pytest.raises(ValueError, match="torch_engine"):
        _config("cpu-f64-hull-turbo")


def test_heads_with_other_keys_get_their_own_hull_index():
    """Key groups of unequal size (one head's keys scaled by 2: the same argmax, other scores) still match torch."""
    from reference_model.native import key_groups, packed

    model = compiled_model("cpu", "f64")
    clone = type(model)(model.config).double()
    clone.load_state_dict(model.state_dict())
    assert [len(g) for g in key_groups(clone.attn[0])] == [9]
    H = clone.attn[0].heads
    cols = slice(2 * H + 2 * 3, 2 * H + 2 * 3 + 2)  # head 3's key
    clone.attn[0].w_qkv[:, cols] *= 2.0
    clone.attn[0].b_qkv[cols] *= 2.0
    assert key_groups(clone.attn[0]) == [[0, 1, 2, 4, 5, 6, 7, 8], [3]]
    assert packed(clone).layers[0, 8:10].tolist() == [2, 8]
    prompts = [p.tokens for p in _prompts()]
    runs = [clone.generate(prompts, max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine=e)
            for e in ("torch", "native")]
    assert all(runs[0].stopped)
    _same(*runs)
    assert not torch.equal(runs[0].best[0][:, 3], runs[0].best[0][:, 2])  # head 3 scores differently now


def test_a_row_stop_when_stops_is_retired_in_both_engines():
    """stop_when ends a row's tokens where it said so; the other rows run on unchanged (both engines)."""
    model = compiled_model("cpu", "f64")
    prompts = [p.tokens for p in _prompts()]
    runs = [model.generate(prompts, max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine=e,
                           check_every=16, stop_when=lambda row, tokens: row == 1)
            for e in ("torch", "native")]
    _same(*runs)
    assert len(runs[0].tokens[1]) == 16 and runs[0].stopped == [True, False, True]
    alone = model.generate([prompts[0]], max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull",
                           engine="native")
    assert runs[1].tokens[0] == alone.tokens[0]


def _sunk(model, prompts, **kw):
    """generate() with an attention sink: the Generation, and per row its spans joined (asserted consecutive)."""
    spans: dict = {}

    def sink(row, start, *arrays):
        have = spans.setdefault(row, [])
        assert start == sum(len(a[0]) for a in have)  # consecutive, in order
        have.append(tuple(a.clone() for a in arrays))  # valid during the call only

    gen = model.generate(prompts, attention_sink=sink, **kw)
    joined = [tuple(torch.cat(col) for col in zip(*spans[b])) for b in range(len(prompts))]
    return gen, joined


@pytest.mark.parametrize("engine", ["torch", "native"])
def test_an_attention_sink_gets_every_rows_outputs_up_to_its_end(monkeypatch, engine):
    """With an attention sink, selected / margin / best go to it in consecutive spans per row, each row's up to
    its stop token or its stop_when: joined, they are the arrays a Generation keeps otherwise, and the
    Generation's are empty.  The native engine hands over SINK_SPAN tokens at a time (here 7: rows end
    mid-span and the buffer is reused)."""
    import reference_model.transformer as tr

    monkeypatch.setattr(tr, "SINK_SPAN", 7)
    model = compiled_model("cpu", "f64")
    prompts = [p.tokens for p in _prompts()]
    kw = dict(max_new_tokens=3000, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine=engine, check_every=16,
              stop_when=lambda row, tokens: row == 2 and len(tokens) >= 40)
    want = model.generate(prompts, **kw)
    gen, joined = _sunk(model, prompts, **kw)
    assert gen.tokens == want.tokens and gen.stopped == want.stopped
    assert [len(t) for t in want.tokens] == [683, 24, 48] and want.stopped == [True, True, False]
    assert all(x.shape == (0, sum(model.config.n_heads)) for x in gen.selected + gen.margin + gen.best)
    for b, arrays in enumerate(joined):
        for got, full in zip(arrays, (want.selected[b], want.margin[b], want.best[b])):
            assert got.dtype == full.dtype and torch.equal(got, full)


def _random_model(dtype, tie_at, seed=0):
    """A random generic model whose sparse passes are all taken: units on at rest that no input reaches,
    a feed-forward layer that no input reaches, readout biases that win: tokens 140-149 and 151-159
    have only their bias (the largest, M), token ``tie_at`` has weights too small to change M (its
    logit is M exactly, a tie decided by the index).

    Every matrix has at least SPARSE_MIN elements, so that the torch engine multiplies it in CSR order
    too (it multiplies smaller ones densely, in BLAS order); pos_emb holds small integers, so that its
    dense product is exact.
    """
    from reference_model.transformer import Transformer, TransformerConfig

    g = torch.Generator().manual_seed(seed)

    def sparse(*shape, density=0.15, scale=0.1):
        w = torch.randn(*shape, generator=g, dtype=torch.float64) * scale
        return w * (torch.rand(*shape, generator=g, dtype=torch.float64) < density)

    V, D = 160, 128
    model = Transformer(TransformerConfig(V, D, (4, 0, 4), (32, 0, 32), (128, 128, 160))).to(dtype)
    with torch.no_grad():
        model.tok_emb.copy_(sparse(V, D, density=0.3, scale=1.0))
        model.pos_emb.copy_(sparse(3, D, scale=2.0).round() * torch.tensor([[1.0], [2.0**-8], [2.0**-16]],
                                                                         dtype=torch.float64))
        for attn in model.attn:
            if attn is not None:
                attn.w_qkv.copy_(sparse(*attn.w_qkv.shape, density=0.3))
                attn.b_qkv.copy_(sparse(*attn.b_qkv.shape, density=0.3))
                attn.w_o.copy_(sparse(*attn.w_o.shape, density=0.3))
        for i, ffn in enumerate(model.ffn):
            ffn.w_in.copy_(sparse(*ffn.w_in.shape) if i != 1 else torch.zeros(ffn.w_in.shape))  # layer 1: unreached
            ffn.b_in.copy_(sparse(*ffn.b_in.shape, density=0.5))  # some b1 > 0 with bg != 0: on at rest
            ffn.w_out.copy_(sparse(*ffn.w_out.shape, density=0.3))
            F = ffn.f
            ffn.w_in[:, :8] = 0  # units 0..7: no input reaches them, and they are on at rest
            ffn.w_in[:, F: F + 8] = 0
            ffn.b_in[:8], ffn.b_in[F: F + 8] = 0.5, 1.0
        model.w_out.copy_(sparse(D, V, density=0.1))
        model.w_out[:, 140:] = 0
        model.w_out[:, tie_at] = 2.0**-100
        b = torch.randn(V, generator=g, dtype=torch.float64).round()  # many ties among the biases
        b[140:] = b[tie_at] = b.max()
        model.b_out.copy_(b)
    return model


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("tie_at, wins", [(150, 140), (2, 2)])
def test_native_sparse_passes_match_torch_on_a_random_model(dtype, tie_at, wins):
    """Units on at rest, an unreached layer (rest_out), unreached logits in the argmax: torch's bits.

    The tie between token ``tie_at`` (computed) and token 140 (only its bias) goes to the lower index.
    """
    from reference_model.native import packed
    from reference_model.transformer import SPARSE_MIN

    model = _random_model(dtype, tie_at)
    assert min(b.numel() for b in model.buffers() if b.dim() == 2 and b is not model.pos_emb) >= SPARSE_MIN
    w = packed(model)
    assert w.rest.sum() > 0 and w.layers[1, 12] > 0  # units on at rest; layer 1's rest_out is not all zero
    prompts = [[1, 5, 7, 9], [3, 3], [11, 12, 13, 14, 15, 16]]
    runs = [model.generate(prompts, max_new_tokens=300, stop_tokens=[0], backend="hull", engine=e)
            for e in ("torch", "native")]
    _same(*runs)
    assert wins in {t for row in runs[0].tokens for t in row}


def test_an_engine_reserves_a_known_length_at_once_within_its_bound():
    """A short known length is reserved whole (no doubling later); a huge one only up to UPFRONT_BYTES per cache."""
    from reference_model.native import UPFRONT_BYTES, Engine

    model = compiled_model("cpu", "f64")
    short = Engine(model, 2, max_positions=5_000)
    assert all(c._keys.shape[1] == 5_000 for c in short.caches)
    huge = Engine(model, 2, max_positions=10**9)
    for c in huge.caches:
        cap = c._keys.shape[1]
        assert 256 <= cap < 10**9
        rows = c._keys.shape[0]  # the value arena has room for a distinct value per position and row
        per_position = c._keys[:, 0].nbytes + c._vals[:rows].nbytes + c._gxy[:, 0].nbytes + c._ist[:, 0].nbytes
        assert cap * per_position <= UPFRONT_BYTES < (cap + 1) * per_position
    assert all(c._keys.shape[1] == 256 for c in Engine(model, 2).caches)  # no known length: the default


def _comparator_model(dtype):
    """_random_model with its last feed-forward layer shaped like the compiled comparators: units 0..8 on at rest
    feed outputs 0..3 only, unit 8 (on at rest) and units 9..11 are reached by input 0 alone and feed outputs
    0..3 too, no other unit is on at rest or feeds outputs 0..3; input 0 is non-zero only at tokens 5 and 12,
    and the readout leans on outputs 0..3.  So every position but those of tokens 5 and 12 takes the engine's
    fast path (only the reached units evaluated, rest_out added), and those must take the full one."""
    model = _random_model(dtype, 150)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        ffn, F = model.ffn[2], model.ffn[2].f
        ffn.b_in[8:F] = -ffn.b_in[8:F].abs()  # off at rest ...
        ffn.b_in[8], ffn.b_in[F + 8] = 0.5, 1.0  # ... but unit 8
        near = torch.zeros(F, dtype=torch.bool)
        near[:12] = True
        ffn.w_out[~near, :4] = 0
        ffn.w_out[:12] = 0
        ffn.w_out[:12, :4] = torch.randn(12, 4, generator=g, dtype=torch.float64).to(dtype)
        ffn.w_out[8, :4] = torch.tensor([64.0, -64.0, 32.0, -32.0], dtype=dtype)
        for cols in (slice(8, 12), slice(F + 8, F + 12)):
            ffn.w_in[:, cols] = 0
            ffn.w_in[0, cols] = 1.0
        model.tok_emb[:, 0] = 0
        model.tok_emb[5, 0], model.tok_emb[12, 0] = 1.0, -2.0
        model.pos_emb[:, 0] = 0
        for attn in model.attn:
            if attn is not None:
                attn.w_o[:, 0] = 0
        for other in model.ffn[:2]:
            other.w_out[:, 0] = 0
        model.w_out[:4, :140] = torch.randn(4, 140, generator=g, dtype=torch.float64).to(dtype)
    return model


def _with_pass_forced(model, field, prompts):
    """Run ``prompts`` on the torch engine, then on the native engine as packed, with its packed ``field`` set to 1
    everywhere, and set to 0 everywhere: the first two must give torch's bits; returns (torch's run, the run
    with 0)."""
    import numpy as np

    from reference_model.native import _PACKS, packed

    kw = dict(max_new_tokens=200, stop_tokens=[0], backend="hull")
    torch_run = model.generate(prompts, engine="torch", **kw)
    _same(torch_run, model.generate(prompts, engine="native", **kw))
    w = packed(model)
    versions = _PACKS[model][0]
    try:
        _PACKS[model] = (versions, w._replace(**{field: np.ones_like(getattr(w, field))}))
        _same(torch_run, model.generate(prompts, engine="native", **kw))
        _PACKS[model] = (versions, w._replace(**{field: np.zeros_like(getattr(w, field))}))
        return torch_run, model.generate(prompts, engine="native", **kw)
    finally:
        _PACKS[model] = (versions, w)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_native_skips_units_at_rest_only_where_no_input_is_near_them(dtype):
    """The fast path (only the reached units, rest_out added) gives torch's bits; taking it where an input is
    near the units on at rest (rest_near forced to 0) does not; never taking it (forced to 1) changes nothing."""
    from reference_model.native import packed

    model = _comparator_model(dtype)
    w = packed(model)
    assert w.rest_near[2].tolist() == [1] + [0] * (w.rest_near.shape[1] - 1)
    torch_run, wrong = _with_pass_forced(model, "rest_near", [[1, 7, 9, 5], [3, 12], [11, 13, 14, 15, 16], [2, 4, 6]])
    assert wrong.tokens[1] != torch_run.tokens[1]  # the row whose last prompt token (12) is near


def test_native_outputs_grown_past_their_upfront_room_keep_every_step(monkeypatch):
    """With OUT_UPFRONT_BYTES too small for the budget, the per-step output buffer grows by doubling mid-run:
    selected / margin / best of every step are still torch's."""
    import reference_model.transformer as tr

    model = _random_model(torch.float64, 150)
    prompts = [[1, 5, 7, 9], [3, 3]]
    kw = dict(max_new_tokens=300, stop_tokens=[0], backend="hull")
    want = model.generate(prompts, engine="torch", **kw)
    monkeypatch.setattr(tr, "OUT_UPFRONT_BYTES", 1)  # room for check_every steps at first
    got = model.generate(prompts, engine="native", **kw)
    assert max(len(t) for t in got.tokens) > 2 * 64  # past at least one doubling
    _same(want, got)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_prompt_positions_compute_only_what_later_keys_and_values_read(dtype):
    """At a prompt position the engine skips what no key or value of a later layer reads (prompt_live): the
    last attention layer's look-up and the layers after it.  That gives torch's bits; computing everything
    (forced to 1) changes nothing; skipping what the keys need (forced to 0) changes the scores the look-ups see."""
    from reference_model.native import packed

    model = _random_model(dtype, 150)
    w = packed(model)
    # layer 0's look-up and feed-forward feed layer 2's keys and values, layer 1's units on at rest too;
    # layer 2 is the last attention layer: nothing reads its look-up or its feed-forward at a prompt position
    assert w.prompt_live.tolist() == [[1, 1], [0, 1], [0, 0]]
    # the compiled model: its prompts' keys and values need layer 0's look-up and the first two feed-forward layers
    assert packed(compiled_model("cpu", "f64")).prompt_live.T.tolist() == [[1] + [0] * 14, [1, 1] + [0] * 13]
    prompts = [[1, 5, 7, 9, 2, 4, 6, 8], [3, 3], [11, 12, 13, 14, 15, 16]]
    torch_run, wrong = _with_pass_forced(model, "prompt_live", prompts)
    # with 0, the prompt's keys miss layer 0's look-up
    assert any(not torch.equal(x, y) for x, y in zip(wrong.best, torch_run.best))
