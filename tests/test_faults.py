"""Negative controls: every planted fault in reference_model/faults.py is caught, with its intended status.

Each fault runs conformance/wast/faults.wast (or the commands of it the
fault breaks) on cpu-f64-dense-fault_<name>, with the reference
interpreter as the trace oracle, exactly as ``wasmconf run`` would.  The
healthy model passes the same commands, so a failure below is the fault's.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from harness.detect import mark_batch_variance, mark_nondeterministic
from harness.executors.base import TIE_EPS, NearTie, classify_near_tie
from harness.executors.reference import ReferenceExecutor
from harness.executors.transformer import TransformerExecutor, attention_margins
from harness.run import RunSpec, base_row
from harness.runner import ScriptRunner
from harness.wast import Script, load_script
from reference_model import faults

FAULTS_WAST = Path(__file__).resolve().parent.parent / "conformance" / "wast" / "faults.wast"
PADDING_WAST = FAULTS_WAST.with_name("padding.wast")  # a long module, then a short one: padded needles
# the commands (by line) each fault must break; the others it may leave passing
BROKEN = {
    "xor": [16],
    "recency": [16, 17, 20],
    "perturb": [16, 17, 20],
    "opname": [17, 20],
    "trap": [18, 19],
    "float16": [16],
}


def _run(config: str, lines: list[int] | None = None, *, max_steps: int = 200, repeat: int = 0, batch: int = 1,
         path: Path = FAULTS_WAST) -> list[dict]:
    script = load_script(path)
    if lines is not None:
        script = Script(script.path, script.name,
                        [c for c in script.commands if c.kind == "module" or c.line in lines])
    executor = TransformerExecutor(config, max_steps=max_steps, batch=batch)
    base = base_row(RunSpec(executor="transformer", config=config, repeat=repeat, batch=batch), executor)
    rows = list(ScriptRunner(script, executor, base, oracle=ReferenceExecutor()).rows())
    return [r for r in rows if r["kind"] != "module"]


def test_the_catalogue_is_complete():
    assert len(faults.FAULTS) >= 6
    assert set(BROKEN) | {"noise", "padmask"} == set(faults.FAULTS)
    for f in faults.FAULTS.values():
        assert f.expect in ("wrong_result", "wrong_trap", "trace_divergence", "tie_break", "nondeterministic")
        assert f.description


def test_the_healthy_model_passes_the_fault_script():
    rows = _run("cpu-f64-dense")
    assert [r["status"] for r in rows] == ["pass"] * 5
    assert all(r["min_margin"] > TIE_EPS for r in rows)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_fault_is_caught_with_its_status(name):
    fault = faults.FAULTS[name]
    lines = BROKEN[name]
    # float16 never halts (its look-ups tie from the first token): a short budget is enough to see it
    rows = _run(f"cpu-f64-dense-fault_{name}", lines, max_steps=8 if name == "float16" else 200)
    assert [r["line"] for r in rows] == lines
    assert [r["status"] for r in rows] == [fault.expect] * len(lines), [(r["status"], r["message"]) for r in rows]
    if fault.expect == "tie_break":
        assert all(r["min_margin"] < TIE_EPS and "near tie: head " in r["message"] for r in rows)


def test_the_noise_fault_is_nondeterministic_over_repeats():
    faults.NOISE.seed(3)
    rows = [r for k in range(6) for r in _run("cpu-f64-dense-fault_noise", [16], repeat=k)]
    statuses = [r["status"] for r in rows]
    assert set(statuses) == {"pass", "wrong_result"}, statuses  # the coin landed both ways
    marked = mark_nondeterministic(pd.DataFrame(rows))
    assert set(marked["status"]) == {"nondeterministic", "wrong_result"}
    assert marked.loc[marked["status"] == "nondeterministic", "message"].str.contains("distinct results").all()


def test_the_padmask_fault_is_batch_variance():
    """Unmasked padding: every command passes alone, the padded needles of a batch of 4 break."""
    healthy = _run("cpu-f64-dense", batch=1, path=PADDING_WAST) + _run("cpu-f64-dense", batch=4, path=PADDING_WAST)
    assert {r["status"] for r in mark_batch_variance(pd.DataFrame(healthy)).to_dict("records")} == {"pass"}
    rows = _run("cpu-f64-dense-fault_padmask", batch=1, path=PADDING_WAST)
    assert {r["status"] for r in rows} == {"pass"}
    rows += _run("cpu-f64-dense-fault_padmask", batch=4, path=PADDING_WAST)
    marked = mark_batch_variance(pd.DataFrame(rows))
    broken = marked[marked["status"] != "pass"]
    assert (broken["batch"] == 4).all()
    assert {23, 24, 25} <= set(broken["line"])  # the short module's calls: padded in every batch
    assert (broken["status"] == faults.FAULTS["padmask"].expect).all(), broken[["status", "message"]]
    assert broken["message"].str.startswith("batch variance (passes at batch 1)").all()


def test_a_fault_variant_is_rejected_unless_catalogued():
    with pytest.raises(ValueError, match="fault_nonesuch"):
        TransformerExecutor("cpu-f64-dense-fault_nonesuch")
    TransformerExecutor("cuda-f32-dense-tf32")  # the TF32 variant is known (it runs only where CUDA is)


# --- the near-tie rule ---------------------------------------------------------------------------


def test_an_exact_tie_has_margin_zero_and_names_its_head():
    sel = torch.tensor([[3, 4], [5, 6]])
    margin = torch.tensor([[1.0, float("inf")], [0.0, 2.0]], dtype=torch.float64)
    best = torch.tensor([[1.0, 7.0], [9.0, 2.0]], dtype=torch.float64)
    low, tie = attention_margins(sel, margin, best)
    assert low == 0.0 and tie is not None
    assert (tie.token, tie.selected, tie.margin) == (1, 5, 0.0)


def test_a_clear_winner_is_no_tie_and_nan_scores_are():
    sel = torch.tensor([[3]])
    best = torch.tensor([[1.0]], dtype=torch.float32)
    low, tie = attention_margins(sel, torch.tensor([[0.5]]), best)
    assert tie is None and low == pytest.approx(0.5 / torch.finfo(torch.float32).eps)
    low, tie = attention_margins(sel, torch.tensor([[float("nan")]]), best)
    assert tie is not None and low == 0.0


@pytest.mark.parametrize("status, tie, expected", [
    ("wrong_result", NearTie(0, 0, "mem.T0", 4, 0.0), "tie_break"),
    ("trace_divergence", NearTie(0, 0, "mem.T0", 4, 0.0), "tie_break"),
    ("wrong_result", None, "wrong_result"),
    ("pass", NearTie(0, 0, "mem.T0", 4, 0.0), "pass"),  # a pass with a near tie stays a pass (a latent risk)
])
def test_a_wrong_row_after_a_near_tie_is_a_tie_break(status, tie, expected):
    assert classify_near_tie(status, "msg", tie, None)[0] == expected
