"""bakectl score on the real engine: a re-score is a ResultRecord beside the old one that
report counts; an engine that does not answer is said so (as every command says it), never "image
missing"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bakectl.results.records import ImageRef, ResultRecord, RunRecord, read_record, write_record
from bakectl.results.report import summarize_dir
from tests.integration.conftest import REPO
from tests.support.job_records import Att, write_job


def bakectl(*args, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def kept_attempt(tmp_path: Path, image: str) -> Path:
    """A job whose attempt ran an agent (artifacts kept) on `image`."""
    job = write_job(tmp_path / "job", [Att("1", "passed", rewards={"reward": 1.0})])
    attempt = job / "tasks" / "1" / "attempt-1"
    run = read_record(attempt / "run.json", RunRecord)
    run = run.model_copy(
        update={"images": {"eval": ImageRef(ref=image)}, "exit_codes": {"agent": 0}}
    )
    write_record(attempt / "run.json", run)
    (attempt / "artifacts").mkdir()
    return job


def test_engine_down_is_said_so(tmp_path: Path) -> None:
    job = kept_attempt(tmp_path, "bakectl/eval/arith/chat:not-there")
    res = bakectl("score", job, env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert res.returncode == 2, res.stderr  # as every command says it (engine.docker)
    assert "error: the docker engine is not running" in res.stderr
    assert "not in docker's store" not in res.stderr and "Traceback" not in res.stderr
    assert not list((job / "tasks" / "1" / "attempt-1").glob("rescore-*"))


def test_image_missing_on_a_live_engine(engine, tmp_path: Path) -> None:
    job = kept_attempt(tmp_path, "bakectl/eval/arith/chat:not-there")
    res = bakectl("score", job)
    assert res.returncode == 2, res.stderr
    assert "bakectl/eval/arith/chat:not-there is not in docker's store" in res.stderr
    assert "hint: build it again: bakectl build eval arith --agent chat" in res.stderr


def test_rescore_of_a_real_run_is_a_result_record(engine, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    res = bakectl(
        "run", "arith", "--agent", "chat", "--task-id", "2",
        "--replay", REPO / "tests/fixtures/arith/2-chat", "--out", out,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (job,) = out.iterdir()
    before = summarize_dir(job)
    res = bakectl("score", job)
    assert res.returncode == 0, res.stderr
    assert "arith/2 x chat: passed 1 -> passed 1" in res.stdout
    (rescore,) = (job / "tasks" / "2" / "attempt-1").glob("rescore-*")
    r = read_record(rescore / "result.json", ResultRecord)
    assert (r.status, r.rewards, r.rescored_at is not None) == ("passed", {"reward": 1.0}, True)
    assert r.timings["rescore"] > 0
    read_record(rescore / "run.json", RunRecord)
    after = summarize_dir(job)
    assert after.tasks[0].rescored and not before.tasks[0].rescored
    assert after.tokens == before.tokens  # the run's cost stays the run's
    # A folder that is not a job is refused before the engine is asked anything.
    (tmp_path / "harbor").mkdir()
    (tmp_path / "harbor" / "result.json").write_text("{}")
    res = bakectl("score", tmp_path / "harbor")
    assert res.returncode == 2 and "is not a bakectl job" in res.stderr
    assert "hint:" in res.stderr
