"""The compiled weights as an artefact: safetensors file with the config in its metadata."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from reference_model.transformer import Transformer, TransformerConfig

FORMAT = "wasmconf-transformer-1"


def save(path, config: TransformerConfig, state: dict) -> None:
    """Write the weights (float64) and config to ``path``."""
    tensors = {k: v.detach().to("cpu", torch.float64).contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"format": FORMAT, "config": json.dumps(config.to_dict())})


def load(path) -> tuple:
    """(TransformerConfig, state_dict) read from ``path``."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} weights file")
    return TransformerConfig.from_dict(json.loads(meta["config"])), load_file(str(path))


def compile_to_file(path) -> Path:
    """Compile the interpreter and save its weights; returns the path."""
    from reference_model.compiler.compiling import compile_machine

    config, state = compile_machine()
    save(path, config, state)
    return Path(path)


def load_model(path, *, device="cpu", dtype=torch.float64) -> Transformer:
    """The generic Transformer with the weights of ``path``."""
    config, state = load(path)
    model = Transformer(config).to(device=device, dtype=dtype)  # cast first: loading copies into these buffers
    model.load_state_dict(state, strict=True)
    return model.eval()


@lru_cache(maxsize=None)
def compiled_state(recency: float | None = None) -> tuple:
    """The compiled (config, state) of the shipped machine, once per process; with ``recency``, the machine with
    split memory keys and that T (MachineDescription.recency, split_keys: the "long" configs)."""
    from reference_model.compiler.compiling import compile_machine
    from reference_model.compiler.machine_to_graph import MachineDescription

    if recency is None:
        return compile_machine()
    return compile_machine(MachineDescription(recency=recency, split_keys=True))


@lru_cache(maxsize=8)
def compiled_model(device: str = "cpu", dtype: str = "f64", recency: float | None = None) -> Transformer:
    """The shipped machine's model on a device and dtype (cached per process); ``recency`` as compiled_state's."""
    config, state = compiled_state(recency)
    dt = {"f64": torch.float64, "f32": torch.float32}[dtype]
    model = Transformer(config).to(device=device, dtype=dt)  # cast first: loading copies into these buffers
    model.load_state_dict(state, strict=True)
    return model.eval()
