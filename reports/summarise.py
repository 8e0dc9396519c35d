"""The report's tables, as DataFrames: pure pandas over result rows (see reports/schema.py).

Every table names a run by its *label*: the config for executors that
have configs (``cpu-f32-hull``), the executor otherwise (``wasmtime``),
prefixed by the executor only when two executors share a config name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.executors.base import TIE_EPS

from .schema import STATUSES

# The testsuite commit the pinned copy comes from: file:line links point there.
TESTSUITE_URL = "https://github.com/WebAssembly/testsuite/blob/193e551/{file}#L{line}"

# A command is the same command on every config when these agree.
COMMAND = ["suite", "file", "line", "kind", "export", "args"]

# Statuses that say an executor computed something other than the reference did.
DIVERGENCE_STATUSES = ("trace_divergence", "config_divergence", "nondeterministic", "wrong_result", "wrong_trap")

# Attention margins below this are near-ties.  min_margin is the winning
# score's lead over the runner-up relative to the scores' magnitude, in
# units of the run's dtype eps (harness/executors/base.py), so one
# threshold serves f32 and f64 alike.
TIE_THRESHOLD = TIE_EPS

_NO_CONFIG = {"", "default", "none", "<na>"}


def statuses_in(df: pd.DataFrame) -> list[str]:
    """The statuses present in df: schema order first, then any newer ones (e.g. flaky)."""
    seen = set(df["status"].astype(str).unique())
    return [s for s in STATUSES if s in seen] + sorted(seen - set(STATUSES))


def with_labels(df: pd.DataFrame) -> pd.DataFrame:
    """df with a ``label`` column naming each row's (executor, config)."""
    df = df.copy()
    executor = df["executor"].astype(str)
    config = df["config"].fillna("").astype(str)
    has_config = ~config.str.lower().isin(_NO_CONFIG)
    label = executor.where(~has_config, config)
    pairs = pd.DataFrame({"label": label, "executor": executor}).drop_duplicates()
    clashing = set(pairs["label"][pairs["label"].duplicated(keep=False)])
    clash = label.isin(clashing) & has_config
    df["label"] = label.where(~clash, executor + ":" + config)
    return df


def labels(df: pd.DataFrame) -> list[str]:
    """The labels in df, by executor, then device, backend (dense first) and dtype (f64 first)."""
    if "label" not in df:
        df = with_labels(df)
    pairs = df[["executor", "config", "label"]].astype(str).drop_duplicates()
    key = [_config_key(c) for c in pairs["config"]]
    return list(pairs.assign(key=key).sort_values(["executor", "key"])["label"])


def _config_key(config: str) -> str:
    parts = config.split("-")
    if len(parts) != 3:
        return config
    device, dtype, backend = parts
    rank = {"f64": "0", "f32": "1"}.get(dtype, dtype)
    return f"{device}-{'0' if backend == 'dense' else backend}-{rank}"


def totals(df: pd.DataFrame) -> pd.DataFrame:
    """Per (executor, config): label, total, passed, pass %, unexpected, unexpected passes, a count per status."""
    df = with_labels(df)
    unexpected = df["unexpected"].astype(bool) if "unexpected" in df else pd.Series(False, index=df.index)
    g = df.assign(_pass=df["status"] == "pass", _unexp=unexpected,
                  _unexp_pass=unexpected & (df["status"] == "pass")).groupby("label", sort=False)
    out = pd.DataFrame({
        "executor": g["executor"].first().astype(str),
        "config": g["config"].first().astype(str),
        "total": g.size(),
        "passed": g["_pass"].sum(),
        "unexpected": g["_unexp"].sum(),
        "unexpected_pass": g["_unexp_pass"].sum(),
    })
    out["pass_pct"] = 100.0 * out["passed"] / out["total"]
    counts = pd.crosstab(df["label"], df["status"].astype(str))
    for s in statuses_in(df):
        out[s] = counts[s].reindex(out.index).fillna(0).astype(int) if s in counts else 0
    out = out.reindex(labels(df))
    out.index.name = "label"
    return out.reset_index()


def file_matrix(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(passed, total): files x labels; total is 0 where a config ran nothing of that file."""
    df = with_labels(df)
    order = labels(df)
    g = df.assign(_pass=df["status"] == "pass").groupby(["file", "label"])
    passed = g["_pass"].sum().unstack("label").reindex(columns=order).fillna(0).astype(int)
    total = g.size().unstack("label").reindex(columns=order).fillna(0).astype(int)
    return passed.sort_index(), total.sort_index()


@dataclass(frozen=True)
class Interop:
    """wpt.fyi-style interop: commands passing on every config, over every command seen on any config."""

    commands: int
    passing: int
    configs: tuple[str, ...]
    per_file: pd.DataFrame  # file, commands, passing, pct

    @property
    def pct(self) -> float:
        return 100.0 * self.passing / self.commands if self.commands else 0.0


def interop(df: pd.DataFrame) -> Interop:
    """Commands that pass, in every repeat, on every config present; a command missing from a config fails it."""
    df = with_labels(df)
    configs = tuple(labels(df))
    key = [c for c in COMMAND if c in df]
    per_cmd = df.assign(_pass=df["status"] == "pass").groupby(key + ["label"], dropna=False)["_pass"].all()
    wide = per_cmd.unstack("label").reindex(columns=list(configs))
    everywhere = wide.fillna(False).astype(bool).all(axis=1)
    by_file = everywhere.groupby(level="file")
    per_file = pd.DataFrame({"commands": by_file.size(), "passing": by_file.sum().astype(int)})
    per_file["pct"] = 100.0 * per_file["passing"] / per_file["commands"]
    return Interop(int(len(everywhere)), int(everywhere.sum()), configs, per_file.reset_index())


def _locations(rows: pd.DataFrame) -> pd.DataFrame:
    """rows with ``where`` (file:line) and ``url`` (a testsuite link, or '')."""
    rows = rows.copy()
    rows["where"] = rows["file"].astype(str) + ":" + rows["line"].astype(str)
    testsuite = rows["suite"].astype(str) == "testsuite"
    urls = [TESTSUITE_URL.format(file=f, line=n) for f, n in zip(rows["file"], rows["line"])]
    rows["url"] = pd.Series(urls, index=rows.index, dtype=object).where(testsuite, "")
    return rows


def divergences(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that computed something else (DIVERGENCE_STATUSES), earliest divergence step first per file:line."""
    df = with_labels(df)
    rows = df[df["status"].isin(DIVERGENCE_STATUSES)]
    rows = _locations(rows).sort_values(["file", "line", "label", "repeat"])
    cols = ["where", "url", "file", "line", "kind", "export", "label", "repeat", "status",
            "div_step", "div_field", "div_expected", "div_actual", "expected", "actual", "message"]
    # results read before expectations were applied have no verdict: none is unexpected
    for col, default in (("unexpected", False), ("expected_status", ""), ("reason", "")):
        if col not in rows:
            rows[col] = default
    cols += ["unexpected", "expected_status", "reason"]
    return rows[cols].reset_index(drop=True)


def first_divergences(df: pd.DataFrame) -> pd.DataFrame:
    """Per label: divergent rows, rows with a step, and the earliest step with its file:line and field."""
    rows = divergences(df)
    out = []
    for label in [lb for lb in labels(with_labels(df)) if lb in set(rows["label"])]:
        part = rows[rows["label"] == label]
        stepped = part[part["div_step"] >= 0]
        first = stepped.sort_values("div_step").iloc[0] if len(stepped) else None
        out.append({
            "label": label, "rows": len(part), "with_step": len(stepped),
            "statuses": ", ".join(f"{k} {v}" for k, v in part["status"].value_counts().items()),
            "first_step": int(first["div_step"]) if first is not None else -1,
            "median_step": float(stepped["div_step"].median()) if len(stepped) else float("nan"),
            "where": first["where"] if first is not None else "", "url": first["url"] if first is not None else "",
            "field": first["div_field"] if first is not None else "",
        })
    return pd.DataFrame(out, columns=["label", "rows", "with_step", "statuses", "first_step", "median_step",
                                      "where", "url", "field"])


def tie_breaks(df: pd.DataFrame, threshold: float = TIE_THRESHOLD) -> pd.DataFrame:
    """Rows marked tie_break or with a finite min_margin below threshold; smallest margin first."""
    df = with_labels(df)
    margin = df["min_margin"].astype(float)
    hit = (df["status"] == "tie_break") | (np.isfinite(margin) & (margin < threshold))
    rows = _locations(df[hit])
    rows = rows.assign(_m=rows["min_margin"].astype(float).fillna(np.inf)).sort_values(["_m", "file", "line"])
    cols = ["where", "url", "file", "line", "kind", "export", "label", "dtype", "repeat", "status",
            "min_margin", "steps", "message"]
    return rows[cols].reset_index(drop=True)


def margins(df: pd.DataFrame) -> pd.DataFrame:
    """label, dtype, min_margin and its log10 (-inf for exact ties) of rows with a finite margin and a dtype."""
    df = with_labels(df)
    margin = df["min_margin"].astype(float)
    dtype = df["dtype"].fillna("").astype(str)
    keep = np.isfinite(margin) & (dtype != "")
    out = pd.DataFrame({"label": df["label"][keep], "dtype": dtype[keep], "min_margin": margin[keep]})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["log10_margin"] = np.log10(out["min_margin"])  # -inf for an exact tie (margin 0)
    return out.reset_index(drop=True)


def horizon(df: pd.DataFrame) -> pd.DataFrame:
    """label and div_step of rows that left the reference trace (div_step >= 0)."""
    df = with_labels(df)
    rows = df[df["div_step"].fillna(-1) >= 0]
    return rows[["label", "file", "line", "div_step"]].reset_index(drop=True)
