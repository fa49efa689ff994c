"""The batch scheduler without an engine: execute and the image build are faked.

Order, the concurrency cap, retries of transient faults only, isolation of
failures (a build, an exception inside bakectl, an invalid task), resume and
cancel.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from bakectl.errors import BuildError, UsageError
from bakectl.results.rundir import write_json
from bakectl.runner import batch
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
            status, message = plan[min(n, len(plan) - 1)]
            if status == "raise":
                raise RuntimeError(message)
            result = TaskResult(
                run_id=spec.run_id,
                benchmark=spec.benchmark.name,
                task=task,
                agent=spec.agent.name,
                model=spec.options.model,
                status=status,
                reward=1.0 if status == "passed" else 0.0,
                passed=status == "passed",
                message=message,
                run_dir=spec.dir.root,
                duration_sec=0.01,
            )
            data = result.to_json()
            data.pop("run_dir")
            write_json(spec.dir.result_json, data)
            write_json(spec.dir.run_json, {"run_id": spec.run_id, "status": status})
            return result
        finally:
            with self.lock:
                self.live -= 1


@pytest.fixture
def lab(std, monkeypatch, tmp_path):
    for t in ("3", "4", "5", "6"):
        std.task("arith", t)
    monkeypatch.setattr(batch, "ensure_images", lambda *a, **k: None)
    monkeypatch.setattr(batch, "image_ids", lambda refs: {r: "sha256:x" for r in refs})
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
    bdir = results[0].run_dir.parents[2]
    doc = json.loads((bdir / "batch.json").read_text())
    assert doc["tasks"] == ids and doc["n_concurrent"] == 2 and doc["finished_at"]
    assert set(doc["provenance"]["image_digests"].values()) == {"sha256:x"}
    assert (bdir / "summary.json").is_file()


def test_only_transient_faults_are_retried(lab):
    lab.engine.behaviour = {
        "1": [("error", "the gateway stopped during the run (exited, exit code 137)")] * 5,
        "2": [("error", "no reward written (verifier exit code 3)")],
        "3": [
            ("error", "the agent container could not start: connection reset by peer"),
            ("passed", ""),
        ],
        "4": [("timeout", "the agent timed out after 2 s")],
    }
    results = lab(["1", "2", "3", "4"], attempts=3)
    by = {r.task: r for r in results}
    bdir = results[0].run_dir.parents[2]
    assert attempts(bdir, "1") == ["attempt-1", "attempt-2", "attempt-3"]
    assert by["1"].status == "error" and by["1"].run_dir.name == "attempt-3"
    assert attempts(bdir, "2") == ["attempt-1"]
    assert attempts(bdir, "3") == ["attempt-1", "attempt-2"] and by["3"].status == "passed"
    assert attempts(bdir, "4") == ["attempt-1"] and by["4"].status == "timeout"


def test_an_exception_inside_bakectl_is_that_tasks_error(lab):
    lab.engine.behaviour = {"2": [("raise", "boom")]}
    results = lab(["1", "2", "3"], n_concurrent=2)
    assert [r.status for r in results] == ["passed", "error", "passed"]
    assert results[1].message == "internal error: RuntimeError: boom"
    d = results[1].run_dir
    assert json.loads((d / "result.json").read_text())["status"] == "error"
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
    assert "ERROR: failed to solve: boom" in (res[0].run_dir / "build.log").read_text()
    assert len(calls) == 4  # the whole batch once, then each task on its own
    assert lab.engine.calls.count("bad-env") == 0


def test_an_invalid_task_is_recorded_and_the_rest_runs(lab):
    lab.std.agent("oracle", yaml_text="name: oracle\nversion: '1'\nneeds_solution: true\n")
    (lab.std.task_dir("arith", "2") / "solution" / "solve.sh").unlink()
    results = lab(["1", "2", "3"])
    assert [r.status for r in results] == ["passed", "invalid", "passed"]
    assert "needs the task's solution" in results[1].message
    assert json.loads((results[1].run_dir / "run.json").read_text())["status"] == "invalid"


def test_resume_reruns_error_tasks_only(lab):
    lab.engine.behaviour = {"2": [("error", "no reward written")], "3": [("failed", "")]}
    first = lab(["1", "2", "3"])
    bdir = first[0].run_dir.parents[2]
    lab.engine.behaviour = {}
    lab.engine.calls.clear()
    again = lab([], resume=bdir)
    assert lab.engine.calls == ["2"]
    assert [r.status for r in again] == ["passed", "passed", "failed"]
    assert again[1].run_dir == bdir / "tasks/2/attempt-2"
    assert again[2].run_dir == bdir / "tasks/3/attempt-1"
    with pytest.raises(UsageError, match="batch of agent 'oracle', not 'chat'"):
        lab([], resume=bdir, agent="chat")
    with pytest.raises(UsageError, match="own task list"):
        lab(["1"], resume=bdir)


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
    assert (res["2"].status, res["2"].message) == ("error", "interrupted")
    assert "2" in lab.engine.calls and "4" not in lab.engine.calls
    assert killed and any(rid.endswith("-2-a1") for rid in killed[0])
    bdir = exc.value.batch_dir
    assert json.loads((bdir / "tasks/2/attempt-1/result.json").read_text())["message"] == (
        "interrupted"
    )
    assert json.loads((bdir / "batch.json").read_text())["finished_at"]
    assert (bdir / "summary.json").is_file()


def test_bad_input_writes_nothing(lab, tmp_path):
    out = tmp_path / "runs"
    with pytest.raises(UsageError, match="unknown task '9'"):
        lab(["1", "9"], out_dir=out)
    with pytest.raises(UsageError, match="-n 0"):
        lab(["1"], out_dir=out, n_concurrent=0)
    with pytest.raises(UsageError, match="-k 0"):
        lab(["1"], out_dir=out, attempts=0)
    with pytest.raises(UsageError, match="not a batch run"):
        lab([], resume=tmp_path)
    assert not out.exists()


def test_task_lists(std, tmp_path):
    from bakectl.cli.common import setup

    cat = setup().catalog
    f = tmp_path / "ids.txt"
    f.write_text("# a comment\n2\n\n1  # trailing\n")
    assert batch.resolve_task_ids(cat, "arith", f"@{f}") == ["2", "1"]
    assert batch.resolve_task_ids(cat, "arith", "all") == ["1", "2"]
    assert batch.resolve_task_ids(cat, "arith", " 2 , 1 ") == ["2", "1"]
    with pytest.raises(UsageError, match="no such file"):
        batch.resolve_task_ids(cat, "arith", "@nope.txt")


def test_transient_classification():
    assert batch.is_transient("error", "the gateway stopped during the run (exited, 137)")
    assert batch.is_transient(
        "error",
        "agent container could not start: Cannot connect to the "
        "Docker daemon at unix:///var/run/docker.sock",
    )
    assert not batch.is_transient("error", "no reward written")
    assert not batch.is_transient("error", "image build failed: connection reset by peer x")
    assert not batch.is_transient("error", "interrupted")
    assert not batch.is_transient("timeout", "the gateway stopped during the run")
