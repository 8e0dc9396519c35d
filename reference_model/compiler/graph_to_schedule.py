"""Stage 2: graph -> schedule.  Every node goes to the earliest layer its inputs allow.

Stages interleave: stage 2i is layer i's attention, stage 2i+1 its
feed-forward.  A variable is ready after the last node that writes it
(variables may be accumulated by several nodes, e.g. the value bytes).
"""
from __future__ import annotations

from collections import defaultdict

from reference_model.compiler.nodes import Graph, Lookup, Schedule


def graph_to_schedule(graph: Graph) -> Schedule:
    writers = defaultdict(list)
    for node in graph.lookups:
        for v in node.outputs:
            writers[v].append(node)
    for node in graph.groups:
        for v in node.outputs():
            writers[v].append(node)
    inputs = set()
    for table in graph.embedding.values():
        inputs |= set(table)
    inputs |= {v for v in graph.position_vars if v}

    stage_of: dict = {}
    ready: dict = {}

    def var_ready(v: str) -> int:
        if v not in ready:
            if v in inputs and not writers.get(v):
                ready[v] = -1
            elif not writers.get(v):
                raise ValueError(f"variable {v!r} is read but never written")
            else:
                ready[v] = max(node_stage(n) for n in writers[v])
        return ready[v]

    def node_stage(n) -> int:
        key = id(n)
        if key not in stage_of:
            stage_of[key] = None  # cycle guard
            after = max((var_ready(v) for v in n.inputs()), default=-1) + 1
            parity = 0 if isinstance(n, Lookup) else 1
            stage_of[key] = after + ((after - parity) % 2)
        if stage_of[key] is None:
            raise ValueError(f"cycle through {n.name}")
        return stage_of[key]

    for n in (*graph.lookups, *graph.groups):
        node_stage(n)
    n_layers = max(stage_of.values()) // 2 + 1
    lookups = [[] for _ in range(n_layers)]
    groups = [[] for _ in range(n_layers)]
    for n in graph.lookups:
        lookups[stage_of[id(n)] // 2].append(n)
    for n in graph.groups:
        groups[stage_of[id(n)] // 2].append(n)
    return Schedule(graph, lookups, groups)
