"""Check a benchmark's scorers: the oracle must score 1 on every task, nop below 1.

A task whose reference solution fails, or whose scorer passes an untouched
workdir, is broken; this finds both through the real verifier.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bakectl.errors import BakectlError
from bakectl.render.renderer import Renderer
from bakectl.render.select import eval_targets
from bakectl.runner.task_run import RunOptions, TaskResult, ensure_images, run_task

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
) -> list[OracleRow]:
    """Run oracle and nop on each task (all when task_ids is None). Images are built first,
    in one bake graph, unless options.build is False."""
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
    rows: list[OracleRow] = []
    for task_id in ids:
        row = OracleRow(task_id, None, None)
        for agent in (ORACLE, NOP):
            opts = replace(options, build=False, run_id=None)
            try:
                res = run_task(renderer, benchmark, task_id, agent, opts)
            except BakectlError as exc:
                row.problem = f"{agent}: {exc.message}"
                continue
            setattr(row, agent, res)
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


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
            if res is not None and res.status == "error":
                lines.append(f"# {r.task} x {res.agent}: {res.message} ({res.run_dir})")
        if r.problem:
            lines.append(f"# {r.task}: {r.problem}")
    return "\n".join(lines)
