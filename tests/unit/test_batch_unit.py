"""The job scheduler without an engine: execute, the engine check and the image build
are faked (FakeEngine is a test double for the container runs).

Order, the concurrency cap, independent attempts (-k), retries of transient faults only
(by fault kind), isolation of failures (a build, an exception inside bakectl, an
invalid task), resume and cancel.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from bakectl.errors import BuildError, UsageError
from bakectl.results.records import Fault, JobRecord, ResultRecord, read_record
from bakectl.results.verdict import Verdict
from bakectl.runner import batch
from bakectl.runner.outcome import AttemptId, write_attempt
from bakectl.runner.spec import TaskResult


class FakeEngine:
    """Stands in for execute(): writes a run directory; behaviour per task id."""

    def __init__(self, behaviour=None, seconds=None):
        self.behaviour = behaviour or {}  # task -> list of (status, message) per attempt
        self.seconds = seconds or {}
        self.calls: list[str] = []
        self.live = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.blocking: set[str] = set()

    def __call__(self, spec):
        task = spec.task.id
        with self.lock:
            n = sum(1 for c in self.calls if c == task)
            self.calls.append(task)
            self.live += 1
            self.peak = max(self.peak, self.live)
        try:
            spec.dir.create(gateway=False)
            if task in self.blocking:
                self.release.wait(10)
            time.sleep(self.seconds.get(task, 0.01))
            plan = self.behaviour.get(task, [("passed", "")])
            status, kind = plan[min(n, len(plan) - 1)]
            if status == "raise":
                raise RuntimeError(kind)
            fault = Fault.of(kind, f"{kind} happened") if kind else None
            who = AttemptId(
                spec.run_id,
                spec.options.job_id,
                spec.benchmark.name,
                task,
                spec.agent.name,
                spec.options.attempt,
            )
            rewards = {"reward": 1.0 if status == "passed" else 0.0}
            record = write_attempt(
                spec.dir.root,
                who,
                Verdict(status, fault, fault.message if fault else ""),
                rewards=rewards,
            )
            return TaskResult.of(record, spec.dir.root)
        finally:
            with self.lock:
                self.live -= 1


@pytest.fixture
def lab(std, monkeypatch, tmp_path):
    for t in ("3", "4", "5", "6"):
        std.task("arith", t)
    monkeypatch.setattr(batch, "ensure_images", lambda *a, **k: None)
    monkeypatch.setattr(batch, "check_engine_once", lambda dry_run: None)
    monkeypatch.setattr(batch, "RETRY_DELAY", 0.01)
    engine = FakeEngine()
    monkeypatch.setattr(batch, "execute", engine)

    def run(ids, **kw):
        from bakectl.cli.common import setup

        kw.setdefault("out_dir", tmp_path / "runs")
        return batch.run_rollouts(setup(), "arith", ids, kw.pop("agent", "oracle"), **kw)

    run.engine = engine
    run.std = std
    return run


def attempts(batch_dir: Path, task: str) -> list[str]:
    return sorted(p.name for p in (batch_dir / "tasks" / task).iterdir())


def test_results_in_input_order_and_at_most_n_at_once(lab):
    lab.engine.seconds = {"5": 0.3, "1": 0.2, "3": 0.01}
    ids = ["5", "1", "3", "2", "6", "4"]
    seen = []
    results = lab(ids, n_concurrent=2, on_result=lambda r: seen.append(r.task))
    assert [r.task for r in results] == ids
    assert sorted(seen) == sorted(ids) and seen != ids  # finished out of order
    assert lab.engine.peak == 2
    assert all(r.status == "passed" for r in results)
    jdir = results[0].run_dir.parents[2]
    job = read_record(jdir / "job.json", JobRecord)
    assert job.task_ids == ids and job.n_concurrent == 2 and job.owner is not None
    rec = read_record(results[0].run_dir / "result.json", ResultRecord)
    assert rec.job_id == job.job_id and rec.attempt == 1 and rec.rewards == {"reward": 1.0}


def test_attempts_are_independent_and_all_kept(lab):
    lab.engine.behaviour = {"1": [("passed", ""), ("failed", ""), ("passed", "")]}
    results = lab(["1", "2"], attempts=3)
    assert [(r.task, r.record.attempt) for r in results] == [
        ("1", 1),
        ("1", 2),
        ("1", 3),
        ("2", 1),
        ("2", 2),
        ("2", 3),
    ]
    jdir = results[0].run_dir.parents[2]
    assert attempts(jdir, "1") == ["attempt-1", "attempt-2", "attempt-3"]
    assert [r.status for r in results[:3]] == ["passed", "failed", "passed"]


def test_only_transient_faults_are_retried_by_kind(lab):
    lab.engine.behaviour = {
        "1": [("error", "network")] * 5,  # transient every time: retried, then kept
        "2": [("error", "verifier_no_reward")],  # not transient
        "3": [("error", "engine"), ("passed", "")],
        "4": [("timeout", "agent_timeout")],
    }
    results = lab(["1", "2", "3", "4"], retries=2)
    by = {r.task: r for r in results}
    jdir = results[0].run_dir.parents[2]
    assert attempts(jdir, "1") == ["attempt-1", "attempt-1.try-1", "attempt-1.try-2"]
    assert by["1"].status == "error" and by["1"].fault.kind == "network"
    assert attempts(jdir, "2") == ["attempt-1"]
    assert attempts(jdir, "3") == ["attempt-1", "attempt-1.try-1"] and by["3"].status == "passed"
    assert attempts(jdir, "4") == ["attempt-1"] and by["4"].status == "timeout"
    assert lab.engine.calls.count("1") == 3


def test_a_transient_message_without_a_transient_kind_is_not_retried(lab):
    lab.engine.behaviour = {"1": [("error", "internal")]}
    (res,) = lab(["1"], retries=3)
    assert res.fault.kind == "internal" and lab.engine.calls == ["1"]


def test_an_exception_inside_bakectl_is_that_tasks_error(lab):
    lab.engine.behaviour = {"2": [("raise", "boom")]}
    results = lab(["1", "2", "3"], n_concurrent=2)
    assert [r.status for r in results] == ["passed", "error", "passed"]
    assert results[1].message == "internal error: RuntimeError: boom"
    assert results[1].fault.kind == "internal"
    d = results[1].run_dir
    assert read_record(d / "result.json", ResultRecord).status == "error"
    assert "RuntimeError: boom" in (d / "internal-error.txt").read_text()


def test_a_failed_image_build_fails_only_its_tasks(lab, monkeypatch):
    std = lab.std
    std.task("term", "bad-env", dockerfile=std.TASK_DOCKERFILE)
    std.task("term", "good-env", dockerfile=std.TASK_DOCKERFILE + "ENV X=1\n")
    calls = []

    def fake_build(renderer, targets, *, build, dry_run=False):
        calls.append([t.image for t in targets])
        if any("/bad-env/" in t.image for t in targets):
            print("#9 ERROR: process exited 3\nERROR: failed to solve: boom", file=sys.stderr)
            raise BuildError("docker buildx bake failed (exit 1); its error is above")

    monkeypatch.setattr(batch, "ensure_images", fake_build)
    from bakectl.cli.common import setup

    res = batch.run_rollouts(
        setup(),
        "term",
        ["bad-env", "hello-file", "good-env"],
        "oracle",
        out_dir=lab.std.root / "runs",
    )
    assert [r.status for r in res] == ["error", "passed", "passed"]
    assert res[0].message == "image build failed: failed to solve: boom"
    assert res[0].fault.kind == "image_build" and not res[0].fault.transient
    assert "ERROR: failed to solve: boom" in (res[0].run_dir / "build.log").read_text()
    assert len(calls) == 4  # the whole job once, then each task on its own
    assert lab.engine.calls.count("bad-env") == 0


def test_an_invalid_task_is_recorded_and_the_rest_runs(lab):
    lab.std.agent("oracle", yaml_text="name: oracle\nversion: '1'\nneeds_solution: true\n")
    (lab.std.task_dir("arith", "2") / "solution" / "solve.sh").unlink()
    results = lab(["1", "2", "3"])
    assert [r.status for r in results] == ["passed", "invalid", "passed"]
    assert "needs the task's solution" in results[1].message
    assert results[1].fault.kind == "task_invalid"
    assert (results[1].run_dir / "run.json").is_file()


def test_a_model_agent_without_a_model_source_is_refused(lab, tmp_path):
    lab.std.agent("chat", yaml_text="name: chat\nversion: '1'\nneeds_model: true\n")
    out = tmp_path / "none"
    with pytest.raises(UsageError, match="needs a model"):
        lab(["1"], agent="chat", out_dir=out)
    assert not out.exists()


def test_resume_reruns_error_attempts_only(lab):
    lab.engine.behaviour = {"2": [("error", "verifier_no_reward")], "3": [("failed", "")]}
    first = lab(["1", "2", "3"])
    jdir = first[0].run_dir.parents[2]
    lab.engine.behaviour = {}
    lab.engine.calls.clear()
    again = lab([], resume=jdir)
    assert lab.engine.calls == ["2"]
    assert [r.status for r in again] == ["passed", "passed", "failed"]
    assert again[1].run_dir == jdir / "tasks/2/attempt-1"
    assert attempts(jdir, "2") == ["attempt-1", "attempt-1.try-1"]


def test_a_crafted_job_record_cannot_leave_its_directory(lab, tmp_path):
    first = lab(["1"])
    jdir = first[0].run_dir.parents[2]
    doc = json.loads((jdir / "job.json").read_text())
    doc["task_ids"] = ["../../escape"]
    (jdir / "job.json").write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="not a valid id"):
        lab([], resume=jdir)
    assert not (tmp_path / "escape").exists() and not (jdir.parent / "escape").exists()


def test_cancel_stops_submitting_and_marks_running_tasks_interrupted(lab, monkeypatch):
    lab.engine.blocking = {"2"}
    cancel = threading.Event()
    killed = []

    def fake_kill(run_ids, echo):
        killed.append(set(run_ids))
        lab.engine.release.set()

    monkeypatch.setattr(batch, "_kill_running", fake_kill)

    def on_result(r):
        if r.task == "1":
            cancel.set()

    with pytest.raises(batch.BatchInterrupted) as exc:
        lab(["1", "2", "3", "4"], n_concurrent=2, cancel=cancel, on_result=on_result)
    res = {r.task: r for r in exc.value.results}
    assert res["1"].status == "passed"
    assert res["2"].status == "error" and res["2"].fault.kind == "interrupted"
    assert "2" in lab.engine.calls and "4" not in lab.engine.calls
    assert killed and any(rid.endswith("-2-a1") for rid in killed[0])
    jdir = exc.value.batch_dir
    rec = read_record(jdir / "tasks/2/attempt-1/result.json", ResultRecord)
    assert rec.fault.kind == "interrupted"


def test_bad_input_writes_nothing(lab, tmp_path):
    out = tmp_path / "runs"
    with pytest.raises(UsageError, match="unknown task '9'"):
        lab(["1", "9"], out_dir=out)
    with pytest.raises(UsageError, match="-n 0"):
        lab(["1"], out_dir=out, n_concurrent=0)
    with pytest.raises(UsageError, match="--attempts 0"):
        lab(["1"], out_dir=out, attempts=0)
    with pytest.raises(UsageError, match="--retries -1"):
        lab(["1"], out_dir=out, retries=-1)
    with pytest.raises(UsageError, match="not a bakectl job"):
        lab([], resume=tmp_path)
    assert not out.exists()
