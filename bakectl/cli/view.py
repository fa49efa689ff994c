"""bakectl view: the jobs under a folder, served on 127.0.0.1 (standard library only).

The listing reads two small files per job, job.json and summary.json (when the job has
one: a job still running, or stopped before its end, shows what job.json says), never a
job's results, and keeps what it read until either file changes: a folder of many big
jobs lists at once. A job's page, its tasks' details and a comparison are read from the
job's records when they are asked for.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_PORT = 8321


def view(
    root: Annotated[
        Path, typer.Argument(help="A folder of jobs (runs/) or one job directory.")
    ] = Path("runs"),
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free one).")] = (
        DEFAULT_PORT
    ),
) -> None:
    """Serve the results pages of the jobs under ROOT on 127.0.0.1: a listing, each job's page (details read on demand), jobs side by side. Ctrl-C stops."""
    import errno
    from http.server import ThreadingHTTPServer

    from bakectl.errors import UsageError
    from bakectl.results.report import find_jobs

    find_jobs(root)  # not a folder of jobs: refused before anything listens
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port", f"e.g. --port {DEFAULT_PORT}")
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(root.resolve()))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"--port {port}: 127.0.0.1:{port} is in use",
                f"pick another: bakectl view {root} --port {port + 1} (or --port 0 for any)",
            ) from None
        raise UsageError(f"--port {port}: cannot listen: {exc.strerror}", "try --port 0") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"view: serving {root} on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _handler(root: Path):
    import json
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, unquote, urlsplit

    from bakectl.errors import BakectlError
    from bakectl.results import page
    from bakectl.results.records import JobRecord, read_record
    from bakectl.results.report import Job, find_jobs, load_job, task_attempts

    def jobs() -> dict[str, Path]:
        return {p.name: p for p in find_jobs(root)}

    listing = Listing()

    class Handler(BaseHTTPRequestHandler):
        server_version = "bakectl-view"

        def log_message(self, fmt: str, *args) -> None:  # quiet: errors only
            if len(args) > 1 and str(args[1])[:1] in ("4", "5"):
                sys.stderr.write(f"view: {self.command} {self.path} -> {args[1]}\n")

        def _send(self, code: int, body: str, kind: str = "text/html; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            query = parse_qs(url.query)
            try:
                known = jobs()
                if not parts:
                    return self._send(200, listing.render(root, list(known.values())))
                if parts[0] == "compare":
                    picked = [known[n] for n in query.get("job", []) if n in known]
                    if not picked:
                        return self._send(404, "no such jobs", "text/plain")
                    detail = "/jobs/{job}/detail?task={task}"
                    return self._send(
                        200, page.render_page([load_job(p) for p in picked], detail_url=detail)
                    )
                if parts[0] == "jobs" and len(parts) >= 2 and parts[1] in known:
                    job_dir = known[parts[1]]
                    if len(parts) == 2:
                        detail = "/jobs/{job}/detail?task={task}"
                        return self._send(
                            200, page.render_page([load_job(job_dir)], detail_url=detail)
                        )
                    if parts[2:] == ["detail"]:
                        task = (query.get("task") or [""])[0]
                        record = read_record(job_dir / "job.json", JobRecord)
                        if task not in record.task_ids:
                            return self._send(
                                404, json.dumps({"error": f"no task {task!r}"}), "application/json"
                            )
                        # One task's files, not the whole job's (a click on a 10,000-task page)
                        job = Job(job_dir, record, {task: task_attempts(job_dir, record, task)})
                        return self._send(
                            200, json.dumps(page.task_detail(job, task)), "application/json"
                        )
                self._send(404, "not found", "text/plain")
            except BakectlError as exc:
                self._send(500, f"error: {exc.message}\nhint: {exc.hint or ''}\n", "text/plain")

    return Handler


# -- the listing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedJob:
    """One row of the listing: job.json, and summary.json when the job has one."""

    name: str
    created_at: str
    what: str
    n_tasks: int
    attempts: int
    pass_rate: float | None = None
    errored: int | None = None
    missing: int | None = None
    note: str = ""  # why the numbers are not there


def list_job(job_dir: Path) -> ListedJob:
    """A job's row from its job.json and summary.json alone (its results are not read)."""
    from bakectl.errors import BakectlError
    from bakectl.results.records import JobRecord, SummaryRecord, read_record
    from bakectl.results.report import job_label

    record = read_record(job_dir / "job.json", JobRecord)
    what = f"{record.source.benchmark} x {record.agent}" + (
        f" ({record.model})" if record.model else ""
    )
    row = ListedJob(
        job_dir.name, record.created_at, what, len(record.task_ids), max(record.attempts, 1)
    )
    summary_file = job_dir / "summary.json"
    if not summary_file.is_file():
        return replace(row, note="no summary.json yet: running, or stopped before its end")
    try:
        s = read_record(summary_file, SummaryRecord)
    except BakectlError as exc:
        return replace(row, note=f"summary.json: {exc.message}")
    return replace(
        row,
        what=job_label(s),
        n_tasks=s.n_tasks,
        attempts=s.attempts,
        pass_rate=s.pass_rate,
        errored=s.errored,
        missing=s.missing,
    )


class Listing:
    """The rows of the jobs under a folder, each read again only when its job.json or
    summary.json changed (by size and mtime)."""

    def __init__(self) -> None:
        import threading

        self._rows: dict[Path, tuple[tuple, ListedJob]] = {}
        self._lock = threading.Lock()  # ThreadingHTTPServer: one request per thread

    def row(self, job_dir: Path) -> ListedJob:
        key = tuple(_stamp(job_dir / name) for name in ("job.json", "summary.json"))
        with self._lock:
            known = self._rows.get(job_dir)
        if known is not None and known[0] == key:
            return known[1]
        row = list_job(job_dir)
        with self._lock:
            self._rows[job_dir] = (key, row)
        return row

    def render(self, root: Path, job_dirs: list[Path]) -> str:
        return render_listing(root, [self.row(d) for d in job_dirs])


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def render_listing(root: Path, rows: list[ListedJob]) -> str:
    """The jobs under ROOT, newest first, each a link to its page; tick several to compare."""
    from html import escape
    from urllib.parse import quote

    from bakectl.results.page_assets import CSS

    def num(v: int | None) -> str:
        return "-" if v is None else str(v)

    body = []
    for r in sorted(rows, key=lambda r: r.created_at, reverse=True):
        name = escape(r.name, quote=True)
        rate = "-" if r.pass_rate is None else f"{r.pass_rate:.3f}"
        note = f' <span class=note title="{escape(r.note, quote=True)}">*</span>' if r.note else ""
        body.append(
            f'<tr><td><input type=checkbox name=job value="{name}"></td>'
            f'<td><a href="jobs/{escape(quote(r.name), quote=True)}/">{name}</a>{note}</td>'
            f"<td>{escape(r.what)}</td><td class=num>{r.n_tasks}</td>"
            f"<td class=num>{r.attempts}</td><td class=num>{rate}</td>"
            f"<td class=num>{num(r.errored)}</td><td class=num>{num(r.missing)}</td>"
            f"<td>{escape(r.created_at)}</td></tr>"
        )
    rows_html = "".join(body) or "<tr><td colspan=9 class=note>no jobs yet</td></tr>"
    where = escape(str(root))
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f"<title>bakectl jobs · {where}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Jobs under {where}</h1>"
        "<div class=sub>bakectl view: the numbers are each job's summary.json (* : none yet); "
        "each job's page is read from its records when opened</div></header>"
        "<main><form action=compare method=get><h2>Jobs</h2><table id=jobs><thead><tr>"
        "<th></th><th>job</th><th>what</th><th class=num>tasks</th><th class=num>attempts</th>"
        "<th class=num>pass rate</th><th class=num>errored</th><th class=num>missing</th>"
        f"<th>created</th></tr></thead><tbody>{rows_html}</tbody></table>"
        "<p><button type=submit>compare the ticked jobs side by side</button></p>"
        "</form></main></body></html>\n"
    )
