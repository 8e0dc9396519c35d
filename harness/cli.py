"""The ``wasmconf`` command line."""
from __future__ import annotations

import datetime as dt
import glob
import json
import os
import sys
from pathlib import Path

import click

from .executors.base import TIE_EPS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT_ROOT / "conformance" / "wast"
REGRESSIONS = PROJECT_ROOT / "conformance" / "regressions"
EXPECTATIONS = PROJECT_ROOT / "conformance" / "expectations"


class UserError(click.ClickException):
    """A problem with the user's input: printed as one line, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"wasmconf: error: {self.format_message()}", err=True)


def _fail(message: str) -> UserError:
    return UserError(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmconf")
def main() -> None:
    """Conformance and determinism suite for transformers that execute WebAssembly."""


def discover(selection: tuple[str, ...], testsuite: str | None) -> list[tuple[Path, str]]:
    """(path, name) of the scripts to run; name is relative to the corpus root."""
    if testsuite:
        root = Path(testsuite)
        if not root.is_dir():
            raise _fail(f"testsuite directory not found: {testsuite}")
        roots = [root]
    else:
        roots = [CORPUS] + ([REGRESSIONS] if REGRESSIONS.is_dir() else [])
    found: list[tuple[Path, str]] = []
    if not selection:
        for root in roots:
            found += [(p, p.name if root != REGRESSIONS else f"regressions/{p.name}") for p in sorted(root.glob("*.wast"))]
        if not found:
            raise _fail(f"no .wast scripts in {roots[0]}")
        return found
    for item in selection:
        path = Path(item)
        if path.is_file():
            found.append((path, path.name))
            continue
        matches: list[Path] = []
        for root in roots:
            pattern = item if item.endswith(".wast") else f"{item}.wast"
            matches += sorted(Path(m) for m in glob.glob(str(root / pattern)))
            if not matches and any(c in item for c in "*?["):
                matches += sorted(Path(m) for m in glob.glob(str(root / item)) if m.endswith(".wast"))
        if not matches and any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item) if m.endswith(".wast"))
        if not matches:
            raise _fail(f"no script matches {item!r} (looked in {', '.join(str(r) for r in roots)})")
        for m in matches:
            root = next((r for r in roots if r in m.parents), None)
            found.append((m, str(m.relative_to(root)) if root else m.name))
    seen, unique = set(), []
    for p, n in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append((p, n))
    return unique


@main.command()
@click.argument("scripts", nargs=-1)
@click.option("--testsuite", envvar="WASM_TESTSUITE", help="Official testsuite checkout (default: the project's corpus in conformance/).")
@click.option("--executor", default="wasmtime", show_default=True, help="wasmtime, reference or transformer.")
@click.option("--config", "configs", multiple=True, help="Executor config, e.g. cpu-f64-dense (transformer); repeat or comma-separate for a matrix.")
@click.option("--repeat", type=int, default=1, show_default=True, help="Run every script this many times (nondeterminism check).")
@click.option("--batch", "batches", default="1", show_default=True,
              help="Batch sizes, comma-separated (transformer), e.g. 1,4: at N > 1 every invocation runs as a needle at a "
                   "random position among N - 1 other prompts; traces that differ from batch 1 are batch variance.")
@click.option("--max-steps", type=int, default=None,
              help="Transformer step limit per call (default: the executor's, 20000); longer calls are step_limit rows.")
@click.option("--max-prompt", type=int, default=None,
              help="Transformer prompt budget in tokens (default: none); calls with longer prompts are step_limit rows.")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes (default: CPU count).")
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads per worker.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None, help="Results folder (default: results/<timestamp>).")
@click.option("--expectations", "expectations_dir", type=click.Path(file_okay=False), default=str(EXPECTATIONS), show_default=True)
@click.option("--trace-dir", type=click.Path(file_okay=False), default=None, help="Write each traced command's trace here (parquet).")
@click.option("--no-oracle", is_flag=True, help="Do not compare traces with the reference interpreter.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-file table.")
def run(scripts, testsuite, executor, configs, repeat, batches, max_steps, max_prompt, jobs, threads, out, expectations_dir, trace_dir,
        no_oracle, quiet):
    """Run .wast scripts through an executor; write results and print a summary.

    SCRIPTS are file paths, names (i32, i32.wast) or globs (memory_*) relative
    to the corpus root; none means every top-level script.  Several configs
    and repeats make a matrix: commands whose repeats disagree are marked
    nondeterministic, and traces that differ from the f64 config's, or from
    the same config at batch 1, are marked config_divergence.
    """
    import pandas as pd

    from .detect import mark_batch_variance, mark_config_divergence, mark_nondeterministic
    from .executors import EXECUTORS
    from .expectations import ExpectationsError, load_expectations
    from .run import RunSpec, default_jobs
    from .summary import print_summary
    from .wast import ScriptError, load_script

    if executor not in EXECUTORS:
        raise _fail(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    configs = _check_configs(executor, configs)
    if repeat < 1:
        raise _fail("--repeat must be at least 1")
    try:
        batch_sizes = list(dict.fromkeys(int(b) for b in batches.split(",") if b.strip()))
    except ValueError:
        raise _fail(f"--batch takes comma-separated batch sizes, e.g. 1,4 (got {batches!r})") from None
    if not batch_sizes or min(batch_sizes) < 1:
        raise _fail(f"--batch sizes must be at least 1 (got {batches!r})")
    if executor != "transformer" and batch_sizes != [1]:
        raise _fail(f"--batch applies to the transformer executor only (got --executor {executor})")
    for flag, value in (("--max-steps", max_steps), ("--max-prompt", max_prompt)):
        if value is not None and (executor != "transformer" or value < 1):
            raise _fail(f"{flag} takes a positive count and applies to the transformer executor only")
    budgets = {k: v for k, v in (("max_steps", max_steps), ("max_prompt", max_prompt)) if v}
    try:
        expectations = load_expectations(Path(expectations_dir), executor)
    except ExpectationsError as e:
        raise _fail(str(e)) from None
    selected = discover(scripts, testsuite)
    loaded = []
    try:
        for path, name in selected:
            loaded.append(load_script(path, name))
    except ScriptError as e:
        raise _fail(str(e)) from None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    label = executor + ("-" + "+".join(c for c in configs if c) if any(configs) else "")
    out_dir = Path(out) if out else PROJECT_ROOT / "results" / f"{stamp}-{label}"
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, seconds, interrupted = [], 0.0, False
    if not configs:  # every config was skipped (CUDA configs on a machine without CUDA)
        from reports.schema import to_frame

        to_frame([]).assign(expected_status=[], reason=[], unexpected=[]).to_parquet(out_dir / "results.parquet", index=False)
        (out_dir / "run.json").write_text(json.dumps({"run_id": stamp, "executor": executor, "configs": [],
                                                      "skipped": "no CUDA", "commands": 0}, indent=2))
        click.echo(f"no config to run; results: {out_dir / 'results.parquet'} (empty)")
        return
    matrix = [(c, b, r) for c in configs for b in batch_sizes for r in range(repeat)]
    for config, batch, r in matrix:
        spec = RunSpec(
            executor=executor,
            config=config,
            oracle="reference" if executor == "transformer" and not no_oracle else None,
            trace_dir=trace_dir,
            suite="testsuite" if testsuite else "conformance",
            run_id=stamp,
            repeat=r,
            batch=batch,
            options=budgets,
            threads=threads,
            log_path=str(out_dir / "workers.log"),
        )
        name = f"{config or 'default'}{f'-b{batch}' if len(batch_sizes) > 1 else ''}-r{r}"
        sub = out_dir / (name if len(matrix) > 1 else "")
        result = _run_with_progress(loaded, spec, sub, jobs or default_jobs(), quiet)
        frames.append(result.frame)
        seconds += result.seconds
        if result.interrupted:
            interrupted = True
            break
    frame = pd.concat(frames, ignore_index=True)
    frame = mark_batch_variance(mark_config_divergence(mark_nondeterministic(frame)))
    frame = expectations.apply(frame)
    frame.to_parquet(out_dir / "results.parquet", index=False)
    meta = {
        "run_id": stamp, "executor": executor, "configs": list(configs), "repeat": repeat, "batch": batch_sizes,
        "scripts": len(loaded),
        "commands": int(len(frame)), "passed": int((frame["status"] == "pass").sum()),
        "unexpected": int(frame["unexpected"].sum()), "seconds": round(seconds, 2),
        "interrupted": interrupted, "testsuite": str(Path(testsuite).resolve()) if testsuite else None,
        "argv": sys.argv[1:],
    }
    (out_dir / "run.json").write_text(json.dumps(meta, indent=2))
    for (config, batch), part in frame.groupby(["config", "batch"], sort=False):
        if len(configs) > 1 or len(batch_sizes) > 1:
            click.echo(f"== {executor} {config}" + (f" batch {batch}" if len(batch_sizes) > 1 else ""))
        print_summary(part, per_file=not quiet, seconds=None if len(configs) * len(batch_sizes) > 1 else seconds)
    click.echo(f"results: {out_dir / 'results.parquet'}")
    if interrupted:
        click.echo("interrupted: the results hold the scripts that finished", err=True)
        sys.exit(130)


def _check_configs(executor: str, configs: tuple[str, ...]) -> list[str | None]:
    """The configs to run, checked; [None] for executors without configs."""
    from .executors import ConfigError, parse_config

    wanted = [c.strip() for item in configs for c in item.split(",") if c.strip()]
    if executor != "transformer":
        if wanted:
            raise _fail(f"executor {executor} takes no --config (got {wanted[0]!r})")
        return [None]
    wanted = wanted or ["cpu-f64-dense"]
    for config in wanted:
        try:
            parse_config(config)
        except ConfigError as e:
            raise _fail(str(e)) from None
    if any(parse_config(c)["variant"] for c in wanted):
        from .executors.transformer import _config

        for config in wanted:
            try:
                _config(config)  # the variant: tf32, dense_weights, torch_engine or a catalogued fault_<name>
            except ValueError as e:
                raise _fail(str(e)) from None
    if any(c.startswith("cuda") for c in wanted):
        import torch

        if not torch.cuda.is_available():
            missing = [c for c in wanted if c.startswith("cuda")]
            click.echo(f"skipped (no CUDA): {', '.join(missing)}", err=True)
            wanted = [c for c in wanted if not c.startswith("cuda")]
    return list(dict.fromkeys(wanted))


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--expectations", "expectations_dir", type=click.Path(file_okay=False), default=str(EXPECTATIONS), show_default=True)
@click.option("--testsuite", envvar="WASM_TESTSUITE", help="Testsuite for re-running unexpected results (default: the run's own).")
@click.option("--no-retry", is_flag=True, help="Do not re-run unexpected results.")
@click.option("--strict-flaky", is_flag=True, help="Fail the gate on flaky results too.")
@click.option("--jobs", "-j", type=int, default=None)
def gate(results, expectations_dir, testsuite, no_retry, strict_flaky, jobs):
    """Exit non-zero if RESULTS hold a result the expectations do not allow.

    Unexpected results (new failures, and expected failures that now pass)
    are re-run once; those expected on the retry are reported as flaky.
    """
    import tempfile

    from reports.schema import read_results

    from .expectations import ExpectationsError, load_expectations
    from .gate import gate as run_gate
    from .gate import retry_scripts
    from .run import default_jobs

    frame = _read_results(results)
    try:
        exps = {e: load_expectations(Path(expectations_dir), e) for e in frame["executor"].unique()}
    except ExpectationsError as e:
        raise _fail(str(e)) from None
    suite = testsuite or _run_testsuite(results)
    retry = None
    if not no_retry:
        scratch = Path(tempfile.mkdtemp(prefix="wasmconf-retry-"))
        retry = lambda rows: retry_scripts(rows, suite, scratch, jobs or default_jobs())  # noqa: E731
    result = run_gate(frame, exps, retry)
    for title, rows in (("unexpected", result.unexpected), ("flaky", result.flaky)):
        for r in rows.itertuples():
            click.echo(f"{title}: {r.file}:{r.line} {r.kind} [{r.executor} {r.config} r{r.repeat}] "
                       f"{r.status} (expected {r.expected_status}) {str(r.message or r.actual)[:120]}")
    click.echo(f"gate: {result.checked} results, {len(result.unexpected)} unexpected, {len(result.flaky)} flaky")
    if not result.ok or (strict_flaky and not result.flaky.empty):
        sys.exit(1)


@main.group()
def expectations() -> None:
    """Maintain conformance/expectations."""


@expectations.command("update")
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--expectations", "expectations_dir", type=click.Path(file_okay=False), default=str(EXPECTATIONS), show_default=True)
@click.option("--reason", default="unclassified", show_default=True,
              help="reason of the new entries (those that replace a dropped entry keep its reason)")
def expectations_update(results, expectations_dir, reason):
    """Bring each executor's expectations in line with RESULTS (entries kept, dropped, added; comments kept)."""
    from .expectations import ExpectationsError, update_expectations

    frame = _read_results(results)
    for executor in sorted(frame["executor"].unique()):
        try:
            done = update_expectations(frame, Path(expectations_dir), executor, reason=reason)
        except ExpectationsError as e:
            raise _fail(str(e)) from None
        click.echo(f"wrote {done['path']}: {done['kept']} entries kept, {done['narrowed']} narrowed to configs not run, "
                   f"{done['dropped']} dropped, {done['added']} added")


def _read_results(results):
    from reports.schema import read_results

    paths = [Path(r) for r in results]
    for p in paths:
        if not (p / "results.parquet" if p.is_dir() else p).exists():
            raise _fail(f"no results at {p}")
    try:
        return read_results(paths)
    except Exception as e:  # a corrupt or foreign file
        raise _fail(f"cannot read results: {e}") from None


def _run_testsuite(results) -> str | None:
    for r in results:
        meta = Path(r) / "run.json" if Path(r).is_dir() else Path(r).parent / "run.json"
        if meta.exists():
            return json.loads(meta.read_text()).get("testsuite")
    return None


def _run_with_progress(loaded, spec, out_dir, jobs, quiet):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .run import run_scripts

    if quiet or not sys.stderr.isatty() and os.environ.get("WASMCONF_PROGRESS") != "1":
        return run_scripts(loaded, spec, out_dir, jobs)
    total = sum(len(s.commands) for s in loaded)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[passed]} passed"), TimeElapsedColumn(), transient=True,
    ) as bar:
        task = bar.add_task(f"{spec.executor}", total=total, passed=0)
        passed = 0

        def progress(script, n, n_pass):
            nonlocal passed
            passed += n_pass
            bar.update(task, advance=n, passed=passed, description=f"{spec.executor} {script.name}")

        return run_scripts(loaded, spec, out_dir, jobs, progress)


def _parse_invoke_arg(text: str, type_: str | None):
    """A command-line argument (``i32:5``, ``f64:-0.5``, or ``5`` typed by the signature) as a Value."""
    from reference_model.values import Value, f32_from_float, f64_from_float, i32, i64

    if ":" in text:
        type_, text = text.split(":", 1)
    if type_ is None:
        raise _fail(f"argument {text!r}: give its type, e.g. i32:{text}")
    try:
        if type_ in ("i32", "i64"):
            n = int(text, 0)
            return i32(n) if type_ == "i32" else i64(n)
        if type_ in ("f32", "f64"):
            if text.startswith("0x") and "." not in text and "p" not in text:
                return Value(type_, int(text, 16))
            x = float.fromhex(text) if "p" in text else float(text)
            return f32_from_float(x) if type_ == "f32" else f64_from_float(x)
    except ValueError:
        raise _fail(f"argument {text!r} is not a valid {type_}") from None
    raise _fail(f"argument type {type_!r} is not supported on the command line")


@main.command()
@click.argument("module", type=click.Path())
@click.argument("export")
@click.argument("args", nargs=-1)
@click.option("--executor", default="transformer", show_default=True, help="wasmtime, reference or transformer.")
@click.option("--config", default="cpu-f64-dense", show_default=True, help="Transformer config.")
@click.option("--trace", "show_trace", is_flag=True, help="Print the trace records (trace executors).")
@click.option("--max-steps", type=int, default=None,
              help="Transformer step limit (default: the executor's, 20000); a longer call exits 6.")
def invoke(module, export, args, executor, config, show_trace, max_steps):
    """Instantiate MODULE (.wasm or .wat) and call EXPORT with ARGS; print the results.

    Results print as ``i32:55``, one per line.  Exit codes: 0 returned,
    3 trapped (message on stderr), 4 exhaustion, 5 unsupported, 6 step limit.
    """
    import wasmtime

    from reference_model.errors import Exhaustion, ExecutorOutcome, StepLimit, Trap, Unsupported

    from .executors import ConfigError, make_executor
    from .executors.signatures import export_signatures

    path = Path(module)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _fail(f"cannot read {module}: {e.strerror or e}") from None
    if not data.startswith(b"\0asm"):
        try:
            data = wasmtime.wat2wasm(data.decode("utf-8"))
        except (wasmtime.WasmtimeError, UnicodeDecodeError) as e:
            raise _fail(f"{module}: not a wasm binary and not valid text: {str(e).splitlines()[0]}") from None
    sig = export_signatures(data).get(export)
    params = sig[0] if sig else (None,) * len(args)
    if sig and len(args) != len(params):
        raise _fail(f"{export} takes {len(params)} argument(s) ({', '.join(params)}), got {len(args)}")
    values = [_parse_invoke_arg(a, t) for a, t in zip(args, params)]
    if max_steps is not None and max_steps < 1:
        raise _fail(f"--max-steps must be at least 1, got {max_steps}")
    options = {"max_steps": max_steps} if max_steps and executor == "transformer" else {}
    try:
        ex = make_executor(executor, config if executor == "transformer" else None, **options)
    except (ConfigError, ValueError) as e:
        raise _fail(str(e)) from None
    session = ex.open_session()
    try:
        instance = session.instantiate(data)
        inv = session.invoke(instance, export, values)
    except Trap as e:
        click.echo(f"trap: {e.message}", err=True)
        sys.exit(3)
    except Exhaustion as e:
        click.echo(f"exhaustion: {e.message}", err=True)
        sys.exit(4)
    except Unsupported as e:
        click.echo(e.message, err=True)
        sys.exit(5)
    except StepLimit as e:
        click.echo(f"step limit: {e.message}", err=True)
        sys.exit(6)
    except ExecutorOutcome as e:
        raise _fail(f"{type(e).__name__}: {e.message}") from None
    except LookupError as e:
        raise _fail(str(e).strip("'\"")) from None
    if show_trace and inv.trace:
        for rec in inv.trace:
            click.echo(rec.canonical(), err=True)
    for v in inv.values:
        click.echo(str(v))
    if inv.steps is not None and inv.steps >= 0:
        extra = f", {inv.tokens} tokens" if inv.tokens is not None and inv.tokens >= 0 else ""
        click.echo(f"({inv.steps} steps{extra}, trace {inv.trace_hash})", err=True)


@main.command("compile")
@click.option("--out", "out", type=click.Path(dir_okay=False), default="model.safetensors", show_default=True)
def compile_weights(out):
    """Compile the reference interpreter into transformer weights and save them (safetensors)."""
    from reference_model.weights import compile_to_file, load

    path = compile_to_file(out)
    config, state = load(path)
    n = sum(t.numel() for t in state.values())
    click.echo(f"wrote {path}: {len(state)} tensors, {n} parameters")


@main.command()
@click.argument("results", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Folder for index.html and its figures.")
@click.option("--history", "history_path", type=click.Path(dir_okay=False), default=None,
              help="Run-history parquet to plot (e.g. reports/history.parquet).")
@click.option("--append-history", is_flag=True, help="Add this run's per-config summary to --history (creating it).")
@click.option("--tie-threshold", type=float, default=TIE_EPS, show_default=True,
              help="Attention margins (min_margin, in machine epsilons of the run's dtype) below this are listed as "
                   "near-ties; the default is the runner's near-tie rule.")
def report(results, out, history_path, append_history, tie_threshold):
    """Write a static HTML report (OUT/index.html) of RESULTS: totals, per-file heat map, interop, divergences, ties."""
    import time

    from reports.history import HistoryError, append_history as add_to_history, load_history, run_summary
    from reports.html import ReportInputs, write_report

    if append_history and not history_path:
        raise _fail("--append-history needs --history PATH")
    if not tie_threshold > 0:
        raise _fail("--tie-threshold must be positive")
    frame = _read_results(results)
    if frame.empty:
        raise _fail("the results hold no rows")
    missing = [c for c in ("executor", "config", "file", "line", "kind", "status") if c not in frame]
    if missing:
        raise _fail(f"not wasmconf results: missing column(s) {', '.join(missing)}")
    started = time.perf_counter()
    history = None
    try:
        if append_history:
            history = add_to_history(Path(history_path), run_summary(frame))
        elif history_path:
            history = load_history(Path(history_path))
    except HistoryError as e:
        raise _fail(str(e)) from None
    index = write_report(frame, Path(out), ReportInputs(sources=[str(r) for r in results], history=history,
                                                        tie_threshold=tie_threshold))
    click.echo(f"report: {index} ({len(frame)} rows, {time.perf_counter() - started:.1f} s)")
    if append_history:
        click.echo(f"history: {history_path} ({history['run_id'].nunique()} runs)")


@main.command()
@click.option("--seconds", type=float, default=60.0, show_default=True, help="How long to generate cases (shrinking a finding may add up to --shrink-seconds).")
@click.option("--executor", "executors", multiple=True, help="Executors under test, repeat or comma-separate: reference, transformer (default: reference). wasmtime is always the oracle.")
@click.option("--configs", "--config", "configs", multiple=True, help="Transformer configs, repeat or comma-separate (default: cpu-f64-dense).")
@click.option("--generator", type=click.Choice(["smith", "i32", "loops"]), default="smith", show_default=True, help="wasm-smith modules, i32-only structured programs, or long-running loops.")
@click.option("--seed", type=int, default=None, help="Seed hypothesis (default: random).")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None, help="Results folder (default: results/<timestamp>-fuzz-<generator>).")
@click.option("--regressions", "regressions_dir", type=click.Path(file_okay=False), default=str(REGRESSIONS), show_default=True, help="Where shrunk failures are saved as .wast scripts.")
@click.option("--no-save", is_flag=True, help="Do not save regression scripts.")
@click.option("--max-findings", type=int, default=None, help="Stop after this many distinct failures.")
@click.option("--max-steps", type=int, default=None, help="Transformer step limit per call (default: the executor's; 400000 for --generator loops).")
@click.option("--shrink-attempts", type=int, default=200, show_default=True, help="wasm-tools shrink attempts per finding.")
@click.option("--shrink-seconds", type=float, default=120.0, show_default=True, help="Time shrinking one finding may take in all (hypothesis, then wasm-tools shrink).")
@click.option("--expectations", "expectations_dir", type=click.Path(file_okay=False), default=str(EXPECTATIONS), show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def fuzz(seconds, executors, configs, generator, seed, out, regressions_dir, no_save, max_findings, max_steps,
         shrink_attempts, shrink_seconds, expectations_dir, quiet):
    """Differential fuzzing: generated modules on wasmtime (the oracle) and the executors under test.

    Each case is a module and calls with edge-biased arguments; every call
    on every executor becomes a result row (suite "fuzz"), written as
    results.parquet + run.json like ``wasmconf run``, so ``wasmconf report``
    works on them (``wasmconf gate --no-retry``: fuzz cases are not scripts).
    A new failure is shrunk and saved under --regressions as a .wast
    script, which every later ``wasmconf run`` runs.
    """
    import pandas as pd

    from reports.schema import to_frame

    from .executors import ConfigError, make_executor, parse_config
    from .expectations import ExpectationsError, load_expectations
    from .fuzz.campaign import run_campaign
    from .fuzz.compare import Differential, label
    from .fuzz.generate import cases
    from .wast import cache_dir

    if not seconds > 0:
        raise _fail("--seconds must be positive")
    for name, value in (("--max-findings", max_findings), ("--max-steps", max_steps), ("--shrink-attempts", shrink_attempts)):
        if value is not None and value < 1:
            raise _fail(f"{name} must be at least 1")
    names = [e.strip() for item in executors for e in item.split(",") if e.strip()] or ["reference"]
    names = list(dict.fromkeys(n for n in names if n != "wasmtime")) or ["reference"]
    for n in names:
        if n not in ("reference", "transformer"):
            raise _fail(f"unknown executor {n!r} to fuzz: choose reference and/or transformer (wasmtime is the oracle)")
    wanted = [c.strip() for item in configs for c in item.split(",") if c.strip()]
    if wanted and "transformer" not in names:
        raise _fail(f"--config applies to the transformer executor only (got {wanted[0]!r})")
    if "transformer" in names:
        wanted = wanted or ["cpu-f64-dense"]
        for c in wanted:
            try:
                parse_config(c)
            except ConfigError as e:
                raise _fail(str(e)) from None
        if any(c.startswith("cuda") for c in wanted):
            import torch

            if not torch.cuda.is_available():
                raise _fail("a cuda config needs CUDA, and no CUDA device is available")
    try:
        exps = {n: load_expectations(Path(expectations_dir), n) for n in names}
    except ExpectationsError as e:
        raise _fail(str(e)) from None
    if max_steps is None and generator == "loops":
        max_steps = 400_000
    targets = []
    try:
        for n in names:
            if n == "transformer":
                options = {"max_steps": max_steps} if max_steps else {}
                targets += [make_executor(n, c, **options) for c in wanted]
            else:
                targets.append(make_executor(n))
    except (ConfigError, ValueError) as e:
        raise _fail(str(e)) from None
    options = {"memory": "transformer" not in names} if generator == "loops" else {}
    strategy = cases(generator, **options)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out) if out else PROJECT_ROOT / "results" / f"{stamp}-fuzz-{generator}"
    out_dir.mkdir(parents=True, exist_ok=True)
    differential = Differential(targets, run_id=stamp, seed=seed)
    found_by = "wasmconf fuzz " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "wasmconf fuzz"
    result = _fuzz_with_progress(
        run_campaign, strategy, differential, quiet,
        seconds=seconds, seed=seed, database=cache_dir() / "hypothesis",
        regressions=None if no_save else Path(regressions_dir), shrink_attempts=shrink_attempts,
        shrink_seconds=shrink_seconds, max_findings=max_findings, name=f"fuzz-{generator}-{'+'.join(map(label, targets))}",
        found_by=found_by,
    )
    frame = to_frame(result.rows)
    if not frame.empty:
        frame = pd.concat([exps[e].apply(part) for e, part in frame.groupby("executor", sort=False)], ignore_index=True)
    frame.to_parquet(out_dir / "results.parquet", index=False)
    (out_dir / "hypothesis.log").write_text("\n".join(result.log))
    rates = {lab: {"cases": result.executor_cases.get(lab, 0), "seconds": round(s, 3),
                   "cases_per_s": round(result.executor_cases.get(lab, 0) / s, 2) if s > 0 else None}
             for lab, s in result.executor_seconds.items()}
    meta = {
        "run_id": stamp, "suite": "fuzz", "generator": generator, "seed": seed, "executors": names, "configs": wanted,
        "cases": result.cases, "commands": int(len(frame)), "passed": int((frame["status"] == "pass").sum()),
        "unexpected": int(frame["unexpected"].sum()) if "unexpected" in frame else 0,
        "seconds": round(result.seconds, 2), "executor_rates": rates, "interrupted": result.interrupted,
        "findings": [{"executor": f.failure.executor, "status": f.failure.status, "export": f.failure.export,
                      "script": str(f.script) if f.script else None, "original_bytes": f.original_bytes,
                      "bytes": len(f.case.wasm), "instructions": f.instructions,
                      "seconds_to_find": round(f.seconds_to_find, 2), "seconds_to_shrink": round(f.seconds_to_shrink, 2)}
                     for f in result.findings],
        "testsuite": None, "argv": sys.argv[1:],
    }
    (out_dir / "run.json").write_text(json.dumps(meta, indent=2))
    click.echo(f"fuzz {generator}: {result.cases} cases in {result.seconds:.1f} s ({result.cases / max(result.seconds, 1e-9):.1f} cases/s overall)")
    for lab, r in rates.items():
        click.echo(f"  {lab:<32} {r['cases']:>7} cases  {r['seconds']:>9.2f} s  {r['cases_per_s'] or 0:>9.1f} cases/s")
    if not frame.empty:
        counts = frame.groupby(["executor", "config", "status"]).size()
        for (e, c, s), n in counts.items():
            click.echo(f"  {e} {c}: {s} {n}")
    for f in result.findings:
        click.echo(f"finding: {f.failure.executor} {f.failure.status} on {f.failure.export or 'instantiation'}: "
                   f"{f.original_bytes} -> {len(f.case.wasm)} bytes, {f.instructions} instructions"
                   + (f", saved {f.script}" if f.script else ""))
    click.echo(f"results: {out_dir / 'results.parquet'}")
    if result.interrupted:
        click.echo("interrupted: the results hold the cases that finished", err=True)
        sys.exit(130)


def _fuzz_with_progress(run_campaign, strategy, differential, quiet, **kwargs):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if quiet or not sys.stderr.isatty() and os.environ.get("WASMCONF_PROGRESS") != "1":
        return run_campaign(strategy, differential, **kwargs)
    with Progress(
        TextColumn("[bold]fuzz"), BarColumn(), TextColumn("{task.fields[cases]} cases"),
        TextColumn("{task.fields[failing]} failing rows"), TextColumn("{task.fields[findings]} findings"),
        TimeElapsedColumn(), transient=True,
    ) as bar:
        task = bar.add_task("fuzz", total=kwargs["seconds"], cases=0, failing=0, findings=0)
        failing = 0
        seen = 0

        def progress(result, elapsed):
            nonlocal failing, seen
            failing += sum(r["status"] in ("wrong_result", "wrong_trap", "trace_divergence", "harness_error")
                           for r in result.rows[seen:])
            seen = len(result.rows)
            bar.update(task, completed=min(elapsed, kwargs["seconds"]), cases=result.cases, failing=failing,
                       findings=len(result.findings))

        return run_campaign(strategy, differential, progress=progress, **kwargs)
