"""compile_machine(): the machine description becomes transformer weights, stage by stage."""
from __future__ import annotations

from functools import lru_cache

import torch

from reference_model.compiler.graph_to_schedule import graph_to_schedule
from reference_model.compiler.layout_to_weights import layout_to_weights
from reference_model.compiler.machine_to_graph import MachineDescription, machine_to_graph
from reference_model.compiler.schedule_to_layout import schedule_to_layout
from reference_model.transformer import Transformer, TransformerConfig


def compile_machine(machine: MachineDescription | None = None):
    """(TransformerConfig, state_dict) of the interpreter for ``machine``."""
    graph = machine_to_graph(machine or MachineDescription())
    schedule = graph_to_schedule(graph)
    layout = schedule_to_layout(schedule)
    weights = layout_to_weights(layout)
    return weights_to_model_state(weights)


@lru_cache(maxsize=None)
def default_schedule():
    """The schedule of the default machine (which layer holds which look-up heads and unit groups)."""
    return graph_to_schedule(machine_to_graph(MachineDescription()))


@lru_cache(maxsize=None)
def head_names() -> tuple[str, ...]:
    """A name per attention head, in the order the model concatenates them (layer by layer): ``L3.h1:mem.byte0``.

    Head k of layer L is the k-th look-up scheduled in L (schedule_to_layout's order).
    """
    return tuple(f"L{layer}.h{k}:{node.name}" for layer, nodes in enumerate(default_schedule().lookups)
                 for k, node in enumerate(nodes))


def weights_to_model_state(w):
    """The generic Transformer's config and state_dict from typed blocks."""
    D = w.embedding.tok.shape[1]
    heads = tuple(a.heads if a else 0 for a in w.attention)
    dv = tuple(a.w_v.shape[2] if a else 0 for a in w.attention)
    ff = tuple(f.w1.shape[1] if f else 0 for f in w.feedforward)
    config = TransformerConfig(w.embedding.tok.shape[0], D, heads, dv, ff, w.pad_token)
    state = {"tok_emb": w.embedding.tok, "pos_emb": w.embedding.pos, "w_out": w.readout.w, "b_out": w.readout.b}
    for i, a in enumerate(w.attention):
        if a is None:
            continue
        H, Dv = a.heads, a.w_v.shape[2]
        state[f"attn.{i}.w_qkv"] = torch.cat([a.w_q.reshape(D, 2 * H), a.w_k.reshape(D, 2 * H), a.w_v.reshape(D, H * Dv)], 1)
        state[f"attn.{i}.b_qkv"] = torch.cat([a.b_q.reshape(-1), a.b_k.reshape(-1), a.b_v.reshape(-1)])
        state[f"attn.{i}.w_o"] = a.w_o.reshape(H * Dv, D)
    for i, f in enumerate(w.feedforward):
        if f is None:
            continue
        state[f"ffn.{i}.w_in"] = torch.cat([f.w1, f.wg], 1)
        state[f"ffn.{i}.b_in"] = torch.cat([f.b1, f.bg])
        state[f"ffn.{i}.w_out"] = f.w2
    return config, state


def build_model(config: TransformerConfig, state: dict, *, device="cpu", dtype=torch.float64) -> Transformer:
    """A Transformer with these weights on a device and dtype."""
    model = Transformer(config).to(device=device, dtype=dtype)  # cast first: loading copies into these buffers
    model.load_state_dict(state, strict=True)
    return model.eval()
