"""bakectl run / oracle / prune against the real engine: phases, faults, cleanup, isolation.

Most fault cases run in a temporary copy of the catalog ("the lab") with a few
extra agents and tasks, built once per session in their own image namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from bakectl.results.records import JobRecord, ResultRecord, RunRecord, read_record
from bakectl.results.rundir import read_rewards
from tests.integration.conftest import REPO, CatalogLab, bakectl
from tests.support.images import image_members
from tests.support.polling import containers_of, wait_for

pytestmark = pytest.mark.integration

LABEL = "dev.bakectl.run"
RUN_NOP = "run arith --agent nop -t 1".split()
# Planted in the lab's task tests/ and solution/: must never reach the agent.
CANARY_TESTS = "bakectl-canary-tests-5d1e7a"
CANARY_SOLUTION = "bakectl-canary-solution-9b2c44"
HOST_SECRET = "sk-host-secret-canary-00c0ffee"

# Reports what the agent sees. The canaries are assembled at run time, so this
# script (which is baked) does not itself contain them.
PROBE = r"""#!/usr/bin/env bash
out=/logs/agent
env | sort > $out/env.txt
probe() { if timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>>$out/net.err; then echo reachable; else echo unreachable; fi; }
echo "ip $(probe 151.101.0.1 80)" >> $out/net.txt
echo "dns $(probe deb.debian.org 80)" >> $out/net.txt
hits=$(grep -rIl --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev \
  -e "bakectl-canary-""tests" -e "bakectl-canary-""solution" / 2>/dev/null)
printf '%s' "$hits" > $out/canary-hits.txt
health() {
  exec 3<>/dev/tcp/gateway/8080 || return 1
  printf 'GET /health HTTP/1.0\r\nHost: gateway\r\n\r\n' >&3
  head -n1 <&3
}
[ -n "${OPENAI_BASE_URL:-}" ] && { (health || echo down) > $out/health.txt 2>>$out/net.err; }
end=$((SECONDS + ${PROBE_SLEEP:-0}))
while [ $SECONDS -lt $end ]; do
  if [ -n "${OPENAI_BASE_URL:-}" ] && ! (health) >/dev/null 2>&1; then
    echo "gateway gone" >> $out/health.txt; break
  fi
  sleep 0.5
done
exit 0
"""


def _agent(root: Path, name: str, run_sh: str, *, install: str = "", env: tuple = ()) -> None:
    d = root / "containers/agents" / name
    d.mkdir()
    (d / "agent.yaml").write_text(f"name: {name}\nversion: '1'\nenv: {json.dumps(list(env))}\n")
    (d / "run.sh").write_text(run_sh)
    if install:
        (d / "install.sh").write_text(install)


def _labelled() -> set[str]:
    out = set()
    for argv in (
        ["docker", "ps", "-a", "--filter", f"label={LABEL}", "--format", "c {{.Names}}"],
        ["docker", "network", "ls", "--filter", f"label={LABEL}", "--format", "n {{.Name}}"],
        ["docker", "image", "ls", "--filter", f"label={LABEL}", "--format", "i {{.ID}}"],
    ):
        out |= set(subprocess.run(argv, capture_output=True, text=True).stdout.splitlines())
    return out


@pytest.fixture(autouse=True)
def nothing_left_behind(request, tmp_path):
    """Whatever this test's runs created is gone after it. Other engineers' runs share
    this engine: only this test's run ids count (from the run.json files it wrote, and
    the itest-* ids it named)."""
    if "engine" not in request.fixturenames and "lab" not in request.fixturenames:
        yield
        return
    before = _labelled()
    yield
    ours = set()
    for run_json in tmp_path.rglob("run.json"):
        try:
            ours.add(json.loads(run_json.read_text()).get("run_id") or "")
        except ValueError:
            pass
    ours.discard("")
    left = {
        ln
        for ln in _labelled() - before
        if "itest-" in ln or any(r.lower() in ln.lower() for r in ours)
    }
    assert not left, f"left behind: {sorted(left)}"


@pytest.fixture(scope="session")
def lab(engine, tmp_path_factory) -> CatalogLab:
    root = tmp_path_factory.mktemp("lab") / "proj"
    shutil.copytree(REPO / "containers", root / "containers")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    _agent(root, "sleeper", "#!/usr/bin/env bash\nsleep 30\n")
    # The runtime's entrypoint is gone: the image cannot start.
    _agent(
        root,
        "broken",
        "#!/usr/bin/env bash\nexit 0\n",
        install="rm -f /opt/bakectl/core/entrypoint.sh\n",
    )
    _agent(root, "probe", PROBE, env=("PROBE_SLEEP",))
    tasks = root / "containers/benchmarks/arith/tasks"
    shutil.copytree(tasks / "1", tasks / "slow")
    toml = tasks / "slow/task.toml"
    toml.write_text(toml.read_text().replace("timeout_sec = 120.0", "timeout_sec = 2.0"))
    shutil.copytree(tasks / "1", tasks / "noreward")
    (tasks / "noreward/tests/test.sh").write_text("#!/usr/bin/env bash\necho scoring nothing\n")
    hello = root / "containers/benchmarks/terminal-tasks/tasks/hello-file"
    for sub, canary in (("tests", CANARY_TESTS), ("solution", CANARY_SOLUTION)):
        (hello / sub / "canary.txt").write_text(canary + "\n")
    for f, canary in (("tests/test.sh", CANARY_TESTS), ("solution/solve.sh", CANARY_SOLUTION)):
        (hello / f).write_text((hello / f).read_text() + f"# {canary}\n")
    the_lab = CatalogLab(root, f"itest-run-{uuid.uuid4().hex[:8]}")

    from bakectl.runner import ensure_images

    r = the_lab.renderer()
    cat = r.catalog
    arith, tt = cat.benchmark("arith"), cat.benchmark("terminal-tasks")
    targets = [r.eval(arith, cat.agent(a), None) for a in ("sleeper", "broken", "probe", "nop")]
    targets += [
        r.eval(tt, cat.agent(a), cat.task("terminal-tasks", "hello-file"))
        for a in ("probe", "oracle")
    ]
    targets.append(r.gateway())
    ensure_images(r, targets, build=True)
    yield the_lab
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    mine = [ref for ref in refs if ref.startswith(the_lab.namespace + "/")]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True)


def run_lab(lab: CatalogLab, bench: str, task: str, agent: str, tmp_path: Path, **kw):
    from bakectl.runner import RunOptions, run_task

    # build=True only builds the gateway image again if its source changed meanwhile.
    kw.setdefault("build", "gateway" in kw)
    opts = RunOptions(out_dir=tmp_path / "runs", echo=None, **kw)
    return run_task(lab.renderer(), bench, task, agent, opts)


def in_background(fn):
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # surfaced by the caller
            box["error"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    return th, box


def container_running(name: str) -> bool:
    res = subprocess.run(
        ["docker", "container", "inspect", "--format", "{{.State.Running}}", name],
        capture_output=True,
        text=True,
    )
    return res.stdout.strip() == "true"


def exported_text(ref: str) -> bytes:
    chunks = []
    for name, content in image_members(ref, 5_000_000).items():
        chunks.append(name.encode())
        if content is not None:
            chunks.append(content)
    return b"\n".join(chunks)


# -- the happy path, through the CLI ---------------------------------------------------------


def test_oracle_passes_with_a_complete_run_dir(engine, tmp_path):
    res = bakectl(
        "run", "arith", "--agent", "oracle", "--task-id", "1", "--out", str(tmp_path), timeout=300
    )
    (line,) = res.stdout.splitlines()
    assert line.startswith("arith/1 x oracle: passed reward=1.0 (") and " -> " in line, line
    (job_dir,) = tmp_path.iterdir()  # a single run is a job of one
    job = read_record(job_dir / "job.json", JobRecord)
    assert (job.task_ids, job.agent, job.attempts) == (["1"], "oracle", 1)
    run_dir = job_dir / "tasks/1/attempt-1"
    assert line.endswith(str(run_dir))
    result = read_record(run_dir / "result.json", ResultRecord)
    assert (result.status, result.reward, result.passed) == ("passed", 1.0, True)
    assert (result.benchmark, result.task, result.agent) == ("arith", "1", "oracle")
    assert result.rewards == {"reward": 1.0} and result.job_id == job.job_id
    assert (result.agent_exit_code, result.verifier_exit_code) == (0, 0)
    assert {"setup", "agent", "verifier", "cleanup", "total"} <= set(result.timings)
    run = read_record(run_dir / "run.json", RunRecord)
    assert run.run_id == result.run_id and run.owner is not None
    assert run.images["eval"].id.startswith("sha256:")
    assert run.exit_codes == {"agent": 0, "verifier": 0}
    assert (job_dir / "summary.json").is_file()
    commands = [c.line for c in run.commands]
    # The run model: one environment container (--init, a keep-alive), the agent and
    # a shared verifier exec'd into it, /tests copied in; an offline task with no gateway
    # and no sidecar has nothing to reach: no network of its own (Harbor's network_mode none).
    assert not any(c.startswith("docker network create") for c in commands)
    assert any(
        c.startswith("docker run -d") and " --init " in c and " --network none " in c
        for c in commands
    )
    assert sum(c.startswith("docker exec ") for c in commands) == 2
    assert any(c.startswith("docker cp ") and c.endswith("-env:/tests") for c in commands)
    assert not any(c.startswith("docker commit ") for c in commands)
    assert any(c.startswith("docker rm -f") for c in commands)
    for cmd in commands:  # each printed line is in run.json too
        if cmd.startswith(("docker run", "docker network create", "docker exec")):
            assert f"$ {cmd}" in res.stderr
    assert (
        "oracle: running bash /solution/solve.sh" in (run_dir / "agent/container.log").read_text()
    )
    assert "PASS" in (run_dir / "verifier/container.log").read_text()
    assert (run_dir / "verifier/logs/reward.txt").read_text().strip() == "1"
    assert (run_dir / "agent/logs").is_dir()
    assert (run_dir / "artifacts/answer.txt").read_text().strip() == "391"
    assert not (run_dir / "trace.jsonl").exists()  # no gateway ran


def test_nop_fails_with_reward_zero(engine, tmp_path):
    res = bakectl("run", "arith", "--agent", "nop", "-t", "1", "--out", str(tmp_path), timeout=300)
    assert "arith/1 x nop: failed reward=0.0" in res.stdout
    (job_dir,) = tmp_path.iterdir()
    result = read_record(job_dir / "tasks/1/attempt-1/result.json", ResultRecord)
    assert (result.status, result.reward, result.passed) == ("failed", 0.0, False)


def test_json_prints_the_result_records_and_quiet_drops_the_echo(engine, tmp_path):
    res = bakectl(*RUN_NOP, "--json", "--quiet", "--out", str(tmp_path), timeout=300)
    (record,) = json.loads(res.stdout)
    assert (record["kind"], record["status"], record["reward"]) == ("result", "failed", 0.0)
    assert record["run_dir"].startswith(str(tmp_path)) and "$ docker" not in res.stderr
    loud = bakectl(*RUN_NOP, "--out", str(tmp_path), timeout=300)
    assert "$ docker run -d" in loud.stderr  # echo stays the default


@pytest.mark.parametrize("bench", ["arith", "terminal-tasks"])
def test_oracle_command_checks_every_task(engine, tmp_path, bench):
    res = bakectl("oracle", bench, "--all", "--out", str(tmp_path), timeout=600)
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["task", "oracle", "nop", "ok"]
    tasks = sorted(os.listdir(REPO / "containers/benchmarks" / bench / "tasks"))
    assert [ln.split()[0] for ln in lines[1:-1]] == tasks
    assert all(ln.split()[-1] == "yes" for ln in lines[1:-1]), res.stdout
    (job_dir,) = tmp_path.iterdir()  # one job: the oracle's attempts, the nop job inside it
    assert lines[-1] == f"job: {job_dir}"
    assert sorted(os.listdir(job_dir / "tasks")) == tasks
    assert sorted(os.listdir(job_dir / "nop/tasks")) == tasks


def test_oracle_command_fails_when_a_scorer_is_broken(lab, tmp_path):
    args = "oracle arith -t 1 -t noreward --out".split()
    res = bakectl(*args, str(tmp_path), env=lab.env, check=False, timeout=300)
    assert res.returncode == 1, res.stderr
    rows = {
        ln.split()[0]: ln for ln in res.stdout.splitlines()[1:] if not ln.startswith(("#", "job: "))
    }
    assert rows["1"].endswith("yes") and rows["noreward"].endswith("NO")
    assert "no reward written" in res.stdout


# -- bad input: exit 2, nothing written --------------------------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--record", "fx/new"], "--record needs --upstream"),
        (["--replay", "does/not/exist"], "no such fixture"),
        (["--upstream", "ftp://x"], "is not an http(s) URL"),
        (["--timeout", "0"], "must be above 0"),
    ],
)
def test_bad_flags_are_usage_errors(engine, tmp_path, args, needle):
    out = tmp_path / "runs"
    res = bakectl(
        *RUN_NOP,
        "--out",
        str(out),
        *args,
        check=False,
        cwd=tmp_path,
        env={"BAKECTL_ROOT": str(REPO)},
    )
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert not out.exists() and not (tmp_path / "fx").exists()


@pytest.mark.parametrize(
    "bench,agent,task,needle",
    [
        ("arith", "nop", "99", "unknown task '99'"),
        ("arith", "nobody", "1", "unknown agent 'nobody'"),
        ("no-such-bench", "nop", "1", "unknown benchmark"),
    ],
)
def test_unknown_ids_are_usage_errors(engine, tmp_path, bench, agent, task, needle):
    res = bakectl(
        "run", bench, "--agent", agent, "-t", task, "--out", str(tmp_path / "runs"), check=False
    )
    assert res.returncode == 2 and needle in res.stderr, res.stderr
    assert not (tmp_path / "runs").exists()


def test_no_build_names_the_missing_image(engine, tmp_path):
    res = bakectl(
        *RUN_NOP,
        "--no-build",
        "--out",
        str(tmp_path / "runs"),
        env={"REGISTRY": "itest-never-built"},
        check=False,
    )
    assert res.returncode == 2, res.stderr
    assert "error: image itest-never-built/eval/arith/nop:h" in res.stderr
    assert (
        "hint: build it: bakectl build eval arith --agent nop --registry itest-never-built"
        in res.stderr
    )
    assert "buildx bake" not in res.stderr and not (tmp_path / "runs").exists()


SHIM = """#!/bin/sh
printf '%s\\n' "$*" >> {log}
case "$*" in
  "image ls"*|"image inspect"*|"buildx bake"*--print*|"buildx version"*|"buildx inspect"*|\\
  version*|info*) exec {real} "$@" ;;
esac
echo "shim: refused mutating call: $*" >&2
exit 99
"""


def test_dry_run_prints_every_command_and_runs_none(engine, tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(SHIM.format(log=log, real=shutil.which("docker")))
    (bin_dir / "docker").chmod(0o755)
    fixture = tmp_path / "fx"
    fixture.mkdir()
    (fixture / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
    args = "run arith --agent oracle -t 1 --model m1 --dry-run --replay".split()
    res = bakectl(
        *args,
        str(fixture),
        "--out",
        str(tmp_path / "runs"),
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "REGISTRY": f"itest-dry-{uuid.uuid4().hex[:6]}",
        },
    )
    calls = log.read_text().splitlines() if log.exists() else []
    read_only = ("image ls", "image inspect", "buildx version", "buildx inspect", "version", "info")
    for call in calls:
        assert call.startswith(read_only) or (call.startswith("buildx bake") and "--print" in call)
    printed = [ln[2:] for ln in res.stdout.splitlines() if ln.startswith("$ ")]
    assert not (tmp_path / "runs").exists()
    assert " docker buildx bake " in printed[0] and printed[0].endswith(" gateway")
    starts = [
        "docker network create --internal --label dev.bakectl.run=",
        "docker run -d --pull never --name bakectl-",  # gateway
        "docker exec bakectl-",  # its health probe
        "docker run -d",  # the environment container
        "docker exec -u agent -w /app -e BAKECTL_PHASE=agent",  # arith names its agent user
        "docker stop",
        "docker cp ",  # tests/ into the shared container
        "docker exec -w /app -e BAKECTL_PHASE=verifier",
        "docker rm -f -v",
        "docker network rm",
    ]
    at = -1
    for s in starts:  # in this order
        at = next((i for i, p in enumerate(printed) if i > at and p.startswith(s)), -1)
        assert at != -1, (s, res.stdout)
    gateway_run = next(p for p in printed if "--network-alias gateway" in p)
    assert "serve --mode replay --fixture /fixture" in gateway_run
    env_run = next(p for p in printed if p.startswith("docker run -d") and "-env " in p)
    assert " --init " in env_run and "target=/solution,readonly" in env_run
    agent_exec = next(p for p in printed if "BAKECTL_PHASE=agent" in p)
    assert "-e OPENAI_BASE_URL=http://gateway:8080/v1" in agent_exec
    assert "-e BAKECTL_MODEL=m1" in agent_exec
    verifier_exec = next(p for p in printed if "BAKECTL_PHASE=verifier" in p)
    assert "-env bash /tests/test.sh > " in verifier_exec
    assert "OPENAI_BASE_URL" not in verifier_exec


# -- faults become statuses ----------------------------------------------------------------


def test_agent_timeout(lab, tmp_path):
    start = time.monotonic()
    r = run_lab(lab, "arith", "slow", "sleeper", tmp_path)
    assert time.monotonic() - start < 25
    assert r.status == "timeout" and not r.passed, r
    assert "timed out after 2 s" in r.message and r.fault.kind == "agent_timeout"
    run = read_record(r.run_dir / "run.json", RunRecord)
    assert run.exit_codes["agent"] is None
    # Its processes are killed inside the environment container, the container stays.
    assert any("BAKECTL_PHASE=agent" in c.line and "kill -9" in c.line for c in run.commands)


def test_verifier_without_reward_is_an_error(lab, tmp_path):
    r = run_lab(lab, "arith", "noreward", "nop", tmp_path)
    assert r.status == "error" and r.reward is None
    assert r.message.startswith("no reward written") and r.fault.kind == "verifier_no_reward"
    assert read_record(r.run_dir / "result.json", ResultRecord).message == r.message


def test_image_that_cannot_start_is_an_error(lab, tmp_path):
    r = run_lab(lab, "arith", "1", "broken", tmp_path)
    assert r.status == "error" and "the agent could not start" in r.message, r
    assert "entrypoint.sh" in r.message and r.fault.kind == "container_start"
    run = read_record(r.run_dir / "run.json", RunRecord)
    assert "verifier" not in run.exit_codes


def test_ctrl_c_cleans_up(lab, tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bakectl.cli.main",
            *"run arith -a sleeper -t 1 --no-build --out".split(),
            str(tmp_path),
        ],
        env={**os.environ, **lab.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # This process's environment container (other runs share the engine), and its
        # agent started: the agent's output file is opened as its docker exec starts.
        wait_for(
            lambda: (
                any(n.endswith("-env") for n in containers_of(proc.pid))
                and any(tmp_path.glob("*/tasks/1/attempt-1/agent/container.log"))
            ),
            what="the agent phase",
        )
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (job_dir,) = tmp_path.iterdir()
    result = read_record(job_dir / "tasks/1/attempt-1/result.json", ResultRecord)
    assert result.status == "error" and result.fault.kind == "interrupted"
    assert result.message.startswith("interrupted during the agent phase")
    assert "bakectl: interrupted arith/1 x sleeper attempt 1 (interrupted during the agent" in err
    assert f"continue: bakectl run --resume {job_dir}" in err


# -- the visibility boundary and the network ---------------------------------------------------


def test_agent_sees_no_scorer_files_no_host_secrets_no_internet(lab, tmp_path, monkeypatch):
    from bakectl.runner import RunOptions, run_task

    monkeypatch.setenv("OPENAI_API_KEY", HOST_SECRET)
    monkeypatch.setenv("PROBE_SLEEP", "3")
    r = lab.renderer()
    run_id = f"itest-{uuid.uuid4().hex[:8]}"
    opts = RunOptions(out_dir=tmp_path, build=False, echo=None, run_id=run_id)
    th, box = in_background(lambda: run_task(r, "terminal-tasks", "hello-file", "probe", opts))
    agent = f"bakectl-{run_id}-env"  # the agent runs in it by docker exec
    env = wait_for(
        lambda: (
            container_running(agent)
            and subprocess.run(
                ["docker", "inspect", "--format", "{{json .Config.Env}}", agent],
                capture_output=True,
                text=True,
            ).stdout
        ),
        what="the agent container",
    )
    th.join(60)
    assert "error" not in box, box.get("error")
    res = box["result"]
    for secret in (CANARY_TESTS, CANARY_SOLUTION, HOST_SECRET):
        assert secret not in env
    assert res.status == "failed", res
    logs = res.run_dir / "agent/logs"
    assert (logs / "net.txt").read_text().split("\n")[:2] == ["ip unreachable", "dns unreachable"]
    assert (logs / "canary-hits.txt").read_text() == ""
    seen = (logs / "env.txt").read_text()
    assert HOST_SECRET not in seen and "PROBE_SLEEP=3" in seen  # agent.yaml env: names pass
    assert "OPENAI_BASE_URL" not in seen  # no gateway, no model URL
    for secret in (CANARY_TESTS, CANARY_SOLUTION):
        assert secret not in seen
    run = read_record(res.run_dir / "run.json", RunRecord)
    first = run.commands[0].line  # offline, no gateway: no network at all, loopback only
    assert first.startswith("docker run -d ") and " --network none " in first, first
    for agent_name in ("probe", "oracle"):
        cat = r.catalog
        image = r.eval(
            cat.benchmark("terminal-tasks"),
            cat.agent(agent_name),
            cat.task("terminal-tasks", "hello-file"),
        ).image
        blob = exported_text(image)
        assert CANARY_TESTS.encode() not in blob and CANARY_SOLUTION.encode() not in blob, image


def test_oracle_gets_its_solution_mounted_at_run_time(lab, tmp_path):
    r = run_lab(lab, "terminal-tasks", "hello-file", "oracle", tmp_path)
    assert r.status == "passed", r
    run = read_record(r.run_dir / "run.json", RunRecord)
    env_run = next(
        c.line for c in run.commands if c.line.startswith("docker run -d") and "-env " in c.line
    )
    assert "hello-file/solution,target=/solution,readonly" in env_run


# -- the gateway -----------------------------------------------------------------------------


@pytest.fixture
def empty_fixture(tmp_path) -> Path:
    d = tmp_path / "fixture"
    d.mkdir()
    (d / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
    return d


def test_gateway_answers_health_on_the_agent_network(lab, tmp_path, empty_fixture, monkeypatch):
    from bakectl.runner import GatewayConfig

    monkeypatch.setenv("OPENAI_API_KEY", HOST_SECRET)
    gw = GatewayConfig.from_flags(empty_fixture, None, None)
    r = run_lab(lab, "arith", "1", "probe", tmp_path, gateway=gw, model="test-model")
    assert r.status == "failed" and r.model == "test-model", r
    logs = r.run_dir / "agent/logs"
    assert " 200 " in (logs / "health.txt").read_text().split("\n")[0], logs / "net.err"
    env = (logs / "env.txt").read_text().splitlines()
    for want in (
        "OPENAI_BASE_URL=http://gateway:8080/v1",
        "ANTHROPIC_BASE_URL=http://gateway:8080/anthropic",
        "OPENAI_API_KEY=bakectl-placeholder",
        "ANTHROPIC_API_KEY=bakectl-placeholder",
        "BAKECTL_MODEL=test-model",
    ):
        assert want in env
    assert HOST_SECRET not in "\n".join(env)
    summary = json.loads((r.run_dir / "gateway/summary.json").read_text())
    assert summary["mode"] == "replay" and summary["misses"] == 0
    assert "replay on http://0.0.0.0:8080" in (r.run_dir / "gateway/gateway.log").read_text()
    run = read_record(r.run_dir / "run.json", RunRecord)
    assert run.gateway.kind == "replay" and run.images["gateway"].id


def test_gateway_dying_mid_run_is_an_error(lab, tmp_path, empty_fixture, monkeypatch):
    from bakectl.runner import GatewayConfig, RunOptions, run_task

    monkeypatch.setenv("PROBE_SLEEP", "30")
    run_id = f"itest-{uuid.uuid4().hex[:8]}"
    opts = RunOptions(
        out_dir=tmp_path,
        build=True,
        echo=None,
        run_id=run_id,
        gateway=GatewayConfig.from_flags(empty_fixture, None, None),
    )
    r = lab.renderer()
    start = time.monotonic()
    th, box = in_background(lambda: run_task(r, "arith", "1", "probe", opts))
    wait_for(lambda: container_running(f"bakectl-{run_id}-env"), what="the environment")
    subprocess.run(["docker", "kill", f"bakectl-{run_id}-gateway"], capture_output=True, check=True)
    th.join(60)
    assert "error" not in box, box.get("error")
    res = box["result"]
    assert time.monotonic() - start < 25
    assert res.status == "error" and "the gateway stopped during the run" in res.message, res
    assert res.fault.kind == "gateway_died"


# -- prune and rewards -----------------------------------------------------------------------


def test_prune_removes_labelled_leftovers(engine):
    run_id = f"itest-prune-{uuid.uuid4().hex[:6]}"
    net = f"bakectl-{run_id}"
    subprocess.run(
        f"docker network create --internal --label {LABEL}={run_id} {net}".split(),
        check=True,
        capture_output=True,
    )
    create = f"docker create --name {net}-agent --label {LABEL}={run_id} --network {net}"
    subprocess.run(
        [*create.split(), "debian:bookworm-slim", "true"], check=True, capture_output=True
    )
    dry = bakectl("prune", "--run-id", run_id, "--dry-run")
    assert f"$ docker rm -f -v {net}-agent" in dry.stdout
    assert f"$ docker network rm {net}" in dry.stdout
    assert any(run_id in ln for ln in _labelled())
    bakectl("prune", "--run-id", run_id)
    assert not any(run_id in ln for ln in _labelled())


def test_reward_files(tmp_path):
    cases = [
        ("reward.txt", " 0.5\n", {"reward": 0.5}, ""),
        ("reward.txt", "yes", {}, "not a number"),
        ("reward.json", '{"reward": 1}', {"reward": 1.0}, ""),
        ("reward.json", '{"a": 1, "b": 0}', {"a": 1.0, "b": 0.0}, ""),
        ("reward.json", '{"a": "x"}', {}, "is not a finite number"),
    ]
    for i, (name, text, want, problem) in enumerate(cases):
        d = tmp_path / str(i)
        d.mkdir()
        (d / name).write_text(text)
        got, why, _bad = read_rewards(d)
        assert got == want and problem in why, (name, text, got, why)
    assert read_rewards(tmp_path / "empty") == ({}, "no reward written", False)


def test_cancelled_run_skips_the_verifier_and_cleans_up(engine, tmp_path):
    """A batch's Ctrl-C reaches worker threads as RunOptions.cancel: the run stops
    at the next phase boundary, never scores a killed agent, and removes everything."""
    from bakectl.catalog import Catalog
    from bakectl.render import variables
    from bakectl.render.renderer import Renderer
    from bakectl.runner.task_run import RunOptions, ensure_images, execute, prepare

    renderer = Renderer(Catalog(REPO), variables.resolve(REPO))
    cancel = threading.Event()
    options = RunOptions(out_dir=tmp_path, echo=None, cancel=cancel)
    spec = prepare(renderer, "arith", "1", "oracle", options)
    ensure_images(renderer, spec.targets, build=True)
    cancel.set()
    result = execute(spec)
    assert result.status == "error" and result.fault.kind == "interrupted"
    assert result.message.startswith("interrupted during")
    run = read_record(result.run_dir / "run.json", RunRecord)
    commands = " ".join(c.line for c in run.commands)
    assert "verify" not in commands
    assert result.run_id not in " ".join(_labelled())


def test_prune_leaves_a_live_runs_objects_alone(lab, tmp_path):
    """Another bakectl process's run in progress is not a leftover; an abandoned one is.
    (Only --dry-run without --run-id: other users of this engine have objects too.)"""
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone_owner = f"{socket.gethostname()}/{dead.pid}/1.00"
    run_id = f"itest-prune-gone-{uuid.uuid4().hex[:6]}"
    net = f"bakectl-{run_id}"
    subprocess.run(
        [
            "docker",
            "network",
            "create",
            "--internal",
            "--label",
            f"{LABEL}={run_id}",
            "--label",
            f"dev.bakectl.owner={gone_owner}",
            net,
        ],
        check=True,
        capture_output=True,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bakectl.cli.main",
            *"run arith -a sleeper -t 1 --no-build -q --out".split(),
            str(tmp_path),
        ],
        env={**os.environ, **lab.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        agent = wait_for(
            lambda: next(
                (
                    ln[2:]
                    for ln in _labelled()
                    if ln.startswith("c ") and ln.endswith("-env") and "sleeper" in ln
                ),
                None,
            ),
            what="the live run's environment container",
        )
        dry = bakectl("prune", "--dry-run")
        assert net in dry.stdout  # its owner is gone
        assert agent not in dry.stdout  # its owner runs
        assert container_running(agent)
        bakectl("prune", "--run-id", run_id)
        assert not any(run_id in ln for ln in _labelled())
        everything = bakectl("prune", "--all", "--dry-run")
        assert agent in everything.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        subprocess.run(["docker", "network", "rm", net], capture_output=True)
