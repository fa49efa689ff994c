"""The run model against the real engine: Harbor's task fields, faults as statuses.

The harbor-fields benchmark holds one task per field, each failing when its field is
ignored; `oracle --all` must score oracle 1 / nop below 1 on every one. The fault
cases run in a temporary copy of the catalog with a few extra tasks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, CatalogLab, bakectl
from tests.support.labelled import none_left_behind

pytestmark = pytest.mark.integration

FIELDS = REPO / "containers/benchmarks/harbor-fields"


@pytest.fixture(autouse=True)
def nothing_left_behind(engine):
    with none_left_behind("-harbor-fields-"):
        yield


def test_every_harbor_field_task_scores_oracle_1_and_nop_below(engine, tmp_path):
    res = bakectl("oracle", "harbor-fields", "--all", "--out", str(tmp_path), timeout=1200)
    lines = [ln for ln in res.stdout.splitlines() if not ln.startswith(("#", "job:"))]
    assert lines[0].split() == ["task", "oracle", "nop", "ok"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert sorted(rows) == sorted(os.listdir(FIELDS / "tasks"))
    for task, row in rows.items():
        assert row[1:3] == ["passed", "1"] and row[-1] == "yes", (task, res.stdout)
    # reward.json's two named metrics are both kept in the verifier's logs.
    (run,) = tmp_path.glob("*/tasks/reward-json-metrics/attempt-1")  # the oracle's job
    metrics = json.loads((run / "verifier/logs/reward.json").read_text())
    assert metrics == {"correctness": 1, "format": 1}


def _task(root: Path, name: str, *, like: str, toml: str | None = None) -> Path:
    d = root / "containers/benchmarks/harbor-fields/tasks" / name
    shutil.copytree(FIELDS / "tasks" / like, d)
    if toml is not None:
        (d / "task.toml").write_text(toml)
    return d


HC_NEVER = """\
version = "1.0"
[agent]
timeout_sec = 30.0
[verifier]
timeout_sec = 30.0
[environment]
memory_mb = 256
network_mode = "no-network"
[environment.healthcheck]
command = "echo not-ready-3c1d >&2; exit 3"
interval_sec = 0.5
timeout_sec = 2.0
retries = 2
"""


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory) -> CatalogLab:
    root = tmp_path_factory.mktemp("runmodel") / "proj"
    shutil.copytree(REPO / "containers", root / "containers")
    shutil.copy(REPO / "docker-bake.hcl", root / "docker-bake.hcl")
    _task(root, "hc-never", like="healthcheck-service", toml=HC_NEVER)
    bad = _task(root, "bad-entrypoint", like="agent-user-root")
    (bad / "environment/Dockerfile").write_text(
        "ARG DEBIAN_IMAGE=debian:bookworm-slim\nFROM ${DEBIAN_IMAGE}\n"
        'WORKDIR /app\nENTRYPOINT ["/no/such/entrypoint"]\n'
    )
    slow = _task(root, "agent-slow", like="agent-user-root")
    (slow / "solution/solve.sh").write_text(
        "#!/usr/bin/env bash\n(sleep 300; echo late > /app/late.txt) &\n"
        "id -u > /app/uid.txt; echo p > /root/proof.txt; sleep 300\n"
    )
    toml = slow / "task.toml"
    toml.write_text(toml.read_text().replace("timeout_sec = 60.0", "timeout_sec = 3.0", 1))
    exits = _task(root, "sidecar-exits", like="compose-sidecar")
    compose = exits / "environment/docker-compose.yaml"
    compose.write_text(
        compose.read_text().replace(
            "    build: ./cache\n",
            '    build: ./cache\n    command: ["sh", "-c", "echo bye-8d2e; exit 4"]\n',
        )
    )
    ports = _task(root, "compose-ports", like="compose-sidecar")
    compose = ports / "environment/docker-compose.yaml"
    compose.write_text(
        compose.read_text().replace(
            "    build: ./cache\n", '    build: ./cache\n    ports: ["9000:9000"]\n'
        )
    )
    the_lab = CatalogLab(root, f"itest-runmodel-{uuid.uuid4().hex[:8]}")
    yield the_lab
    refs = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    mine = [ref for ref in refs if ref.startswith(the_lab.namespace + "/")]
    if mine:
        subprocess.run(["docker", "image", "rm", "-f", *mine], capture_output=True)


def _run(lab: CatalogLab, task: str, tmp_path: Path, agent: str = "oracle"):
    from bakectl.runner import RunOptions, run_task

    opts = RunOptions(out_dir=tmp_path / "runs", echo=None)
    result = run_task(lab.renderer(), "harbor-fields", task, agent, opts)
    run = json.loads((result.run_dir / "run.json").read_text())
    return result, run


def test_a_healthcheck_that_never_passes_is_an_error_with_its_output(lab, tmp_path):
    result, run = _run(lab, "hc-never", tmp_path)
    assert result.status == "error", result.line()
    assert result.fault.kind == "healthcheck"
    assert "healthcheck never passed" in result.message and "not-ready-3c1d" in result.message
    assert "agent" not in run["exit_codes"]  # the agent never started


def test_an_entrypoint_that_fails_is_an_error_and_keeps_dockers_stderr(lab, tmp_path):
    result, run = _run(lab, "bad-entrypoint", tmp_path)
    assert result.status == "error" and result.fault.kind == "container_start", result.line()
    # The image's own ENTRYPOINT ran (and failed): its words are in the message.
    assert "/no/such/entrypoint" in result.message
    failed = [c for c in run["commands"] if c["exit_code"] not in (0, None)]
    assert failed and all(c["stderr"] for c in failed)  # each failed command says why


def test_an_agent_past_its_timeout_is_killed_inside_the_shared_container(lab, tmp_path):
    result, run = _run(lab, "agent-slow", tmp_path)
    assert result.status == "timeout", result.line()
    # The verifier still scored what the agent left, in the same container.
    assert result.reward == 1.0
    kills = [c["line"] for c in run["commands"] if "BAKECTL_PHASE=agent" in c["line"]]
    assert any(c.startswith("docker exec -u 0 ") for c in kills)
    assert not (result.run_dir / "artifacts/late.txt").exists()


def test_a_sidecar_that_exits_is_an_error_naming_it(lab, tmp_path):
    result, run = _run(lab, "sidecar-exits", tmp_path)
    assert result.status == "error" and result.fault.kind == "sidecar", result.line()
    assert "sidecar 'cache'" in result.message and "code 4" in result.message
    assert "bye-8d2e" in result.message  # its own last words
    assert "agent" not in run["exit_codes"]


def test_a_compose_file_bakectl_cannot_run_is_bad_input(lab, tmp_path):
    res = bakectl(
        *"run harbor-fields --agent oracle -t compose-ports --out".split(),
        str(tmp_path),
        env=lab.env,
        check=False,
    )
    assert res.returncode == 2, res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert "docker-compose.yaml: services.cache.ports is not something bakectl can run" in line
    assert any(ln.startswith("hint:") for ln in res.stderr.splitlines())
    assert not list(tmp_path.iterdir())


def test_dry_run_prints_the_plan(lab, tmp_path):
    res = bakectl(
        "run",
        "harbor-fields",
        "--agent",
        "oracle",
        "-t",
        "env-tables",
        "--dry-run",
        "--out",
        str(tmp_path),
        env=lab.env,
        timeout=600,
    )
    out = res.stdout
    # env-tables is offline with no gateway and no sidecar: no network at all, as Harbor.
    assert "# network: none, offline with nothing to reach" in out
    assert "# agent: docker exec" in out and "SOLUTION_PART=42" in out
    assert "# verifier (shared): docker exec" in out and "EXPECTED=hello-42" in out
    agent_line = next(ln for ln in out.splitlines() if ln.startswith("# agent: "))
    assert "EXPECTED" not in agent_line  # the verifier's env never reaches the agent
    assert not list(tmp_path.iterdir())
