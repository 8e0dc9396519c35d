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

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch


@dataclass(frozen=True)
class Fault:
    """A named perturbation of the compiled (config, state_dict)."""

    name: str
    description: str
    apply: Callable[[object, dict], dict]


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


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault("xor", "i32.xor's feed-forward units silenced: every i32.xor result is 0",
              silence_units("i32.xor")),
    )
}


def fault_of_variant(variant: str) -> Fault | None:
    """The Fault a config variant names (``fault_<name>``), None for no variant; KeyError if unknown."""
    if not variant:
        return None
    if not variant.startswith("fault_") or variant[len("fault_"):] not in FAULTS:
        raise KeyError(f"unknown config variant {variant!r}: faults are {', '.join('fault_' + n for n in FAULTS)}")
    return FAULTS[variant[len("fault_"):]]


@lru_cache(maxsize=8)
def faulty_model(device: str, dtype: str, name: str):
    """The compiled model with FAULTS[name] applied, on a device and dtype (cached per process)."""
    from reference_model.transformer import Transformer
    from reference_model.weights import compiled_state

    config, state = compiled_state()
    state = FAULTS[name].apply(config, state)
    dt = {"f64": torch.float64, "f32": torch.float32}[dtype]
    model = Transformer(config).to(device=device, dtype=dt)
    model.load_state_dict(state, strict=True)
    return model.eval()
