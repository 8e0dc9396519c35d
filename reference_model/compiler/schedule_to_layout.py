"""Stage 3: schedule -> layout.  One residual dimension per variable, inputs first."""
from __future__ import annotations

from reference_model.compiler.nodes import Layout, Schedule


def schedule_to_layout(schedule: Schedule) -> Layout:
    g = schedule.graph
    order: list = []
    seen = set()

    def add(v):
        if v and v not in seen:
            seen.add(v)
            order.append(v)

    for v in g.position_vars:
        add(v)
    for table in g.embedding.values():
        for v in table:
            add(v)
    for layer in range(schedule.n_layers):
        for n in schedule.lookups[layer]:
            for v in n.outputs:
                add(v)
        for grp in schedule.groups[layer]:
            for u in grp.units:
                for v in u.out:
                    add(v)
    for e in g.readout.values():
        for v in e.terms:
            if v not in seen:
                raise ValueError(f"readout reads {v!r}, which nothing writes")
    value_dims = [max((len(n.values) for n in schedule.lookups[i]), default=0) for i in range(schedule.n_layers)]
    return Layout(schedule, {v: i for i, v in enumerate(order)}, value_dims)
