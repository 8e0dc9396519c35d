"""What an executor raises instead of returning results.

The harness keeps these apart on purpose (the spec interpreter's split of
trap, exhaustion and crash): a Trap or Exhaustion is the *module's* doing
and may be exactly what a script expects; Unsupported means the executor
declined before running; any other exception is a bug in the executor or
the harness and becomes a ``harness_error`` row.
"""
from __future__ import annotations


class ExecutorOutcome(Exception):
    """Base class of the outcomes a script can expect.

    A trace executor that stops with a trap or exhaustion sets ``trace``
    (the records up to the failing instruction) and ``steps``, so a trap
    can be compared record by record like a return.
    """

    trace: list | None = None
    steps: int | None = None
    # attention analysis of a transformer executor's run up to the outcome
    # (harness.executors.base.NearTie / min_margin in machine epsilons)
    min_margin: float | None = None
    near_tie: object | None = None
    # the executor's call stack (reference_model.interpreter.CellStack), so that the trace oracle exhausts it
    # where the executor does
    cells: object | None = None

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Trap(ExecutorOutcome):
    """Execution trapped; ``message`` uses the spec's wording (see reference_model.interpreter.traps)."""


class Exhaustion(ExecutorOutcome):
    """A resource ran out: call stack depth, fuel."""


class UncaughtException(ExecutorOutcome):
    """A WebAssembly exception (exception-handling proposal) escaped the call."""


class Unsupported(ExecutorOutcome):
    """The executor does not implement a feature; ``feature`` names it."""

    def __init__(self, feature: str):
        super().__init__(f"unsupported({feature})")
        self.feature = feature


class StepLimit(ExecutorOutcome):
    """The executor stopped after its configured maximum number of steps."""


class ModuleRejected(ExecutorOutcome):
    """The module failed to decode or validate (assert_invalid / assert_malformed)."""


class LinkError(ExecutorOutcome):
    """Instantiation failed to resolve or match an import (assert_unlinkable)."""


class MalformedOutput(ExecutorOutcome):
    """A model executor emitted tokens that do not form a trace (its run went wrong, not the module)."""


class InstantiationTrap(Trap):
    """A trap while instantiating: segment initialisation or the start function."""
