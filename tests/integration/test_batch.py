"""bakectl run --tasks: batch rollouts against the real engine.

A real batch over the example catalog; a fault-injection batch over a temporary
catalog ("the lab": one per-task benchmark whose tasks each break in their own
way, and an agent that reads its instruction to decide how to misbehave); resume;
Ctrl-C / SIGTERM; bad input. Every batch must leave no container, network or
snapshot behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, CatalogLab, bakectl
from tests.support.images import remove_images
from tests.support.polling import wait_for

pytestmark = pytest.mark.integration

LABEL = "dev.bakectl.run"
# The fault batch's tasks, in the (unsorted) order it is asked for.
FAULT_TASKS = ["wrong", "badenv", "ok-b", "slow", "noreward", "gwstop", "ok-a"]
EXPECTED = {
    "wrong": "failed",
    "badenv": "error",
    "ok-b": "passed",
    "slow": "timeout",
    "noreward": "error",
    "gwstop": "passed",  # its first attempt lost its gateway; the retry passed
    "ok-a": "passed",
}

ENV_DOCKERFILE = """\
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
WORKDIR /app
RUN chmod 0777 /app
"""
TEST_SH = """\
#!/usr/bin/env bash
mkdir -p /logs/verifier
if [ "$(cat /app/answer.txt 2>/dev/null)" = 42 ]; then echo 1; else echo 0; fi \
  > /logs/verifier/reward.txt
"""
# Misbehaves as its instruction says: SLEEP (past the task's time limit), WAIT (a few
# seconds, a stand-in for model latency, so a test can stop the gateway meanwhile).
LAB_AGENT = """\
#!/usr/bin/env bash
set -u
if grep -q SLEEP /task/instruction.md; then sleep 60; fi
if grep -q WAIT /task/instruction.md; then sleep 6; fi
cd "${BAKECTL_WORKDIR:-/app}"
exec bash /solution/solve.sh
"""


def _toml(agent_timeout: float = 60.0) -> str:
    return (
        f'version = "1.0"\n[agent]\ntimeout_sec = {agent_timeout}\n'
        "[verifier]\ntimeout_sec = 30.0\n[environment]\ncpus = 1\nmemory_mb = 256\n"
    )


def _task(
    bench: Path,
    tid: str,
    *,
    instruction: str = "Write 42 to /app/answer.txt.\n",
    answer: str = "42",
    toml: str | None = None,
    test_sh: str = TEST_SH,
    dockerfile: str = ENV_DOCKERFILE,
) -> None:
    d = bench / "tasks" / tid
    for sub in ("tests", "solution", "environment"):
        (d / sub).mkdir(parents=True)
    (d / "task.toml").write_text(toml or _toml())
    (d / "instruction.md").write_text(instruction)
    (d / "tests/test.sh").write_text(test_sh)
    (d / "solution/solve.sh").write_text(f"#!/usr/bin/env bash\necho {answer} > /app/answer.txt\n")
    (d / "environment/Dockerfile").write_text(dockerfile)


@dataclass
class Lab(CatalogLab):
    fixtures: Path


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory) -> Lab:
    base = tmp_path_factory.mktemp("batchlab")
    root = base / "proj"
    (root / "containers/benchmarks").mkdir(parents=True)
    # The runtime (containers/core) and oracle/nop come from bakectl/data, shipped with bakectl.
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    agent = root / "containers/agents/labagent"
    agent.mkdir(parents=True)
    (agent / "agent.yaml").write_text("name: labagent\nversion: '1'\nneeds_solution: true\n")
    (agent / "run.sh").write_text(LAB_AGENT)
    bench = root / "containers/benchmarks/labtasks"
    bench.mkdir()
    (bench / "benchmark.yaml").write_text(
        "name: labtasks\nversion: '1'\nenvironment: per-task\nworkdir: /app\n"
    )
    _task(bench, "ok-a")
    _task(bench, "ok-b")
    _task(bench, "wrong", answer="41")
    _task(bench, "badenv", dockerfile=ENV_DOCKERFILE + "RUN echo lab-broken-env && exit 3\n")
    _task(bench, "slow", instruction="SLEEP\n", toml=_toml(agent_timeout=2.0))
    _task(bench, "noreward", test_sh="#!/usr/bin/env bash\necho scorer crashed >&2\nexit 3\n")
    _task(bench, "gwstop", instruction="WAIT, then write 42 to /app/answer.txt.\n")
    fixtures = base / "fixtures"
    for tid in FAULT_TASKS:
        (fixtures / tid).mkdir(parents=True)
        (fixtures / tid / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
    the_lab = Lab(root, f"itest-batch-{uuid.uuid4().hex[:8]}", fixtures)
    yield the_lab
    remove_images(the_lab.namespace + "/")


def left_behind(batch_id: str) -> list[str]:
    """Containers, networks and snapshot images of this batch's runs that still exist."""
    out = []
    for argv in (
        ["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", "c {{.Names}}"],
        ["docker", "network", "ls", "--filter", f"label={LABEL}", "--format", "n {{.Name}}"],
        ["docker", "image", "ls", "--filter", f"label={LABEL}", "--format", "i {{.Repository}}"],
    ):
        lines = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
        out += [ln for ln in lines if batch_id.lower() in ln.lower()]
    return out


def only_batch(out: Path) -> Path:
    (batch_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return batch_dir


def attempts_of(batch_dir: Path, task: str) -> list[str]:
    return sorted(p.name for p in (batch_dir / "tasks" / task).iterdir())


def result_of(batch_dir: Path, task: str) -> dict:
    last = attempts_of(batch_dir, task)[-1]
    return json.loads((batch_dir / "tasks" / task / last / "result.json").read_text())


def running_names() -> list[str]:
    return subprocess.run(
        ["docker", "ps", "--filter", f"label={LABEL}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    ).stdout.split()


def popen_bakectl(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bakectl.cli.main", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- the example catalog ------------------------------------------------------------------------


def test_oracle_batch_passes_every_task(engine, tmp_path):
    out = tmp_path / "runs"
    res = bakectl(
        "run",
        "arith",
        "--agent",
        "oracle",
        "--tasks",
        "all",
        "-n",
        "2",
        "--out",
        str(out),
        env={"BAKECTL_ROOT": str(REPO)},
        timeout=600,
    )
    tasks = sorted(os.listdir(REPO / "containers/benchmarks/arith/tasks"))
    lines = res.stdout.splitlines()
    assert len(lines) == len(tasks) + 1, res.stdout
    assert all(" x oracle: passed reward=1.0 (" in ln for ln in lines[:-1]), res.stdout
    batch_dir = only_batch(out)
    assert lines[-1].startswith(f"batch {batch_dir.name}: {len(tasks)} tasks done: ")
    assert f"{len(tasks)} passed" in lines[-1]
    batch = json.loads((batch_dir / "batch.json").read_text())
    assert batch["kind"] == "bakectl-batch" and batch["version"] == 1
    assert (batch["batch_id"], batch["benchmark"], batch["agent"]) == (
        batch_dir.name,
        "arith",
        "oracle",
    )
    assert batch["tasks"] == tasks and batch["n_concurrent"] == 2 and batch["attempts"] == 1
    assert batch["command"][:3] == ["bakectl", "run", "arith"]
    assert batch["started_at"] <= batch["finished_at"]
    prov = batch["provenance"]
    assert prov["bakectl_version"] and isinstance(prov["git_dirty"], bool)
    assert prov["data_revision"] == "1.0"
    assert list(prov["image_digests"].values())[0].startswith("sha256:")
    for t in tasks:
        assert attempts_of(batch_dir, t) == ["attempt-1"]
        assert result_of(batch_dir, t)["status"] == "passed"
        run = json.loads((batch_dir / "tasks" / t / "attempt-1/run.json").read_text())
        assert run["status"] == "passed" and batch_dir.name in run["run_id"]
    summary = json.loads((batch_dir / "summary.json").read_text())
    assert summary["pass_rate"] == 1.0 and summary["batch_id"] == batch_dir.name
    assert [r["task"] for r in summary["tasks"]] == tasks
    assert left_behind(batch_dir.name) == []


# -- faults stay in their task --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_batch(lab, tmp_path_factory):
    """One real batch over the lab: a broken environment, a timeout, a verifier without a
    reward, a gateway stopped mid-run (retried), and tasks that pass or fail as they should."""
    out = tmp_path_factory.mktemp("faults") / "runs"
    start = time.monotonic()
    proc = popen_bakectl(
        "run",
        "labtasks",
        "--agent",
        "labagent",
        "--tasks",
        ",".join(FAULT_TASKS),
        "-n",
        "2",
        "-k",
        "2",
        "--replay-dir",
        str(lab.fixtures),
        "--out",
        str(out),
        env=lab.env,
    )
    try:
        # Stop the gateway of gwstop's first attempt while its agent waits.
        agent = wait_for(
            lambda: next((n for n in running_names() if n.endswith("-gwstop-a1-agent")), None),
            timeout=300,
            what="gwstop's agent",
        )
        gateway = agent.removesuffix("-agent") + "-gateway"
        subprocess.run(["docker", "kill", gateway], capture_output=True, check=True)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stdout, stderr, only_batch(out), time.monotonic() - start


def test_faults_become_task_statuses(fault_batch):
    code, stdout, stderr, batch_dir, _ = fault_batch
    assert code == 1, stderr
    assert "Traceback" not in stderr
    statuses = {t: result_of(batch_dir, t)["status"] for t in FAULT_TASKS}
    assert statuses == EXPECTED, stderr
    assert result_of(batch_dir, "badenv")["message"].startswith("image build failed: ")
    assert "exit code: 3" in result_of(batch_dir, "badenv")["message"]
    assert "lab-broken-env" in (batch_dir / "tasks/badenv/attempt-1/build.log").read_text()
    assert result_of(batch_dir, "noreward")["message"].startswith("no reward written")
    assert result_of(batch_dir, "slow")["message"] == "the agent timed out after 2 s"
    assert result_of(batch_dir, "wrong")["reward"] == 0.0
    # Only the transient fault was retried; each attempt stays on disk.
    for t in FAULT_TASKS:
        want = ["attempt-1", "attempt-2"] if t == "gwstop" else ["attempt-1"]
        assert attempts_of(batch_dir, t) == want, t
    first = json.loads((batch_dir / "tasks/gwstop/attempt-1/result.json").read_text())
    assert first["status"] == "error" and "gateway stopped during the run" in first["message"]
    assert "retrying labtasks/gwstop (attempt 2 of 2)" in stderr
    # One line per finished task (stdout is not a terminal), then the batch line.
    lines = stdout.splitlines()
    assert len(lines) == len(FAULT_TASKS) + 1, stdout
    assert "1 failed, 1 timeout, 2 error" in lines[-1] and "3 passed" in lines[-1]


def test_fault_batch_records_and_cleans_up(fault_batch):
    code, stdout, stderr, batch_dir, _ = fault_batch
    batch = json.loads((batch_dir / "batch.json").read_text())
    assert batch["tasks"] == FAULT_TASKS and batch["attempts"] == 2
    assert batch["finished_at"]
    digests = batch["provenance"]["image_digests"]
    assert any("/eval/labtasks/ok-a/labagent:" in ref for ref in digests)
    assert not any("/badenv/" in ref for ref in digests)
    summary = json.loads((batch_dir / "summary.json").read_text())
    assert [r["task"] for r in summary["tasks"]] == FAULT_TASKS  # input order
    assert summary["coverage"]["errored"] == 3
    assert left_behind(batch_dir.name) == []


def test_resume_reruns_only_error_tasks(lab, fault_batch, tmp_path):
    from bakectl.runner.batch import batch_gateway, run_rollouts

    batch_dir = tmp_path / fault_batch[3].name
    shutil.copytree(fault_batch[3], batch_dir)
    before = {
        t: (batch_dir / "tasks" / t / attempts_of(batch_dir, t)[-1] / "result.json")
        .stat()
        .st_mtime_ns
        for t in FAULT_TASKS
    }
    start = time.monotonic()
    results = run_rollouts(
        lab.renderer(),
        "labtasks",
        [],
        "labagent",
        n_concurrent=2,
        gateway=batch_gateway(replay_dir=lab.fixtures),
        resume=batch_dir,
    )
    took = time.monotonic() - start
    assert [r.task for r in results] == FAULT_TASKS  # input order, kept tasks included
    assert {r.task: r.status for r in results} == EXPECTED
    for t in FAULT_TASKS:
        rerun = t in ("badenv", "noreward")  # error tasks run again, numbered on
        want = ["attempt-1", "attempt-2"] if rerun or t == "gwstop" else ["attempt-1"]
        assert attempts_of(batch_dir, t) == want, t
        if not rerun:
            last = batch_dir / "tasks" / t / want[-1] / "result.json"
            assert last.stat().st_mtime_ns == before[t], t
    assert results[1].run_dir == batch_dir.resolve() / "tasks/badenv/attempt-2"
    assert took < fault_batch[4]  # only two tasks ran
    summary = json.loads((batch_dir / "summary.json").read_text())
    by_task = {r["task"]: r for r in summary["tasks"]}
    assert by_task["noreward"]["attempts"] == 2 and by_task["ok-a"]["attempts"] == 1
    assert left_behind(batch_dir.name) == []


# -- stopping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_keeps_finished_results_and_cleans_up(lab, tmp_path, sig):
    out = tmp_path / "runs"
    args = ["run", "labtasks", "--agent", "labagent", "--out", str(out)]
    proc = popen_bakectl(
        *args, "--tasks", "ok-a,slow,ok-b", "-n", "1", "--timeout", "60", env=lab.env
    )
    try:
        wait_for(
            lambda: any(n.endswith("-slow-a1-agent") for n in running_names()),
            timeout=120,
            what="slow's agent",
        )
        stopped = time.monotonic()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert took < 20, took
    assert "--resume" in stderr and "Traceback" not in stderr
    batch_dir = only_batch(out)
    assert result_of(batch_dir, "ok-a")["status"] == "passed"
    slow = result_of(batch_dir, "slow")
    assert (slow["status"], slow["message"]) == ("error", "interrupted")
    assert not (batch_dir / "tasks/ok-b").exists()  # never started
    batch = json.loads((batch_dir / "batch.json").read_text())
    assert batch["finished_at"]
    summary = json.loads((batch_dir / "summary.json").read_text())
    assert summary["coverage"]["missing"] == 1
    assert left_behind(batch_dir.name) == []
    if sig != signal.SIGINT:
        return
    # Continue: ok-a is kept; slow (error) runs again as attempt-2; ok-b runs for the first time.
    res = bakectl(
        "run",
        "labtasks",
        "--agent",
        "labagent",
        "--resume",
        str(batch_dir),
        "--timeout",
        "1",
        env=lab.env,
        check=False,
    )
    assert res.returncode == 0, res.stderr  # a timeout is a scored outcome, not an error
    assert attempts_of(batch_dir, "ok-a") == ["attempt-1"]
    assert attempts_of(batch_dir, "slow") == ["attempt-1", "attempt-2"]
    assert result_of(batch_dir, "slow")["status"] == "timeout"
    assert result_of(batch_dir, "ok-b")["status"] == "passed"
    assert left_behind(batch_dir.name) == []


# -- bad input: exit 2, error: and hint:, nothing written ------------------------------------------


@pytest.mark.parametrize(
    "args,needle,hint",
    [
        (
            ["--tasks", "hello-file,hello-fil"],
            "unknown task 'hello-fil'",
            "did you mean 'hello-file'",
        ),
        (["--tasks", "hello-file", "-n", "0"], "-n 0", "-n 4"),
        (["--tasks", "hello-file", "-n", "-2"], "-n -2", "-n 4"),
        (["--tasks", "hello-file", "-k", "0"], "-k 0", "-k 1"),
        (["--tasks", "@missing.txt"], "--tasks @missing.txt: no such file", "one task id a line"),
        (["--resume", "."], "is not a batch run (no batch.json)", "<out>/<batch_id>"),
        (["--tasks", "hello-file", "--task-id", "json-fix"], "exclude each other", "--tasks"),
        ([], "which tasks?", "--tasks all"),
        (["--task-id", "hello-file", "-k", "2"], "-k applies to a batch", "--tasks hello-file"),
        (["--tasks", "hello-file,hello-file"], "listed more than once", "name each task once"),
        (
            ["--tasks", "hello-file,json-fix", "--replay-dir", "fx"],
            "no fixture for task 'json-fix'",
            "--record",
        ),
        (
            ["--tasks", "hello-file,json-fix", "--replay", "fx/hello-file"],
            "is one task's fixture",
            "--replay-dir",
        ),
    ],
)
def test_bad_input_is_rejected_before_anything_is_written(tmp_path, args, needle, hint):
    fx = tmp_path / "fx" / "hello-file"
    fx.mkdir(parents=True)
    (fx / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
    out = tmp_path / "runs"
    res = bakectl(
        "run",
        "terminal-tasks",
        "--agent",
        "oracle",
        "--out",
        str(out),
        *args,
        cwd=tmp_path,
        env={"BAKECTL_ROOT": str(REPO)},
        check=False,
    )
    assert res.returncode == 2, (res.stdout, res.stderr)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    hints = [ln for ln in res.stderr.splitlines() if ln.startswith("hint: ")]
    assert len(errors) == 1 and needle in errors[0], res.stderr
    assert len(hints) == 1 and hint in hints[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()
