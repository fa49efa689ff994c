"""Replay the repository's fixtures through the real gateway container, and
record through it with a canary key (upstream: ScriptedModel, a test double)."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, bakectl
from tests.support.scripted_model import ScriptedModel, solutions_from_catalog

pytestmark = pytest.mark.integration


def _run_dir(stdout: str) -> Path:
    m = re.search(r"-> (\S+)$", stdout.strip().splitlines()[-1])
    assert m, stdout
    p = Path(m.group(1))
    return p if p.is_absolute() else REPO / p


def test_replay_reproduces_the_recorded_result_twice(engine, tmp_path):
    fixture = REPO / "tests/fixtures/arith/1-chat"
    recorded = json.loads((fixture / "provenance.json").read_text())
    runs = []
    for _ in range(2):
        res = bakectl(
            "run",
            "arith",
            "--agent",
            "chat",
            "--task-id",
            "1",
            "--replay",
            str(fixture),
            "--out",
            str(tmp_path),
        )
        runs.append(_run_dir(res.stdout))
    results = [json.loads((r / "result.json").read_text()) for r in runs]
    assert [r["reward"] for r in results] == [recorded["reward"]] * 2 == [1.0, 1.0]
    assert all(r["status"] == "passed" for r in results)
    assert results[0]["model"] == recorded["model"]  # replay defaults to the recorded model
    traces = [(r / "trace.jsonl").read_text() for r in runs]
    assert traces[0] and traces[0] == traces[1]
    exchanges = [json.loads(line) for line in traces[0].splitlines()]
    assert all(e["exchange"]["status"] == 200 for e in exchanges)
    summary = json.loads((runs[0] / "gateway/summary.json").read_text())
    assert summary["misses"] == 0 and summary["unused"]["count"] == 0
    assert summary["served"] == len(exchanges)


def test_replay_refuses_a_fixture_of_another_task(engine, tmp_path):
    res = bakectl(
        "run",
        "arith",
        "--agent",
        "chat",
        "--task-id",
        "2",
        "--replay",
        str(REPO / "tests/fixtures/arith/1-chat"),
        "--out",
        str(tmp_path),
        check=False,
    )
    assert res.returncode == 2
    assert "recorded for task '1', this run is task '2'" in res.stderr
    assert not any(tmp_path.iterdir())


def test_recording_never_writes_the_upstream_key(engine, tmp_path):
    canary = "sk-canary-" + secrets.token_hex(16)
    model = ScriptedModel(solutions_from_catalog(REPO), host="0.0.0.0")
    try:
        fixture = tmp_path / "fx"
        res = bakectl(
            "run",
            "arith",
            "--agent",
            "chat",
            "--task-id",
            "3",
            "--record",
            str(fixture),
            "--upstream",
            f"http://host.docker.internal:{model.port}",
            "--model",
            "scripted-model-1",
            "--out",
            str(tmp_path / "runs"),
            env={"BAKECTL_UPSTREAM_API_KEY": canary},
        )
        assert "passed" in res.stdout
    finally:
        model.close()
    # The key really reached the upstream (so scrubbing had something to remove) ...
    assert any(canary in a for a in model.authorizations)
    # ... and is nowhere on disk: fixture, trace, logs, results, printed commands.
    for path in [*fixture.rglob("*"), *(tmp_path / "runs").rglob("*")]:
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), f"canary in {path}"
    assert canary not in res.stdout + res.stderr
    prov = json.loads((fixture / "provenance.json").read_text())
    assert prov["task"] == "3" and prov["agent"] == "chat" and prov["reward"] == 1.0
