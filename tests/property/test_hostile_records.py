"""Hostile run records, generated: a job directory whose job.json and result.json
hold ids with '..' or '/', non-finite and huge numbers, wrong types and garbage bytes.
Readers (report, gate, resume) end in order, and nothing is written outside the run's
own directory."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from bakectl.catalog.naming import ID_RE
from tests.property.harness import assert_orderly, assert_rejected, invoke, snapshot, world

IDS = st.one_of(
    st.sampled_from(
        ["1", "2", "..", "../..", "../../../escape", "a/b", "/abs", ".", "", "x" * 300]
    ),
    st.text(max_size=12),
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
RESULT_KEYS = ["run_id", "status", "reward", "passed", "message", "duration_sec", "task", "rewards"]


def _dump(value) -> str:
    # json.dumps writes NaN/Infinity, which Python's reader takes back: hostile on purpose.
    return json.dumps(value)


@given(
    task_ids=st.lists(IDS, min_size=1, max_size=3),
    result=st.dictionaries(st.sampled_from(RESULT_KEYS), VALUES, max_size=6),
    garbage=st.one_of(st.none(), st.binary(max_size=30)),
    command=st.sampled_from(["report", "gate", "resume", "score"]),
)
def test_readers_of_hostile_records(task_ids, result, garbage, command) -> None:
    with world() as w:
        batch = w.work / "runs" / "b1"
        batch.mkdir(parents=True)
        (batch / "job.json").write_text(
            _dump(
                {
                    "kind": "job",
                    "schema_version": 1,
                    "job_id": "b1",
                    "created_at": "2026-12-01T00:00:00+00:00",
                    "bakectl_version": "0.1.0",
                    "source": {"kind": "catalog", "benchmark": "arith"},
                    "task_ids": task_ids,
                    "agent": "chat",
                }
            )
        )
        attempt = batch / "tasks" / "1" / "attempt-1"
        attempt.mkdir(parents=True)
        body = garbage if garbage is not None else _dump(result).encode()
        (attempt / "result.json").write_bytes(body)
        (attempt / "run.json").write_text(_dump({"timings": result.get("duration_sec")}))
        outside = {k: v for k, v in snapshot(w.tmp).items() if not k.startswith("work/runs/b1")}
        args = {
            "report": ["report", str(batch)],
            "gate": ["gate", str(batch), "--baseline", str(batch)],
            "resume": ["run", "--resume", str(batch)],
            "score": ["score", str(attempt)],
        }[command]
        res = invoke(w, *args)
        assert_orderly(res)
        if command == "resume" and not all(ID_RE.match(t) and ".." not in t for t in task_ids):
            assert_rejected(res, "is not a valid id")  # before any path is built from one
            assert w.engine_calls == []
        after = {k: v for k, v in snapshot(w.tmp).items() if not k.startswith("work/runs/b1")}
        after.pop("bin/calls.log", None)
        assert after == outside, (
            "nothing is written outside the run's own directory",
            sorted(set(after) ^ set(outside)),
        )
        leftovers = [p.name for p in batch.rglob("*.tmp")]
        assert not leftovers, "nothing half-written"
