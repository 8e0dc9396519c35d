"""A time-boxed fuzzing campaign: generate, compare, shrink what fails, save it as a regression.

Hypothesis drives generation (its example database under
``harness.wast.cache_dir() / "hypothesis"``, so earlier failures are
replayed first).  Every generated case is compared and its rows kept.  The
first case showing a *new* failure (executor, status, export not seen
before in this campaign) stops generation: hypothesis shrinks it, every
candidate re-checked for that same failure; ``wasm-tools shrink`` then
reduces the module, and the result is saved as a .wast regression script.
Generation then resumes in a new round until the time is up.  Failures
already seen still give rows but are not shrunk again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.reporting import with_reporter

from .case import FuzzCase
from .compare import CaseResult, Differential
from .shrink import Failure, regression_script, save_regression, still_failing, wasm_shrink

# the share of --shrink-seconds hypothesis gets; wasm-tools shrink has the rest.  Hypothesis shrinks the
# generator's choices (whole sub-expressions at a time), which is where most of the size goes; wasm-tools
# shrink mutates at random and often finds nothing within its budget (seed 7, fault_xor: 59 -> 59 bytes).
HYPOTHESIS_SHARE = 0.8


class _TimeUp(BaseException):
    """The campaign's time is over (a BaseException: hypothesis lets it through without shrinking)."""


class _Found(Exception):
    """The case shows the failure being hunted (hypothesis shrinks on it)."""


@dataclass
class Finding:
    """One distinct failure: the row that showed it, and the case shrunk to reproduce it."""

    failure: Failure
    row: dict
    case: FuzzCase
    original_bytes: int
    seconds_to_find: float  # from the start of the campaign
    seconds_to_shrink: float
    hypothesis_bytes: int = 0  # after hypothesis's shrinking, before wasm-tools shrink
    script: Path | None = None

    @property
    def instructions(self) -> int:
        """Instructions in the shrunk module's function bodies (``wasm-tools print``, one per line)."""
        from .shrink import module_text

        body = [ln.strip() for ln in module_text(self.case.wasm).splitlines()]
        skip = ("(module", "(type", "(func", "(global", "(memory", "(export", "(table", "(data", "(elem", "(local",
                "(import", "(start", ")")
        return sum(1 for ln in body if ln and not ln.startswith(skip))


@dataclass
class CampaignResult:
    rows: list[dict] = field(default_factory=list)
    cases: int = 0
    seconds: float = 0.0
    executor_seconds: dict[str, float] = field(default_factory=dict)
    executor_cases: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    interrupted: bool = False
    log: list[str] = field(default_factory=list)  # hypothesis's reports


def run_campaign(
    strategy: st.SearchStrategy[FuzzCase],
    differential: Differential,
    *,
    seconds: float,
    seed: int | None = None,
    database: Path | None = None,
    regressions: Path | None = None,
    shrink_attempts: int = 200,
    shrink_seconds: float = 120.0,
    max_findings: int | None = None,
    name: str = "fuzz",
    found_by: str = "",
    progress: Callable[[CampaignResult, float], None] | None = None,
) -> CampaignResult:
    """Fuzz for ``seconds`` (plus up to ``shrink_seconds`` per finding to shrink it, in all); rows and findings.

    ``regressions``: folder the shrunk findings are saved in as .wast
    scripts (none saved if None).  ``max_findings`` stops the campaign
    early.  A KeyboardInterrupt ends it with what it has.
    """
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    out = CampaignResult()
    start = time.monotonic()
    deadline = start + seconds
    known: set[Failure] = set()
    db = DirectoryBasedExampleDatabase(str(database)) if database else None
    round_no = 0

    def keep(result: CaseResult) -> None:
        out.rows += result.rows
        out.cases += 1
        for lab, s in result.seconds.items():
            out.executor_seconds[lab] = out.executor_seconds.get(lab, 0.0) + s
            out.executor_cases[lab] = out.executor_cases.get(lab, 0) + 1
        if progress:
            progress(out, time.monotonic() - start)

    try:
        while time.monotonic() < deadline and (max_findings is None or len(out.findings) < max_findings):
            hunt: dict = {"failure": None, "best": None, "found_at": 0.0, "shrink_deadline": 0.0}

            def fuzz_one(case: FuzzCase) -> None:
                now = time.monotonic()
                if hunt["failure"] is None and now > deadline or hunt["failure"] and now > hunt["shrink_deadline"]:
                    raise _TimeUp()
                result = differential.check(case)
                if hunt["failure"] is None:
                    keep(result)
                    new = [r for r in result.failures if Failure.of_row(r) not in known]
                    if new:
                        hunt.update(failure=Failure.of_row(new[0]), best=(case, new[0]), first=case,
                                    found_at=time.monotonic() - start,
                                    shrink_deadline=time.monotonic() + shrink_seconds * HYPOTHESIS_SHARE)
                    row = new[0] if new else None
                else:
                    row = hunt["failure"].found_in(result.rows)
                    if row is not None and len(case.wasm) <= len(hunt["best"][0].wasm):
                        hunt["best"] = (case, row)
                if row is not None:  # one raise site: hypothesis tells failures apart by where they are raised
                    raise _Found(str(hunt["failure"]))

            test = given(case=strategy)(fuzz_one)
            test = settings(database=db, max_examples=10**9, deadline=None, derandomize=False,
                            suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink))(test)
            if seed is not None:
                test = hypothesis_seed(seed * 1000 + round_no)(test)
            test.hypothesis.inner_test._hypothesis_internal_add_digest = name.encode()
            round_no += 1
            try:
                with with_reporter(out.log.append):
                    test()
            except _TimeUp:
                pass
            except Exception as e:  # noqa: BLE001 - _Found after shrinking, or hypothesis gave up / flaked
                if not isinstance(e, _Found) and hunt["failure"] is None:
                    out.log.append(f"round {round_no}: {type(e).__name__}: {e}")
            if hunt["failure"] is None:
                continue
            out.findings.append(_finish(hunt, differential, start, regressions, seed, found_by, shrink_attempts,
                                        shrink_seconds))
            known.add(hunt["failure"])
    except KeyboardInterrupt:
        out.interrupted = True
    out.seconds = time.monotonic() - start
    return out


def _finish(hunt: dict, differential: Differential, start: float, regressions: Path | None, seed: int | None,
            found_by: str, attempts: int, shrink_seconds: float) -> Finding:
    """wasm-tools shrink the hypothesis-shrunk case and save it; the Finding.

    Shrinking a finding takes at most ``shrink_seconds`` in all: hypothesis
    has the first HYPOTHESIS_SHARE of it, ``wasm-tools shrink`` what is left (at least 5 s).
    """
    failure: Failure = hunt["failure"]
    case, row = hunt["best"]
    hyp_bytes = len(case.wasm)
    interesting = still_failing(differential, failure)
    left = start + hunt["found_at"] + shrink_seconds - time.monotonic()
    shrunk = wasm_shrink(case, interesting, attempts=attempts, timeout=max(5.0, left))
    if shrunk is not case:
        case, row = shrunk, interesting(shrunk) or row
    finding = Finding(failure, row, case, original_bytes=len(hunt["first"].wasm),
                      seconds_to_find=hunt["found_at"], seconds_to_shrink=time.monotonic() - hunt["found_at"] - start,
                      hypothesis_bytes=hyp_bytes)
    if regressions is not None:
        text = regression_script(case, row, seed=seed, found_by=found_by)
        config = "" if row["config"] in ("default", "") else f"-{row['config']}"
        finding.script = save_regression(regressions, f"{case.generator}-{row['executor']}{config}-{case.digest}", text)
    return finding
