"""bakectl run --tasks: jobs of many tasks against the real engine.

A real job over the example catalog; a fault-injection job over a temporary
catalog ("the lab": one per-task benchmark whose tasks each break in their own
way, an agent that reads its instruction to decide how to misbehave, and one that
succeeds every other attempt); retries; pass@k; resume with --resume alone;
Ctrl-C / SIGTERM; replay misses and a dead upstream; bad input. Every job must leave
no container, network or snapshot behind.
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

from bakectl.results.records import JobRecord, SummaryRecord, read_record
from tests.integration.conftest import REPO, CatalogLab, bakectl
from tests.support.images import remove_images
from tests.support.polling import containers_of, wait_for

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
    "gwstop": "passed",  # its first try lost its gateway; the retry passed
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


# Succeeds on odd attempts only (attempt k arrives as BAKECTL_ATTEMPT): pass@k's subject.
ALTERNATE_AGENT = """\
#!/usr/bin/env bash
set -u
cd "${BAKECTL_WORKDIR:-/app}"
if [ $(( ${BAKECTL_ATTEMPT:-1} % 2 )) -eq 1 ]; then exec bash /solution/solve.sh; fi
echo "attempt ${BAKECTL_ATTEMPT:-?}: giving up" >&2
exit 4
"""


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
    alt = root / "containers/agents/alternate"
    alt.mkdir(parents=True)
    (alt / "agent.yaml").write_text("name: alternate\nversion: '1'\nneeds_solution: true\n")
    (alt / "run.sh").write_text(ALTERNATE_AGENT)
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


def result_of(batch_dir: Path, task: str, k: int = 1) -> dict:
    return json.loads((batch_dir / "tasks" / task / f"attempt-{k}" / "result.json").read_text())


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
    job_dir = only_batch(out)
    assert lines[-1].startswith(f"job {job_dir.name}: {len(tasks)} attempt(s): ")
    assert f"{len(tasks)} passed" in lines[-1]
    job = read_record(job_dir / "job.json", JobRecord)
    assert (job.job_id, job.source.benchmark, job.agent) == (job_dir.name, "arith", "oracle")
    assert job.task_ids == tasks and job.n_concurrent == 2 and job.attempts == 1
    assert job.bakectl_version and isinstance(job.git_dirty, bool)
    assert job.model_source.kind == "none" and job.owner is not None
    for t in tasks:
        assert attempts_of(job_dir, t) == ["attempt-1"]
        assert result_of(job_dir, t)["status"] == "passed"
        run = json.loads((job_dir / "tasks" / t / "attempt-1/run.json").read_text())
        assert run["kind"] == "run" and job_dir.name in run["run_id"]
        assert run["images"]["eval"]["id"].startswith("sha256:")
    summary = read_record(job_dir / "summary.json", SummaryRecord)
    assert summary.pass_rate == 1.0 and summary.job_id == job_dir.name
    assert [t.task for t in summary.tasks] == tasks
    assert left_behind(job_dir.name) == []


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
        "--retries",
        "1",
        "--replay-dir",
        str(lab.fixtures),
        "--out",
        str(out),
        env=lab.env,
    )
    try:
        # Stop the gateway of gwstop's first attempt while its agent waits.
        agent = wait_for(
            lambda: next(
                (n for n in containers_of(proc.pid) if n.endswith("-gwstop-a1-env")), None
            ),
            timeout=300,
            what="gwstop's agent",
        )
        gateway = agent.removesuffix("-env") + "-gateway"
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
    badenv = result_of(batch_dir, "badenv")
    assert badenv["message"].startswith("image build failed: ")
    assert "exit code: 3" in badenv["message"] and badenv["fault"]["kind"] == "image_build"
    assert "lab-broken-env" in (batch_dir / "tasks/badenv/attempt-1/build.log").read_text()
    noreward = result_of(batch_dir, "noreward")
    assert noreward["message"].startswith("no reward written (tests/test.sh exited 3)")
    assert noreward["fault"]["kind"] == "verifier_no_reward"
    assert result_of(batch_dir, "slow")["message"] == "the agent timed out after 2 s"
    assert result_of(batch_dir, "wrong")["reward"] == 0.0
    # Only the transient fault was retried; the earlier try stays beside the attempt.
    for t in FAULT_TASKS:
        want = ["attempt-1", "attempt-1.try-1"] if t == "gwstop" else ["attempt-1"]
        assert attempts_of(batch_dir, t) == want, t
    first = json.loads((batch_dir / "tasks/gwstop/attempt-1.try-1/result.json").read_text())
    assert first["status"] == "error" and first["fault"]["kind"] == "gateway_died"
    assert first["fault"]["transient"] is True
    assert "retrying labtasks/gwstop attempt 1 (try 2 of 2) after gateway_died" in stderr
    # One line per finished attempt (stdout is not a terminal), then the job line.
    lines = stdout.splitlines()
    assert len(lines) == len(FAULT_TASKS) + 1, stdout
    assert "1 failed, 1 timeout, 2 error" in lines[-1] and "3 passed" in lines[-1]


def test_fault_batch_records_and_cleans_up(fault_batch):
    code, stdout, stderr, batch_dir, _ = fault_batch
    job = read_record(batch_dir / "job.json", JobRecord)
    assert job.task_ids == FAULT_TASKS and (job.attempts, job.retries) == (1, 1)
    assert job.model_source.kind == "replay_dir"
    summary = read_record(batch_dir / "summary.json", SummaryRecord)
    assert [t.task for t in summary.tasks] == FAULT_TASKS  # input order
    assert summary.counts == {"passed": 3, "failed": 1, "timeout": 1, "error": 2}
    assert summary.faults == {"image_build": 1, "verifier_no_reward": 1, "agent_timeout": 1}
    assert left_behind(batch_dir.name) == []


def test_resume_reruns_only_error_attempts(lab, fault_batch, tmp_path):
    from bakectl.runner.batch import run_rollouts

    batch_dir = tmp_path / fault_batch[3].name
    shutil.copytree(fault_batch[3], batch_dir)
    before = {
        t: (batch_dir / "tasks" / t / "attempt-1/result.json").stat().st_mtime_ns
        for t in FAULT_TASKS
    }
    start = time.monotonic()
    results = run_rollouts(lab.renderer(), "labtasks", [], "labagent", resume=batch_dir)
    took = time.monotonic() - start
    assert [r.task for r in results] == FAULT_TASKS  # input order, kept attempts included
    assert {r.task: r.status for r in results} == EXPECTED
    for t in FAULT_TASKS:
        rerun = t in ("badenv", "noreward")  # error attempts run again, the old one kept
        want = ["attempt-1", "attempt-1.try-1"] if rerun or t == "gwstop" else ["attempt-1"]
        assert attempts_of(batch_dir, t) == want, t
        if not rerun:
            last = batch_dir / "tasks" / t / "attempt-1/result.json"
            assert last.stat().st_mtime_ns == before[t], t
    assert results[1].run_dir == batch_dir.resolve() / "tasks/badenv/attempt-1"
    assert took < fault_batch[4]  # only two tasks ran
    assert left_behind(batch_dir.name) == []


def test_pass_at_k_of_an_agent_that_succeeds_every_other_attempt(lab, tmp_path):
    out = tmp_path / "runs"
    res = bakectl(
        "run",
        "labtasks",
        "--agent",
        "alternate",
        "--tasks",
        "ok-a",
        "-k",
        "4",
        "-n",
        "2",
        "--out",
        str(out),
        env=lab.env,
        check=False,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr  # failed attempts are scored outcomes
    job_dir = only_batch(out)
    assert attempts_of(job_dir, "ok-a") == [f"attempt-{k}" for k in (1, 2, 3, 4)]
    got = [result_of(job_dir, "ok-a", k) for k in (1, 2, 3, 4)]
    assert [r["status"] for r in got] == ["passed", "failed", "passed", "failed"]
    assert [r["attempt"] for r in got] == [1, 2, 3, 4]
    assert got[1]["agent_exit_code"] == 4 and "attempt 2: giving up" in got[1]["agent_stderr_tail"]
    assert got[1]["message"] == "the agent exited 4: attempt 2: giving up"
    summary = read_record(job_dir / "summary.json", SummaryRecord)
    (task,) = summary.tasks
    assert (task.attempts, task.n_passed) == (4, 2)
    assert task.pass_at_k == {"1": 0.5, "4": 1.0}
    assert summary.pass_at_k == {"1": 0.5, "4": 1.0}
    assert left_behind(job_dir.name) == []


# -- stopping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_keeps_finished_results_and_cleans_up(lab, tmp_path, sig):
    out = tmp_path / "runs"
    args = ["run", "labtasks", "--agent", "labagent", "--out", str(out)]
    proc = popen_bakectl(
        *args, "--tasks", "ok-a,slow,ok-b", "-n", "1", "--timeout", "20", env=lab.env
    )
    try:
        # This process's container (the engine is shared: another job's `slow` is not
        # ours, and a signal sent before bakectl installs its handlers ends it by the
        # signal itself, as Python's default does) and slow's agent started.
        wait_for(
            lambda: (
                any(n.endswith("-slow-a1-env") for n in containers_of(proc.pid))
                and any(out.glob("*/tasks/slow/attempt-1/agent/container.log"))
            ),
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
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), (proc.returncode, stderr)
    assert took < 20, took
    assert "Traceback" not in stderr
    batch_dir = only_batch(out)
    assert result_of(batch_dir, "ok-a")["status"] == "passed"
    slow = result_of(batch_dir, "slow")
    assert slow["status"] == "error" and slow["fault"]["kind"] == "interrupted"
    assert not (batch_dir / "tasks/ok-b").exists()  # never started
    summary = read_record(batch_dir / "summary.json", SummaryRecord)
    assert summary.missing == 1
    assert left_behind(batch_dir.name) == []
    if sig != signal.SIGINT:
        return
    # The printed hint is exactly a command that works: ok-a is kept; slow (error) runs
    # again in its place (the interrupted try kept beside it); ok-b runs for the first time.
    (hint,) = [ln for ln in stderr.splitlines() if "continue: " in ln]
    command = hint.split("continue: ", 1)[1]
    assert command == f"bakectl run --resume {batch_dir}"
    res = bakectl(*command.split()[1:], env=lab.env, check=False, timeout=300)
    assert res.returncode == 0, res.stderr  # a timeout is a scored outcome, not an error
    assert attempts_of(batch_dir, "ok-a") == ["attempt-1"]
    assert attempts_of(batch_dir, "slow") == ["attempt-1", "attempt-1.try-1"]
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
        (["--tasks", "hello-file", "-k", "0"], "--attempts 0", "-k 1"),
        (["--tasks", "hello-file", "--attempts", "0"], "--attempts 0", "-k 1"),
        (["--tasks", "hello-file", "--retries", "-1"], "--retries -1", "--retries 0"),
        (["--tasks", "@missing.txt"], "--tasks @missing.txt: no such file", "one task id a line"),
        (["--tasks", "nope-*"], "matches no task", "the tasks: "),
        (["--resume", "."], "is not a bakectl job (no job.json)", "<out>/<job_id>"),
        (["--tasks", "hello-file", "--task-id", "json-fix"], "exclude each other", "--tasks"),
        ([], "which tasks?", "--tasks all"),
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


# -- the model never reached is an error, never a failure ----------------------------------------

FIXTURE = REPO / "tests/fixtures/arith/1-chat"


def _chat(tmp_path: Path, *args: str):
    out = tmp_path / "runs"
    res = bakectl(
        "run",
        "arith",
        "--agent",
        "chat",
        "-t",
        "1",
        "-q",
        "--out",
        str(out),
        *args,
        env={"BAKECTL_ROOT": str(REPO)},
        check=False,
        timeout=900,
    )
    job_dir = only_batch(out)
    return res, job_dir, result_of(job_dir, "1")


def test_a_replay_miss_is_an_error_with_exit_1(engine, tmp_path):
    # The fixture was recorded for scripted-model-1: every request for another model misses.
    res, job_dir, result = _chat(tmp_path, "--replay", str(FIXTURE), "--model", "other-model")
    assert res.returncode == 1, res.stderr
    assert result["status"] == "error" and result["fault"]["kind"] == "replay_miss", result
    assert "not in the fixture" in result["message"]
    assert "[replay_miss: " in res.stdout
    assert left_behind(job_dir.name) == []


def test_a_dead_upstream_is_an_error_with_exit_1(engine, tmp_path):
    res, job_dir, result = _chat(tmp_path, "--upstream", "http://127.0.0.1:9", "--model", "m")
    assert res.returncode == 1, res.stderr
    assert result["status"] == "error", result
    assert result["fault"]["kind"] == "upstream_unreachable" and result["fault"]["transient"]
    assert left_behind(job_dir.name) == []


def test_a_corrupt_provenance_is_an_error(engine, tmp_path):
    fx = tmp_path / "fx"
    shutil.copytree(FIXTURE, fx)
    (fx / "provenance.json").write_text("{not json")
    out = tmp_path / "runs"
    res = bakectl(
        *"run arith --agent chat -t 1 -q --out".split(),
        str(out),
        "--replay",
        str(fx),
        env={"BAKECTL_ROOT": str(REPO)},
        check=False,
    )
    # The fixture a single --replay names is bad input: refused before anything runs.
    # (In a --replay-dir job, one task's corrupt fixture is that task's fixture_corrupt.)
    assert res.returncode == 2, res.stderr
    (error,) = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert "provenance.json" in error and "not valid JSON" in error
    assert not out.exists()


def test_a_replayed_job_passes_and_counts_tokens(engine, tmp_path):
    res, job_dir, result = _chat(tmp_path, "--replay", str(FIXTURE))
    assert res.returncode == 0, res.stderr
    assert result["status"] == "passed" and result["model"] == "scripted-model-1"
    assert result["tokens"]["requests"] >= 1 and result["tokens"]["input"] > 0
    job = read_record(job_dir / "job.json", JobRecord)
    assert job.model_source.kind == "replay" and job.model_source.location == str(FIXTURE)


def test_a_model_agent_without_a_model_source_is_refused(engine, tmp_path):
    out = tmp_path / "runs"
    res = bakectl(
        "run",
        "arith",
        "--agent",
        "chat",
        "-t",
        "1",
        "--out",
        str(out),
        env={"BAKECTL_ROOT": str(REPO)},
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "error: agent 'chat' needs a model, and this run has no model source" in res.stderr
    assert "hint: replay a fixture" in res.stderr and not out.exists()


def test_an_interrupted_replayed_job_resumes_with_resume_alone(engine, tmp_path):
    out = tmp_path / "runs"
    proc = popen_bakectl(
        "run",
        "arith",
        "--agent",
        "chat",
        "--tasks",
        "all",
        "-n",
        "1",
        "-q",
        "--replay-dir",
        str(REPO / "tests/fixtures/arith"),
        "--out",
        str(out),
        env={"BAKECTL_ROOT": str(REPO)},
    )
    try:
        job_dir = wait_for(
            lambda: next(iter(out.iterdir()), None) if out.is_dir() else None,
            timeout=600,
            what="the job directory",
        )
        wait_for(
            lambda: (job_dir / "tasks/1/attempt-1/result.json").is_file(),
            timeout=600,
            what="the first task's result",
        )
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    (hint,) = [ln for ln in stderr.splitlines() if "continue: " in ln]
    command = hint.split("continue: ", 1)[1].split()
    assert command[:3] == ["bakectl", "run", "--resume"] and len(command) == 4
    assert Path(command[3]).resolve() == job_dir.resolve()
    tasks = sorted(os.listdir(REPO / "containers/benchmarks/arith/tasks"))
    assert sum((job_dir / "tasks" / t / "attempt-1/result.json").is_file() for t in tasks) < 5
    res = bakectl(*command[1:], env={"BAKECTL_ROOT": str(REPO)}, check=False, timeout=900)
    assert res.returncode == 0, res.stderr
    for t in tasks:
        assert result_of(job_dir, t)["status"] == "passed", (t, result_of(job_dir, t))
    summary = read_record(job_dir / "summary.json", SummaryRecord)
    assert summary.counts == {"passed": len(tasks)}
    assert left_behind(job_dir.name) == []
