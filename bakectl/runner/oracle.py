"""Check a benchmark's scorers: the oracle must score 1 on every task, nop below 1.

A task whose reference solution fails, or whose scorer passes an untouched
workdir, is broken; this finds both through the real verifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bakectl.render.renderer import Renderer
from bakectl.render.select import eval_targets
from bakectl.runner.task_run import RunOptions, TaskResult, ensure_images

ORACLE, NOP = "oracle", "nop"


@dataclass
class OracleRow:
    task: str
    oracle: TaskResult | None
    nop: TaskResult | None
    problem: str = ""  # input that kept a run from starting (e.g. no solution/)

    @property
    def oracle_ok(self) -> bool:
        return self.oracle is not None and self.oracle.status == "passed"

    @property
    def nop_ok(self) -> bool:
        # nop must be scored, and score below 1: an error is not a pass for the scorer.
        return self.nop is not None and self.nop.status == "failed"

    @property
    def ok(self) -> bool:
        return self.oracle_ok and self.nop_ok


def check_oracle(
    renderer: Renderer,
    benchmark: str,
    task_ids: list[str] | None,
    options: RunOptions,
    on_row=None,
) -> tuple[list[OracleRow], Path]:
    """Run oracle and nop on each task (all when task_ids is None), as one job: the
    oracle's attempts in <out>/<job_id>/, the nop job inside it (<job_id>/nop/). Images
    are built first, in one bake graph, unless options.build is False."""
    from bakectl.runner.batch import BatchInterrupted, run_rollouts
    from bakectl.runner.job import new_job_id

    catalog = renderer.catalog
    ids = task_ids or catalog.task_ids(benchmark)
    for t in ids:
        catalog.task(benchmark, t)  # unknown ids fail before anything runs
    targets = []
    for agent in (ORACLE, NOP):
        for t in eval_targets(renderer, benchmark, agent, ids):
            if t not in targets:
                targets.append(t)
    ensure_images(renderer, targets, build=options.build, dry_run=options.dry_run)
    job_id = new_job_id(benchmark, ORACLE)
    common = dict(build=False, timeout_sec=options.timeout_sec, echo=options.echo)
    got: dict[str, dict[str, TaskResult]] = {ORACLE: {}, NOP: {}}
    job_dir = Path(options.out_dir).resolve() / job_id
    for agent, out, jid in ((ORACLE, options.out_dir, job_id), (NOP, job_dir, NOP)):
        try:
            results = run_rollouts(
                renderer, benchmark, ids, agent, out_dir=out, job_id=jid, **common
            )
        except BatchInterrupted:
            raise KeyboardInterrupt from None
        got[agent] = {r.task: r for r in results}
    rows: list[OracleRow] = []
    for task_id in ids:
        row = OracleRow(task_id, got[ORACLE].get(task_id), got[NOP].get(task_id))
        for agent in (ORACLE, NOP):
            res = getattr(row, agent)
            if res is not None and res.status == "invalid":
                row.problem = f"{agent}: {res.message}"
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows, job_dir


def _cell(res: TaskResult | None) -> str:
    if res is None:
        return "-"
    if res.reward is None:
        return res.status
    return f"{res.status} {res.reward:g}"


def format_table(rows: list[OracleRow]) -> str:
    header = ("task", "oracle", "nop", "ok")
    body = [(r.task, _cell(r.oracle), _cell(r.nop), "yes" if r.ok else "NO") for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(4)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *body]
    ]
    for r in rows:
        for res in (r.oracle, r.nop):
            if res is not None and (res.status == "error" or res.message):
                lines.append(
                    f"# {r.task} x {res.agent}: {res.status}: {res.message} ({res.run_dir})"
                )
        if r.problem:
            lines.append(f"# {r.task}: {r.problem}")
    return "\n".join(lines)
