"""The results page in a real browser: headless Chromium (Debian's package, driven by
playwright through its executable path), asserting on what a person sees.

Under CI=true these run, never skip: scripts/setup-browser.sh installs chromium and the
test extra installs playwright.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, _need, free_port, wait_http
from tests.support.chromium import ARGS, CHROMIUM
from tests.support.job_records import Att, write_job


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    _need(sync_playwright is not None, "playwright (pip install -e '.[test]')")
    _need(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} (scripts/setup-browser.sh)")
    profile = tempfile.mkdtemp(prefix="bakectl-test-chromium-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True
        )
        yield ctx
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def tab(browser):
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    page.close()
    assert errors == [], errors


def exchange(n: int, answer: str) -> dict:
    msgs = [{"role": "user", "content": "Compute 6 * 7."}]
    msgs += [{"role": "assistant", "content": f"step {i}"} for i in range(1, n)]
    return {
        "n": n,
        "exchange": {
            "endpoint": "/v1/chat/completions",
            "status": 200,
            "request": {"model": "scripted", "messages": msgs},
            "response": {"choices": [{"message": {"role": "assistant", "content": answer}}]},
            "usage": {"prompt_tokens": 40 * n, "completion_tokens": 5},
        },
    }


def job_a(root: Path) -> Path:
    trace = [exchange(1, "step 1"), exchange(2, "The answer is 42.")]
    return write_job(
        root / "job-a",
        [
            Att("t1", "passed", rewards={"reward": 1.0}, tokens=(80, 10), seconds=3, trace=trace),
            Att("t2", "failed", rewards={"reward": 0.25, "style": 0.5}, tokens=(50, 5), seconds=9),
            Att("t3", "error", fault=("replay_miss", "1 request(s) not in the fixture"), seconds=1),
            Att(
                "t4",
                "passed",
                rewards={"reward": 1.0},
                tokens=(60, 6),
                seconds=5,
                agent_log="agent says hello\n",
            ),
        ],
    )


def cells(tab, column: str) -> list[str]:
    """The visible text of one column of the task table, top to bottom."""
    headers = tab.locator("#tasks thead th").all_inner_texts()
    i = [h.strip(" ▲▼") for h in headers].index(column)
    return tab.locator(f"#tasks tbody tr:not(.detail) td:nth-child({i + 1})").all_inner_texts()


def summary(tab, line: str) -> list[str]:
    return tab.locator(f"#summary tr[data-line={line}] td").all_inner_texts()


def open_page(tab, path: Path) -> None:
    tab.goto(path.resolve().as_uri())
    tab.wait_for_selector("body[data-ready='1']")


def test_page_summary_sort_filter_and_exchanges(tab, tmp_path: Path) -> None:
    job = job_a(tmp_path)
    out = tmp_path / "report.html"
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", "report", job, "--format", "html", "-o", out],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr
    requests: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    open_page(tab, out)
    assert requests == [out.resolve().as_uri()]  # nothing fetched: self-contained

    # The summary a person reads: 2 of 3 scored passed; reward (1 + 0.25 + 1) / 3.
    assert summary(tab, "pass-rate") == ["0.667"]
    assert summary(tab, "mean-reward") == ["0.750"]
    assert summary(tab, "coverage") == ["3 / 1 / 0"]
    assert "style" in tab.locator("#tasks thead").inner_text()  # a named metric's column

    # Sorting: click "reward" (ascending, empty last), then again (descending).
    tab.click("#tasks th:text-is('reward')")
    assert cells(tab, "task") == ["t2", "t1", "t4", "t3"]
    tab.click("#tasks th:has-text('reward') >> nth=0")
    assert cells(tab, "task")[:2] in (["t1", "t4"], ["t4", "t1"]) and cells(tab, "task")[2] == "t2"
    tab.click("#tasks th:text-is('time s')")
    assert cells(tab, "time s") == ["1.0", "3.0", "5.0", "9.0"]

    # Filtering by status, then by text.
    tab.select_option("#status-filter", "error")
    assert cells(tab, "task") == ["t3"]
    assert "replay_miss" in cells(tab, "fault")[0]
    assert tab.inner_text("#shown-count") == "1 of 4 tasks match"
    tab.select_option("#status-filter", "")
    tab.fill("#text-filter", "t4")
    tab.wait_for_function("document.querySelectorAll('#tasks tbody tr').length === 1")
    assert cells(tab, "task") == ["t4"]
    tab.fill("#text-filter", "")
    tab.wait_for_function("document.querySelectorAll('#tasks tbody tr').length === 4")

    # A task's exchanges: open t1, then its gateway exchanges.
    tab.click("button.task:text-is('t1')")
    detail = tab.locator("tr.detail")
    assert "attempt 1: passed" in detail.inner_text()
    detail.locator("summary:has-text('gateway exchanges (2)')").click()
    assert detail.locator("text=The answer is 42.").is_visible()
    assert detail.locator("text=tokens 80 in / 5 out").is_visible()
    # ... and t4's log.
    tab.click("button.task:text-is('t4')")
    t4 = tab.locator("tr.detail").nth(1)
    t4.locator("summary:has-text('log: agent/container.log')").click()
    assert t4.locator("pre:has-text('agent says hello')").is_visible()


def test_page_jobs_side_by_side(tab, tmp_path: Path) -> None:
    a = job_a(tmp_path)
    b = write_job(
        tmp_path / "job-b",
        [
            Att("t1", "failed", rewards={"reward": 0.0}),
            Att("t5", "passed", rewards={"reward": 1.0}),
        ],
    )
    from bakectl.results.page import write_page
    from bakectl.results.report import load_job

    out = write_page([load_job(a), load_job(b)], tmp_path / "both.html")
    open_page(tab, out)
    head = tab.locator("#summary tr").first.inner_text()
    assert "#1 job-a" in head and "#2 job-b" in head
    assert summary(tab, "pass-rate") == ["0.667", "0.500"]
    assert cells(tab, "task") == ["t1", "t2", "t3", "t4", "t5"]
    assert cells(tab, "#1 status")[0] == "passed" and cells(tab, "#2 status")[0] == "failed"
    assert cells(tab, "#2 status")[1] == "·"  # job-b has no t2
    tab.select_option("#status-filter", "failed")  # failed in either job
    assert cells(tab, "task") == ["t1", "t2"]


def test_view_serves_listing_and_pages(tab, tmp_path: Path) -> None:
    from bakectl.results.report import write_summary

    runs = tmp_path / "runs"
    write_summary(job_a(runs))
    write_job(runs / "job-b", [Att("t1", "passed", rewards={"reward": 1.0})])  # no summary yet
    # The listing reads job.json and summary.json, never the results: job-c's damaged
    # result shows only when its page is opened.
    job_c = write_job(runs / "job-c", [Att("t1", "failed", rewards={"reward": 0.0})])
    write_summary(job_c)
    (job_c / "tasks/t1/attempt-1/result.json").write_text("{not json")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bakectl.cli.main", "view", runs, "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        # A second server on the same port: refused, with a hint.
        busy = subprocess.run(
            [sys.executable, "-m", "bakectl.cli.main", "view", runs, "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert busy.returncode == 2 and f"127.0.0.1:{port} is in use" in busy.stderr
        assert "hint: pick another" in busy.stderr
        tab.goto(f"http://127.0.0.1:{port}/")
        assert tab.locator("#jobs tbody tr").count() == 3
        rows = {
            r.split("\t")[1].rstrip(" *"): r.split("\t")[2:8]
            for r in tab.locator("#jobs tbody tr").all_inner_texts()
        }
        # what, tasks, attempts, pass rate, errored, missing
        assert rows["job-a"] == ["arith x chat (scripted)", "4", "1", "0.667", "1", "0"]
        assert rows["job-b"] == ["arith x chat (scripted)", "1", "1", "-", "-", "-"]
        assert rows["job-c"] == ["arith x chat (scripted)", "1", "1", "0.000", "0", "0"]
        assert tab.locator("a:text-is('job-b') + span.note").count() == 1  # no summary yet
        assert tab.locator("a:text-is('job-a') + span.note").count() == 0
        damaged = tab.goto(f"http://127.0.0.1:{port}/jobs/job-c/")
        assert damaged.status == 500 and "result.json" in tab.inner_text("body")
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.click("a:text-is('job-a')")
        tab.wait_for_selector("body[data-ready='1']")
        assert summary(tab, "pass-rate") == ["0.667"]
        tab.click("button.task:text-is('t1')")  # details come from the server, on demand
        tab.locator("tr.detail summary:has-text('gateway exchanges (2)')").click()
        assert tab.locator("tr.detail >> text=The answer is 42.").is_visible()
        # Two jobs ticked: side by side.
        tab.goto(f"http://127.0.0.1:{port}/")
        tab.check("input[value='job-a']")
        tab.check("input[value='job-b']")
        tab.click("button:has-text('compare')")
        tab.wait_for_selector("body[data-ready='1']")
        assert "#2 job-b" in tab.locator("#summary tr").first.inner_text()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))  # the server is gone, and no one else listens
