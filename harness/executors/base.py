"""The executor interface: what the runner calls, whatever it holds.

An Executor arrives configured (name + config such as ``cpu-f64-dense``);
the runner opens one Session per script, so module instances and
registrations never leak between scripts.  Sessions raise the outcomes of
``reference_model.errors``; anything else they raise is a harness error.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from reference_model.trace import TraceRecord
from reference_model.values import Value


@dataclass(frozen=True)
class NearTie:
    """A look-up head that won by a margin under TIE_EPS machine epsilons of its score (or tied outright).

    ``margin`` is (best score - runner-up) / max(|best|, |runner-up|) / eps
    of the dtype the model ran in: below a few eps, rounding alone can
    change which position wins, so the run's result is luck, not design.
    """

    token: int  # index among the generated tokens
    step: int  # trace step the token belongs to
    head: str  # e.g. "L2.h3:mem.X" (reference_model.compiler.compiling.head_names)
    selected: int  # position the head selected
    margin: float  # in machine epsilons

    def __str__(self) -> str:
        return (f"near tie: head {self.head} at step {self.step} (token {self.token}) selected position "
                f"{self.selected} by {self.margin:.3g} eps")


# A winning score this many machine epsilons (relative) or less above the runner-up is a near tie.
TIE_EPS = 16.0

# Statuses that say an executor computed something other than the oracle did.
WRONG_STATUSES = ("wrong_result", "wrong_trap", "trace_divergence")


def classify_near_tie(status: str, message: str, tie: NearTie | None, div_step: int | None = None) -> tuple[str, str]:
    """(status, message) of a transformer row, given the first near tie of its run.

    A wrong row whose run had a near tie at or before the first trace
    divergence (when known) is a ``tie_break``: the head's choice was decided
    by rounding.  A passing row keeps ``pass`` with the tie in its message (a
    latent risk the report lists); other statuses are left alone.
    """
    if tie is None:
        return status, message
    if status == "pass":
        return status, f"{message}; latent {tie}".lstrip("; ")
    if status in WRONG_STATUSES and (div_step is None or div_step < 0 or tie.step <= div_step):
        return "tie_break", f"{tie}; {message or status}"
    return status, message


def min_margin_of(*sources) -> float:
    """The first ``min_margin`` recorded on any of ``sources`` (an Invocation, an outcome), NaN if none."""
    for source in sources:
        m = getattr(source, "min_margin", None)
        if m is not None:
            return float(m)
    return float("nan")


@dataclass
class Invocation:
    """The results of one invoke, with what trace executors add."""

    values: list[Value]
    steps: int | None = None  # executed instructions, when the executor counts them
    tokens: int | None = None  # tokens generated (transformer executors)
    trace: list[TraceRecord] | None = None
    trace_hash: str | None = None
    min_margin: float | None = None  # smallest relative attention margin in eps (transformer executors; see NearTie)
    near_tie: NearTie | None = None  # the first near tie of the run, if any
    # the executor's call stack (reference_model.interpreter.CellStack): the trace oracle's call stack is then
    # the same size (the spec leaves it to the implementation), so its trace exhausts where this one does
    cells: Any = None
    extra: dict = field(default_factory=dict)


class Session(ABC):
    """One script's worth of executor state: instances and registrations."""

    @abstractmethod
    def validate(self, wasm: bytes) -> None:
        """Decode and validate a module; raise ModuleRejected if it is malformed or invalid."""

    @abstractmethod
    def instantiate(self, wasm: bytes) -> Any:
        """Instantiate a module against the registered names; return an instance handle.

        Raises ModuleRejected, LinkError, InstantiationTrap, Unsupported.
        """

    @abstractmethod
    def register(self, name: str, instance: Any) -> None:
        """Make an instance's exports importable under ``name`` (shadowing an earlier one)."""

    @abstractmethod
    def invoke(self, instance: Any, field: str, args: list[Value]) -> Invocation:
        """Call an exported function; raise Trap, Exhaustion, UncaughtException, Unsupported."""

    @abstractmethod
    def get(self, instance: Any, field: str) -> Value:
        """Read an exported global."""

    def memory(self, instance: Any, field: str) -> bytes:
        """The bytes of an exported memory; raise NotImplementedError if the executor cannot show them."""
        raise NotImplementedError(f"{type(self).__name__} does not expose memories")

    def close(self) -> None:
        """Release resources; the default does nothing."""


class Executor(ABC):
    """A configured executor; ``open_session`` gives a fresh store per script."""

    name: str = "?"
    config: str = "default"
    traces: bool = False  # whether Invocations carry traces

    @abstractmethod
    def open_session(self) -> Session:
        """A new, empty session with the ``spectest`` host module registered."""

    def versions(self) -> dict[str, str]:
        """Versions of the software that produced the results, for the rows."""
        return {}
