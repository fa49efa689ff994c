"""Reports and regression gates on synthetic run directories (no engine).

`write_batch` writes a batch directory the way the batch runner does: batch.json, then
tasks/<task>/attempt-<k>/ with result.json, run.json and trace.jsonl. Every number asserted
below is worked out by hand from the specs in the test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bakectl.errors import UsageError
from bakectl.results import report as rp
from bakectl.results.gate import Thresholds, evaluate, parse_fraction, parse_percent

# -- writing synthetic runs -------------------------------------------------------------------


def chat_usage(prompt: int, completion: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def msg_usage(inp: int, out: int) -> dict:
    return {"input_tokens": inp, "output_tokens": out}


def wrapped_line(n: int, usage: dict | None, status: int = 200) -> str:
    """A line of the gateway's --trace: {"n", "exchange": {...sorted keys...}}."""
    ex = {
        "endpoint": "/v1/chat/completions",
        "key": f"/v1/chat/completions#{n:04d}",
        "status": status,
        "usage": usage,
        "request": {"model": "m", "messages": [{"role": "user", "content": 'say "usage": {}'}]},
        # A usage inside the response too: the exchange's own must be the one counted.
        "response": {"choices": [], "usage": {"prompt_tokens": 999, "completion_tokens": 999}},
    }
    return f'{{"n": {n}, "exchange": {json.dumps(ex, sort_keys=True)}}}'


def fixture_line(seq: int, usage: dict | None, status: int = 200) -> str:
    """A fixture exchange line (what collect_trace copies): usage last, compact."""
    ex = {
        "seq": seq,
        "endpoint": "/v1/messages",
        "key": f"/v1/messages#{seq:04d}",
        "request": {"model": "m", "messages": []},
        "request_headers": {},
        "status": status,
        "stream": False,
        "response": {"type": "message", "usage": {"input_tokens": 999, "output_tokens": 999}},
        "latency_ms": 3.5,
        "usage": usage,
    }
    return json.dumps(ex, separators=(",", ":"))


@dataclass
class Attempt:
    status: str | None = "passed"  # None: no result.json (a run that died)
    reward: float | None = 1.0
    message: str = ""
    duration: float | None = 10.0
    timings: dict[str, float] | None = None  # None: no run.json
    trace: list[str] = field(default_factory=list)


@dataclass
class TaskSpec:
    id: str
    attempts: list[Attempt] = field(default_factory=list)  # empty: never started


def passed(duration: float = 10.0, reward: float = 1.0, trace=(), timings=None) -> Attempt:
    return Attempt("passed", reward, "", duration, timings or {"total": duration}, list(trace))


def write_attempt(d: Path, task: str, k: int, a: Attempt, benchmark: str) -> None:
    for sub in ("agent/logs", "verifier/logs", "artifacts"):
        (d / sub).mkdir(parents=True)
    # Artifacts are never read: a file here that is not JSON must not matter.
    (d / "artifacts" / "big.bin").write_bytes(b"\x00\xff" * 100)
    if a.status is not None:
        result = {
            "run_id": f"r-{task}-{k}",
            "benchmark": benchmark,
            "task": task,
            "agent": "chat",
            "model": "m",
            "status": a.status,
            "reward": a.reward,
            "passed": a.status == "passed",
            "message": a.message,
        }
        if a.duration is not None:
            result["duration_sec"] = a.duration
        (d / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    if a.timings is not None:
        run = {
            "run_id": f"r-{task}-{k}",
            "benchmark": benchmark,
            "task": task,
            "commands": [{"phase": "setup", "command": 'echo "timings": {"x": 1}', "exit_code": 0}],
            "images": {"eval": {"ref": "bakectl/eval/x:h1", "id": "sha256:" + "1" * 64}},
            "timings": a.timings,
            "status": a.status,
        }
        (d / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    if a.trace:
        (d / "trace.jsonl").write_text("\n".join(a.trace) + "\n")


def write_batch(
    root: Path,
    name: str,
    tasks: list[TaskSpec],
    *,
    benchmark: str = "arith",
    data_revision: str = "1.0",
    listed: list[str] | None = None,
    git_dirty: bool = False,
) -> Path:
    """A batch directory; `listed` overrides batch.json's task list (default: the specs)."""
    batch = root / name
    (batch / "tasks").mkdir(parents=True)
    meta = {
        "kind": "bakectl-batch",
        "version": 1,
        "batch_id": name,
        "benchmark": benchmark,
        "agent": "chat",
        "model": "m",
        "tasks": listed if listed is not None else [t.id for t in tasks],
        "n_concurrent": 4,
        "attempts": 10,
        "command": ["bakectl", "run", benchmark, "--tasks", "all"],
        "started_at": "2026-11-23T12:00:00+00:00",
        "finished_at": "2026-11-23T12:30:00+00:00",
        "provenance": {
            "bakectl_version": "0.1.0",
            "git_commit": "abc123",
            "git_dirty": git_dirty,
            "data_revision": data_revision,
            "image_digests": {"bakectl/eval/x:h1": "sha256:" + "1" * 64},
        },
    }
    (batch / "batch.json").write_text(json.dumps(meta, indent=2) + "\n")
    for t in tasks:
        for k, a in enumerate(t.attempts, start=1):
            write_attempt(batch / "tasks" / t.id / f"attempt-{k}", t.id, k, a, benchmark)
    return batch


def mixed_tasks() -> list[TaskSpec]:
    """Seven tasks: passed, failed, error after a retry, timeout, never started, died without
    a result, and passed on its tenth attempt."""
    return [
        TaskSpec(
            "t1",
            [
                Attempt(
                    "passed",
                    1.0,
                    "",
                    10.0,
                    {"setup": 1.0, "agent": 7.0, "verifier": 2.0, "total": 10.0},
                    [wrapped_line(1, chat_usage(7, 5)), wrapped_line(2, chat_usage(3, 2))],
                )
            ],
        ),
        TaskSpec(
            "t2",
            [
                Attempt(
                    "failed",
                    0.25,
                    "",
                    20.0,
                    {"setup": 2.0, "agent": 15.0, "verifier": 3.0, "total": 20.0},
                    [fixture_line(0, msg_usage(100, 50)), fixture_line(1, None, status=500)],
                )
            ],
        ),
        TaskSpec(
            "t3",
            [
                Attempt(
                    "error",
                    None,
                    "the gateway stopped during the run (exited, exit code 1); see gateway.log",
                    5.0,
                    {"setup": 5.0, "total": 5.0},
                    [wrapped_line(1, chat_usage(10, 1))],
                ),
                Attempt(
                    "error",
                    None,
                    "no reward written (verifier exit code 1)",
                    6.0,
                    {"setup": 1.0, "agent": 3.0, "verifier": 2.0, "total": 6.0},
                ),
            ],
        ),
        TaskSpec(
            "t4",
            [
                Attempt(
                    "timeout",
                    0.0,
                    "the agent timed out after 600 s",
                    600.0,
                    {"setup": 1.0, "agent": 599.0, "total": 600.0},
                )
            ],
        ),
        TaskSpec("t5"),
        TaskSpec(
            "t6",
            [Attempt(None, None, "", None, {"total": 4.0}, [fixture_line(0, chat_usage(4, 4))])],
        ),
        TaskSpec(
            "t7",
            [
                *(
                    Attempt(
                        "error",
                        None,
                        "the agent container could not start: x",
                        1.0,
                        {"setup": 1.0, "total": 1.0},
                    )
                    for _ in range(9)
                ),
                Attempt(
                    "passed",
                    1.0,
                    "",
                    2.0,
                    {"setup": 1.0, "agent": 0.5, "verifier": 0.5, "total": 2.0},
                ),
            ],
        ),
    ]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    return write_batch(tmp_path, "mixed", mixed_tasks())


# -- summarize --------------------------------------------------------------------------------


def test_summary_numbers(mixed: Path) -> None:
    path = rp.write_summary(mixed)
    assert path == mixed / "summary.json"
    s = json.loads(path.read_text())
    assert s["kind"] == "bakectl-summary" and s["source"] == "batch"
    assert (s["batch_id"], s["benchmark"], s["agent"], s["model"]) == (
        "mixed",
        "arith",
        "chat",
        "m",
    )
    assert s["passed"] == 2
    assert s["pass_rate"] == round(2 / 7, 6)
    assert s["mean_reward"] == 0.5625  # (1.0 + 0.25 + 0.0 + 1.0) / 4 scored
    assert s["coverage"] == {"tasks": 7, "scored": 4, "errored": 2, "missing": 2}
    # t1 10/7 (wrapped chat), t2 100/50 (fixture, messages; a 500 with no usage),
    # t3 10/1 (its first attempt), t6 4/4 (no result, but it spent them).
    assert s["tokens"] == {"input": 124, "output": 62, "exchanges": 6}
    assert s["wall_time"] == {
        "setup": {"sum": 20.0, "mean": round(20 / 15, 3), "n": 15},
        "agent": {"sum": 624.5, "mean": 124.9, "n": 5},
        "verifier": {"sum": 7.5, "mean": 1.875, "n": 4},
        "total": {"sum": 656.0, "mean": 41.0, "n": 16},
    }
    assert s["errors"]["by_status"] == {
        "passed": 2,
        "failed": 1,
        "error": 1,
        "timeout": 1,
        "missing": 2,
    }
    assert s["errors"]["by_kind"] == {"no reward written": 1, "timeout": 1}
    assert s["attempts"] == {"max": 10, "total": 16, "retried_tasks": 2}
    assert s["provenance"]["data_revision"] == "1.0"
    assert s["provenance"]["git_commit"] == "abc123"
    assert s["command"][:2] == ["bakectl", "run"]


def test_summary_rows(mixed: Path) -> None:
    rows = {r["task"]: r for r in rp.summarize(mixed)["tasks"]}
    assert [r for r in rows] == ["t1", "t2", "t3", "t4", "t5", "t6", "t7"]  # batch.json order
    assert rows["t1"] == {
        "task": "t1",
        "status": "passed",
        "reward": 1.0,
        "passed": True,
        "attempts": 1,
        "tokens_in": 10,
        "tokens_out": 7,
        "duration_sec": 10.0,
        "message": "",
    }
    assert rows["t2"]["status"] == "failed" and rows["t2"]["reward"] == 0.25
    # The last attempt decides the outcome; tokens and time add up over attempts.
    assert rows["t3"]["message"] == "no reward written (verifier exit code 1)"
    assert (rows["t3"]["attempts"], rows["t3"]["duration_sec"]) == (2, 11.0)
    assert (rows["t3"]["tokens_in"], rows["t3"]["tokens_out"]) == (10, 1)
    assert rows["t4"]["status"] == "timeout" and rows["t4"]["reward"] == 0.0
    assert rows["t5"] == {
        "task": "t5",
        "status": "missing",
        "reward": None,
        "passed": False,
        "attempts": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "duration_sec": None,
        "message": "never started",
    }
    assert rows["t6"]["status"] == "missing"
    assert rows["t6"]["message"] == "attempt-1 has no readable result.json"
    assert rows["t6"]["duration_sec"] == 4.0  # from run.json timings.total
    # attempt-10 is after attempt-9 (numeric, not text order).
    assert (rows["t7"]["status"], rows["t7"]["attempts"], rows["t7"]["duration_sec"]) == (
        "passed",
        10,
        11.0,
    )


def test_summary_json_round_trips(mixed: Path) -> None:
    s = rp.summarize(mixed)
    assert json.loads(rp.dumps(s)) == json.loads(json.dumps(s))
    rp.write_summary(mixed)
    assert json.loads((mixed / "summary.json").read_text()) == json.loads(json.dumps(s))
    assert not [p for p in mixed.iterdir() if p.name.endswith(".tmp")]


def test_parallel_read_matches_sequential(tmp_path: Path) -> None:
    """Big batches are read by forked workers; the summary must not change. (In a fresh
    process: bakectl reads sequentially when other threads are alive, as in pytest.)"""
    extra = [
        TaskSpec(f"x{i}", [passed(float(i), trace=[wrapped_line(1, chat_usage(i, 1))])])
        for i in range(30)
    ]
    batch = write_batch(tmp_path, "big", mixed_tasks() + extra)
    sequential = json.loads(json.dumps(rp.summarize(batch)))
    code = (
        "import json, sys, bakectl.results.report as rp\n"
        "rp.PARALLEL_MIN_TASKS = 4\n"
        "print(rp._workers(37))\n"
        "print(json.dumps(rp.summarize(sys.argv[1])))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(batch)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    workers, data = res.stdout.split("\n", 1)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert int(workers) == min(cpus or 1, rp.MAX_WORKERS)
    assert json.loads(data) == sequential


def test_unknown_and_empty_batches(tmp_path: Path) -> None:
    empty = write_batch(tmp_path, "empty", [])
    s = rp.summarize(empty)
    assert s["pass_rate"] is None and s["mean_reward"] is None
    assert s["coverage"] == {"tasks": 0, "scored": 0, "errored": 0, "missing": 0}
    # Task dirs the batch does not list are not counted.
    odd = write_batch(
        tmp_path, "odd", [TaskSpec("a", [passed()]), TaskSpec("b", [passed()])], listed=["a"]
    )
    assert [r["task"] for r in rp.summarize(odd)["tasks"]] == ["a"]


def test_single_task_run_dir_is_a_batch_of_one(tmp_path: Path) -> None:
    d = tmp_path / "20261123T120000Z-arith-1-chat-abcd"
    write_attempt(
        d,
        "1",
        1,
        Attempt(
            "error",
            None,
            "reward.txt is not a number: 'x'",
            3.0,
            {"setup": 1.0, "total": 3.0},
            [fixture_line(0, chat_usage(5, 6))],
        ),
        "arith",
    )
    run = json.loads((d / "run.json").read_text())
    run.update(data_revision="2.0", bakectl_version="0.1.0")
    (d / "run.json").write_text(json.dumps(run, indent=2))
    s = rp.summarize(d)
    assert s["source"] == "task" and s["benchmark"] == "arith"
    assert s["coverage"] == {"tasks": 1, "scored": 0, "errored": 1, "missing": 0}
    assert s["tokens"] == {"input": 5, "output": 6, "exchanges": 1}
    assert s["errors"]["by_kind"] == {"bad reward": 1}
    assert s["provenance"]["data_revision"] == "2.0"
    assert s["provenance"]["image_digests"] == {"bakectl/eval/x:h1": "sha256:" + "1" * 64}
    assert s["tasks"][0]["task"] == "1" and s["tasks"][0]["attempts"] == 1


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        ("error", "no reward written (verifier exit code 2)", "no reward written"),
        ("error", "no reward written", "no reward written"),
        (
            "error",
            "the gateway stopped during the run (exited, exit code 1); see x",
            "gateway stopped",
        ),
        ("error", "the verifier timed out after 60 s", "verifier timeout"),
        ("timeout", "the agent timed out after 600 s", "timeout"),
        ("error", "interrupted", "interrupted"),
        ("error", "the agent container could not start: no such image", "agent did not start"),
        ("error", "reward.json is not valid JSON: Expecting value", "bad reward"),
        ("invalid", "unknown task 'x9' in benchmark arith", "unknown task"),
        ("error", "Docker daemon: connection refused", "docker daemon"),
        ("error", "", "error"),
    ],
)
def test_error_kind(status: str, message: str, kind: str) -> None:
    assert rp.error_kind(status, message) == kind


def test_trace_usage_fast_path_agrees_with_full_parse(tmp_path: Path) -> None:
    lines = [
        wrapped_line(1, chat_usage(1, 2)),
        wrapped_line(2, None, status=502),
        fixture_line(0, msg_usage(3, 4)),
        fixture_line(1, None),
        # Other key orders and spacing: parsed in full.
        json.dumps({"usage": msg_usage(5, 6), "seq": 9, "response": {"usage": chat_usage(9, 9)}}),
        json.dumps({"n": 3, "exchange": {"usage": chat_usage(7, 8), "request": {}}}),
        json.dumps({"seq": 1, "response": {"usage": chat_usage(50, 50)}}),  # no exchange usage
        "",
        "not json",
    ]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(lines) + "\n")
    assert rp._trace_tokens(str(trace)) == (1 + 3 + 5 + 7, 2 + 4 + 6 + 8, 8)


def test_big_trace_is_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [wrapped_line(i, chat_usage(i, 1)) for i in range(1, 201)]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(lines))  # no newline at the end
    whole = rp._trace_tokens(str(trace))
    assert whole == (sum(range(1, 201)), 200, 200)
    monkeypatch.setattr(rp, "_SLURP_MAX", 1000)  # the file is far bigger: line by line
    assert rp._trace_tokens(str(trace)) == whole


def test_bad_batch_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        rp.summarize(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="is not a run directory"):
        rp.summarize(tmp_path / "plain")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "batch.json").write_text("{not json")
    with pytest.raises(UsageError, match="cannot be read"):
        rp.summarize(bad)
    (bad / "batch.json").write_text(
        json.dumps({"kind": "bakectl-batch", "version": 9, "tasks": []})
    )
    with pytest.raises(UsageError, match="version 9"):
        rp.summarize(bad)
    (bad / "batch.json").write_text(json.dumps({"kind": "bakectl-batch", "tasks": ["../x"]}))
    with pytest.raises(UsageError, match="not a directory name"):
        rp.summarize(bad)


# -- the CLI ----------------------------------------------------------------------------------


@dataclass
class Res:
    returncode: int
    stdout: str
    stderr: str


def bakectl(*args: Any, cwd: Path | None = None) -> Res:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAKECTL_")}
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="200")
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    assert "Traceback" not in res.stderr, res.stderr
    return Res(res.returncode, res.stdout, res.stderr)


def assert_usage_error(res: Res, *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, res.stderr
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    assert any(ln.startswith("hint:") for ln in res.stderr.splitlines()), res.stderr


def test_report_json(mixed: Path) -> None:
    res = bakectl("report", mixed, "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["path"] == str(mixed)
    assert data.pop("path") and data == json.loads(json.dumps(rp.summarize(mixed)))
    assert not (mixed / "summary.json").exists()  # report only reads


def test_report_csv(mixed: Path) -> None:
    res = bakectl("report", mixed, "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0]) == list(rp.ROW_FIELDS)
    assert [r["task"] for r in rows] == ["t1", "t2", "t3", "t4", "t5", "t6", "t7"]
    assert rows[0] == {
        "task": "t1",
        "status": "passed",
        "reward": "1.0",
        "passed": "True",
        "attempts": "1",
        "tokens_in": "10",
        "tokens_out": "7",
        "duration_sec": "10.0",
        "message": "",
    }
    assert rows[4]["status"] == "missing" and rows[4]["reward"] == ""
    assert rows[2]["message"] == "no reward written (verifier exit code 1)"


def test_report_table_and_markdown(mixed: Path) -> None:
    res = bakectl("report", mixed)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "pass rate    0.286 (2/7)" in out
    assert "mean reward  0.562 over 4 scored of 7 tasks (2 errored, 2 missing)" in out
    assert "tokens       in 124  out 62  (6 exchanges)" in out
    assert "total 656.0s (mean 41.0s)" in out
    assert "no reward written: 1" in out and "timeout: 1" in out
    assert "2 tasks retried (16 attempts)" in out
    lines = out.splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("task "))
    assert lines[header].split()[:3] == ["task", "status", "reward"]
    assert [ln.split()[0] for ln in lines[header + 1 :]] == [
        "t1",
        "t2",
        "t3",
        "t4",
        "t5",
        "t6",
        "t7",
    ]
    assert lines[header + 2].split()[:3] == ["t2", "failed", "0.25"]
    md = bakectl("report", mixed, "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert "- **pass rate**: 0.286 (2/7)" in md.stdout
    table = [ln for ln in md.stdout.splitlines() if ln.startswith("|")]
    assert table[0].startswith("| task | status | reward |")
    assert len(table) == 2 + 7
    assert table[4].startswith("| t3 | error | - | 2 |")


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A baseline of a, b, c, d (all passed) and a run of a, b, c, e: b failed, c errored."""
    base = write_batch(
        tmp_path,
        "base",
        [
            TaskSpec("a", [passed(10, trace=[wrapped_line(1, chat_usage(80, 20))])]),
            TaskSpec("b", [passed(10, trace=[wrapped_line(1, chat_usage(80, 20))])]),
            TaskSpec("c", [passed(10, trace=[wrapped_line(1, chat_usage(80, 20))])]),
            TaskSpec("d", [passed(10)]),
        ],
    )
    run = write_batch(
        tmp_path,
        "run",
        [
            TaskSpec("a", [passed(12, trace=[wrapped_line(1, chat_usage(90, 20))])]),
            TaskSpec(
                "b",
                [
                    Attempt(
                        "failed",
                        0.5,
                        "",
                        12.0,
                        {"total": 12.0},
                        [fixture_line(0, msg_usage(90, 20))],
                    )
                ],
            ),
            TaskSpec("c", [Attempt("error", None, "no reward written", 12.0, {"total": 12.0})]),
            TaskSpec("e", [passed(1)]),
        ],
    )
    return run, base


def test_report_side_by_side(pair: tuple[Path, Path]) -> None:
    run, base = pair
    res = bakectl("report", base, run)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[1].split()[:4] == ["#1", "base", "1.000", "4/4"]
    assert lines[2].split()[:4] == ["#2", "run", "0.500", "2/4"]
    grid = lines[lines.index("") + 1 :]
    assert grid[0].split() == ["task", "#1", "#2"]
    cells = {ln.split()[0]: ln.split()[1:] for ln in grid[1:-1]}
    assert cells == {
        "a": ["passed", "1.0", "passed", "1.0"],
        "b": ["passed", "1.0", "failed", "0.5"],
        "c": ["passed", "1.0", "error"],
        "d": ["passed", "1.0", "·"],
        "e": ["·", "passed", "1.0"],
    }
    res = bakectl("report", base, run, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert list(rows[0]) == ["task", "base status", "base reward", "run status", "run reward"]
    by_task = {r["task"]: r for r in rows}
    assert by_task["b"] == {
        "task": "b",
        "base status": "passed",
        "base reward": "1.0",
        "run status": "failed",
        "run reward": "0.5",
    }
    assert by_task["d"]["run status"] == "" and by_task["e"]["base status"] == ""
    data = json.loads(bakectl("report", base, run, "--format", "json").stdout)
    assert [r["name"] for r in data["runs"]] == ["base", "run"]
    assert data["runs"][1]["pass_rate"] == 0.5
    sbs = {r["task"]: r["cells"] for r in data["side_by_side"]}
    assert sbs["c"] == [{"status": "passed", "reward": 1.0}, {"status": "error", "reward": None}]
    assert sbs["e"][0] is None
    md = bakectl("report", base, run, "--format", "markdown").stdout
    assert "| b | passed 1.0 | failed 0.5 |" in md


def test_report_bad_input(tmp_path: Path, mixed: Path) -> None:
    assert_usage_error(bakectl("report", tmp_path / "nope"), str(tmp_path / "nope"))
    (tmp_path / "plain").mkdir()
    assert_usage_error(
        bakectl("report", mixed, tmp_path / "plain"), str(tmp_path / "plain"), "not a run directory"
    )
    assert_usage_error(bakectl("report", mixed, "--format", "xml"), "--format 'xml'")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "batch.json").write_text("[1, 2")
    assert_usage_error(bakectl("report", tmp_path / "broken"), "batch.json")


# -- the gate ---------------------------------------------------------------------------------


def check_lines(out: str) -> dict[str, list[str]]:
    return {
        ln.split()[1]: ln.split() for ln in out.splitlines() if ln.startswith(("PASS ", "FAIL "))
    }


def test_gate_paired_numbers(pair: tuple[Path, Path]) -> None:
    run, base = pair
    res = bakectl(
        "gate",
        run,
        "--baseline",
        base,
        "--min-pass-rate",
        "0.5",
        "--max-pass-rate-drop",
        "0.7",
        "--max-token-increase",
        "10",
        "--max-runtime-increase",
        "20%",
    )
    assert res.returncode == 0, (res.stdout, res.stderr)
    lines = check_lines(res.stdout)
    assert set(lines) == {"pass_rate", "pass_rate_drop", "token_increase", "runtime_increase"}
    assert all(v[0] == "PASS" for v in lines.values())
    assert "paired: 3 tasks in both; only in run: e; only in baseline: d" in res.stdout
    assert "gate: passed (4 checks)" in res.stdout
    g = json.loads((run / "gate.json").read_text())
    assert g["run"] == str(run) and g["baseline"] == str(base) and g["passed"] is True
    checks = {c["name"]: c for c in g["checks"]}
    # run: a passed, b failed, c error, e passed -> 2/4.
    assert checks["pass_rate"]["value"] == 0.5 and checks["pass_rate"]["threshold"] == 0.5
    # paired a, b, c: baseline 3/3, run 1/3 -> a drop of 2/3 (d and e are not averaged in).
    assert checks["pass_rate_drop"]["value"] == round(2 / 3, 6)
    # tokens, over a, b, c: baseline 3 x 100 = 300, run 110 + 110 + 0 = 220 -> -26.67 %.
    assert checks["token_increase"]["value"] == round((220 / 300 - 1) * 100, 6)
    assert checks["token_increase"]["unit"] == "percent"
    # time, over a, b, c: baseline 30 s, run 36 s -> +20 %, at the limit.
    assert checks["runtime_increase"]["value"] == pytest.approx(20.0)
    assert checks["runtime_increase"]["threshold"] == 20.0 and checks["runtime_increase"]["passed"]
    assert g["paired"]["tasks_both"] == 3
    assert g["paired"]["only_in_run"] == ["e"]
    assert g["paired"]["only_in_baseline"] == ["d"]
    assert g["paired"]["metrics"]["baseline"] == {
        "pass_rate": 1.0,
        "tokens": 300,
        "runtime_sec": 30.0,
    }
    assert g["provenance"]["same_benchmark"] is True
    assert g["provenance"]["same_data_revision"] is True
    assert g["provenance"]["same_task_set"] is False
    assert g["provenance"]["flagged"] == [
        "task set differs: 1 only in run, 1 only in baseline, 3 in both"
    ]
    assert "bakectl: warning: task set differs" in res.stderr


@pytest.mark.parametrize(
    ("flag", "value", "name"),
    [
        ("--min-pass-rate", "0.51", "pass_rate"),
        ("--min-pass-rate", "75%", "pass_rate"),
        ("--max-pass-rate-drop", "0.5", "pass_rate_drop"),
        ("--max-pass-rate-drop", "60%", "pass_rate_drop"),
        ("--max-runtime-increase", "19.9", "runtime_increase"),
    ],
)
def test_gate_fails_each_check(pair: tuple[Path, Path], flag: str, value: str, name: str) -> None:
    run, base = pair
    res = bakectl("gate", run, "--baseline", base, flag, value)
    assert res.returncode == 1, (res.stdout, res.stderr)
    lines = check_lines(res.stdout)
    assert list(lines) == [name] and lines[name][0] == "FAIL"
    assert "gate: FAILED (1 of 1 checks)" in res.stdout
    g = json.loads((run / "gate.json").read_text())
    assert g["passed"] is False and [c["passed"] for c in g["checks"]] == [False]


def test_gate_token_increase(tmp_path: Path) -> None:
    def batch(name: str, tokens: int) -> Path:
        return write_batch(
            tmp_path,
            name,
            [
                TaskSpec(t, [passed(5, trace=[fixture_line(0, msg_usage(tokens, 0))])])
                for t in ("a", "b")
            ],
        )

    base, run = batch("base", 100), batch("run", 110)
    ok = bakectl("gate", run, "--baseline", base, "--max-token-increase", "10")
    assert ok.returncode == 0, ok.stdout
    assert check_lines(ok.stdout)["token_increase"][:3] == ["PASS", "token_increase", "+10.0%"]
    bad = bakectl("gate", run, "--baseline", base, "--max-token-increase", "9.5%")
    assert bad.returncode == 1
    assert check_lines(bad.stdout)["token_increase"][:4] == [
        "FAIL",
        "token_increase",
        "+10.0%",
        "max",
    ]
    g = json.loads((run / "gate.json").read_text())
    assert g["checks"][0]["value"] == pytest.approx(10.0) and g["checks"][0]["threshold"] == 9.5
    assert g["provenance"]["same_task_set"] is True and g["provenance"]["flagged"] == []
    # A baseline that recorded no tokens gives no ratio: the check fails, saying why.
    zero = write_batch(tmp_path, "zero", [TaskSpec(t, [passed(5)]) for t in ("a", "b")])
    res = bakectl("gate", run, "--baseline", zero, "--max-token-increase", "10")
    assert res.returncode == 1
    assert "baseline tokens is 0" in res.stdout
    # Neither side recorded any (replay runs keep no trace): nothing rose.
    res = bakectl("gate", zero, "--baseline", zero, "--max-token-increase", "0")
    assert res.returncode == 0, res.stdout


def test_gate_missing_results_are_listed_not_averaged(tmp_path: Path) -> None:
    base = write_batch(
        tmp_path,
        "base",
        [TaskSpec(t, [passed(10, trace=[wrapped_line(1, chat_usage(50, 50))])]) for t in "abc"],
    )
    run = write_batch(
        tmp_path,
        "run",
        [
            TaskSpec("a", [passed(10, trace=[wrapped_line(1, chat_usage(50, 50))])]),
            TaskSpec("b", [passed(10, trace=[wrapped_line(1, chat_usage(50, 50))])]),
            TaskSpec(
                "c", [Attempt(None, None, "", None, None, [wrapped_line(1, chat_usage(900, 0))])]
            ),
        ],
    )
    res = bakectl(
        "gate", run, "--baseline", base, "--max-token-increase", "0", "--max-pass-rate-drop", "0.3"
    )
    assert res.returncode == 1, res.stdout  # the pass rate dropped 1/3: c has no result
    g = json.loads((run / "gate.json").read_text())
    assert g["paired"]["missing_in_run"] == ["c"] and g["paired"]["missing_in_baseline"] == []
    checks = {c["name"]: c for c in g["checks"]}
    assert checks["token_increase"]["value"] == 0.0 and checks["token_increase"]["passed"]
    assert checks["pass_rate_drop"]["value"] == round(1 / 3, 6)
    assert not checks["pass_rate_drop"]["passed"]
    assert any(
        "results missing for paired tasks: 1 in run" in f for f in g["provenance"]["flagged"]
    )


def test_gate_flags_data_revision_and_dirty_tree(tmp_path: Path) -> None:
    base = write_batch(tmp_path, "base", [TaskSpec("a", [passed()])], data_revision="1.0")
    run = write_batch(
        tmp_path, "run", [TaskSpec("a", [passed()])], data_revision="2.0", git_dirty=True
    )
    res = bakectl("gate", run, "--baseline", base, "--min-pass-rate", "1")
    assert res.returncode == 0, res.stdout
    assert "bakectl: warning: data revision differs: run 2.0, baseline 1.0" in res.stderr
    g = json.loads((run / "gate.json").read_text())
    assert g["provenance"]["same_data_revision"] is False
    assert g["provenance"]["same_task_set"] is True
    assert g["provenance"]["flagged"] == [
        "data revision differs: run 2.0, baseline 1.0",
        "run was made from a dirty git tree (abc123)",
    ]


def test_gate_other_benchmark_is_bad_input(tmp_path: Path) -> None:
    base = write_batch(tmp_path, "base", [TaskSpec("a", [passed()])], benchmark="term")
    run = write_batch(tmp_path, "run", [TaskSpec("a", [passed()])], benchmark="arith")
    res = bakectl("gate", run, "--baseline", base, "--min-pass-rate", "0.5")
    assert_usage_error(res, "baseline is for benchmark term, run is for arith")
    assert not (run / "gate.json").exists()


def test_gate_accepts_task_run_dirs(tmp_path: Path) -> None:
    for name, status, reward in (("r0", "passed", 1.0), ("r1", "failed", 0.0)):
        write_attempt(
            tmp_path / name, "1", 1, Attempt(status, reward, "", 5.0, {"total": 5.0}), "arith"
        )
    res = bakectl(
        "gate", tmp_path / "r1", "--baseline", tmp_path / "r0", "--max-pass-rate-drop", "0"
    )
    assert res.returncode == 1
    assert check_lines(res.stdout)["pass_rate_drop"][:3] == ["FAIL", "pass_rate_drop", "1.0000"]
    assert (tmp_path / "r1" / "gate.json").is_file()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--min-pass-rate", "80"], ["--min-pass-rate 80 is above 1"]),
        (["--min-pass-rate", "120%"], ["outside 0..1"]),
        (["--max-pass-rate-drop", "lots"], ["--max-pass-rate-drop 'lots' is not a number"]),
        (["--max-token-increase", "ten"], ["--max-token-increase 'ten' is not a number"]),
        (["--max-runtime-increase", "-150"], ["below -100"]),
        ([], ["no checks"]),
    ],
)
def test_gate_bad_flags(pair: tuple[Path, Path], args: list[str], needles: list[str]) -> None:
    run, base = pair
    assert_usage_error(bakectl("gate", run, "--baseline", base, *args), *needles)
    assert not (run / "gate.json").exists()


def test_gate_bad_runs(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    run, base = pair
    nope = tmp_path / "nope"
    assert_usage_error(
        bakectl("gate", nope, "--baseline", base, "--min-pass-rate", "0.5"), str(nope)
    )
    assert_usage_error(
        bakectl("gate", run, "--baseline", nope, "--min-pass-rate", "0.5"), str(nope)
    )


def test_threshold_parsing() -> None:
    assert parse_fraction("--x", "0.8") == 0.8
    assert parse_fraction("--x", "80%") == 0.8
    assert parse_fraction("--x", "1") == 1.0
    assert parse_fraction("--x", None) is None
    assert parse_percent("--x", "10") == 10.0
    assert parse_percent("--x", "10%") == 10.0
    assert parse_percent("--x", "-5") == -5.0
    with pytest.raises(UsageError):
        parse_fraction("--x", "nan")
    with pytest.raises(UsageError, match="no checks"):
        evaluate(Path("."), Path("."), Thresholds())


def test_newest_rescore_counts_and_is_marked(tmp_path: Path) -> None:
    """`bakectl score` writes rescore-<time>/ beside the result: the report shows the
    newest verdict, says so, and the run's own result.json is left untouched."""
    d = tmp_path / "20261123T120000Z-arith-1-chat-abcd"
    write_attempt(d, "1", 1, Attempt("failed", 0.0, "", 3.0, {"total": 3.0}, []), "arith")
    for stamp, status, reward in (
        ("20261123T130000Z", "failed", 0.5),
        ("20261123T140000Z", "passed", 1.0),
    ):
        r = d / f"rescore-{stamp}"
        r.mkdir()
        (r / "result.json").write_text(
            json.dumps({"status": status, "reward": reward, "passed": status == "passed"})
        )
    s = rp.summarize(d)
    (row,) = s["tasks"]
    assert (row["status"], row["reward"]) == ("passed", 1.0)
    assert row["message"] == "rescored (rescore-20261123T140000Z; was failed)"
    assert s["pass_rate"] == 1.0
    assert json.loads((d / "result.json").read_text())["status"] == "failed"
