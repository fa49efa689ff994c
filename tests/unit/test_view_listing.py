"""bakectl view's listing: job.json and summary.json per job, never the results."""

from __future__ import annotations

from pathlib import Path

from bakectl.cli.view import Listing, list_job
from bakectl.results.report import write_summary
from tests.support.job_records import Att, write_job


def test_a_row_reads_the_summary_and_never_a_result(tmp_path: Path) -> None:
    job = write_job(tmp_path / "j", [Att("t1", "passed"), Att("t2", "failed")])
    row = list_job(job)
    assert (row.n_tasks, row.attempts, row.pass_rate) == (2, 1, None)
    assert row.note.startswith("no summary.json yet")
    write_summary(job)
    (job / "tasks/t1/attempt-1/result.json").write_text("{damaged")  # never read
    row = list_job(job)
    assert (row.pass_rate, row.errored, row.missing, row.note) == (0.5, 0, 0, "")


def test_the_listing_reads_a_job_again_only_when_its_files_change(tmp_path: Path) -> None:
    job = write_job(tmp_path / "j", [Att("t1", "passed")])
    listing = Listing()
    first = listing.row(job)
    assert listing.row(job) is first  # nothing changed: not read again
    write_summary(job)
    assert listing.row(job).pass_rate == 1.0
    html = listing.render(tmp_path, [job])
    assert 'href="jobs/j/"' in html and "<td class=num>1.000</td>" in html
