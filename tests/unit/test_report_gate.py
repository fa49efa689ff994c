"""Reports, gates and the page on job directories built from the record models (no engine).

Jobs are written with `write_record` (tests/support/job_records.py), as the runner writes
them. Every number asserted below is worked out by hand from the attempts in the test.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bakectl.errors import UsageError
from bakectl.results import page as pg
from bakectl.results import report as rp
from bakectl.results.gate import Thresholds, evaluate, parse_fraction, parse_percent
from bakectl.results.records import (
    GateRecord,
    ResultRecord,
    SummaryRecord,
    read_record,
    write_record,
)
from tests.support.job_records import Att, result_record, write_job

# -- jobs -------------------------------------------------------------------------------------


def mixed_attempts() -> list[Att]:
    return [
        Att("a", "passed", rewards={"reward": 1.0}, tokens=(100, 10), seconds=2.0),
        Att("b", "failed", rewards={"acc": 0.5, "f1": 0.25}, tokens=(50, 5), seconds=4.0),
        Att("c", "error", fault=("replay_miss", "1 request(s) not in the fixture"), seconds=1.0),
        Att("d", "timeout", fault=("agent_timeout", "the agent timed out after 5 s"), seconds=5.0),
        Att("e", "failed", rewards={"reward": 0.0}, rescore={"reward": 1.0}, seconds=3.0),
        Att("f", "passed", missing=True),
    ]


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    # g is listed but never started; f started and has no result yet.
    return write_job(tmp_path / "mixed", mixed_attempts(), tasks=list("abcdefg"))


@pytest.fixture
def attempts3(tmp_path: Path) -> Path:
    a = [
        Att("A", s, k, rewards={"reward": float(s == "passed")})
        for k, s in enumerate(["passed", "failed", "failed"], 1)
    ]
    b = [Att("B", "failed", k, rewards={"reward": 0.0}) for k in (1, 2, 3)]
    c = [
        Att("C", "passed", 1, rewards={"reward": 1.0}),
        Att("C", "error", 2, fault=("engine", "docker: connection reset")),
        Att("C", "failed", 3, rewards={"reward": 0.0}),
    ]
    return write_job(tmp_path / "k3", a + b + c, attempts=3)


def test_summary_numbers(mixed: Path) -> None:
    s = rp.summarize_dir(mixed)
    # scored: a, b, d (timeout), e (its re-score passed); errored: c; missing: f, g.
    assert (s.n_tasks, s.attempts, s.scored, s.errored, s.missing) == (7, 1, 4, 1, 2)
    assert s.counts == {"passed": 2, "failed": 1, "error": 1, "timeout": 1, "missing": 2}
    assert s.pass_rate == 0.5  # a and e of four scored
    assert s.pass_at_k == {"1": 0.5}
    # rewards of the scored: a 1, b 0.375 (mean of acc and f1), d 0 (timeout), e 1.
    assert s.reward == round((1 + 0.375 + 0 + 1) / 4, 6)
    assert s.metrics == {"acc": 0.5, "f1": 0.25, "reward": 1.0}
    assert s.faults == {"replay_miss": 1, "agent_timeout": 1}
    assert (s.tokens.input, s.tokens.output) == (150, 15)
    assert s.seconds == 2 + 4 + 1 + 5 + 0.5  # e counts its re-score's time
    rows = {t.task: t for t in s.tasks}
    assert rows["e"].status == "passed" and rows["e"].rescored
    assert rows["c"].fault is not None and rows["c"].fault.kind == "replay_miss"
    assert rows["c"].pass_at_k == {} and rows["c"].reward is None
    assert rows["f"].status is None and rows["f"].attempts == 1
    assert rows["g"].status is None and rows["g"].attempts == 0
    assert rows["b"].rewards == {"acc": 0.5, "f1": 0.25}


def test_pass_at_k_per_task_and_overall(attempts3: Path) -> None:
    s = rp.summarize_dir(attempts3)
    rows = {t.task: t for t in s.tasks}
    assert rows["A"].pass_at_k == {"1": round(1 / 3, 6), "3": 1.0}
    assert rows["B"].pass_at_k == {"1": 0.0, "3": 0.0}
    # C: the errored attempt is not the agent's; 2 scored < k=3, so no pass@3.
    assert rows["C"].pass_at_k == {"1": 0.5} and rows["C"].n_passed == 1
    assert s.pass_at_k == {"1": round((1 / 3 + 0 + 0.5) / 3, 6), "3": 0.5}
    assert s.counts == {"passed": 2, "failed": 6, "error": 1}
    assert rows["C"].status == "failed"  # the newest attempt's


def test_write_summary_is_a_summary_record(mixed: Path) -> None:
    path = rp.write_summary(mixed)
    assert read_record(path, SummaryRecord) == rp.summarize_dir(mixed)
    assert not [p for p in mixed.iterdir() if p.name.endswith(".tmp")]


def test_newest_rescore_counts(tmp_path: Path) -> None:
    job = write_job(tmp_path / "j", [Att("t", "failed", rewards={"reward": 0.0})])
    d = job / "tasks" / "t" / "attempt-1"
    for name, reward in (("rescore-20261201T100000Z-9", 0.0), ("rescore-20261201T100000Z-10", 1.0)):
        (d / name).mkdir()
        status = "passed" if reward else "failed"
        write_record(
            d / name / "result.json",
            result_record("j", Att("t", status, rewards={"reward": reward})),
        )
    t = rp.summarize_dir(job).tasks[0]
    assert (t.status, t.reward, t.rescored) == ("passed", 1.0, True)


def test_not_a_job_is_refused(tmp_path: Path, mixed: Path) -> None:
    harbor = tmp_path / "harbor-job"
    (harbor / "trial-1").mkdir(parents=True)
    (harbor / "config.json").write_text("{}")
    (harbor / "result.json").write_text('{"n_total_trials": 1}')
    with pytest.raises(UsageError, match="not a bakectl job.*Harbor"):
        rp.find_jobs(harbor)
    (tmp_path / "random").mkdir()
    with pytest.raises(UsageError, match="not a bakectl job"):
        rp.find_jobs(tmp_path / "random")
    with pytest.raises(UsageError, match="no such directory"):
        rp.find_jobs(tmp_path / "nope")
    # A folder of jobs is its jobs; gate and score want one.
    assert rp.find_jobs(tmp_path) == [mixed]
    with pytest.raises(UsageError, match="folder of jobs"):
        rp.find_one_job(tmp_path)


def test_a_record_of_another_kind_is_refused(tmp_path: Path) -> None:
    job = tmp_path / "j"
    job.mkdir()
    write_record(job / "job.json", result_record("j", Att("t", "passed")))
    with pytest.raises(UsageError, match="kind 'result', expected 'job'"):
        rp.load_job(job)


# -- the CLI ----------------------------------------------------------------------------------


@dataclass
class Res:
    returncode: int
    stdout: str
    stderr: str


def bakectl(*args: Any) -> Res:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAKECTL_")}
    env.update(NO_COLOR="1", TERM="dumb", COLUMNS="200")
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
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
    assert res.stdout == ""


def test_report_formats(mixed: Path) -> None:
    res = bakectl("report", mixed, "--json")
    assert res.returncode == 0, res.stderr
    assert SummaryRecord.model_validate_json(res.stdout) == rp.summarize_dir(mixed)
    rows = list(csv.DictReader(io.StringIO(bakectl("report", mixed, "-f", "csv").stdout)))
    assert [r["task"] for r in rows] == list("abcdefg")
    assert rows[1]["metric:acc"] == "0.5" and rows[2]["fault_kind"] == "replay_miss"
    assert rows[4]["rescored"] == "True" and rows[6]["status"] == "missing"
    table = bakectl("report", mixed).stdout
    assert "pass rate    0.500 (2/4 scored attempts)" in table
    assert "metrics      acc 0.500  f1 0.250  reward 1.000" in table
    header = next(ln for ln in table.splitlines() if ln.startswith("task"))
    assert header.split()[:6] == ["task", "status", "attempts", "pass@1", "reward", "acc"]
    assert "passed (rescored)" in table
    md = bakectl("report", mixed, "-f", "markdown").stdout
    assert "| c | error | 1 | - | - | - | - | 0 | 0 | 1.0 | replay_miss: 1 request(s)" in md


def test_report_side_by_side_and_folder(tmp_path: Path, mixed: Path, attempts3: Path) -> None:
    res = bakectl("report", tmp_path, "--json")  # a folder of jobs: each, side by side
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [j["name"] for j in data["jobs"]] == ["k3", "mixed"]
    cells = {r["task"]: r["cells"] for r in data["side_by_side"]}
    assert cells["A"][0]["pass_at_k"] == {"1": 0.333333, "3": 1.0} and cells["A"][1] is None
    table = bakectl("report", attempts3, mixed).stdout
    assert "pass@3 0.500" in table
    b_row = next(ln for ln in table.splitlines() if ln.startswith("b "))
    assert b_row.split()[1:] == ["·", "failed", "0.375", "acc=0.5", "f1=0.25"]


def test_report_bad_input(tmp_path: Path, mixed: Path) -> None:
    assert_usage_error(bakectl("report", tmp_path / "nope"), str(tmp_path / "nope"))
    (tmp_path / "plain").mkdir()
    assert_usage_error(
        bakectl("report", mixed, tmp_path / "plain"), str(tmp_path / "plain"), "not a bakectl job"
    )
    assert_usage_error(bakectl("report", mixed, "--format", "xml"), "--format 'xml'")
    assert_usage_error(bakectl("report", mixed, "--format", "html"), "--format html", "-o")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "job.json").write_text('{"kind": "job", "schema_version": 99}')
    assert_usage_error(bakectl("report", broken), "schema_version 99")


# -- the gate ---------------------------------------------------------------------------------


def pair(tmp_path: Path) -> tuple[Path, Path]:
    base = write_job(
        tmp_path / "base",
        [
            Att("1", "passed", rewards={"reward": 1.0, "acc": 1.0}, tokens=(100, 0), seconds=10),
            Att("2", "passed", rewards={"reward": 1.0, "acc": 0.8}, tokens=(100, 0), seconds=10),
            Att("3", "failed", rewards={"reward": 0.0, "acc": 0.4}, tokens=(100, 0), seconds=10),
            Att("4", "passed", rewards={"reward": 1.0, "acc": 1.0}, tokens=(100, 0), seconds=10),
        ],
    )
    run = write_job(
        tmp_path / "run",
        [
            Att("1", "passed", rewards={"reward": 1.0, "acc": 1.0}, tokens=(110, 0), seconds=12),
            Att("2", "failed", rewards={"reward": 0.0, "acc": 0.2}, tokens=(110, 0), seconds=12),
            Att("3", "failed", rewards={"reward": 0.0, "acc": 0.4}, tokens=(110, 0), seconds=12),
            Att("5", "passed", rewards={"reward": 1.0, "acc": 1.0}, tokens=(999, 0), seconds=99),
        ],
    )
    return run, base


def test_gate_paired_numbers(tmp_path: Path) -> None:
    run, base = pair(tmp_path)
    t = Thresholds(
        min_pass_rate=0.5,
        max_pass_rate_drop=0.2,
        min_score=0.7,
        max_score_drop=0.1,
        max_token_increase=10,
        max_runtime_increase=10,
    )
    g = evaluate(rp.load_job(run), rp.load_job(base), t, metric="acc")
    checks = {c.name: c for c in g.checks}
    assert g.metric == "acc" and not g.passed
    assert (checks["pass_rate"].value, checks["pass_rate"].ok) == (0.5, True)  # 2 of 4
    # paired over 1, 2, 3: baseline 2/3, run 1/3.
    assert (checks["pass_rate_drop"].value, checks["pass_rate_drop"].ok) == (0.333333, False)
    assert checks["score:acc"].value == round((1 + 0.2 + 0.4 + 1) / 4, 6)
    assert checks["score_drop:acc"].value == round((1 + 0.8 + 0.4) / 3 - (1 + 0.2 + 0.4) / 3, 6)
    assert (checks["token_increase"].value, checks["token_increase"].ok) == (10.0, True)
    assert (checks["runtime_increase"].value, checks["runtime_increase"].ok) == (20.0, False)
    assert any("only in job: 5" in w and "only in baseline: 4" in w for w in g.warnings)


def test_gate_cli(tmp_path: Path) -> None:
    run, base = pair(tmp_path)
    res = bakectl("gate", run, "-b", base, "--max-token-increase", "10", "--json")
    assert res.returncode == 0, res.stderr
    g = GateRecord.model_validate_json(res.stdout)
    assert g.passed and g.checks[0].name == "token_increase"
    assert read_record(run / "gate.json", GateRecord) == g
    assert "warning: task set differs" in res.stderr
    res = bakectl("gate", run, "-b", base, "--max-pass-rate-drop", "5%")
    assert res.returncode == 1 and "FAIL  pass_rate_drop" in res.stdout
    assert "gate: FAILED (1 of 1 checks)" in res.stdout
    assert bakectl("gate", run, "--min-pass-rate", "50%").returncode == 0  # no baseline needed


def test_gate_bad_input(tmp_path: Path) -> None:
    run, base = pair(tmp_path)
    assert_usage_error(
        bakectl("gate", run, "-b", base, "--metric", "f1", "--min-score", "0.5"),
        "--metric f1",
        "reward, acc",
    )
    assert_usage_error(bakectl("gate", run, "--max-pass-rate-drop", "0.1"), "baseline")
    assert_usage_error(bakectl("gate", run, "-b", base), "no checks")
    assert_usage_error(bakectl("gate", tmp_path, "--min-pass-rate", "1"), "folder of jobs")
    other = write_job(tmp_path / "other", [Att("1", "passed")], benchmark="other")
    assert_usage_error(bakectl("gate", run, "-b", other, "--min-pass-rate", "1"), "benchmark other")
    assert not (run / "gate.json").exists()


def test_threshold_parsing() -> None:
    assert parse_fraction("--x", "80%") == 0.8 and parse_fraction("--x", "0.25") == 0.25
    assert parse_percent("--x", "10%") == 10.0
    for bad in ("2", "-0.1", "nan", "abc"):
        with pytest.raises(UsageError):
            parse_fraction("--x", bad)


# -- the page ---------------------------------------------------------------------------------


def exchange(n: int, text: str) -> dict:
    return {
        "n": n,
        "exchange": {
            "endpoint": "/v1/chat/completions",
            "status": 200,
            "request": {
                "model": "m",
                "messages": [{"role": "user", "content": f"q{i}"} for i in range(n)],
            },
            "response": {"choices": [{"message": {"role": "assistant", "content": text}}]},
            "usage": {"prompt_tokens": 10 * n, "completion_tokens": n},
        },
    }


def test_page_is_self_contained_with_details(tmp_path: Path) -> None:
    trace = [{"bakectl_fixture": 1}, exchange(1, "</script><b>hi</b>"), exchange(2, "done")]
    job = write_job(
        tmp_path / "j",
        [Att("t1", "passed", rewards={"reward": 1.0}, trace=trace, agent_log="x" * 20000)],
    )
    loaded = rp.load_job(job)
    html = pg.render_page([loaded])
    for needle in ("http://", "https://", "<link", " src="):
        assert needle not in html
    assert html.count("</script>") == html.count("<script")  # the response cannot close one
    d = pg.task_detail(loaded, "t1")["attempts"][0]
    assert d["n_exchanges"] == 2
    # Each exchange shows the messages new since the previous request.
    assert [m["text"] for m in d["exchanges"][1]["request"]] == ["q1"]
    assert d["exchanges"][0]["response"] == [{"role": "assistant", "text": "</script><b>hi</b>"}]
    log = d["logs"]["agent/container.log"]
    assert log.startswith(f"[{20000 - pg.MAX_LOG} bytes before]") and len(log) < pg.MAX_LOG + 40


def test_page_budget_leaves_details_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = write_job(
        tmp_path / "j", [Att(f"t{i}", "passed", agent_log="y" * 3000) for i in range(5)]
    )
    monkeypatch.setattr(pg, "DETAIL_BUDGET", 5000)
    html = pg.render_page([rp.load_job(job)])
    assert html.count('"left_out":true') == 3  # two tasks fill the budget


def test_rescore_result_is_a_result_record(tmp_path: Path) -> None:
    job = write_job(tmp_path / "j", [Att("t", "failed", rescore={"reward": 1.0})])
    path, rescored = rp.newest_result(job / "tasks" / "t" / "attempt-1")
    assert rescored and read_record(Path(path), ResultRecord).rescored_at is not None
