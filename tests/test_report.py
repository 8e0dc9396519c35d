"""The HTML report: summary tables on a known multi-config frame, the page, history, the CLI, a screenshot."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reports import summarise as sm
from reports.history import HistoryError, append_history, load_history, run_summary
from reports.html import ReportInputs, write_report
from reports.schema import to_frame

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ["cpu-f64-dense", "cpu-f32-dense", "cpu-f64-hull", "cpu-f32-hull"]
CHROMIUM = Path("/usr/bin/chromium")

# (config, file, line) -> fields that differ from a passing row.  17 commands:
# a.wast 1-10, b.wast 1-5 (testsuite) and fuzz/seed-7 1-2 (fuzz).
SPECIAL = {
    ("cpu-f32-dense", "a.wast", 3): dict(status="trace_divergence", div_step=120, div_field="stack[0]",
                                         div_expected="i32:1", div_actual="i32:2"),
    ("cpu-f32-dense", "a.wast", 4): dict(status="trace_divergence", div_step=4097, div_field="pc",
                                         div_expected="17", div_actual="18"),
    ("cpu-f32-hull", "a.wast", 3): dict(status="trace_divergence", div_step=90, div_field="stack[0]",
                                        div_expected="i32:1", div_actual="i32:3"),
    ("cpu-f32-hull", "b.wast", 2): dict(status="tie_break", min_margin=0.0),
    ("cpu-f32-hull", "b.wast", 3): dict(min_margin=3.0),  # passes, but only just (3 eps)
    ("cpu-f64-hull", "b.wast", 5): dict(status="config_divergence", div_step=7, div_field="local[1]",
                                        div_expected="i32:0", div_actual="i32:1"),
    ("cpu-f64-dense", "seed-7", 2): dict(status="wrong_result", expected="i32:5", actual="i32:6"),
    ("cpu-f64-dense", "a.wast", 9): dict(status="tie_break", min_margin=float("nan")),  # no margin recorded
}
MISSING = {("cpu-f64-hull", "b.wast", 4)}  # a command one config never ran
INTEROP_FAILS = {("a.wast", 3), ("a.wast", 4), ("b.wast", 2), ("b.wast", 4), ("b.wast", 5), ("seed-7", 2),
                 ("a.wast", 9)}


def synthetic_frame(run_id: str = "20260101-120000") -> pd.DataFrame:
    """Four transformer configs over 17 commands, with the SPECIAL rows and a missing one."""
    commands = [("testsuite", "a.wast", n) for n in range(1, 11)] + [("testsuite", "b.wast", n) for n in range(1, 6)]
    commands += [("fuzz", "seed-7", n) for n in (1, 2)]
    rows = []
    for config in CONFIGS:
        device, dtype, backend = config.split("-")
        for suite, file, line in commands:
            if (config, file, line) in MISSING:
                continue
            row = dict(run_id=run_id, suite=suite, file=file, line=line, kind="assert_return", export="f",
                       args="i32:1", expected="i32:1", actual="i32:1", status="pass", message="",
                       executor="transformer", config=config, device=device, dtype=dtype, backend=backend,
                       batch=1, threads=1, repeat=0, steps=200, tokens=1000, wall_s=0.01, trace_hash="h",
                       min_margin=500.0 if dtype == "f32" else 2e9, div_step=-1, div_field="", div_expected="",
                       div_actual="", versions="{}")
            row.update(SPECIAL.get((config, file, line), {}))
            rows.append(row)
    df = to_frame(rows)
    expected_fail = (df["file"] == "seed-7") & (df["line"] == 2) & (df["config"] == "cpu-f64-dense")
    df["expected_status"] = np.where(expected_fail, "wrong_result", "pass")
    df["reason"] = np.where(expected_fail, "known: fuzz seed 7", "")
    df["unexpected"] = (df["status"] != "pass") & ~expected_fail
    return df


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame()


def test_labels_are_configs_and_executors(frame):
    assert sm.labels(frame) == ["cpu-f64-dense", "cpu-f32-dense", "cpu-f64-hull", "cpu-f32-hull"]
    oracle = frame.head(3).assign(executor="wasmtime", config="default", dtype="")
    assert sm.labels(pd.concat([frame, oracle]))[-1] == "wasmtime"
    # two executors sharing a config name are told apart
    other = frame.head(3).assign(executor="other")
    assert "other:cpu-f64-dense" in sm.labels(pd.concat([frame, other]))


def test_totals_per_config(frame):
    t = sm.totals(frame).set_index("label")
    assert t.loc["cpu-f64-dense", ["total", "passed", "unexpected"]].tolist() == [17, 15, 1]
    assert t.loc["cpu-f32-dense", ["total", "passed", "trace_divergence"]].tolist() == [17, 15, 2]
    assert t.loc["cpu-f64-hull", ["total", "passed", "config_divergence"]].tolist() == [16, 15, 1]
    assert t.loc["cpu-f32-hull", ["total", "passed", "tie_break"]].tolist() == [17, 15, 1]
    assert t.loc["cpu-f64-dense", "wrong_result"] == 1 and t["unexpected_pass"].sum() == 0
    assert math.isclose(t.loc["cpu-f64-hull", "pass_pct"], 100 * 15 / 16)


def test_file_matrix(frame):
    passed, total = sm.file_matrix(frame)
    assert list(total.index) == ["a.wast", "b.wast", "seed-7"]
    assert total.loc["b.wast", "cpu-f64-hull"] == 4 and passed.loc["b.wast", "cpu-f64-hull"] == 3
    assert passed.loc["a.wast", "cpu-f32-dense"] == 8


def test_interop_counts_commands_passing_everywhere(frame):
    i = sm.interop(frame)
    assert i.commands == 17  # the fixed denominator: every command seen on any config
    assert i.passing == 17 - len(INTEROP_FAILS)
    assert math.isclose(i.pct, 100 * 10 / 17)
    per_file = i.per_file.set_index("file")
    assert per_file.loc["a.wast", ["commands", "passing"]].tolist() == [10, 7]
    assert per_file.loc["b.wast", ["commands", "passing"]].tolist() == [5, 2]  # b4 is missing on one config


def test_interop_needs_every_repeat_to_pass(frame):
    again = frame.assign(repeat=1)
    again.loc[(again["file"] == "a.wast") & (again["line"] == 1) & (again["config"] == "cpu-f64-dense"),
              "status"] = "nondeterministic"
    assert sm.interop(pd.concat([frame, again])).passing == 17 - len(INTEROP_FAILS) - 1


def test_divergence_rows_and_links(frame):
    d = sm.divergences(frame)
    assert sorted(zip(d["where"], d["label"])) == [
        ("a.wast:3", "cpu-f32-dense"), ("a.wast:3", "cpu-f32-hull"), ("a.wast:4", "cpu-f32-dense"),
        ("b.wast:5", "cpu-f64-hull"), ("seed-7:2", "cpu-f64-dense")]
    a3 = d[(d["where"] == "a.wast:3") & (d["label"] == "cpu-f32-dense")].iloc[0]
    assert (a3["div_step"], a3["div_field"], a3["div_expected"], a3["div_actual"]) == (120, "stack[0]", "i32:1", "i32:2")
    assert a3["url"] == "https://github.com/WebAssembly/testsuite/blob/193e551/a.wast#L3"
    assert d[d["where"] == "seed-7:2"]["url"].iloc[0] == ""  # fuzz rows are not in the testsuite
    first = sm.first_divergences(frame).set_index("label")
    assert first.loc["cpu-f32-dense", ["rows", "first_step", "where"]].tolist() == [2, 120, "a.wast:3"]
    assert first.loc["cpu-f64-dense", "first_step"] == -1


def test_tie_breaks_threshold_and_margins(frame):
    t = sm.tie_breaks(frame)
    assert list(zip(t["where"], t["label"])) == [("b.wast:2", "cpu-f32-hull"), ("b.wast:3", "cpu-f32-hull"),
                                                   ("a.wast:9", "cpu-f64-dense")]
    assert len(sm.tie_breaks(frame, threshold=1000.0)) == 17 + 17 + 1  # every f32 margin (500 eps) is now below
    m = sm.margins(frame)
    assert set(m["dtype"]) == {"f32", "f64"}
    assert np.isneginf(m["log10_margin"]).sum() == 1  # the exact tie, b.wast:2
    assert m.loc[m["min_margin"] == 3.0, "log10_margin"].iloc[0] == pytest.approx(np.log10(3.0))
    assert len(m) == len(frame) - 1  # the NaN margin has no attention info
    oracle = frame.head(2).assign(executor="wasmtime", config="default", dtype="", min_margin=1.0)
    assert len(sm.margins(oracle)) == 0  # no dtype: not a transformer row


def test_horizon(frame):
    h = sm.horizon(frame)
    assert sorted(h["div_step"]) == [7, 90, 120, 4097]


def test_page_has_tables_and_figures(frame, tmp_path):
    index = write_report(frame, tmp_path / "r", ReportInputs(sources=["synthetic"]))
    page = index.read_text()
    for fig in ("heatmap.png", "margins.png", "horizon.png"):
        assert f'src="{fig}"' in page and (tmp_path / "r" / fig).stat().st_size > 1000
    assert "history.png" not in page
    assert 'href="https://github.com/WebAssembly/testsuite/blob/193e551/a.wast#L3"' in page
    assert "seed-7:2" in page and "blob/193e551/seed-7" not in page
    assert "10 of 17 commands" in page  # interop
    assert page.count('class="cell') >= 3 * 5  # the coloured passed/total table
    for config in CONFIGS:
        assert config in page
    assert (tmp_path / "r" / "divergences.csv").exists()
    assert "<script" not in page and "http://" not in page  # static, nothing fetched


def test_page_for_an_oracle_run_without_configs(frame, tmp_path):
    oracle = frame[frame["config"] == "cpu-f64-dense"].assign(
        executor="wasmtime", config="default", dtype="", min_margin=float("nan"), div_step=-1)
    page = write_report(oracle, tmp_path / "r").read_text()
    assert "wasmtime" in page and "margins.png" not in page and "horizon.png" not in page


def test_page_for_results_without_expectations_and_a_new_status(frame, tmp_path):
    raw = frame.drop(columns=["expected_status", "reason", "unexpected"])
    raw.loc[raw.index[0], "status"] = "flaky"
    page = write_report(raw, tmp_path / "r").read_text()
    assert "flaky" in page and sm.totals(raw)["unexpected"].sum() == 0


def test_history_append_replaces_a_rerun_and_grows(frame, tmp_path):
    path = tmp_path / "h" / "history.parquet"
    first = append_history(path, run_summary(frame))
    assert len(first) == 4 and set(first["label"]) == set(CONFIGS)
    row = first.set_index("label").loc["cpu-f32-dense"]
    assert (row["total"], row["passed"], row["trace_divergence"], row["unexpected"]) == (17, 15, 2, 2)
    assert len(append_history(path, run_summary(frame))) == 4  # the same run again: replaced
    later = synthetic_frame("20260102-120000").assign(status="pass")
    both = append_history(path, run_summary(later))
    assert len(both) == 8 and list(load_history(path)["run_id"].unique()) == ["20260101-120000", "20260102-120000"]
    page = write_report(frame, tmp_path / "r", ReportInputs(history=both)).read_text()
    assert 'src="history.png"' in page and "2 runs" in page


def test_history_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(bad)
    with pytest.raises(HistoryError, match="not a wasmconf history"):
        load_history(bad)


def _wasmconf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_cli_report_and_history(frame, tmp_path):
    results = tmp_path / "run"
    results.mkdir()
    frame.to_parquet(results / "results.parquet", index=False)
    hist = tmp_path / "history.parquet"
    proc = _wasmconf("report", str(results), "--out", str(tmp_path / "html"), "--history", str(hist),
                     "--append-history")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "html" / "index.html").exists() and hist.exists()
    page = (tmp_path / "html" / "index.html").read_text()
    assert "history.png" in page
    # the default tie threshold is the runner's near-tie rule (TIE_EPS machine epsilons): the pass that won a
    # look-up by 3 eps is listed as a latent risk
    assert "b.wast:3</a>" in page


@pytest.mark.parametrize("args,needle", [
    (["/nonexistent/results"], "no results at"),
    (["RESULTS", "--append-history"], "--append-history needs --history"),
    (["RESULTS", "--history", "/nonexistent/h.parquet"], "no history at"),
    (["RESULTS", "--tie-threshold", "0"], "must be positive"),
])
def test_cli_report_bad_input_is_one_line(frame, tmp_path, args, needle):
    frame.to_parquet(tmp_path / "results.parquet", index=False)
    args = [str(tmp_path / "results.parquet") if a == "RESULTS" else a for a in args]
    proc = _wasmconf("report", *args, "--out", str(tmp_path / "html"))
    assert proc.returncode == 2
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (apt-get install -y chromium)")
def test_screenshot_of_the_page_is_not_blank(frame, tmp_path):
    from matplotlib import image

    index = write_report(frame, tmp_path / "r", ReportInputs(sources=["synthetic"]))
    shot = tmp_path / "shot.png"
    proc = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--screenshot={shot}", "--window-size=1400,2000", index.as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shot.exists(), proc.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    pixels = image.imread(shot)
    assert pixels.reshape(-1, pixels.shape[-1]).std(axis=0).max() > 0.05  # not a single colour
