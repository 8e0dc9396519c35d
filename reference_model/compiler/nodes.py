"""What each compiler stage hands to the next (read this first).

    MachineDescription --machine_to_graph--> Graph
    Graph              --graph_to_schedule--> Schedule   (layer of every node)
    Schedule           --schedule_to_layout--> Layout    (residual dimension of every variable)
    Layout             --layout_to_weights--> ModelWeights (typed blocks -> Transformer)

A *variable* is a named scalar in the residual stream.  An *Expr* is a
linear (affine) form over variables: everything a transformer computes for
free (query, key, value, pre-activation, readout) is an Expr.  Non-linear
work happens only in Lookup nodes (hard-max attention) and Unit nodes
(feed-forward units ``ReLU(pre) * gate``).
"""
from __future__ import annotations

from dataclasses import dataclass, field


class Expr:
    """sum(coef * variable) + const; supports +, -, scalar *."""

    __slots__ = ("terms", "const")

    def __init__(self, terms: dict | None = None, const: float = 0.0):
        self.terms = {k: v for k, v in (terms or {}).items() if v != 0}
        self.const = float(const)

    @staticmethod
    def of(x) -> "Expr":
        if isinstance(x, Expr):
            return x
        if isinstance(x, str):
            return Expr({x: 1.0})
        return Expr({}, float(x))

    def __add__(self, other):
        o = Expr.of(other)
        t = dict(self.terms)
        for k, v in o.terms.items():
            t[k] = t.get(k, 0.0) + v
        return Expr(t, self.const + o.const)

    __radd__ = __add__

    def __neg__(self):
        return Expr({k: -v for k, v in self.terms.items()}, -self.const)

    def __sub__(self, other):
        return self + (-Expr.of(other))

    def __rsub__(self, other):
        return Expr.of(other) + (-self)

    def __mul__(self, c):
        assert isinstance(c, (int, float)), "Expr * Expr is not linear: use a Unit"
        return Expr({k: v * c for k, v in self.terms.items()}, self.const * c)

    __rmul__ = __mul__

    def vars(self) -> set:
        return set(self.terms)

    def __repr__(self):
        body = " + ".join(f"{v:g}*{k}" for k, v in self.terms.items())
        return f"Expr({body} + {self.const:g})"


def total(items) -> Expr:
    """Sum of Exprs (or numbers)."""
    e = Expr()
    for x in items:
        e = e + x
    return e


# -- machine_to_graph -> graph_to_schedule ---------------------------------
@dataclass
class Lookup:
    """One hard-max attention head: query/key are Expr pairs, values a list of Exprs."""

    name: str
    query: tuple  # (Expr, Expr)
    key: tuple  # (Expr, Expr)
    values: list  # [Expr] * Dv
    outputs: list  # [variable] * Dv: out_i += mean value_i

    def inputs(self) -> set:
        s = set()
        for e in (*self.query, *self.key, *self.values):
            s |= e.vars()
        return s


@dataclass
class Unit:
    """One feed-forward unit: ``h = ReLU(pre) * gate``; ``out[var] += coef * h``."""

    pre: Expr
    out: dict  # variable -> coefficient
    gate: Expr | None = None  # None = constant 1

    def inputs(self) -> set:
        return self.pre.vars() | (self.gate.vars() if self.gate is not None else set())


@dataclass
class UnitGroup:
    """Units that belong together (one arithmetic block); scheduled as one node."""

    name: str
    units: list

    def inputs(self) -> set:
        s = set()
        for u in self.units:
            s |= u.inputs()
        return s

    def outputs(self) -> set:
        s = set()
        for u in self.units:
            s |= set(u.out)
        return s


@dataclass
class Graph:
    """The interpreter as a computation graph plus its embedding and readout tables."""

    embedding: dict  # token id -> {variable: value}
    position_vars: tuple  # variables fed by the position features (1, t, t^2); None = unused
    lookups: list  # [Lookup]
    groups: list  # [UnitGroup]
    readout: dict  # token id -> Expr (the logit)
    vocab_size: int
    pad_token: int


# -- graph_to_schedule -> schedule_to_layout --------------------------------
@dataclass
class Schedule:
    """Graph nodes placed into layers: layer i = attention lookups[i], then units[i]."""

    graph: Graph
    lookups: list  # per layer: [Lookup]
    groups: list  # per layer: [UnitGroup]

    @property
    def n_layers(self) -> int:
        return len(self.lookups)


# -- schedule_to_layout -> layout_to_weights --------------------------------
@dataclass
class Layout:
    """Residual dimension of every variable."""

    schedule: Schedule
    dims: dict  # variable -> index
    value_dims: list = field(default_factory=list)  # per layer: Dv

    @property
    def d_model(self) -> int:
        return len(self.dims)
