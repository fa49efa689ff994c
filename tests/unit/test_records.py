"""Records: round-trips, refusal of other kinds and versions, pass@k, the checked-in
JSON Schemas (docs/schemas/) match the models, and named rewards as Harbor reads them."""

from __future__ import annotations

import json
from math import comb
from pathlib import Path

import pytest

from bakectl.errors import UsageError
from bakectl.results import records as r
from bakectl.results.rundir import read_rewards, trace_tokens, usage_tokens

REPO = Path(__file__).resolve().parents[2]


def _samples() -> list[r.Record]:
    job = r.JobRecord(
        job_id="j1",
        created_at="2026-01-01T00:00:00+00:00",
        bakectl_version="0",
        source=r.TaskSource(benchmark="arith"),
        task_ids=["1", "2"],
        agent="chat",
        model_source=r.ModelSource(kind="replay_dir", location="/fx"),
        attempts=3,
        owner=r.Owner(host="h", pid=1, started_at=2.0),
    )
    run = r.RunRecord(
        run_id="j1-1-a1",
        job_id="j1",
        benchmark="arith",
        task="1",
        agent="chat",
        images={"eval": r.ImageRef(ref="x:y", id="sha256:1")},
        commands=[r.CommandRecord(line="docker run x", exit_code=0, seconds=1.0)],
    )
    result = r.ResultRecord(
        run_id="j1-1-a1",
        job_id="j1",
        benchmark="arith",
        task="1",
        agent="chat",
        status="error",
        fault=r.Fault.of("replay_miss", "1 request(s) not in the fixture"),
        rewards={"a": 0.5},
        tokens=r.Tokens(input=10, output=2, cached=1, requests=1),
    )
    summary = r.SummaryRecord(job_id="j1", benchmark="arith", agent="chat", n_tasks=2, attempts=3)
    gate = r.GateRecord(job="j1", passed=True)
    return [job, run, result, summary, gate]


@pytest.mark.parametrize("record", _samples(), ids=lambda x: x.KIND)
def test_round_trip(tmp_path, record):
    f = tmp_path / f"{record.KIND}.json"
    r.write_record(f, record)
    assert r.read_record(f, type(record)) == record
    assert not list(tmp_path.glob(".*.tmp"))  # written through a rename


def test_another_kind_or_version_is_refused_naming_both(tmp_path):
    job, run = _samples()[:2]
    f = tmp_path / "run.json"
    r.write_record(f, run)
    with pytest.raises(UsageError, match="kind 'run', expected 'job'"):
        r.read_record(f, r.JobRecord)
    doc = json.loads(f.read_text())
    doc["schema_version"] = 99
    f.write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="schema_version 99; this bakectl reads version 1"):
        r.read_record(f, r.RunRecord)
    f.write_text("[1]")
    with pytest.raises(UsageError, match="not a bakectl run record"):
        r.read_record(f, r.RunRecord)
    with pytest.raises(UsageError, match="no such file"):
        r.read_record(tmp_path / "nope.json", r.RunRecord)


def test_pass_at_k_is_the_unbiased_estimator():
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                want = 1.0 - comb(n - c, k) / comb(n, k)
                assert r.pass_at_k(n, c, k) == pytest.approx(want)
    with pytest.raises(ValueError):
        r.pass_at_k(2, 1, 3)


def test_checked_in_schemas_match_the_models():
    folder = REPO / "docs" / "schemas"
    want = r.schemas()
    have = {p.name for p in folder.glob("*.schema.json")}
    assert have == set(want), "regenerate: python -m bakectl.results.records docs/schemas"
    for name, schema in want.items():
        on_disk = json.loads((folder / name).read_text())
        assert on_disk == schema, f"{name} drifted: python -m bakectl.results.records docs/schemas"


def test_rewards_are_read_as_harbor_reads_them(tmp_path):
    (tmp_path / "reward.json").write_text('{"accuracy": 0.5, "coverage": 1}')
    assert read_rewards(tmp_path) == ({"accuracy": 0.5, "coverage": 1.0}, "", False)
    assert r.primary_reward({"accuracy": 0.5, "coverage": 1.0}) == 0.75
    (tmp_path / "reward.txt").write_text("1\nignored\n")  # reward.txt wins, its first line
    assert read_rewards(tmp_path) == ({"reward": 1.0}, "", False)
    (tmp_path / "reward.txt").write_text("")
    assert read_rewards(tmp_path)[1:] == ("reward.txt is empty", True)
    (tmp_path / "reward.txt").unlink()
    (tmp_path / "reward.json").write_text('{"a": "x"}')
    assert read_rewards(tmp_path)[2] is True
    (tmp_path / "reward.json").unlink()
    assert read_rewards(tmp_path) == ({}, "no reward written", False)


def test_tokens_from_each_provider_usage(tmp_path):
    assert usage_tokens(
        {"prompt_tokens": 9, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}
    ) == (9, 2, 4)
    assert usage_tokens(
        {"input_tokens": 5, "output_tokens": 1, "input_tokens_details": {"cached_tokens": 2}}
    ) == (5, 1, 2)
    assert usage_tokens(
        {
            "input_tokens": 5,
            "output_tokens": 1,
            "cache_read_input_tokens": 3,
            "cache_creation_input_tokens": 1,
        }
    ) == (9, 1, 3)
    trace = tmp_path / "trace.jsonl"
    lines = [
        {
            "n": 1,
            "exchange": {"status": 200, "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        },
        {"n": 2, "exchange": {"status": 502, "usage": None}},
    ]
    trace.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"n": 3, "exch')
    assert trace_tokens(trace) == (3, 1, 0, 2, [502])
