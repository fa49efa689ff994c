"""`score` and `--agent-cmd` verify as `run` does: the task's [verifier] environment_mode
through the run's own plan (runner.phases.verify_kept), on the real engine.

healthcheck-service's verifier asks the server that the task image's ENTRYPOINT starts:
a verifier in a bare container (no entrypoint, the old snapshot-style scorer) scores 0.
verifier-separate's verifier runs in a container of its own that only the declared
artifact reaches. artifacts-outside keeps a file outside the workdir that must be back
at its path when the work is verified again.
"""

from __future__ import annotations

import json

import pytest

from bakectl.results.records import ResultRecord, RunRecord, read_record
from tests.integration.conftest import bakectl
from tests.support.labelled import none_left_behind

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def nothing_left_behind(engine):
    with none_left_behind("-harbor-fields-"):
        yield


TASKS = ("healthcheck-service", "verifier-separate", "artifacts-outside")


def test_score_follows_the_tasks_verifier_mode(tmp_path):
    out = tmp_path / "runs"
    bakectl(
        "run", "harbor-fields", "--agent", "oracle", "--tasks", ",".join(TASKS),
        "-n", "2", "--out", str(out), "-q", timeout=900,
    )  # fmt: skip
    (job,) = out.iterdir()
    res = bakectl("score", str(job), timeout=600)
    for task in TASKS:
        assert f"harbor-fields/{task} x oracle: passed 1 -> passed 1" in res.stdout, res.stdout
    rescored = {t: next((job / "tasks" / t / "attempt-1").glob("rescore-*")) for t in TASKS}
    lines = {
        t: [c.line for c in read_record(d / "run.json", RunRecord).commands]
        for t, d in rescored.items()
    }
    # shared: the task image's own ENTRYPOINT, then the verifier exec'd into that container.
    shared = lines["healthcheck-service"]
    assert any(ln.startswith("docker run ") and "--init" in ln for ln in shared), shared
    assert any(ln.startswith("docker exec ") and "/tests/test.sh" in ln for ln in shared)
    assert any("docker cp " in ln and ":/tests" in ln for ln in shared)  # copied, writable
    # separate: a verifier container of its own, the declared artifact handed to it.
    separate = lines["verifier-separate"]
    assert any("-verifier " in ln and ln.startswith("docker run ") for ln in separate)
    assert any(ln.startswith("docker cp ") and "-verifier:/app/result.txt" in ln for ln in separate)
    for d in rescored.values():
        r = read_record(d / "result.json", ResultRecord)
        assert r.rescored_at is not None and r.rewards.get("reward") == 1.0
        assert json.loads((d / "score.json").read_text())["reward"] == 1.0


def test_agent_cmd_is_verified_in_the_tasks_environment(tmp_path):
    res = bakectl(
        "run", "harbor-fields", "-t", "healthcheck-service",
        "--agent-cmd", "echo ready-7f3a > answer.txt", "--out", str(tmp_path), timeout=600,
    )  # fmt: skip
    assert "harbor-fields/healthcheck-service x local: passed reward=1.0" in res.stdout, (
        res.stdout + res.stderr
    )
    (run,) = [p for p in tmp_path.rglob("run.json") if "rescore-" not in str(p)]
    lines = [c.line for c in read_record(run, RunRecord).commands]
    assert any(ln.startswith("docker exec ") and "/tests/test.sh" in ln for ln in lines), lines
