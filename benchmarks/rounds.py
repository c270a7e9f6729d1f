"""benchmarks/throughput.py's measurements of one round (``Round``) and how they are printed:
per round, and the Markdown table of all rounds."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field


def p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def load() -> str:
    """The machine's load average (1, 5, 15 min): other work shares these cores."""
    return "load average " + ", ".join(f"{n:.1f}" for n in os.getloadavg())


@dataclass
class Round:
    """What one number of workers measured."""

    workers: int
    local_rate: float = 0.0  # jobs per minute
    local_overhead: list[float] = field(default_factory=list)  # s per job
    local_engine: list[float] = field(default_factory=list)
    local_loading: list[float] = field(default_factory=list)
    local_wall: list[float] = field(default_factory=list)
    local_collecting: list[float] = field(default_factory=list)  # engine done to succeeded
    local_cycle: float = 0.0  # worker seconds per job beyond the engine's
    camb_rate: float = 0.0
    camb_overhead: list[float] = field(default_factory=list)  # wall - provider - poll wait
    camb_submitting: list[float] = field(default_factory=list)  # claimed to submission answered
    camb_collecting: list[float] = field(default_factory=list)  # SUCCESS seen to succeeded
    camb_poll_wait: list[float] = field(default_factory=list)
    camb_provider: list[float] = field(default_factory=list)
    camb_submit_s: float = 0.0
    busy_mean: float = 0.0
    busy_max: int = 0
    checks: int = 0  # status checks RQ ran (none while the checker runs)
    check_horse_s: float = 0.0  # median time of one check in the work-horse
    checker_checks: int = 0  # status checks the checker process ran
    checker_cpu_ms: float = 0.0  # the checker's CPU time per check
    problems: list[str] = field(default_factory=list)


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.2f} s, p95 {p95(values):.2f} s"


def report(result: Round, jobs: int, wait_s: float) -> None:
    r = result
    print(f"{r.workers} worker{'s' if r.workers > 1 else ''} ({load()} at the end):")
    loading = f" (models loaded: {_spread(r.local_loading)})" if r.local_loading else ""
    print(f"  local: {r.local_rate:.1f} jobs/min; wall {_spread(r.local_wall)}")
    print(f"    engine {_spread(r.local_engine)}{loading}")
    print(
        f"    overhead (wall - engine) {_spread(r.local_overhead)}, "
        f"max {max(r.local_overhead, default=0):.2f} s"
    )
    print(f"      of which collecting (engine done to succeeded) {_spread(r.local_collecting)}")
    print(f"    worker time per job beyond the engine: {r.local_cycle:.2f} s")
    print(f"  CAMB.AI: {jobs} submitted in {r.camb_submit_s:.1f} s")
    print(
        f"    while all {jobs} waited {wait_s:.0f} s on the sandbox: busy workers mean "
        f"{r.busy_mean:.3f}, max {r.busy_max}; the checker ran {r.checker_checks} checks "
        f"({r.checker_checks / wait_s:.1f}/s, {r.checker_cpu_ms:.1f} ms of its CPU each); "
        f"the workers ran {r.checks}"
        + (f" ({r.check_horse_s * 1000:.0f} ms each in the work-horse, median)" if r.checks else "")
    )
    print(f"    after the sandbox was let go: {r.camb_rate:.1f} jobs/min")
    print(f"    provider time {_spread(r.camb_provider)}; poll wait {_spread(r.camb_poll_wait)}")
    print(f"    overhead (wall - provider - poll wait) {_spread(r.camb_overhead)}")
    print(
        f"      of which submitting (claim to answer) {_spread(r.camb_submitting)}; "
        f"collecting (SUCCESS to succeeded) {_spread(r.camb_collecting)}"
    )
    for problem in r.problems:
        print(f"  PROBLEM: {problem}")
    print(flush=True)


def table(rounds: list[Round]) -> None:
    print(
        "| workers | local jobs/min | local overhead median / p95 | CAMB.AI jobs/min "
        "| CAMB.AI overhead median / p95 (poll wait) | busy workers while CAMB.AI jobs wait "
        "(mean / max) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rounds:
        local = r.local_overhead or [0.0]
        camb = r.camb_overhead or [0.0]
        wait = statistics.median(r.camb_poll_wait) if r.camb_poll_wait else 0.0
        print(
            f"| {r.workers} | {r.local_rate:.1f} | {statistics.median(local):.2f} / "
            f"{p95(local):.2f} s | {r.camb_rate:.1f} | {statistics.median(camb):.2f} / "
            f"{p95(camb):.2f} s (+{wait:.1f} s) | {r.busy_mean:.3f} / {r.busy_max} |"
        )
