"""The one subprocess runner (engine/plan.run_process), the dry-run runner and the fake:
local processes only, no engine."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest

from bakectl.engine.plan import DryRunner, FakeRunner, ProcessResult, Step, run_process
from tests.support.polling import process_alive


def _gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not process_alive(pid)


def test_result_exit_code_output_and_env(tmp_path):
    res = run_process(Step(("sh", "-c", 'echo "$V"; echo e >&2; exit 3'), env=(("V", "a b"),)))
    assert isinstance(res, ProcessResult)
    assert (res.returncode, res.stdout, res.stderr, res.ok) == (3, "a b\n", "e\n", False)


def test_a_timeout_kills_the_whole_group(tmp_path):
    pid_file = tmp_path / "child.pid"
    step = Step(("sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"))
    res = run_process(step, timeout=1)
    assert res.timed_out and res.returncode is None
    assert _gone(int(pid_file.read_text()))


def test_an_interrupt_stops_the_group_and_propagates(tmp_path):
    pid_file = tmp_path / "child.pid"
    step = Step(("sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"))

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_process(step)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert _gone(int(pid_file.read_text()))


def test_stragglers_die_with_the_command_when_asked(tmp_path):
    pid_file = tmp_path / "child.pid"
    step = Step(("sh", "-c", f"sleep 300 & echo $! > {pid_file}"))
    with (tmp_path / "out.log").open("wb") as fh:
        assert run_process(step, stdout=fh, stderr_to_stdout=True, kill_group_after=True).ok
    assert _gone(int(pid_file.read_text()))


def test_dry_runner_prints_and_runs_nothing(tmp_path):
    out = io.StringIO()
    dry = DryRunner(out, answers={"docker wait": "0\n"})
    marker = tmp_path / "ran"
    res = dry(Step(("touch", str(marker))))
    assert res.ok and not marker.exists()
    assert dry(Step(("docker", "wait", "c"))).stdout == "0\n"
    assert out.getvalue().splitlines() == [f"$ touch {marker}", "$ docker wait c"]


def test_fake_runner_answers_by_longest_prefix_and_records_calls():
    fake = FakeRunner({"docker": (0, "", ""), "docker info": (1, "", "Cannot connect")})
    assert fake(Step(("docker", "info"))).stderr == "Cannot connect"
    assert fake(Step(("docker", "ps"))).ok
    assert fake.calls == [("docker", "info"), ("docker", "ps")]
    assert os.getpid()  # no process was started: nothing to clean up


def test_output_file_takes_both_streams_and_a_failure_keeps_its_tail(tmp_path):
    log = tmp_path / "deep" / "out.log"
    res = run_process(Step(("sh", "-c", "echo out; echo err >&2; exit 4")), output=log)
    assert res.returncode == 4 and log.read_text() == "out\nerr\n"
    assert res.stderr == "out\nerr\n"  # the file's tail: what went wrong
    assert run_process(Step(("true",)), output=log).stderr == ""


def test_a_runs_executor_records_every_command_through_the_fake():
    from bakectl.engine import containers as ops

    fake = FakeRunner({"docker wait": (None, "", ""), "docker kill": (0, "", "")})
    x = ops.Executor(echo=None, runner=fake)
    code, timed_out = ops.wait_bounded(x, "c", 5.0, "agent")
    assert timed_out and fake.calls[:2] == [("docker", "wait", "c"), ("docker", "kill", "c")]
    assert [(r["phase"], r["command"], r.get("timed_out")) for r in x.records][:2] == [
        ("agent", "docker wait c", True),
        ("agent", "docker kill c", None),
    ]


def test_a_dry_executor_prints_notes_and_redirects_and_answers_as_a_healthy_run(tmp_path):
    from bakectl.engine import containers as ops

    out = io.StringIO()
    x = ops.Executor.dry(out)
    marker = tmp_path / "ran"
    assert x(ops.wait("c", limit=3), phase="agent").stdout == "0\n"
    res = x(Step(("touch", str(marker))), phase="setup", output=tmp_path / "log")
    assert res.ok and not marker.exists() and not (tmp_path / "log").exists()
    assert out.getvalue().splitlines() == [
        "# at most 3 s, then: docker kill c",
        "$ docker wait c",
        f"$ touch {marker} > {tmp_path / 'log'} 2>&1",
    ]
