"""Job directories built from the record models (what the runner writes), for tests and bench.

    job = write_job(tmp / "job-a", [Att("t1", "passed", rewards={"reward": 1.0}), ...])

Every file goes through `write_record`, so a test job is exactly what a reader must read:
job.json, tasks/<task>/attempt-<k>/{run.json,result.json}, and optionally a re-score
(`rescore-<time>/result.json`), a trace.jsonl and container logs for the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bakectl.results import index as results_index
from bakectl.results.records import (
    Fault,
    JobRecord,
    ResultRecord,
    RunRecord,
    TaskSource,
    Tokens,
    primary_reward,
    write_record,
)


@dataclass
class Att:
    """One attempt of one task."""

    task: str
    status: str
    k: int = 1
    rewards: dict[str, float] = field(default_factory=dict)
    fault: tuple[str, str] | None = None  # (kind, message)
    tokens: tuple[int, int] = (0, 0)
    seconds: float = 1.0
    rescore: dict[str, float] | None = None  # rewards of a re-score (its status follows)
    missing: bool = False  # the attempt directory exists, result.json not yet
    trace: list[dict] | None = None  # gateway exchanges (trace.jsonl lines)
    agent_log: str | None = None
    message: str = ""


def job_record(job_id: str, tasks: list[str], **over) -> JobRecord:
    fields = {
        "job_id": job_id,
        "created_at": "2026-12-01T20:00:00Z",
        "bakectl_version": "0.test",
        "source": TaskSource(benchmark=over.pop("benchmark", "arith")),
        "task_ids": tasks,
        "agent": "chat",
        "model": "scripted",
        "attempts": 1,
    }
    fields.update(over)
    return JobRecord(**fields)


def result_record(job_id: str, a: Att, **over) -> ResultRecord:
    reward = primary_reward(a.rewards)
    fault = Fault.of(a.fault[0], a.fault[1]) if a.fault else None  # type: ignore[arg-type]
    fields = {
        "run_id": f"{job_id}-{a.task}-{a.k}",
        "job_id": job_id,
        "benchmark": "arith",
        "task": a.task,
        "agent": "chat",
        "model": "scripted",
        "attempt": a.k,
        "status": a.status,
        "fault": fault,
        "reward": reward,
        "rewards": a.rewards,
        "passed": a.status == "passed",
        "message": a.message or (fault.message if fault else ""),
        "tokens": Tokens(input=a.tokens[0], output=a.tokens[1], requests=1 if a.tokens[0] else 0),
        "timings": {"agent": a.seconds * 0.8, "verifier": a.seconds * 0.2, "total": a.seconds},
    }
    fields.update(over)
    return ResultRecord(**fields)


def write_job(
    root: Path,
    atts: list[Att],
    /,
    *,
    tasks: list[str] | None = None,
    index: bool = True,
    **job,
) -> Path:
    """A job directory; `tasks` defaults to the attempts' tasks in order (list more to
    have tasks that never started). index: add each finished attempt to results.jsonl,
    as the runner does (index=False: a job from before the index)."""
    job_id = job.pop("job_id", root.name)
    ids = tasks or list(dict.fromkeys(a.task for a in atts))
    if "attempts" not in job:
        job["attempts"] = max((a.k for a in atts), default=1)
    root.mkdir(parents=True, exist_ok=True)
    write_record(root / "job.json", job_record(job_id, ids, **job))
    for a in atts:
        d = root / "tasks" / a.task / f"attempt-{a.k}"
        d.mkdir(parents=True, exist_ok=True)
        write_record(
            d / "run.json",
            RunRecord(
                run_id=f"{job_id}-{a.task}-{a.k}",
                job_id=job_id,
                benchmark="arith",
                task=a.task,
                agent="chat",
                attempt=a.k,
                timings={"total": a.seconds},
            ),
        )
        if a.missing:
            continue
        counted = (d / "result.json", result_record(job_id, a))
        write_record(*counted)
        if a.rescore is not None:
            status = "passed" if (primary_reward(a.rescore) or 0) >= 1 else "failed"
            r = Att(a.task, status, a.k, rewards=a.rescore, seconds=0.5)
            rd = d / "rescore-20261201T210000Z"
            rd.mkdir()
            counted = (
                rd / "result.json",
                result_record(job_id, r, rescored_at="2026-12-01T21:00:00Z"),
            )
            write_record(*counted)
        if a.trace is not None:
            (d / "trace.jsonl").write_text("".join(json.dumps(x) + "\n" for x in a.trace))
        if a.agent_log is not None:
            (d / "agent").mkdir(exist_ok=True)
            (d / "agent" / "container.log").write_text(a.agent_log)
        if index:
            results_index.note(root, d, *counted)
    return root
