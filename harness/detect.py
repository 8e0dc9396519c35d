"""Statuses that only a set of rows can reveal: repeats that disagree, configs that disagree.

A single row can say "this trace left the reference at step 812"; only the
rows of one command across repeats can say "nondeterministic", and only
its rows across configs can say "config_divergence".  Both rewrite rows
that would otherwise pass, since a more specific failure already explains
a row that does not.
"""
from __future__ import annotations

import pandas as pd

KEY = ["file", "line", "kind", "export", "args"]


def _fingerprint(df: pd.DataFrame) -> pd.Series:
    return df["status"].astype(str) + "|" + df["actual"].astype(str) + "|" + df["trace_hash"].astype(str)


def _batch(df: pd.DataFrame) -> pd.Series:
    """The rows' batch sizes (1 where a frame has no batch column)."""
    return df["batch"] if "batch" in df else pd.Series(1, index=df.index, name="batch")


def mark_nondeterministic(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of a command whose repeats (same config) disagree become ``nondeterministic``."""
    if df.empty or df["repeat"].nunique() < 2:
        return df
    df = df.copy()
    fp = _fingerprint(df)
    distinct = fp.groupby([df[k] for k in KEY + ["config"]] + [_batch(df)]).transform("nunique")
    hit = (distinct > 1) & (df["status"] == "pass")
    df.loc[hit, "message"] = "distinct results over repeats: " + distinct[hit].astype(str)
    df.loc[hit, "status"] = "nondeterministic"
    return df


def mark_config_divergence(df: pd.DataFrame, baseline: str | None = None) -> pd.DataFrame:
    """Passing rows whose trace differs from the baseline config's trace become ``config_divergence``.

    The baseline is the given config, else the first config in sort order
    whose dtype is f64 (the reference configs), else the first config.
    """
    traced = df[df["trace_hash"].astype(str) != ""]
    if traced.empty or traced["config"].nunique() < 2:
        return df
    configs = sorted(traced["config"].unique())
    if baseline is None:
        baseline = next((c for c in configs if "-f64-" in f"{c}-"), configs[0])
    batch = _batch(traced)
    base = traced[(traced["config"] == baseline) & (traced["repeat"] == 0) & (batch == batch.min())]
    base_hash = dict(zip(map(tuple, base[KEY].to_numpy()), base["trace_hash"]))
    df = df.copy()
    keys = list(map(tuple, df[KEY].to_numpy()))
    for i, (key, cfg, h, status) in enumerate(zip(keys, df["config"], df["trace_hash"], df["status"])):
        ref = base_hash.get(key)
        if cfg != baseline and status == "pass" and h and ref and h != ref:
            idx = df.index[i]
            df.at[idx, "status"] = "config_divergence"
            df.at[idx, "message"] = f"trace differs from {baseline} ({ref} vs {h})"
    return df


def mark_batch_variance(df: pd.DataFrame) -> pd.DataFrame:
    """Passing rows run inside a batch whose trace differs from the same command run alone become ``config_divergence``.

    The batch-invariance "needle" check: at batch N > 1 every invocation ran
    at a random position among N - 1 other prompts (harness/executors/transformer.py);
    its trace must equal the batch-1 trace of the same command, config and repeat.
    """
    if df.empty or "batch" not in df or df["batch"].nunique() < 2 or (df["batch"] == 1).sum() == 0:
        return df
    single = df[df["batch"] == 1]
    alone = {(*k, c, r): (h, st) for k, c, r, h, st in zip(map(tuple, single[KEY].to_numpy()), single["config"],
                                                          single["repeat"], single["trace_hash"], single["status"])}
    df = df.copy()
    keys = list(map(tuple, df[KEY].to_numpy()))
    for i, (key, cfg, rep, b, h, status) in enumerate(zip(keys, df["config"], df["repeat"], df["batch"],
                                                         df["trace_hash"], df["status"])):
        ref, ref_status = alone.get((*key, cfg, rep), ("", ""))
        if b <= 1:
            continue
        idx = df.index[i]
        if status == "pass" and h and ref and h != ref:
            df.at[idx, "status"] = "config_divergence"
            df.at[idx, "message"] = f"batch variance: the trace at batch {b} differs from batch 1 ({ref} vs {h})"
        elif status != "pass" and ref_status == "pass":  # the more specific status stays; say what caused it
            df.at[idx, "message"] = f"batch variance (passes at batch 1): {df.at[idx, 'message']}"
    return df
