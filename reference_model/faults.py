"""Planted faults: perturbations of the compiled weights, for negative controls.

A config variant ``fault_<name>`` (e.g. ``cpu-f64-dense-fault_xor``) makes
the transformer executor run the compiled model with ``FAULTS[name]``
applied to its state dict, so the suite can prove it catches a broken
model (the fuzzer must find and shrink it, the gate must fail).

Each Fault says what it breaks; ``apply(config, state)`` returns a new
state dict (the input is not modified).  Add faults here: one entry each,
with a description a reader of a results file understands.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

from reference_model.compiler import vocabulary as vocab


@dataclass(frozen=True)
class Fault:
    """A named perturbation of the compiled (config, state_dict)."""

    name: str
    description: str
    apply: Callable[[object, dict], dict]
    expect: str = ""  # the status the suite must give a command the fault breaks (tests/test_faults.py)
    dtype: torch.dtype | None = None  # run in this dtype instead of the config's
    per_call: float | None = None  # apply only with this probability, drawn per invocation
    weights: str | None = None  # run in this weight format instead of the config's


@lru_cache(maxsize=None)
def ffn_units(group: str) -> tuple[tuple[int, int], ...]:
    """(layer, hidden column) of every feed-forward unit of a unit group (e.g. ``"i32.xor"``).

    Follows compiler/layout_to_weights.py: a layer's hidden units are its
    scheduled groups' units, concatenated in order.
    """
    from reference_model.compiler.compiling import default_schedule

    schedule = default_schedule()
    found = []
    for layer, groups in enumerate(schedule.groups):
        column = 0
        for grp in groups:
            if grp.name == group:
                found += [(layer, column + k) for k in range(len(grp.units))]
            column += len(grp.units)
    if not found:
        raise KeyError(f"no feed-forward unit group {group!r}")
    return tuple(found)


def silence_units(group: str) -> Callable[[object, dict], dict]:
    """A fault that zeroes the output weights of a unit group: its instruction's arithmetic adds nothing."""

    def apply(config, state: dict) -> dict:
        state = dict(state)
        for layer, column in ffn_units(group):
            key = f"ffn.{layer}.w_out"
            w = state[key].clone()
            w[column] = 0
            state[key] = w
        return state

    return apply


def _head(name: str) -> tuple[int, int, int]:
    """(layer, head index in the layer, heads in the layer) of the look-up head named ``name`` (e.g. ``"mem.T0"``)."""
    from reference_model.compiler.compiling import default_schedule

    for layer, nodes in enumerate(default_schedule().lookups):
        for k, node in enumerate(nodes):
            if node.name == name:
                return layer, k, len(nodes)
    raise KeyError(f"no look-up head {name!r}")


def _qk_column(name: str, part: str, component: int) -> tuple[str, int]:
    """(state key, column) of a head's query or key component in its layer's fused w_qkv (see weights_to_model_state)."""
    layer, h, heads = _head(name)
    return f"attn.{layer}.w_qkv", (0 if part == "q" else 2 * heads) + 2 * h + component


def _edit(state: dict, key: str, edit: Callable[[torch.Tensor], None]) -> dict:
    state = dict(state)
    w = state[key].clone()
    edit(w)
    state[key] = w
    return state


def drop_recency(config, state: dict) -> dict:
    """Memory look-up keys are (2w, pos - T w^2): remove ``pos`` from every memory head's second key component.

    pos is residual dimension 0 (pos_emb's t row).  Without it every write
    to an address scores the same, so a read averages all of them instead
    of taking the latest: an exact tie.
    """
    pos_dims = torch.nonzero(state["pos_emb"][1]).flatten().tolist()
    for head in ("mem.T0", "mem.T1", "mem.T2", "mem.X"):
        key, col = _qk_column(head, "k", 1)
        state = _edit(state, key, lambda w, col=col: w.__setitem__((pos_dims, col), 0.0))
    return state


def perturb_query(config, state: dict) -> dict:
    """Scale mem.T0's address query weights (query component 0, T * (address + 1)) by 1.25."""
    key, col = _qk_column("mem.T0", "q", 0)
    return _edit(state, key, lambda w: w[:, col].mul_(1.25))


def swap_tokens(a: int, b: int) -> Callable[[object, dict], dict]:
    """A fault that swaps two tokens' readout columns: the model writes ``b`` where it meant ``a`` and back."""

    def apply(config, state: dict) -> dict:
        state = dict(state)
        for key in ("w_out", "b_out"):
            w = state[key].clone()
            w[..., [a, b]] = w[..., [b, a]]
            state[key] = w
        return state

    return apply


def unmasked_padding(config, state: dict) -> dict:
    """The PAD token's embedding moves its position feature 2^30 ahead: padding looks like the latest write.

    Look-ups prefer the latest position (the recency term of every key).
    Left padding sits at negative positions and never wins, which is what
    makes a padded row decode as it would alone; shifted to 2^30 it wins
    every look-up that reads the latest value.  A row without padding
    (batch 1, or the longest prompt of a batch) is unaffected.
    """
    pos_dims = torch.nonzero(state["pos_emb"][1]).flatten().tolist()

    def shift(w):
        w[config.pad_token, pos_dims] += 2.0 ** 30

    return _edit(state, "tok_emb", shift)


def _unchanged(config, state: dict) -> dict:
    return state


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("xor", "i32.xor's feed-forward units silenced: every i32.xor result is 0",
              silence_units("i32.xor"), expect="wrong_result"),
        Fault("recency", "the recency term (position) removed from the memory heads' keys: every write to an "
              "address ties with the others, reads average them", drop_recency, expect="tie_break"),
        Fault("perturb", "one weight perturbed: mem.T0's address query scaled by 1.25, so the top-of-stack read "
              "lands on a neighbouring address", perturb_query, expect="wrong_result"),
        Fault("opname", "the readout of the opcode tokens i32.add and i32.sub swapped: the trace names the wrong "
              "instruction while every value stays right", swap_tokens(vocab.op_token("i32.add"),
                                                                       vocab.op_token("i32.sub")),
              expect="trace_divergence"),
        Fault("trap", "the readout of the traps 'integer divide by zero' and 'integer overflow' swapped",
              swap_tokens(vocab.special("TRAP:divzero"), vocab.special("TRAP:overflow")), expect="wrong_trap"),
        Fault("float16", "the model runs in float16 instead of the config's dtype: positions and addresses no longer "
              "fit its 11-bit significand, look-ups tie (dense weights: torch has no CPU float16 CSR matmul)", _unchanged,
              dtype=torch.float16, weights="dense", expect="tie_break"),
        Fault("padmask", "the padding mask is broken: PAD's embedding places padding 2^30 positions ahead, so a "
              "left-padded row's look-ups read padding; rows without padding (batch 1) are unaffected",
              unmasked_padding, expect="trace_divergence"),
        Fault("noise", "run-to-run nondeterminism: each invocation draws, unseeded, whether i32.xor's units are "
              "silenced (a stand-in for a racy kernel)", silence_units("i32.xor"), per_call=0.5,
              expect="nondeterministic"),
    )
}

# The noise fault's coin: unseeded, so repeats differ; a test may seed it.
NOISE = random.Random()


def fault_of_variant(variant: str) -> Fault | None:
    """The Fault a config variant names (``fault_<name>``), None for no variant; KeyError if unknown."""
    if not variant:
        return None
    if not variant.startswith("fault_") or variant[len("fault_"):] not in FAULTS:
        raise KeyError(f"unknown config variant {variant!r}: faults are {', '.join('fault_' + n for n in FAULTS)}")
    return FAULTS[variant[len("fault_"):]]


def faulty_model(device: str, dtype: str, name: str):
    """The compiled model with FAULTS[name] applied, on a device and dtype.

    A fault with ``per_call`` p applies with probability p, drawn anew on
    every call (so every invocation), from the unseeded NOISE.
    """
    fault = FAULTS[name]
    if fault.per_call is not None and NOISE.random() >= fault.per_call:
        from reference_model.weights import compiled_model

        return compiled_model(device, dtype)
    return _faulty_model(device, dtype, name)


@lru_cache(maxsize=8)
def _faulty_model(device: str, dtype: str, name: str):
    from reference_model.transformer import Transformer
    from reference_model.weights import compiled_state

    fault = FAULTS[name]
    config, state = compiled_state()
    state = fault.apply(config, state)
    dt = fault.dtype or {"f64": torch.float64, "f32": torch.float32}[dtype]
    model = Transformer(config).to(device=device, dtype=dt)
    model.load_state_dict(state, strict=True)
    return model.eval()
