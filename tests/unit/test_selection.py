"""Task selection (cli/selection.py), parsed once for run, score, bundle and oracle; and
--resume refusing a flag that contradicts the job record."""

from __future__ import annotations

from pathlib import Path

import pytest

from bakectl.cli.selection import select_tasks
from bakectl.errors import UsageError

KNOWN = ["hello-file", "json-fix", "json-parse", "1", "2", "10"]


@pytest.mark.parametrize(
    "sel,want",
    [
        ("all", KNOWN),
        ("2,1", ["2", "1"]),
        (" 2 , 1 ", ["2", "1"]),
        ("json-*", ["json-fix", "json-parse"]),
        ("1?", ["10"]),
        ("[12]", ["1", "2"]),
        ("10,all", ["10", "hello-file", "json-fix", "json-parse", "1", "2"]),
        ("json-fix,json-*", ["json-fix", "json-parse"]),  # a glob adds what is new
    ],
)
def test_ids_globs_and_all(sel, want):
    assert select_tasks(sel, KNOWN) == want


def test_a_file_of_ids_and_globs(tmp_path: Path):
    f = tmp_path / "ids.txt"
    f.write_text("# a comment\n2\n\njson-*  # trailing\n")
    assert select_tasks(f"@{f}", KNOWN) == ["2", "json-fix", "json-parse"]


def test_limit_takes_the_first_n():
    assert select_tasks("all", KNOWN, limit=2) == ["hello-file", "json-fix"]
    assert select_tasks(["json-fix"], KNOWN, limit=5) == ["json-fix"]


@pytest.mark.parametrize(
    "sel,kw,needle",
    [
        ("3", {}, "unknown task '3'"),
        ("nope-*", {}, "matches no task"),
        ("1,1", {}, "listed more than once"),
        (",", {}, "names no task"),
        ("@/nonexistent/ids.txt", {}, "no such file"),
        ("all", {"limit": 0}, "--limit 0"),
    ],
)
def test_bad_selections_are_usage_errors(sel, kw, needle):
    with pytest.raises(UsageError, match=needle.replace("(", r"\(")) as exc:
        select_tasks(sel, KNOWN, **kw)
    assert exc.value.hint


def test_an_empty_file_names_no_task(tmp_path: Path):
    (tmp_path / "e.txt").write_text("# nothing\n")
    with pytest.raises(UsageError, match="names no task"):
        select_tasks(f"@{tmp_path / 'e.txt'}", KNOWN)


# -- --resume contradictions ------------------------------------------------------------------


def _record(**kw):
    from bakectl.results.records import ModelSource, TaskSource
    from bakectl.runner.job import job_record

    fields = dict(
        job_id="j",
        source=TaskSource(benchmark="arith"),
        task_ids=["1", "2"],
        agent="chat",
        model="m1",
        model_source=ModelSource(kind="replay_dir", location="/fx"),
        n_concurrent=2,
        attempts=3,
        retries=1,
        agent_timeout_sec=60.0,
    )
    fields.update(kw)
    return job_record(**fields)


@pytest.mark.parametrize(
    "flags,flag",
    [
        ({"benchmark": "term"}, "BENCHMARK"),
        ({"agent": "oracle"}, "--agent"),
        ({"model": "m2"}, "--model"),
        ({"concurrency": 4}, "-n"),
        ({"attempts": 1}, "-k"),
        ({"retries": 0}, "--retries"),
        ({"timeout": 5.0}, "--timeout"),
        ({"registry": "r.example/x"}, "--registry"),
        ({"tasks": "all"}, "--tasks"),
        ({"no_build": True}, "--no-build"),
    ],
)
def test_a_flag_the_record_contradicts_is_named(flags, flag):
    from bakectl.cli.run import RunFlags, _contradictions

    bad = _contradictions(RunFlags(**flags), _record())
    assert [b[0] for b in bad] == [flag]


def test_flags_that_agree_with_the_record_are_fine(tmp_path):
    from bakectl.cli.run import RunFlags, _contradictions
    from bakectl.results.records import ModelSource

    fx = tmp_path / "fx"
    fx.mkdir()
    rec = _record(model_source=ModelSource(kind="replay_dir", location=str(fx)))
    same = RunFlags(
        benchmark="arith",
        agent="chat",
        model="m1",
        concurrency=2,
        attempts=3,
        retries=1,
        timeout=60.0,
        replay_dir=fx,
    )
    assert _contradictions(same, rec) == []
    other = RunFlags(replay_dir=tmp_path)
    assert [b[0] for b in _contradictions(other, rec)] == ["the model source"]


def test_resume_with_a_contradicting_flag_exits_2_saying_what_the_record_says(
    std, run_cli, tmp_path
):
    from bakectl.results.records import ModelSource, write_record

    jdir = tmp_path / "runs" / "j"
    (jdir / "tasks").mkdir(parents=True)
    write_record(jdir / "job.json", _record(agent="oracle", model_source=ModelSource()))
    res = run_cli("run", "--resume", str(jdir), "-n", "5")
    assert res.returncode == 2, res.stderr
    assert res.error_lines == [f"error: --resume {jdir}: -n 5 contradicts the job record (2)"]
    assert res.hint_lines and "bakectl run --resume" in res.hint_lines[0]
    assert sorted(p.name for p in jdir.iterdir()) == ["job.json", "tasks"]
