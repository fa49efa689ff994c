"""bakectl score, bundle and run --bundle / --agent-cmd against the real engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bakectl.results.records import JobRecord, ResultRecord, RunRecord, read_record
from tests.integration.conftest import REPO, bakectl
from tests.support.images import remove_images
from tests.support.polling import process_alive
from tests.support.trees import dir_snapshot

pytestmark = pytest.mark.integration

LABEL = "dev.bakectl.run"
HOST_SECRET = "sk-host-secret-canary-0badc0ffee"


def _labelled(run_id: str) -> list[str]:
    flt = f"label={LABEL}={run_id}"
    out = []
    for argv in (
        ["docker", "ps", "-a", "--filter", flt, "--format", "c {{.Names}}"],
        ["docker", "network", "ls", "--filter", flt, "--format", "n {{.Name}}"],
    ):
        out += subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
    return out


@pytest.fixture(autouse=True)
def nothing_left_behind(engine, tmp_path):
    """Whatever this test's runs and rescores created is gone after it (other tests on the
    same engine may be running: only this test's run ids are checked)."""
    yield
    left = []
    for run_json in tmp_path.rglob("run.json"):
        run_id = json.loads(run_json.read_text()).get("run_id")
        if run_id:
            left += _labelled(run_id)
    assert not left, f"left behind: {sorted(left)}"


def _run_dir(stdout: str) -> Path:
    m = re.search(r"-> (\S+)$", stdout.strip().splitlines()[-1])
    assert m, stdout
    return Path(m.group(1))


# -- bakectl run --agent-cmd ---------------------------------------------------------------------


def test_agent_cmd_passes_and_its_packet_holds_no_scorer_files(tmp_path):
    res = bakectl(
        *"run arith --task-id 1 --agent-cmd".split(),
        "echo 391 > answer.txt",
        "--out",
        str(tmp_path),
        timeout=300,
    )
    assert "arith/1 x local: passed reward=1.0" in res.stdout, res.stdout
    run_dir = _run_dir(res.stdout)
    result = read_record(run_dir / "result.json", ResultRecord)
    assert (result.status, result.reward, result.agent) == ("passed", 1.0, "local")
    job = read_record(run_dir.parents[2] / "job.json", JobRecord)  # an --agent-cmd run is a job
    assert job.agent == "local" and job.agent_cmd == "echo 391 > answer.txt"
    run = read_record(run_dir / "run.json", RunRecord)
    assert run.agent == "local" and run.exit_codes == {"agent": 0, "verifier": 0}
    assert run.images["verifier"].ref.startswith("bakectl/bench/arith:")
    # Verified as `run` verifies (arith's verifier mode is Harbor's default, shared): the
    # environment image started with an init, the work put back, /tests copied in, exec'd.
    lines = [c.line for c in run.commands]
    env = next(ln for ln in lines if ln.startswith("docker run"))
    assert "--init" in env and "/tests" not in env  # nothing of the scorer is mounted
    assert any(ln.startswith("docker cp ") and ln.endswith("-env:/tests") for ln in lines)
    assert any(ln.startswith("docker exec ") and ln.endswith("bash /tests/test.sh") for ln in lines)
    assert json.loads((run_dir / "score.json").read_text())["reward"] == 1.0
    assert (run_dir / "artifacts/answer.txt").read_text() == "391\n"
    # The packet: the instruction and the environment's workdir, nothing of the scorer.
    packet = run_dir / "packet"
    files = sorted(p.relative_to(packet).as_posix() for p in packet.rglob("*") if p.is_file())
    assert files == ["instruction.md", "workdir/README.md", "workdir/data/numbers.txt"]
    task = REPO / "containers/benchmarks/arith/tasks/1"
    hidden = [(task / f).read_bytes() for f in ("tests/test.sh", "solution/solve.sh")]
    for f in packet.rglob("*"):
        if f.is_file():
            assert not any(h in f.read_bytes() for h in hidden), f


def test_agent_cmd_resolves_relative_paths_against_the_callers_directory(tmp_path):
    """The README's `--agent-cmd 'python3 my_agent.py'`: CMD runs in artifacts/, yet the
    script named relative to where bakectl was called is found."""
    (tmp_path / "my_agent.py").write_text(
        "import os, pathlib\n"
        "pathlib.Path(os.environ['BAKECTL_WORKDIR'], 'answer.txt').write_text('391')\n"
    )
    res = bakectl(
        *"run arith --task-id 1 --agent-cmd".split(),
        "python3 my_agent.py",
        "--out",
        "runs",
        cwd=tmp_path,
        env={"BAKECTL_ROOT": str(REPO)},
        timeout=300,
    )
    assert "arith/1 x local: passed reward=1.0" in res.stdout, (res.stdout, res.stderr)
    job = read_record(tmp_path / _run_dir(res.stdout).parents[2] / "job.json", JobRecord)
    assert job.agent_cmd == f"python3 {tmp_path / 'my_agent.py'}"


def test_agent_cmd_timeout_kills_its_children_and_env_is_allow_listed(tmp_path):
    fixture = tmp_path / "fx"
    fixture.mkdir()
    (fixture / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
    cmd = (
        "env | sort > env.txt; "
        'python3 -c "import os,urllib.request as u; print(u.urlopen('
        "os.environ['OPENAI_BASE_URL'][:-3] + '/health').status)\" > health.txt; "
        "sleep 300 & echo $! > child.pid; sleep 300"
    )
    start = time.monotonic()
    res = bakectl(
        *"run arith -t 1 --timeout 2 --model m1 --agent-cmd".split(),
        cmd,
        "--replay",
        str(fixture),
        "--out",
        str(tmp_path / "runs"),
        env={"OPENAI_API_KEY": HOST_SECRET, "SOME_TOKEN": HOST_SECRET},
        check=False,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr  # a timeout is the agent's outcome, not an error
    assert time.monotonic() - start < 60
    assert "arith/1 x local: timeout reward=0.0 [the agent timed out after 2 s]" in res.stdout
    run_dir = _run_dir(res.stdout)
    run = read_record(run_dir / "run.json", RunRecord)
    assert run.exit_codes["agent"] == 137 and run.gateway.kind == "replay"
    result = read_record(run_dir / "result.json", ResultRecord)
    assert result.status == "timeout" and result.fault.kind == "agent_timeout"
    pid = int((run_dir / "artifacts/child.pid").read_text())
    assert not process_alive(pid)
    env = dict(
        line.split("=", 1) for line in (run_dir / "artifacts/env.txt").read_text().splitlines()
    )
    assert HOST_SECRET not in json.dumps(env)
    assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"] == "bakectl-placeholder"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", env["OPENAI_BASE_URL"])
    assert env["BAKECTL_MODEL"] == "m1" and env["BAKECTL_WORKDIR"] == str(run_dir / "artifacts")
    allowed = {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD"}
    assert set(env) - allowed == {
        "BAKECTL_INSTRUCTION",
        "BAKECTL_WORKDIR",
        "BAKECTL_AGENT_LOG_DIR",
        "BAKECTL_MODEL",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
    }
    assert (run_dir / "artifacts/health.txt").read_text().strip() == "200"
    summary = json.loads((run_dir / "gateway/summary.json").read_text())
    assert summary["mode"] == "replay" and summary["misses"] == 0


# -- bakectl score -------------------------------------------------------------------------------


def test_score_uses_the_current_tests_and_writes_beside_the_old_result(tmp_path):
    res = bakectl(*"run arith --agent oracle -t 1 --out".split(), str(tmp_path / "runs"))
    run_dir = _run_dir(res.stdout)
    old = (run_dir / "result.json").read_bytes()
    same = bakectl("score", str(run_dir))
    assert "arith/1 x oracle: passed 1 -> passed 1 -> " in same.stdout, same.stdout
    assert "(changed)" not in same.stdout
    # A scorer fix: a copy of the catalog whose test for task 1 now wants 392.
    root = tmp_path / "proj"
    shutil.copytree(REPO / "containers", root / "containers")
    test_sh = root / "containers/benchmarks/arith/tasks/1/tests/test.sh"
    test_sh.write_text(test_sh.read_text().replace('expected="391"', 'expected="392"'))
    fixed = bakectl("score", str(run_dir), env={"BAKECTL_ROOT": str(root)})
    assert "arith/1 x oracle: passed 1 -> failed 0 (changed) -> " in fixed.stdout, fixed.stdout
    assert (run_dir / "result.json").read_bytes() == old
    rescores = sorted(run_dir.glob("rescore-*"))
    assert len(rescores) == 2  # same second: rescore-<time>-2
    new = json.loads((rescores[-1] / "result.json").read_text())
    assert (new["status"], new["reward"]) == ("failed", 0.0)
    run_id = read_record(run_dir / "run.json", RunRecord).run_id
    assert new["run_id"] != run_id and new["rescored_at"]  # a re-score, beside the attempt
    assert "FAIL: expected '392'" in (rescores[-1] / "verifier/container.log").read_text()
    run = json.loads((rescores[-1] / "run.json").read_text())
    verifier = next(c["line"] for c in run["commands"] if c["line"].startswith("docker run"))
    assert f"--label {LABEL}={run['run_id']}" in verifier and "--network none" in verifier
    # A scorer that hangs: an error, its container gone (the autouse fixture checks).
    test_sh.write_text("#!/usr/bin/env bash\nsleep 60\n")
    toml = test_sh.parent.parent / "task.toml"
    toml.write_text(toml.read_text().replace("timeout_sec = 60.0", "timeout_sec = 1.0"))
    hung = bakectl("score", str(run_dir), env={"BAKECTL_ROOT": str(root)}, check=False)
    assert hung.returncode == 1 and "[the verifier timed out" in hung.stdout
    # --tasks is parsed against the job's own tasks.
    bad = bakectl("score", str(run_dir.parents[2]), "--tasks", "9", check=False)
    assert bad.returncode == 2 and "unknown task '9' in job" in bad.stderr


# -- bundles -------------------------------------------------------------------------------------


def test_bundle_rebuilds_and_replays_anywhere_with_the_same_reward(tmp_path):
    fixture = REPO / "tests/fixtures/arith/1-chat"
    agent = "chat" if (fixture / "exchanges.jsonl").is_file() else "oracle"
    args = ["run", "arith", "--agent", agent, "-t", "1", "--out", str(tmp_path / "runs")]
    if agent == "chat":
        args += ["--replay", str(fixture)]
    run_dir = _run_dir(bakectl(*args, timeout=300).stdout)
    original = json.loads((run_dir / "result.json").read_text())
    assert original["status"] == "passed"

    one, two = tmp_path / "b1", tmp_path / "b2"
    job_dir = run_dir.parents[2]
    bakectl("bundle", str(job_dir), "-o", str(one))
    bakectl("bundle", str(job_dir), "-o", str(two))
    assert dir_snapshot(one) == dir_snapshot(two)  # deterministic: files, modes, mtimes
    again = bakectl("bundle", str(one), "-o", str(one))
    assert "already a bundle" in again.stdout and dir_snapshot(one) == dir_snapshot(two)

    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["kind"] == "bakectl-bundle" and manifest["command"][-1] == "<bundle>"
    run = json.loads((run_dir / "run.json").read_text())
    job = json.loads((run_dir.parents[2] / "job.json").read_text())
    assert manifest["created_at"] == job["created_at"].replace("+00:00", "Z")  # not the clock
    assert "values" not in manifest["environment"]
    definition = json.loads((one / "bake/definition.json").read_text())
    for spec in definition["target"].values():
        assert spec["context"].startswith("contexts/") and not spec["dockerfile"].startswith("/")
    assert sorted(p.name for p in (one / "tasks/1").iterdir()) == ["instruction.md", "task.toml"]
    assert (one / "scorer/1/tests/test.sh").is_file()
    assert (one / "scorer/1/solution/solve.sh").is_file()
    assert (agent == "chat") == (one / "fixtures/1/exchanges.jsonl").is_file()
    images = json.loads((one / "images.json").read_text())["targets"]
    eval_target = manifest["tasks"]["1"]["eval_target"]
    assert images[eval_target]["id"] == run["images"]["eval"]["id"]

    # Elsewhere: a copy of the bundle, no repository (cwd, HOME, no BAKECTL_ROOT), and a
    # fresh image namespace, so every image is rebuilt from the bundle alone.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "home").mkdir(parents=True)
    shutil.copytree(one, elsewhere / "bundle")
    namespace = f"itest-bundle-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in ("BAKECTL_ROOT", "REGISTRY")}
    env["HOME"] = str(elsewhere / "home")
    env.pop("XDG_CACHE_HOME", None)
    try:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "bakectl.cli.main",
                "run",
                "--bundle",
                "bundle",
                "--registry",
                namespace,
                "--out",
                "runs",
            ],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, res.stderr
        assert f"built: {namespace}/eval/arith/{agent}:" in res.stderr
        assert str(REPO) not in res.stderr.replace("file://" + str(REPO), "")
        line = res.stdout.strip().splitlines()[-1]
        assert f"arith/1 x {agent}: passed reward=1.0" in line
        assert "(bundle recorded: passed reward=1)" in line
        (rerun_job,) = (elsewhere / "runs").iterdir()  # run --bundle is one job
        assert read_record(rerun_job / "job.json", JobRecord).source.kind == "bundle"
        rerun = rerun_job / "tasks/1/attempt-1"
        result = json.loads((rerun / "result.json").read_text())
        assert (result["reward"], result["model"]) == (original["reward"], original["model"])
        if agent == "chat":  # strict replay: the very same exchanges
            assert (rerun / "trace.jsonl").read_text() == (run_dir / "trace.jsonl").read_text()
    finally:
        remove_images(namespace + "/")
