"""The results index (results.jsonl) can make a report faster, never different.

Each test changes a job's files behind the index's back, the way a user, a re-score or a
resumed job does, and checks the summary equals the one read from the files alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from bakectl.results import index as results_index
from bakectl.results.records import write_record
from bakectl.results.report import summarize_dir
from tests.support.job_records import Att, result_record, write_job


def _files_only(job: Path):
    """The summary as it is without the index."""
    saved = job / "saved-index"
    (job / results_index.INDEX).rename(saved)
    try:
        return summarize_dir(job)
    finally:
        saved.rename(job / results_index.INDEX)


def _job(tmp_path: Path) -> Path:
    return write_job(
        tmp_path / "job-a",
        [
            Att("t1", "passed", rewards={"reward": 1.0}),
            Att("t2", "failed", rewards={"reward": 0.0, "acc": 0.5}),
            Att("t3", "error", fault=("replay_miss", "1 request(s) not in the fixture")),
        ],
        tasks=["t1", "t2", "t3", "t4"],
    )


def test_every_finished_attempt_is_indexed_and_read_from_it(tmp_path: Path) -> None:
    job = _job(tmp_path)
    found = results_index.load(job)
    assert sorted(found) == ["tasks/t1/attempt-1", "tasks/t2/attempt-1", "tasks/t3/attempt-1"]
    assert found["tasks/t2/attempt-1"].record.rewards == {"reward": 0.0, "acc": 0.5}
    assert summarize_dir(job) == _files_only(job)


def test_a_result_rewritten_since_is_read_from_its_file(tmp_path: Path) -> None:
    job = _job(tmp_path)
    path = job / "tasks/t2/attempt-1/result.json"
    write_record(path, result_record("job-a", Att("t2", "passed", rewards={"reward": 1.0})))
    assert "tasks/t2/attempt-1" not in results_index.load(job)
    summary = summarize_dir(job)
    assert summary == _files_only(job)
    assert summary.counts["passed"] == 2


def test_an_in_place_edit_is_seen(tmp_path: Path) -> None:
    job = _job(tmp_path)
    path = job / "tasks/t1/attempt-1/result.json"
    text = path.read_text().replace('"passed"', '"failed"', 1)
    with open(path, "w") as fh:  # same inode, no rename: only size or mtime tell
        fh.write(text)
    os.utime(path, ns=(1, 1))
    assert summarize_dir(job).tasks[0].status == "failed"


def test_a_rescore_written_without_the_index_still_counts(tmp_path: Path) -> None:
    job = _job(tmp_path)
    rd = job / "tasks/t2/attempt-1/rescore-20261202T000000Z"
    rd.mkdir()
    write_record(
        rd / "result.json", result_record("job-a", Att("t2", "passed", rewards={"reward": 1.0}))
    )
    summary = summarize_dir(job)
    assert summary.tasks[1].rescored and summary.tasks[1].status == "passed"
    assert summary == _files_only(job)


def test_a_rescore_noted_in_the_index_is_read_from_it(tmp_path: Path) -> None:
    job = _job(tmp_path)
    d = job / "tasks/t2/attempt-1"
    rd = d / "rescore-20261202T000000Z"
    rd.mkdir()
    rec = result_record("job-a", Att("t2", "passed", rewards={"reward": 1.0}))
    write_record(rd / "result.json", rec)
    results_index.note(job, d, rd / "result.json", rec)
    hit = results_index.load(job)["tasks/t2/attempt-1"]
    assert hit.rescored and hit.record.status == "passed"
    assert summarize_dir(job) == _files_only(job)


def test_damaged_and_hostile_lines_are_skipped(tmp_path: Path) -> None:
    job = _job(tmp_path)
    good = (job / results_index.INDEX).read_bytes()
    lines = good.splitlines()
    hostile = lines[0].replace(
        b'"result":"result.json"', b'"result":"../../../t2/attempt-1/result.json"'
    )
    (job / results_index.INDEX).write_bytes(
        b"not json\n" + good + hostile + b"\n" + lines[1][: len(lines[1]) // 2]
    )
    found = results_index.load(job)
    assert sorted(found) == ["tasks/t2/attempt-1", "tasks/t3/attempt-1"]  # t1's last line lies
    assert summarize_dir(job) == _files_only(job)


def test_a_job_without_an_index_reads_its_files(tmp_path: Path) -> None:
    job = write_job(tmp_path / "old", [Att("t1", "passed", rewards={"reward": 1.0})], index=False)
    assert not (job / results_index.INDEX).exists()
    assert results_index.load(job) == {}
    assert summarize_dir(job).counts == {"passed": 1}


def test_an_index_that_cannot_be_written_costs_nothing(tmp_path: Path) -> None:
    job = write_job(tmp_path / "ro", [Att("t1", "passed", rewards={"reward": 1.0})], index=False)
    (job / results_index.INDEX).mkdir()  # the index path is taken: note must not raise
    d = job / "tasks/t1/attempt-1"
    results_index.note(job, d, d / "result.json", result_record("ro", Att("t1", "passed")))
    assert summarize_dir(job).counts == {"passed": 1}
